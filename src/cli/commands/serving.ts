/** The serving side and the record: `resolve`, `watch`, `audit`, `lineage`, `diff`. */
import { parseModelUri } from "../../client/aliases";
import { MregError } from "../../client/errors";
import { backoffMs } from "../../client/transport";
import type { LineageSearch, RedactedNode, Resolution, VersionRef, WatchEvent } from "../../client/types";
import { flag, int, str, toInt, type Command } from "../command";
import type { Context } from "../context";
import { commitOf } from "../../domain/reference";
import { CliError, EXIT, UsageError } from "../exit";
import { ago, bytes, fields, table } from "../output";
import { more } from "./promote";
import { normalizeUri, uriTarget } from "./pull";

function showResolution(r: Resolution): string {
  return (
    fields([
      ["uri", r.uri],
      ["model", r.model],
      ["alias", r.alias],
      ["version", r.version],
      ["split", r.split ? r.split.map((s) => `v${s.version}:${s.weight}`).join(",") : ""],
      ["generation", r.generation],
      ["digest", r.digest],
    ]) +
    (r.files.length
      ? "\n\n" +
        table(
          ["path", "size", "sha256"],
          r.files.map((f) => [f.path, bytes(f.size), f.sha256]),
        )
      : "")
  );
}

export const resolveCmd: Command = {
  name: "resolve",
  args: "<uri>",
  summary: "What registry://model@alias (or model/3) resolves to now",
  options: { key: { type: "string" }, lineage: { type: "boolean" }, commit: { type: "boolean" } },
  help: [
    "--key KEY     Routing key for a split",
    "--lineage     Include the version's lineage graph",
    "--commit      Print only the version's commit: the Hugging Face revision that names this version for good",
  ],
  examples: [
    "mreg resolve registry://payment-fraud@production",
    "mreg resolve payment-fraud@canary --key user-42 --json",
    "mreg resolve payment-fraud@production --commit   # pin Hugging Face clients (transformers.js caches by revision name)",
  ],
  target: (input) => uriTarget(input.positionals[0]),
  async run(ctx, input) {
    const uri = normalizeUri(input.positionals[0]!);
    const key = str(input, "key");
    const r = await ctx.client.resolve(uri, {
      ...(key ? { key } : {}),
      ...(flag(input, "lineage") ? { include: "lineage" as const } : {}),
    });
    if (flag(input, "commit")) {
      if (!r.digest) throw new CliError(`${r.model} version ${r.version} has no digest, so no commit`, EXIT.error);
      const commit = commitOf(r.digest);
      ctx.out.result({ model: r.model, version: r.version, commit }, () => commit);
      return;
    }
    ctx.out.result(
      r,
      () =>
        showResolution(r) +
        (r.lineage
          ? `\n\nlineage: ${r.lineage.nodes.length} nodes, ${r.lineage.edges.length} edges (--json for the graph)`
          : ""),
    );
  },
};

function eventLine(e: WatchEvent): string {
  const at = new Date().toISOString();
  const value =
    e.version === null
      ? "(nothing)"
      : e.split
        ? `v${e.version} (split ${e.split.map((s) => `v${s.version}:${s.weight}`).join(",")})`
        : `v${e.version}`;
  return `${at}  ${e.event.padEnd(9)} ${e.model}@${e.alias} → ${value}  generation ${e.generation}${e.digest ? `  ${e.digest}` : ""}`;
}

export const watch: Command = {
  name: "watch",
  args: "<uri>",
  summary: "Print each change of an alias as it happens (one JSON object per line with --json)",
  options: { key: { type: "string" }, count: { type: "string" } },
  help: [
    "--key KEY     Routing key for a split",
    "--count N     Exit after N messages (the first is the current state)",
  ],
  examples: [
    "mreg watch registry://payment-fraud@production",
    "mreg watch payment-fraud@production --json | jq -c '{event, version}'",
  ],
  target: (input) => uriTarget(input.positionals[0]),
  async run(ctx, input) {
    const uri = parseModelUri(normalizeUri(input.positionals[0]!));
    const alias = uri.alias ?? `v${uri.version}`;
    const count = int(input, "count");
    const key = str(input, "key");
    await watchLoop(ctx, uri.model, alias, key, count);
  },
};

