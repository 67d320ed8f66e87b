/**
 * What a ModelState decides about guards: their policies, and each batch of signals, which
 * may roll the alias back in the same transaction that counts it.
 */
import { rollbackTarget, valueVersions } from "../domain/alias";
import { breaks, bucketOf, tripReason, type GuardPolicy, type WindowStats } from "../domain/guard";
import { changeAlias } from "./alias-ops";
import type { GuardState } from "./guard-table";
import { fail, type Outcome } from "./outcome";
import { appendAudit, modelNotFound, type Actor, type Rooms } from "./rooms";

/** The contract's Guard: the body it was set with, at the top level, plus who set it and its window. */
export interface GuardView {
  model: string;
  alias: string;
  metric: string;
  min: number | null;
  max: number | null;
  window_s: number;
  min_samples: number;
  updated_at: string;
  updated_by: string;
  /** The alias's whole window: its version's, or for a split all members' together (version null). */
  window: MemberWindow;
  /** Each served version's own window, in the alias's order: what a guard trips on. */
  windows: MemberWindow[];
}

type MemberWindow = { version: number | null } & WindowStats;

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

/**
 * Counts the samples of the guard's metric (a count and their sum) for `version`, if the alias
 * serves it now (alone or as a member of a split); others are ignored. Each served version
 * has its own window. When that version's window then holds at least `min_samples` and its
 * mean breaks the bound, the alias is rolled back at once (a split as a whole: back to its
 * previous value), audited as `rollback` by actor `guard`, and watchers get event `guard`;
 * counting starts afresh.
 */
export function signal(
  r: Rooms,
  input: { model: string; alias: string; version: number; samples: Record<string, { count: number; sum: number }>; atMs: number },
): Outcome<{ counted: boolean; rolledBack: boolean }> {
  const guard = r.guards.get(input.alias);
  const alias = r.aliases.get(input.alias);
  const sample = guard ? input.samples[guard.policy.metric] : undefined;
  const served = alias ? valueVersions(alias.value) : [];
  if (!guard || !alias || !sample || !served.includes(input.version)) {
    return { ok: true, value: { counted: false, rolledBack: false } };
  }
  const bucket = bucketOf(input.atMs, guard.policy.window_s);
  if (!r.guards.add(input.alias, input.version, bucket, sample, served)) {
    return { ok: true, value: { counted: false, rolledBack: false } };
  }
  const stats = r.guards.stats(input.alias, [input.version], bucket);
  if (!breaks(guard.policy, stats)) return { ok: true, value: { counted: true, rolledBack: false } };
  const target = rollbackTarget(r.aliases.steps(input.alias));
  if (!target || valueVersions(target).some((v) => r.versions.head(v)?.status !== "ready")) {
    // Nothing to go back to: the guard keeps counting, and says why in the log.
    console.warn(`guard on ${input.model}@${input.alias} tripped with nothing to roll back to`);
    return { ok: true, value: { counted: true, rolledBack: false } };
  }
  const actor = { model: input.model, actor: "guard", at: new Date(input.atMs).toISOString(), reason: tripReason(guard.policy, input.version, stats) };
  changeAlias(r, actor, input.alias, "rollback", alias.value, target, "guard");
  r.guards.forget(input.alias);
  return { ok: true, value: { counted: true, rolledBack: true } };
}

function view(r: Rooms, model: string, state: GuardState, nowMs: number): GuardView {
  const alias = r.aliases.get(state.alias);
  const served = alias ? valueVersions(alias.value) : [];
  const bucket = bucketOf(nowMs, state.policy.window_s);
  const windows = served.map((version) => ({ version, ...r.guards.stats(state.alias, [version], bucket) }));
  const window: MemberWindow = served.length === 1 ? windows[0]! : { version: null, ...r.guards.stats(state.alias, served, bucket) };
  const { metric, min, max, window_s, min_samples } = state.policy;
  return {
    model,
    alias: state.alias,
    metric,
    min: min ?? null,
    max: max ?? null,
    window_s,
    min_samples,
    updated_at: state.updated_at,
    updated_by: state.updated_by,
    window,
    windows,
  };
}
