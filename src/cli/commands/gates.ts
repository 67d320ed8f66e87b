/** Gates, approvals and guards: `gates ls|set|rm|check`, `approve`, `guard show|set|rm`. */
import { readFileSync } from "node:fs";
import type { GatePolicy, GuardPolicy } from "../../client/types";
import { int, str, toInt, type Command } from "../command";
import { GateRefused, UsageError } from "../exit";
import { targetOf } from "../not-found";
import { ago, fields, table } from "../output";
import { printGateChecks } from "./promote";

/** A JSON argument: inline (`{"approvals": 1}`), a file, or `-` for stdin. */
function jsonArg(text: string, what: string, command: string): unknown {
  const source = text.trim().startsWith("{") ? text : readSource(text, what, command);
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new UsageError(`${what}: not JSON (${(err as Error).message})`, command);
  }
}

function readSource(path: string, what: string, command: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${path} (${(err as Error).message})`, command);
  }
}

export const gatesLs: Command = {
  name: "gates ls",
  args: "<model>",
  summary: "A model's gate policies",
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const items = await ctx.client.gates.list(input.positionals[0]!);
    ctx.out.result({ items, next_cursor: null }, () =>
      table(
        ["target", "policy", "updated", "by"],
        items.map((g) => [g.target, JSON.stringify(g.policy), ago(g.updated_at), g.updated_by]),
      ),
    );
  },
};

export const gatesSet: Command = {
  name: "gates set",
  args: "<model> <target>",
  summary: "Set the gate policy of an alias or stage (admin)",
  options: { policy: { type: "string" } },
  help: ["--policy JSON|FILE|-   The policy: metrics, no_regression, required_tags, required_lineage, approvals, from"],
  examples: [
    `mreg gates set payment-fraud production --policy '{"metrics": [{"name": "auc", "min": 0.9}], "approvals": 1, "from": "staging"}'`,
    "mreg gates set payment-fraud production --policy gates/production.json",
  ],
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const [model, target] = input.positionals as [string, string];
    const text = str(input, "policy");
    if (text === undefined) throw new UsageError("--policy is required", "gates set");
    const gate = await ctx.client.gates.set(model, target, jsonArg(text, "--policy", "gates set") as GatePolicy);
    ctx.out.result(gate, () => `gate on ${model}@${gate.target}: ${JSON.stringify(gate.policy)}`);
  },
};

export const gatesRm: Command = {
  name: "gates rm",
  args: "<model> <target>",
  summary: "Remove a gate (admin)",
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const [model, target] = input.positionals as [string, string];
    await ctx.client.gates.delete(model, target);
    ctx.out.result({ model, target, deleted: true }, () => `removed the gate on ${model}@${target}`);
  },
};

export const gatesCheck: Command = {
  name: "gates check",
  args: "<model> <target> <version>",
  summary: "Dry run: would the gate let this version in now? Exit 3 when not",
  examples: ["mreg gates check payment-fraud production 3 && mreg promote payment-fraud production 3"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[2] }),
  async run(ctx, input) {
    const [model, target, v] = input.positionals as [string, string, string];
    const result = await ctx.client.gates.check(model, target, toInt(v, "version"));
    ctx.out.result(result, () => (result.passed ? `the gate on ${model}@${target} would let version ${v} in` : ""));
    if (!ctx.out.json) printGateChecks(ctx.out, result.checks);
    if (!result.passed) throw new GateRefused(`the gate on ${model}@${target} would refuse version ${v}`);
  },
};

export const approve: Command = {
  name: "approve",
  args: "<model> <version>",
  summary: "Approve a version for a target (scope approve; not its creator)",
  options: { target: { type: "string" }, comment: { type: "string" } },
  help: ["--target T      The alias or stage the approval is for (required)", "--comment TEXT"],
  examples: ["mreg approve payment-fraud 3 --target production --comment 'eval report reviewed'"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[1] }),
  async run(ctx, input) {
    const [model, v] = input.positionals as [string, string];
    const target = str(input, "target");
    if (!target) throw new UsageError("--target is required", "approve");
    const comment = str(input, "comment");
    const approval = await ctx.client.approvals.add(model, toInt(v, "version"), {
      target,
      ...(comment !== undefined ? { comment } : {}),
    });
    ctx.out.result(approval, () => `${approval.approver} approved ${model} version ${v} for ${approval.target}`);
  },
};

export const guardShow: Command = {
  name: "guard show",
  args: "<model> <alias>",
  summary: "An alias's guard and its current window",
  target: (i) => targetOf(i.positionals[0], { alias: i.positionals[1] }),
  async run(ctx, input) {
    const [model, alias] = input.positionals as [string, string];
    const g = await ctx.client.guards.get(model, alias);
    ctx.out.result(g, () =>
      fields([
        ["guard", `${g.model}@${g.alias}`],
        ["metric", g.metric],
        ["bounds", `${g.min ?? "-∞"} .. ${g.max ?? "+∞"}`],
        [
          "window",
          `${g.window_s} s, at least ${g.min_samples} samples from ${g.min_nodes} node${g.min_nodes === 1 ? "" : "s"}`,
        ],
        ...(g.windows.length > 1 ? g.windows : [g.window]).map((w): [string, string] => [
          "now",
          `version ${w.version ?? "—"}: ${w.samples} samples${nodesText(g.min_nodes, w.nodes)}, mean ${w.mean ?? "—"}`,
        ]),
        ["updated", `${g.updated_at} by ${g.updated_by}`],
      ]),
    );
  },
};

export const guardSet: Command = {
  name: "guard set",
  args: "<model> <alias>",
  summary: "Roll the alias back by itself when a production metric breaks a bound (admin)",
  options: {
    metric: { type: "string" },
    min: { type: "string" },
    max: { type: "string" },
    window: { type: "string" },
    "min-samples": { type: "string" },
    "min-nodes": { type: "string" },
  },
  help: [
    "--metric NAME   (required)",
    "--min X, --max X   Bounds (at least one)",
    "--window S      Seconds (default 300)",
    "--min-samples N  (default 20)",
    "--min-nodes N   Distinct nodes that must have reported in the window (default 1): one node cannot move a fleet",
  ],
  examples: [
    "mreg guard set payment-fraud production --metric error_rate --max 0.05",
    "mreg guard set payment-fraud production --metric error_rate --max 0.05 --min-nodes 3",
  ],
  target: (i) => targetOf(i.positionals[0], { alias: i.positionals[1] }),
  async run(ctx, input) {
    const [model, alias] = input.positionals as [string, string];
    const metric = str(input, "metric");
    if (!metric) throw new UsageError("--metric is required", "guard set");
    const num = (name: string) => {
      const v = str(input, name);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number`, "guard set");
      return n;
    };
    const policy: GuardPolicy = { metric };
    const min = num("min");
    const max = num("max");
    const windowS = int(input, "window");
    const minSamples = int(input, "min-samples");
    const minNodes = int(input, "min-nodes");
    if (min !== undefined) policy.min = min;
    if (max !== undefined) policy.max = max;
    if (windowS !== undefined) policy.window_s = windowS;
    if (minSamples !== undefined) policy.min_samples = minSamples;
    if (minNodes !== undefined) policy.min_nodes = minNodes;
    const g = await ctx.client.guards.set(model, alias, policy);
    ctx.out.result(
      g,
      () =>
        `guarding ${model}@${alias}: ${g.metric} in ${g.min ?? "-∞"} .. ${g.max ?? "+∞"} over ${g.window_s} s${g.min_nodes > 1 ? `, once ${g.min_nodes} nodes report` : ""}`,
    );
  },
};

/** A window's nodes, where the guard counts them: `, 2 of 3 nodes` (the count stops at min_nodes). */
const nodesText = (minNodes: number, nodes: number) => (minNodes > 1 ? `, ${nodes} of ${minNodes} nodes` : "");

export const guardRm: Command = {
  name: "guard rm",
  args: "<model> <alias>",
  summary: "Remove an alias's guard (admin)",
  target: (i) => targetOf(i.positionals[0], { alias: i.positionals[1] }),
  async run(ctx, input) {
    const [model, alias] = input.positionals as [string, string];
    await ctx.client.guards.delete(model, alias);
    ctx.out.result({ model, alias, deleted: true }, () => `removed the guard of ${model}@${alias}`);
  },
};