/**
 * Follows the alias until interrupted; a dropped socket is reopened (with backoff), and
 * the `current` message a new socket starts with is printed only if it says something new.
 */
async function watchLoop(
  ctx: Context,
  model: string,
  alias: string,
  key: string | undefined,
  count: number | undefined,
): Promise<void> {
  let seen = 0;
  let lastGeneration: number | undefined;
  let failures = 0;
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  while (!stop.signal.aborted) {
    try {
      const w = await ctx.client.aliases.watch(model, alias, { ...(key ? { key } : {}), signal: stop.signal });
      for await (const event of w) {
        failures = 0;
        if (event.event === "current" && lastGeneration !== undefined && event.generation === lastGeneration) continue;
        lastGeneration = event.generation;
        ctx.out.line(event, () => eventLine(event));
        if (count !== undefined && ++seen >= count) {
          w.close();
          return;
        }
      }
      if (stop.signal.aborted) return;
    } catch (err) {
      // Refusals (401, 403, 404) end the watch; a network drop is retried.
      if (!(err instanceof MregError) || err.code !== "network_error" || stop.signal.aborted) throw err;
      failures++;
      ctx.out.note(`watch: ${err.detail}; reconnecting`);
    }
    await new Promise((r) => setTimeout(r, backoffMs(Math.min(failures, 5))));
  }
}

export const audit: Command = {
  name: "audit",
  summary: "The audit log, newest first",
  options: {
    model: { type: "string" },
    alias: { type: "string" },
    actor: { type: "string" },
    action: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
  },
  help: [
    "--model M, --alias A, --actor WHO, --action ACT   Filters (they combine)",
    "--since T, --until T     RFC 3339 instants (since inclusive, until exclusive)",
    "--limit N, --cursor C    Paging (1..200, default 50)",
  ],
  examples: [
    "mreg audit --model payment-fraud --action rollback",
    "mreg audit --actor ci --since 2026-11-01T00:00:00Z --json",
  ],
  async run(ctx, input) {
    const page = await ctx.client.audit.list({
      model: str(input, "model"),
      alias: str(input, "alias"),
      actor: str(input, "actor"),
      action: str(input, "action"),
      since: str(input, "since"),
      until: str(input, "until"),
      limit: int(input, "limit", { max: 200 }),
      cursor: str(input, "cursor"),
    });
    ctx.out.result(
      page,
      () =>
        table(
          ["when", "actor", "action", "model", "version", "alias", "reason"],
          page.items.map((e) => [e.at, e.actor, e.action, e.model, e.version, e.alias, e.reason]),
        ) + more(page.next_cursor),
    );
  },
};

