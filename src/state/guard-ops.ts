/**
 * What a ModelState decides about guards: their policies, and each batch of signals, which
 * may roll the alias back in the same transaction that counts it.
 */
import { rollbackTarget, valueVersions } from "../domain/alias";
import { breaks, bucketOf, tripReason, type Guard, type GuardPolicy, type Tally } from "../domain/guard";
import { changeAlias } from "./alias-ops";
import type { GuardState } from "./guard-table";
import { fail, type Outcome } from "./outcome";
import { rolloutRevertTarget } from "./rollout-interrupt";
import { appendAudit, modelNotFound, type Actor, type Rooms } from "./rooms";

/** The contract's Guard (its shape: src/domain/guard.ts). */
export type GuardView = Guard;

export function setGuard(r: Rooms, input: Actor & { alias: string; policy: GuardPolicy }): Outcome<GuardView> {
  if (!r.model.get()) return modelNotFound(input);
  const state: GuardState = { alias: input.alias, policy: input.policy, updated_at: input.at, updated_by: input.actor };
  r.guards.put(state);
  appendAudit(r, input, { action: "guard.set", alias: input.alias, to: input.policy });
  return { ok: true, value: view(r, input.model, state, Date.parse(input.at)) };
}

export function deleteGuard(r: Rooms, input: Actor & { alias: string }): Outcome<null> {
  const before = r.guards.get(input.alias);
  if (!before) return fail("not_found", `Alias '${input.alias}' has no guard`);
  r.guards.delete(input.alias);
  appendAudit(r, input, { action: "guard.delete", alias: input.alias, from: before.policy });
  return { ok: true, value: null };
}

export function getGuard(r: Rooms, input: { model: string; alias: string; now: number }): Outcome<GuardView> {
  const state = r.guards.get(input.alias);
  if (!state) return fail("not_found", `Alias '${input.alias}' has no guard`);
  return { ok: true, value: view(r, input.model, state, input.now) };
}

/** A guarded alias as the Worker's signal route needs it (src/caches/guard-directory.ts). */
export interface GuardedAlias {
  alias: string;
  metric: string;
  /** The versions the alias serves now (none while it is not set). */
  versions: number[];
  /** How many node names a batch need carry per version (the object keeps no more per bucket). */
  min_nodes: number;
}

export function guardedAliases(r: Rooms): GuardedAlias[] {
  return r.guards.all().map((g) => {
    const alias = r.aliases.get(g.alias);
    return {
      alias: g.alias,
      metric: g.policy.metric,
      versions: alias ? valueVersions(alias.value) : [],
      min_nodes: g.policy.min_nodes,
    };
  });
}

/** One version's samples in a batch, and the nodes they came from (none named: the anonymous node). */
export type BatchSample = { version: number; nodes?: readonly string[] } & Tally;

/** What a batch of signals did: how many samples the guard counted, and whether it rolled the alias back. */
export interface SignalResult {
  counted: number;
  rolledBack: boolean;
}

/**
 * Counts a batch of the guard's metric (per version: a count and their sum) for the versions
 * the alias serves now (one, or each member of a split); the rest is ignored. The Worker
 * filtered the batch with what it knew of the guards, which may be out of date, so the guard,
 * its metric and the versions are checked again here. Each served version has its own
 * window. When a version's window then holds at least `min_samples` from at least
 * `min_nodes` distinct nodes and its mean breaks the bound, the alias is rolled back at once
 * (a split as a whole: back to its previous value), audited as `rollback` by actor `guard`,
 * and watchers get event `guard`; counting starts afresh.
 */
export function signal(
  r: Rooms,
  input: { model: string; alias: string; metric: string; samples: readonly BatchSample[]; atMs: number },
): Outcome<SignalResult> {
  const guard = r.guards.get(input.alias);
  const alias = r.aliases.get(input.alias);
  if (!guard || !alias || guard.policy.metric !== input.metric)
    return { ok: true, value: { counted: 0, rolledBack: false } };
  const served = valueVersions(alias.value);
  const bucket = bucketOf(input.atMs, guard.policy.window_s);
  const counted = new Set<number>();
  for (const sample of input.samples) {
    // One entry per version (the Worker sends no more); a repeat is not counted twice.
    if (!served.includes(sample.version) || counted.has(sample.version)) continue;
    const batch = { count: sample.count, sum: sample.sum, nodes: Array.isArray(sample.nodes) ? sample.nodes : [] };
    if (r.guards.add(input.alias, sample.version, bucket, batch, served, guard.policy.min_nodes))
      counted.add(sample.version);
  }
  for (const version of counted) {
    const stats = r.guards.stats(input.alias, [version], bucket, guard.policy.min_nodes);
    if (!breaks(guard.policy, stats)) continue;
    // During a rollout, back to where it started (and the rollout ends with the guard's reason).
    const target = rolloutRevertTarget(r, input.alias) ?? rollbackTarget(r.aliases.steps(input.alias));
    if (!target || valueVersions(target).some((v) => r.versions.head(v)?.status !== "ready")) {
      // Nothing to go back to: the guard keeps counting, and says why in the log.
      console.warn(`guard on ${input.model}@${input.alias} tripped with nothing to roll back to`);
      break;
    }
    const actor = {
      model: input.model,
      actor: "guard",
      at: new Date(input.atMs).toISOString(),
      reason: tripReason(guard.policy, version, stats),
    };
    changeAlias(r, actor, input.alias, "rollback", alias.value, target, { event: "guard" });
    r.guards.forget(input.alias);
    return { ok: true, value: { counted: counted.size, rolledBack: true } };
  }
  return { ok: true, value: { counted: counted.size, rolledBack: false } };
}

function view(r: Rooms, model: string, state: GuardState, nowMs: number): GuardView {
  const alias = r.aliases.get(state.alias);
  const served = alias ? valueVersions(alias.value) : [];
  const bucket = bucketOf(nowMs, state.policy.window_s);
  const minNodes = state.policy.min_nodes;
  const windows = served.map((version) => ({ version, ...r.guards.stats(state.alias, [version], bucket, minNodes) }));
  const window: GuardView["window"] =
    served.length === 1 ? windows[0]! : { version: null, ...r.guards.stats(state.alias, served, bucket, minNodes) };
  const { metric, min, max, window_s, min_samples, min_nodes } = state.policy;
  return {
    model,
    alias: state.alias,
    metric,
    min: min ?? null,
    max: max ?? null,
    window_s,
    min_samples,
    min_nodes,
    updated_at: state.updated_at,
    updated_by: state.updated_by,
    window,
    windows,
  };
}
