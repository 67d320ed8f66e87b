/**
 * The fleet (docs/fleet.md): what serving nodes say they run, beside what the alias says
 * should run. Nodes report to the watch relay their key picks (src/state/watch-relay.ts),
 * which keeps one record per node and sends the model's object a summary of them
 * (`summarize`); the object keeps each relay's latest summary and answers the fleet view from
 * them (`combine`), with no per-node state of its own. Pure: no I/O, no clock of its own.
 *
 * A node is judged by its routing key (`routingUnit`, the hash the resolve path picks a
 * split's member with), so "in step" means exactly "serves what a resolve with its key
 * answers". Each summary carries the relay's own exact judgement against the value it knew,
 * and, per served version, how many serving nodes fall in each hundredth of [0, 1): enough to
 * judge them against any other split at once, exactly when the split's boundaries fall on
 * whole hundredths (every split a rollout sets, whose weights are whole per cents).
 */
import { z } from "zod";
import { pickByUnit, routingUnit, SplitShown, type SplitEntry } from "./alias";
import type { ResolveState } from "./resolution";
import { LABEL_KEY, MAX_AGENT, MAX_LABEL_VALUE, MAX_LABELS, MAX_REASON } from "./fleet-limits";
import { MAX_NODE_NAME } from "./signal-limits";

export const NODE_STATES = ["serving", "syncing", "refused", "degraded"] as const;
export type NodeState = (typeof NODE_STATES)[number];

export { LABEL_KEY, MAX_AGENT, MAX_LABEL_VALUE, MAX_LABELS, MAX_REASON } from "./fleet-limits";
/** The highest version number a URI can name (`registry://m/999999999`). */
const MAX_VERSION = 999_999_999;
/** Refusal reasons a summary and the fleet view name at most, the commonest first. */
export const MAX_REASONS = 10;
/** How many slices of [0, 1) a summary counts serving nodes in, per version. */
export const UNIT_BUCKETS = 100;
/** A node not heard of for this long is forgotten by its relay. */
export const NODE_FORGET_MS = 24 * 3600 * 1000;
/** The actor of the fleet's audit events. */
export const FLEET_ACTOR = "fleet";

const NodeName = z.string().min(1).max(MAX_NODE_NAME);
const VersionNumber = z.number().int().min(1).max(MAX_VERSION);

export const Labels = z
  .record(
    z.string().regex(LABEL_KEY, "a label key is 1 to 63 of A-Z a-z 0-9 . _ / -, starting and ending alphanumeric"),
    z.string().max(MAX_LABEL_VALUE),
  )
  .refine((l) => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);

const reportFields = {
  version: VersionNumber.nullable().describe("The version the node serves now (null: none yet)"),
  state: z
    .enum(NODE_STATES)
    .describe(
      "`serving`: in step with what the registry names for it; `syncing`: on its way to it; `refused`: it refused what the registry names (`reason` says why) and serves `version`; `degraded`: anything else that keeps it from following",
    ),
  reason: z.string().max(MAX_REASON).optional(),
  target: VersionNumber.nullable()
    .optional()
    .describe(
      "The version the node is on its way to, or refused: a refusal that names it counts only against that version",
    ),
  labels: Labels.optional(),
  agent: z.string().min(1).max(MAX_AGENT).optional().describe("What sends the report (`mreg-agent/0.1.0`)"),
};

/** `POST .../aliases/{alias}/nodes`. */
export const NodeReportBody = z.strictObject({ node: NodeName, ...reportFields });
export type NodeReportBody = z.output<typeof NodeReportBody>;

/**
 * A report over a watch socket (docs/fleet.md "Reports over the watch socket"): the same
 * fields, `type: "report"`, and the node is the socket's routing key (`node`, if given, must
 * be that key).
 */
export const SocketReport = z.strictObject({ type: z.literal("report"), node: NodeName.optional(), ...reportFields });

/** What the relay answers on the socket when it refuses a report (the watch client sets it aside). */
export const REPORT_REFUSED = "report_refused";

/** A report as a relay takes it: the node, and what it says. */
export interface NodeReport {
  node: string;
  version: number | null;
  state: NodeState;
  reason: string | null;
  target: number | null;
  labels: Record<string, string>;
  agent: string | null;
}

