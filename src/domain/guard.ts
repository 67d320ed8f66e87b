/**
 * Guards (docs/api.md "Aliases, gates and guards"): a bound on a production metric of the
 * version an alias serves, over a sliding window of the signals serving nodes report. The
 * window is kept as WINDOW_BUCKETS time buckets of counts and sums, so its size depends on
 * time, never on how many signals arrive. Pure: no I/O.
 *
 * One node, honest or not, must not move a fleet: a guard trips only when at least
 * `min_nodes` distinct nodes reported in the window. The window keeps, per bucket, the names
 * of at most `min_nodes` nodes: the rule only asks whether the window holds that many, and a
 * bucket that is full answers yes on its own, so capping each bucket changes no decision
 * (proof at `addNode`) while a reporter inventing names cannot grow it.
 */
import { z } from "zod";
import { MAX_MIN_NODES, MAX_SIGNAL_MAGNITUDE } from "./signal-limits";

export const WINDOW_BUCKETS = 10;

export { MAX_MIN_NODES, MAX_NODE_NAME, MAX_SIGNAL_COUNT, MAX_SIGNAL_MAGNITUDE } from "./signal-limits";

/** The node of signals that name none: they all count as this one node. */
export const ANONYMOUS_NODE = "";

/** A signal's metric value, as the route accepts it (zod 4's number is finite already). */
export const SignalValue = z.number().min(-MAX_SIGNAL_MAGNITUDE).max(MAX_SIGNAL_MAGNITUDE);

/** Samples of one metric: how many, and their sum (the weighted mean is sum / count). */
export interface Tally {
  count: number;
  sum: number;
}

/** Adds `count` samples of `value` (a node's own mean over them) to `into`. */
export function addSample(into: Tally, value: number, count: number): Tally {
  into.count += count;
  into.sum += value * count;
  return into;
}

/** Samples of one metric and the nodes they came from (at most the guard's `min_nodes` names). */
export interface SignalTally extends Tally {
  nodes: readonly string[];
}

/**
 * Adds `node` to the names a batch or a bucket keeps, unless it holds `cap` (the guard's
 * `min_nodes`) already. Why capping decides nothing differently: if the window's true set of
 * nodes numbers at least `cap`, either some bucket saw `cap` or more, so its capped set is
 * full, or every bucket saw fewer, so none was capped and the union is exact; either way the
 * capped union holds at least `cap`. The converse holds as capped sets are subsets.
 */
export function addNode(nodes: Set<string>, node: string, cap: number): Set<string> {
  if (nodes.size < cap) nodes.add(node);
  return nodes;
}

/**
 * Whether a batch could have come from valid signals: a positive finite count, and a finite
 * sum whose mean is within the bound (the slack covers the rounding of value × count). The
 * object applies it to whatever reaches it, so no caller can put a figure in a window that
 * the route would have refused.
 */
export function plausibleBatch(batch: Tally): boolean {
  return (
    Number.isFinite(batch.count) &&
    batch.count > 0 &&
    Number.isFinite(batch.sum) &&
    Math.abs(batch.sum) <= MAX_SIGNAL_MAGNITUDE * batch.count * (1 + 1e-9)
  );
}

/**
 * A window bucket with a batch added, or null when a figure would not be finite: such a
 * batch is refused whole rather than clamped, since clamping would bend the mean without
 * saying so. (With plausible batches it cannot happen before 1e296 samples.)
 */
export function mergeTally(bucket: Tally, batch: Tally): Tally | null {
  const merged = { count: bucket.count + batch.count, sum: bucket.sum + batch.sum };
  return Number.isFinite(merged.count) && Number.isFinite(merged.sum) ? merged : null;
}

