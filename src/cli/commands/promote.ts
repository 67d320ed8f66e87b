/** Moving aliases: promote (with the gate's checks), rollback, history, and `alias ls|set|rm|swap`. */
import { MregError } from "../../client/errors";
import type { Alias, GateCheck, GateResult, SplitEntry } from "../../client/types";
import { int, str, toInt, type Command } from "../command";
import type { Context } from "../context";
import { UsageError } from "../exit";
import { aliasProblem } from "../names";
import { explainNotFound, NotFound, targetOf } from "../not-found";
import { ago, table, type Output } from "../output";

/** A gate's checks as a table on stderr (stdout stays the command's result). */
export function printGateChecks(out: Output, checks: GateCheck[]): void {
  if (checks.length === 0) return;
  const rows = checks.map((c) => [
    c.passed ? "pass" : "FAIL",
    c.check,
    c.expected,
    JSON.stringify(c.actual ?? null),
    c.detail ?? "",
  ]);
  out.error(table(["", "check", "expected", "actual", "detail"], rows));
}

const describeValue = (a: { version: number | null; split: SplitEntry[] | null }) =>
  a.split ? a.split.map((s) => `v${s.version}:${s.weight}`).join(",") : a.version === null ? "(none)" : `v${a.version}`;

const aliasLine = (a: Alias) => `${a.model}@${a.alias} → ${describeValue(a)} (generation ${a.generation})`;

export const promote: Command = {
  name: "promote",
  args: "<model> <alias> <version>",
  summary: "Point an alias at a version; prints the gate's checks, exit 3 when it refuses",
  options: { reason: { type: "string" }, "expected-generation": { type: "string" } },
  help: [
    "--reason TEXT               Recorded in the alias history and the audit log",
    "--expected-generation N     Refuse (exit 4) unless the alias is still at this generation (0: unset)",
  ],
  examples: ["mreg promote payment-fraud production 3 --reason 'eval report 2026-11-27'"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[2] }),
  async run(ctx, input) {
    const [model, alias, v] = input.positionals as [string, string, string];
    checkAlias(alias, "promote");
    const version = toInt(v, "version");
    // The dry run shows what the gate weighs; the PUT decides (atomically, on the server).
    let dry: GateResult | undefined;
    try {
      dry = await ctx.client.gates.check(model, alias, version);
    } catch (err) {
      // No gate on this target, or a token that may promote but not read: the PUT still decides.
      if (!(err instanceof MregError) || !["not_found", "forbidden"].includes(err.code)) throw err;
    }
    const expected = int(input, "expected-generation", { min: 0 });
    // A refusal (409 gate_failed) is reported with its checks by main(), and exits 3.
    const result = await ctx.client.aliases.set(model, alias, {
      version,
      reason: str(input, "reason"),
      ...(expected !== undefined ? { expected_generation: expected } : {}),
    });
    if (!ctx.out.json && dry && dry.checks.length > 0) printGateChecks(ctx.out, dry.checks);
    ctx.out.result({ ...result, checks: dry?.checks ?? [] }, () => aliasLine(result));
  },
};

export const rollback: Command = {
  name: "rollback",
  args: "<model> <alias>",
  summary: "Undo the alias's newest change (or --to a version it held); skips gates",
  options: { to: { type: "string" }, reason: { type: "string" } },
  help: [
    "--to N          Back to version N (one that held the alias before)",
    "--reason TEXT   Recorded in the history and the audit log",
  ],
  examples: [
    "mreg rollback payment-fraud production --reason '3am page: error rate 4%'",
    "mreg rollback payment-fraud production --to 2",
  ],
  target: (i) => targetOf(i.positionals[0], { alias: i.positionals[1] }),
  async run(ctx, input) {
    const [model, alias] = input.positionals as [string, string];
    const to = int(input, "to");
    let result: Alias;
    try {
      result = await ctx.client.aliases.rollback(model, alias, {
        ...(to !== undefined ? { to_version: to } : {}),
        reason: str(input, "reason"),
      });
    } catch (err) {
      // The registry refuses (409) when there is nothing to go back to: say what is missing.
      if (err instanceof MregError && err.code === "conflict")
        throw (await nothingToRollBackTo(ctx, model, alias.toLowerCase(), to)) ?? err;
      throw err;
    }
    ctx.out.result(result, () => aliasLine(result));
  },
};

/**
 * Why a rollback has no value to restore, as a NotFound (exit 5): the alias was never set,
 * `--to` names a version that never held it, or it has held one value only.
 */
async function nothingToRollBackTo(
  ctx: Context,
  model: string,
  alias: string,
  to: number | undefined,
): Promise<NotFound | undefined> {
  const missing = await explainNotFound(ctx.client, { model, alias });
  if (missing) return missing;
  const history = await ctx.client.aliases.history(model, alias, { limit: 200 }).catch(() => undefined);
  if (!history) return undefined;
  const held = [
    ...new Set(
      history.items.flatMap((h) => (h.split ? h.split.map((s) => s.version) : h.version !== null ? [h.version] : [])),
    ),
  ].sort((a, b) => a - b);
  const facts = { missing: "earlier_value", model, alias, held: held };
  if (to !== undefined)
    return new NotFound(
      `version ${to} has never held ${model}@${alias}; the versions that have: ${held.map((v) => `v${v}`).join(", ")}`,
      facts,
    );
  if (held.length <= 1)
    return new NotFound(
      `${model}@${alias} has held only ${held.map((v) => `v${v}`).join("") || "nothing"}: there is no earlier value to roll back to`,
      facts,
    );
  return new NotFound(
    `${model}@${alias} has no earlier value left to roll back to; name one with --to (versions that held it: ${held.map((v) => `v${v}`).join(", ")})`,
    facts,
  );
}