export function reportOf(node: string, body: Omit<NodeReportBody, "node">): NodeReport {
  return {
    node,
    version: body.version,
    state: body.state,
    reason: body.reason ?? null,
    target: body.target ?? null,
    labels: body.labels ?? {},
    agent: body.agent ?? null,
  };
}

/** The contract's Node. */
export const Node = z
  .object({
    node: z.string(),
    version: z.number().int().nullable(),
    state: z.enum(NODE_STATES),
    reason: z.string().nullable(),
    target: z.number().int().nullable(),
    labels: z.record(z.string(), z.string()),
    agent: z.string().nullable(),
    since: z.string().describe("When the node began serving `version` (as far as this registry heard)"),
    first_seen: z.string(),
    last_seen: z.string(),
    stale: z.boolean().describe("No report for NODE_TTL_S (default 90)"),
  })
  .meta({ id: "Node" });
export type Node = z.output<typeof Node>;

// ---- what the alias intends ------------------------------------------------------------------

/** What an alias intends: one version, a split, or nothing (version and split null). */
export interface Intended {
  version: number | null;
  split: SplitEntry[] | null;
}

export const NOTHING: Intended = { version: null, split: null };

/** What a resolvable state intends (null: the alias resolves to nothing). */
export function intendedOf(state: ResolveState | null): Intended {
  if (!state) return NOTHING;
  return state.split ? { version: null, split: state.split } : { version: state.targets[0]!.version, split: null };
}

export const sameIntended = (a: Intended, b: Intended) =>
  a.version === b.version && JSON.stringify(a.split) === JSON.stringify(b.split);

/** The version `value` intends for a node whose key falls at `unit`: a split's member, else the one version. */
export function memberAt(value: Intended, unit: number): number | null {
  return value.split ? pickByUnit(value.split, unit) : value.version;
}

/** The node's place in [0, 1) for the alias: what picks its split member. */
export const nodeUnit = routingUnit;

/** The relay of an alias that a routing key (a watcher's, a node's) picks: the watch route and the report route agree. */
export function relayShard(key: string, shards: number, unitOf: (key: string) => number): number {
  return Math.min(shards - 1, Math.floor(unitOf(key) * shards));
}

export const relayName = (model: string, alias: string, shard: number) => `${model}@${alias}#${shard}`;

// ---- a relay's summary --------------------------------------------------------------------------

/** A node as a relay's summary reads it. */
export interface NodeRow {
  node: string;
  version: number | null;
  state: NodeState;
  reason: string | null;
  target: number | null;
  /** Its routing unit for the alias. */
  unit: number;
  lastSeenMs: number;
  /** When it entered its current state. */
  stateSinceMs: number;
}

export interface VersionCounts {
  version: number | null;
  nodes: number;
  serving: number;
  syncing: number;
  refused: number;
  degraded: number;
}

export interface ReasonCount {
  reason: string;
  nodes: number;
}

/** The first node (of a relay, then of the fleet) refusing what the alias intends for it. */
export interface Refusal {
  node: string;
  version: number | null;
  target: number | null;
  reason: string | null;
  at: number;
}

/** A relay's exact judgement of its reporting nodes against one value of the alias. */
export interface Judgement {
  value: Intended;
  /** Serving what `value` intends for them. */
  in_step: number;
  /** Refusing what `value` intends for them (a refusal naming another `target` is of another version). */
  refusing: number;
  first_refusal: Refusal | null;
}

/** What a relay tells the model's object about one alias's nodes (at most once a second). */
export interface FleetSummary {
  /** When the relay made it (ms since the epoch). */
  at: number;
  /** Records held, stale ones included. */
  nodes: number;
  /** Records heard from within NODE_TTL_S. */
  reporting: number;
  by_version: VersionCounts[];
  reasons: ReasonCount[];
  /** Per served version, the serving reporting nodes in each of UNIT_BUCKETS slices of [0, 1). */
  units: { version: number; buckets: number[] }[];
  /** Null while the relay does not know what the alias intends (not attached yet). */
  judged: Judgement | null;
}

const isReporting = (row: NodeRow, now: number, ttlMs: number) => row.lastSeenMs > now - ttlMs;

const inStep = (row: NodeRow, value: Intended) => row.state === "serving" && row.version === memberAt(value, row.unit);