export const GuardBody = z
  .strictObject({
    metric: z.string().min(1).max(128),
    min: z.number().refine(Number.isFinite, "must be finite").optional(),
    max: z.number().refine(Number.isFinite, "must be finite").optional(),
    window_s: z
      .number()
      .int()
      .min(10)
      .max(7 * 24 * 3600)
      .default(300),
    min_samples: z.number().int().min(1).max(1_000_000).default(20),
    min_nodes: z.number().int().min(1).max(MAX_MIN_NODES).default(1),
  })
  .refine((g) => g.min !== undefined || g.max !== undefined, "give min, max or both")
  .refine((g) => g.min === undefined || g.max === undefined || g.min <= g.max, "min must not exceed max");

export type GuardPolicy = z.output<typeof GuardBody>;

/** A policy as stored before `min_nodes` existed reads as one node (any node may trip it, as then). */
export const withNodeDefault = (policy: Omit<GuardPolicy, "min_nodes"> & { min_nodes?: number }): GuardPolicy => ({
  ...policy,
  min_nodes: policy.min_nodes ?? 1,
});

/** The bucket a moment falls in: WINDOW_BUCKETS of them cover `window_s`. */
export const bucketOf = (atMs: number, windowS: number) => Math.floor(atMs / ((windowS * 1000) / WINDOW_BUCKETS));

/** The oldest bucket still inside the window that ends with `current`. */
export const oldestBucket = (current: number) => current - WINDOW_BUCKETS + 1;

/** A window's figures, and the version they are of (null: a split's members together). */
const GuardWindow = z.object({
  version: z.number().nullable(),
  samples: z.number(),
  mean: z.number().nullable(),
  batches: z
    .number()
    .describe("How many calls to the model's Durable Object brought these samples (how well isolates coalesce)"),
  nodes: z
    .number()
    .int()
    .describe(
      "Distinct nodes that reported these samples (signals without `node` count as one), counted up to the guard's `min_nodes`: all the guard needs to know",
    ),
});

export type WindowStats = Omit<z.output<typeof GuardWindow>, "version">;

/** The contract's Guard, written once: the body it was set with, at the top level, plus who set it and its windows. */
export const Guard = z
  .object({
    model: z.string(),
    alias: z.string(),
    metric: z.string(),
    min: z.number().nullable(),
    max: z.number().nullable(),
    window_s: z.number().int(),
    min_samples: z.number().int(),
    min_nodes: z.number().int(),
    updated_at: z.string(),
    updated_by: z.string(),
    window: GuardWindow.describe(
      "The alias's window over the last `window_s`: that of the version it serves; for a split, all members' signals together, with `version` null (as the Alias's). A guard trips on one member's window, never on this sum: see `windows`.",
    ),
    windows: z
      .array(GuardWindow.extend({ version: z.number() }))
      .describe(
        "Each version the alias serves, with its own window, in the alias's order (one entry unless it is a split; none while the alias is not set)",
      ),
  })
  .meta({ id: "Guard" });

export type Guard = z.output<typeof Guard>;

/** Whether the window's mean breaks the guard's bound, counting only once it holds `min_samples` from `min_nodes` nodes. */
export function breaks(guard: GuardPolicy, stats: WindowStats): boolean {
  if (stats.mean === null || stats.samples < guard.min_samples || stats.nodes < guard.min_nodes) return false;
  return (guard.min !== undefined && stats.mean < guard.min) || (guard.max !== undefined && stats.mean > guard.max);
}

/** The rollback's reason: the figures that tripped it. */
export function tripReason(guard: GuardPolicy, version: number, stats: WindowStats): string {
  const bound = [
    guard.min !== undefined ? `min ${guard.min}` : null,
    guard.max !== undefined ? `max ${guard.max}` : null,
  ]
    .filter(Boolean)
    .join(", ");
  const mean = stats.mean === null ? null : Number.parseFloat(stats.mean.toPrecision(6));
  const from = guard.min_nodes > 1 ? ` from at least ${guard.min_nodes} nodes` : "";
  return `guard: mean ${guard.metric} of version ${version} was ${mean} over ${stats.samples} samples${from} in ${guard.window_s} s (${bound})`;
}