export const lineage: Command = {
  name: "lineage",
  args: "[model] [version]",
  summary: "A version's lineage graph; or, with --dataset/--git-sha/--run-id, the versions they produced",
  options: {
    depth: { type: "string" },
    dataset: { type: "string" },
    snapshot: { type: "string" },
    "git-sha": { type: "string" },
    "run-id": { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
  },
  help: [
    "--depth N                 Levels up and down (1..10, default 3)",
    "--dataset URI [--snapshot S] | --git-sha SHA | --run-id ID   Search instead",
    "--limit N, --cursor C     Paging of a search",
  ],
  examples: ["mreg lineage payment-fraud 3", "mreg lineage --dataset s3://data/tx --snapshot 2026-11-01"],
  target: (input) => ({
    model: input.positionals[0],
    ...(/^[1-9]\d*$/.test(input.positionals[1] ?? "") ? { version: Number(input.positionals[1]) } : {}),
  }),
  async run(ctx, input) {
    const [model, v] = input.positionals;
    const search = { dataset: str(input, "dataset"), git_sha: str(input, "git-sha"), run_id: str(input, "run-id") };
    const given = Object.values(search).filter((x) => x !== undefined).length;
    if (model !== undefined) {
      if (given > 0) throw new UsageError("give a model and version, or one search option, not both", "lineage");
      if (v === undefined) throw new UsageError("expected <model> <version>", "lineage");
      const graph = await ctx.client.lineage.graph(model, toInt(v, "version"), {
        depth: int(input, "depth", { max: 10 }),
      });
      ctx.out.result(graph, () =>
        [
          table(
            ["node", "distance", "status", "stage", "aliases", "run", "git sha"],
            [...graph.nodes]
              .sort((x, y) => x.distance - y.distance)
              .map((n) =>
                isRedacted(n)
                  ? [`(hidden ${n.ref})`, n.distance, "", "", "", "", ""]
                  : [
                      `${n.model}/${n.version}`,
                      n.distance,
                      n.status,
                      n.stage,
                      n.aliases.join(","),
                      n.run_id,
                      n.git_sha,
                    ],
              ),
          ),
          graph.edges.length
            ? "\n" + graph.edges.map((e) => `${fmtRef(e.from)} → ${fmtRef(e.to)} (${e.relation})`).join("\n")
            : "",
          graph.datasets.length
            ? "\ndatasets:\n" +
              graph.datasets
                .map((d) => `  ${d.uri}${d.snapshot ? ` @ ${d.snapshot}` : ""}${d.digest ? ` (${d.digest})` : ""}`)
                .join("\n")
            : "",
          graph.truncated ? "\n(truncated: more nodes than one answer holds)" : "",
        ].join("\n"),
      );
      return;
    }
    if (given !== 1)
      throw new UsageError("give <model> <version>, or exactly one of --dataset, --git-sha, --run-id", "lineage");
    const page = { limit: int(input, "limit", { max: 200 }), cursor: str(input, "cursor") };
    const query: LineageSearch = search.dataset
      ? { dataset: search.dataset, snapshot: str(input, "snapshot"), ...page }
      : search.git_sha
        ? { git_sha: search.git_sha, ...page }
        : { run_id: search.run_id!, ...page };
    const hits = await ctx.client.lineage.search(query);
    ctx.out.result(
      hits,
      () =>
        table(
          ["version", "status", "aliases", "created"],
          hits.items.map((h) => [`${h.model}/${h.version}`, h.status, (h.aliases ?? []).join(","), ago(h.created_at)]),
        ) + more(hits.next_cursor),
    );
  },
};

const isRedacted = (n: { model: string | null }): n is RedactedNode => n.model === null;
const fmtRef = (r: VersionRef | RedactedNode) => (isRedacted(r) ? `(hidden ${r.ref})` : `${r.model}/${r.version}`);

export const diff: Command = {
  name: "diff",
  args: "<model> <a> <b>",
  summary: "What changed from version a to b: files (text diffs), params, metrics, tags, lineage",
  examples: ["mreg diff payment-fraud 3 4", "mreg diff payment-fraud 3 registry://fraud-challenger/2"],
  target: (input) => ({ model: input.positionals[0] }),
  async run(ctx, input) {
    const [model, a, b] = input.positionals as [string, string, string];
    const d = await ctx.client.lineage.diff(model, versionRef(a), versionRef(b));
    ctx.out.result(d, () => {
      const lines: string[] = [`${d.model} ${d.from} → ${d.to}`];
      for (const f of d.files.added) lines.push(`+ ${f.path} (${bytes(f.size)})`);
      for (const f of d.files.removed) lines.push(`- ${f.path} (${bytes(f.size)})`);
      for (const f of d.files.changed) {
        lines.push(
          `~ ${f.path} (${bytes(f.from_size)} → ${bytes(f.to_size)}, ${f.from_sha256.slice(0, 12)} → ${f.to_sha256.slice(0, 12)})${f.diff_omitted ? ` [no text diff: ${f.diff_omitted}]` : ""}`,
        );
        if (f.diff) lines.push(f.diff.trimEnd());
      }
      for (const part of ["params", "metrics", "tags", "lineage"] as const) {
        const m = d[part];
        for (const [k, v] of Object.entries(m.added)) lines.push(`${part}: + ${k} = ${JSON.stringify(v)}`);
        for (const [k, v] of Object.entries(m.removed)) lines.push(`${part}: - ${k} = ${JSON.stringify(v)}`);
        for (const [k, v] of Object.entries(m.changed))
          lines.push(`${part}: ~ ${k} ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`);
      }
      return lines.length > 1 ? lines.join("\n") : `${lines[0]}: no differences`;
    });
  },
};

/** A diff side: a version number, or `registry://<model>/<n>` (another model's version). */
function versionRef(v: string): number | string {
  if (v.startsWith("registry://")) return v;
  return toInt(v, "version");
}