function refusing(row: NodeRow, value: Intended): boolean {
  if (row.state !== "refused") return false;
  return row.target === null || row.target === memberAt(value, row.unit);
}

const bucketOf = (unit: number) => Math.min(UNIT_BUCKETS - 1, Math.max(0, Math.floor(unit * UNIT_BUCKETS)));

function emptyCounts(version: number | null): VersionCounts {
  return { version, nodes: 0, serving: 0, syncing: 0, refused: 0, degraded: 0 };
}

/** The commonest versions first (then the newest); nodes serving nothing last. */
const byNodes = (a: VersionCounts, b: VersionCounts) => b.nodes - a.nodes || (b.version ?? 0) - (a.version ?? 0);

const topReasons = (counts: Map<string, number>): ReasonCount[] =>
  [...counts]
    .map(([reason, nodes]) => ({ reason, nodes }))
    .sort((a, b) => b.nodes - a.nodes || (a.reason < b.reason ? -1 : 1))
    .slice(0, MAX_REASONS);

/** A relay's summary of its nodes of one alias, judged against `value` (null: not known). */
export function summarize(rows: Iterable<NodeRow>, value: Intended | null, now: number, ttlMs: number): FleetSummary {
  const versions = new Map<number | null, VersionCounts>();
  const reasons = new Map<string, number>();
  const units = new Map<number, number[]>();
  let nodes = 0;
  let reporting = 0;
  const judged: Judgement | null = value ? { value, in_step: 0, refusing: 0, first_refusal: null } : null;
  for (const row of rows) {
    nodes++;
    if (!isReporting(row, now, ttlMs)) continue;
    reporting++;
    const counts = versions.get(row.version) ?? versions.set(row.version, emptyCounts(row.version)).get(row.version)!;
    counts.nodes++;
    counts[row.state]++;
    if (row.state === "refused" && row.reason !== null) reasons.set(row.reason, (reasons.get(row.reason) ?? 0) + 1);
    if (row.state === "serving" && row.version !== null) {
      const buckets =
        units.get(row.version) ?? units.set(row.version, new Array<number>(UNIT_BUCKETS).fill(0)).get(row.version)!;
      buckets[bucketOf(row.unit)]!++;
    }
    if (!judged) continue;
    if (inStep(row, judged.value)) judged.in_step++;
    if (refusing(row, judged.value)) {
      judged.refusing++;
      if (judged.first_refusal === null || row.stateSinceMs < judged.first_refusal.at)
        judged.first_refusal = {
          node: row.node,
          version: row.version,
          target: row.target,
          reason: row.reason,
          at: row.stateSinceMs,
        };
    }
  }
  return {
    at: now,
    nodes,
    reporting,
    by_version: [...versions.values()].sort(byNodes),
    reasons: topReasons(reasons),
    units: [...units].map(([version, buckets]) => ({ version, buckets })).sort((a, b) => a.version - b.version),
    judged,
  };
}

// ---- the fleet, from the relays' summaries ---------------------------------------------------

/** How many of a summary's serving nodes `value` intends what they serve for, from its slices (exact when its boundaries fall on them). */
function sliceEstimate(summary: FleetSummary, value: Intended): number {
  let n = 0;
  for (const { version, buckets } of summary.units)
    buckets.forEach((count, b) => {
      if (count > 0 && memberAt(value, (b + 0.5) / UNIT_BUCKETS) === version) n += count;
    });
  return n;
}

/** A summary's nodes serving what `value` intends: the relay's own judgement when it judged that value, else its slices. */
function inStepOf(summary: FleetSummary, value: Intended): { n: number; exact: boolean } {
  if (summary.judged && sameIntended(summary.judged.value, value)) return { n: summary.judged.in_step, exact: true };
  return { n: sliceEstimate(summary, value), exact: summary.reporting === 0 };
}

/**
 * The share of the reporting nodes serving what `value` intends for them (1 when none
 * reports: nothing lags). Exact for a summary judged against `value`; for one judged against
 * another value, exact when `value`'s split boundaries fall on whole hundredths.
 */
export function servingShare(summaries: readonly FleetSummary[], value: Intended): number {
  let reporting = 0;
  let inStepNodes = 0;
  for (const s of summaries) {
    reporting += s.reporting;
    inStepNodes += inStepOf(s, value).n;
  }
  return reporting === 0 ? 1 : Math.min(1, inStepNodes / reporting);
}

