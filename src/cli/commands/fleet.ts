/** `mreg fleet <model>@<alias>`: what the nodes serving an alias run, against what it intends (docs/fleet.md). */
import { paginate } from "../../client/client";
import { parseModelUri } from "../../client/aliases";
import type { Fleet, FleetNode, FleetNodesQuery, NodeState } from "../../client/types";
import { fleetSentence, sinceWords } from "../../domain/fleet-words";
import { flag, int, str, type Command } from "../command";
import { UsageError } from "../exit";
import { ago, fields, table } from "../output";
import { normalizeUri, uriTarget } from "./pull";

const STATES: readonly NodeState[] = ["serving", "syncing", "refused", "degraded"];

function intended(f: Fleet): string {
  const i = f.intended;
  if (i.split) return `split ${i.split.map((s) => `v${s.version}:${s.weight}`).join(",")}`;
  return i.version === null ? "nothing" : `v${i.version}`;
}

function showFleet(f: Fleet, nodes: FleetNode[] | null): string {
  const head = fields([
    ["alias", `${f.model}@${f.alias} → ${intended(f)} (generation ${f.intended.generation})`],
    ["changed", f.since_change_s === null ? null : `${sinceWords(f.since_change_s)} ago`],
    ["fleet", fleetSentence(f)],
    ["converged", f.reporting === 0 ? "— (no node reports)" : f.converged ? "yes" : "no"],
    ["reporting", `${f.reporting} of ${f.nodes} nodes (the others stale)`],
    ["in step", f.in_step],
    ["lagging", f.lagging],
    ["refused", f.refused],
    ["updated", f.updated_at ? ago(f.updated_at) : null],
  ]);
  const versions = f.by_version.length
    ? "\n\n" +
      table(
        ["version", "nodes", "serving", "syncing", "refused", "degraded"],
        f.by_version.map((v) => [
          v.version === null ? "none" : `v${v.version}`,
          v.nodes,
          v.serving,
          v.syncing,
          v.refused,
          v.degraded,
        ]),
      )
    : "";
  const reasons = f.reasons.length
    ? "\n\n" +
      table(
        ["nodes", "refused because"],
        f.reasons.map((r) => [r.nodes, r.reason]),
      )
    : "";
  const list =
    nodes === null
      ? ""
      : "\n\n" +
        table(
          ["node", "version", "state", "since", "last seen", "reason"],
          nodes.map((n) => [
            n.node,
            n.version === null ? "none" : `v${n.version}`,
            n.stale ? `${n.state} (stale)` : n.state,
            ago(n.since),
            ago(n.last_seen),
            n.reason,
          ]),
        );
  return head + versions + reasons + list;
}

export const fleet: Command = {
  name: "fleet",
  args: "<model>@<alias>",
  summary: "What the nodes serving an alias run: counts per version and state, refusals and why, converged or not",
  options: {
    nodes: { type: "boolean" },
    state: { type: "string" },
    version: { type: "string" },
    label: { type: "string" },
    limit: { type: "string" },
  },
  help: [
    "--nodes          Also list the nodes (name order), with what each serves and why it refused",
    "--state STATE    Only nodes in STATE: serving, syncing, refused, degraded (with --nodes)",
    "--version N      Only nodes serving version N (with --nodes)",
    "--label KEY:VAL  Only nodes with that label (with --nodes)",
    "--limit N        List at most N nodes (default 100)",
  ],
  examples: [
    "mreg fleet payment-fraud@production",
    "mreg fleet payment-fraud@production --nodes --state refused",
    "mreg fleet payment-fraud@canary --json | jq '{converged, lagging, refused}'",
  ],
  target: (input) => uriTarget(input.positionals[0]),
  async run(ctx, input) {
    const uri = parseModelUri(normalizeUri(input.positionals[0]!));
    if (uri.alias === undefined) throw new UsageError("a fleet follows an alias: give <model>@<alias>", "fleet");
    const state = str(input, "state");
    if (state !== undefined && !(STATES as readonly string[]).includes(state))
      throw new UsageError(`--state takes one of ${STATES.join(", ")}, not '${state}'`, "fleet");
    const label = str(input, "label");
    if (label !== undefined && !label.includes(":")) throw new UsageError("--label takes KEY:VALUE", "fleet");
    const version = int(input, "version", { min: 1, max: 999_999_999 });
    const limit = int(input, "limit", { min: 1, max: 100_000 }) ?? 100;
    const listing = flag(input, "nodes") || state !== undefined || version !== undefined || label !== undefined;
    const f = await ctx.client.fleet.get(uri.model, uri.alias);
    let nodes: FleetNode[] | null = null;
    if (listing) {
      const query: FleetNodesQuery = {
        ...(state ? { state: state as NodeState } : {}),
        ...(version !== undefined ? { version } : {}),
        ...(label ? { label } : {}),
      };
      nodes = [];
      for await (const n of paginate((cursor) =>
        ctx.client.fleet.nodes(uri.model, uri.alias!, {
          ...query,
          limit: Math.min(200, limit),
          ...(cursor ? { cursor } : {}),
        }),
      )) {
        nodes.push(n);
        if (nodes.length >= limit) break;
      }
    }
    ctx.out.result(nodes === null ? f : { ...f, node_list: nodes }, () => showFleet(f, nodes));
  },
};