export const history: Command = {
  name: "history",
  args: "<model> <alias>",
  summary: "Every change of an alias, newest first",
  options: { limit: { type: "string" }, cursor: { type: "string" } },
  help: ["--limit N, --cursor C   Paging (1..200, default 50)"],
  examples: ["mreg history payment-fraud production"],
  target: (i) => targetOf(i.positionals[0], { alias: i.positionals[1] }),
  async run(ctx, input) {
    const [model, alias] = input.positionals as [string, string];
    const page = await ctx.client.aliases.history(model, alias, {
      limit: int(input, "limit", { max: 200 }),
      cursor: str(input, "cursor"),
    });
    ctx.out.result(
      page,
      () =>
        table(
          ["gen", "action", "value", "actor", "when", "reason"],
          page.items.map((h) => [h.generation, h.action, describeValue(h), h.actor, ago(h.at), h.reason]),
        ) + more(page.next_cursor),
    );
  },
};

/** A name the registry would refuse is a usage error (exit 2), said before any request. */
function checkAlias(alias: string, command: string): void {
  const problem = aliasProblem(alias);
  if (problem) throw new UsageError(problem, command);
}

export const more = (cursor: string | null) => (cursor ? `\n(more: --cursor ${cursor})` : "");

export const aliasLs: Command = {
  name: "alias ls",
  args: "<model>",
  summary: "A model's aliases",
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const items = await ctx.client.aliases.list(input.positionals[0]!);
    // Every list carries next_cursor, as the paged ones do (aliases come in one page).
    ctx.out.result({ items, next_cursor: null }, () =>
      table(
        ["alias", "value", "generation", "updated", "by"],
        items.map((a) => [a.alias, describeValue(a), a.generation, ago(a.updated_at), a.updated_by]),
      ),
    );
  },
};

/** `3:90,4:10` → a weighted split. */
function parseSplit(text: string): SplitEntry[] {
  return text.split(",").map((part) => {
    const match = /^v?(\d+):(\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!match)
      throw new UsageError(`--split takes version:weight pairs such as 3:90,4:10, not '${part}'`, "alias set");
    return { version: Number(match[1]), weight: Number(match[2]) };
  });
}

export const aliasSet: Command = {
  name: "alias set",
  args: "<model> <alias> [version]",
  summary: "Point an alias at a version, or at a weighted --split",
  options: { split: { type: "string" }, reason: { type: "string" }, "expected-generation": { type: "string" } },
  help: [
    "--split 3:90,4:10             A weighted split instead of one version",
    "--reason TEXT",
    "--expected-generation N       Refuse (exit 4) unless the alias is still at this generation",
  ],
  examples: ["mreg alias set payment-fraud staging 4", "mreg alias set payment-fraud canary --split 3:90,4:10"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[2] }),
  async run(ctx, input) {
    const [model, alias, v] = input.positionals as [string, string, string | undefined];
    checkAlias(alias, "alias set");
    const split = str(input, "split");
    if ((v === undefined) === (split === undefined))
      throw new UsageError("give a version or --split, not both", "alias set");
    const expected = int(input, "expected-generation", { min: 0 });
    const extra = {
      reason: str(input, "reason"),
      ...(expected !== undefined ? { expected_generation: expected } : {}),
    };
    const result = await ctx.client.aliases.set(
      model,
      alias,
      split ? { split: parseSplit(split), ...extra } : { version: toInt(v!, "version"), ...extra },
    );
    ctx.out.result(result, () => aliasLine(result));
  },
};

export const aliasRm: Command = {
  name: "alias rm",
  args: "<model> <alias>",
  summary: "Delete an alias",
  options: { reason: { type: "string" } },
  help: ["--reason TEXT"],
  target: (i) => targetOf(i.positionals[0], { alias: i.positionals[1] }),
  async run(ctx, input) {
    const [model, alias] = input.positionals as [string, string];
    await ctx.client.aliases.delete(model, alias, { reason: str(input, "reason") });
    ctx.out.result({ model, alias, deleted: true }, () => `deleted ${model}@${alias}`);
  },
};

export const aliasSwap: Command = {
  name: "alias swap",
  args: "<model> <alias> <alias>",
  summary: "Exchange two aliases' values in one step (champion/challenger)",
  options: { reason: { type: "string" } },
  help: ["--reason TEXT"],
  examples: ["mreg alias swap payment-fraud production challenger --reason 'challenger won'"],
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const [model, a, b] = input.positionals as [string, string, string];
    const items = await ctx.client.aliases.swap(model, [a, b], str(input, "reason"));
    ctx.out.result({ items }, () => items.map(aliasLine).join("\n"));
  },
};