/** The fleet of one alias against what it intends, from every relay's latest summary. */
export interface FleetCounts {
  nodes: number;
  reporting: number;
  by_version: VersionCounts[];
  /** Reporting nodes serving what the alias intends for them. */
  in_step: number;
  /** Every reporting node serves what the alias intends for it, as judged by every relay against that value. */
  converged: boolean;
  /** Reporting nodes neither in step nor refusing. */
  lagging: number;
  /** Reporting nodes in state `refused`. */
  refused: number;
  reasons: ReasonCount[];
  /** The first node refusing what the alias intends for it, among relays that judged that value. */
  first_refusal: Refusal | null;
  /** When the newest summary was made (ms), null when there is none. */
  updated_at: number | null;
}

export function combine(summaries: readonly FleetSummary[], intended: Intended): FleetCounts {
  const versions = new Map<number | null, VersionCounts>();
  const reasons = new Map<string, number>();
  let nodes = 0;
  let reporting = 0;
  let inStepNodes = 0;
  let refused = 0;
  let exact = true;
  let first: Refusal | null = null;
  let updated: number | null = null;
  for (const s of summaries) {
    nodes += s.nodes;
    reporting += s.reporting;
    updated = updated === null ? s.at : Math.max(updated, s.at);
    for (const v of s.by_version) {
      const into = versions.get(v.version) ?? versions.set(v.version, emptyCounts(v.version)).get(v.version)!;
      into.nodes += v.nodes;
      into.serving += v.serving;
      into.syncing += v.syncing;
      into.refused += v.refused;
      into.degraded += v.degraded;
      refused += v.refused;
    }
    for (const r of s.reasons) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + r.nodes);
    const judged = inStepOf(s, intended);
    inStepNodes += judged.n;
    exact &&= judged.exact;
    const refusal = s.judged && sameIntended(s.judged.value, intended) ? s.judged.first_refusal : null;
    if (refusal && (first === null || refusal.at < first.at)) first = refusal;
  }
  return {
    nodes,
    reporting,
    by_version: [...versions.values()].sort(byNodes),
    in_step: inStepNodes,
    converged: exact && inStepNodes === reporting,
    lagging: Math.max(0, reporting - inStepNodes - refused),
    refused,
    reasons: topReasons(reasons),
    first_refusal: first,
    updated_at: updated,
  };
}

// ---- the HTTP answer -------------------------------------------------------------------------

const VersionCountsShape = z.object({
  version: z.number().int().nullable(),
  nodes: z.number().int(),
  serving: z.number().int(),
  syncing: z.number().int(),
  refused: z.number().int(),
  degraded: z.number().int(),
});

/** The contract's Fleet, with what this registry adds (`in_step`, `reasons`, `relays`, `summaries`). */
export const Fleet = z
  .object({
    model: z.string(),
    alias: z.string(),
    intended: z.object({ version: z.number().int().nullable(), split: SplitShown, generation: z.number().int() }),
    nodes: z.number().int().describe("Nodes the relays hold records of (stale ones included)"),
    reporting: z.number().int().describe("Nodes heard from within NODE_TTL_S"),
    by_version: z.array(VersionCountsShape).describe("Reporting nodes per version they serve, the commonest first"),
    converged: z.boolean().describe("Every reporting node serves what the alias intends for it (its split member)"),
    in_step: z.number().int().describe("Reporting nodes serving what the alias intends for them"),
    lagging: z.number().int().describe("Reporting nodes neither in step nor refusing"),
    refused: z.number().int().describe("Reporting nodes in state `refused`"),
    reasons: z
      .array(z.object({ reason: z.string(), nodes: z.number().int() }))
      .describe(`Why refused nodes refused, the commonest first (at most ${MAX_REASONS})`),
    since_change_s: z.number().nullable().describe("Seconds since the alias last changed (null: not known)"),
    updated_at: z.string().nullable().describe("When the newest summary was made (null: no node has reported)"),
    relays: z.number().int().describe("Relays holding records of this alias's nodes"),
    summaries: z.number().int().describe("Summaries the model's object has taken from them (all time)"),
  })
  .meta({ id: "Fleet" });
export type Fleet = z.output<typeof Fleet>;
