/**
 * How other changes of an alias meet its rollout: any change the rollout did not make (a PUT,
 * a rollback, a swap, a delete, a stage move of its name, a guard's trip) ends it as aborted,
 * in the transaction of that change; and a guard that trips during a rollout takes the alias
 * back to the rollout's `from` rather than to the previous step. Apart from rollout-ops.ts,
 * which applies the steps through alias-ops.ts: alias-ops calls in here, so this module
 * imports neither.
 */
import { isActive } from "../domain/rollout";
import type { AliasValue } from "../domain/alias";
import { appendAudit, type Reasoned, type Rooms } from "./rooms";
import type { RolloutRecord } from "./rollout-table";

/** The watch event (and history cause) of a rollout's own alias changes. */
export const ROLLOUT_EVENT = "rollout";

/**
 * Ends the alias's running or paused rollout, if it has one, because `actor`'s change
 * (`event`: set, delete, rollback, swap, stage, guard) overtook it. A guard's trip ends it
 * with the guard's own reason; any other change with who made it and why.
 */
export function interruptRollout(r: Rooms, actor: Reasoned, alias: string, event: string): void {
  const rollout = r.rollouts.get(alias);
  if (!rollout || !isActive(rollout.state)) return;
  const reason =
    event === "guard"
      ? (actor.reason ?? "its guard tripped")
      : `${alias} ${VERBS[event] ?? event} by ${actor.actor}${actor.reason ? `: ${actor.reason}` : ""}`;
  endAborted(r, actor, rollout, reason, { cause: event });
}

const VERBS: Record<string, string> = {
  set: "set",
  delete: "deleted",
  rollback: "rolled back",
  swap: "swapped",
  stage: "moved as a stage",
};

/**
 * Where a guard that trips during the alias's rollout takes it: back to the rollout's `from`
 * (when that version is still ready), not to the previous step. Null when no rollout is
 * running or paused (the guard's own rule applies).
 */
export function rolloutRevertTarget(r: Rooms, alias: string): AliasValue | null {
  const rollout = r.rollouts.get(alias);
  if (!rollout || !isActive(rollout.state)) return null;
  return r.versions.head(rollout.from)?.status === "ready" ? { version: rollout.from, split: null } : null;
}

/**
 * Records a rollout's end as aborted: its state and reason, and a history entry. When it
 * took the alias back (`revert`: the generation of that change, whose one audit event is
 * the `rollout.abort`, see rollout-ops.ts), that is all; otherwise this appends the
 * `rollout.abort` event by `actor`, with `detail` saying what overtook it.
 */
export function endAborted(
  r: Rooms,
  actor: Reasoned,
  rollout: RolloutRecord,
  reason: string | null,
  detail: Record<string, unknown>,
  revert?: { generation: number },
): RolloutRecord {
  const ended: RolloutRecord = {
    ...rollout,
    state: "aborted",
    reason,
    hold_started_at: null,
    next_at: null,
    ...(revert ? { generation: revert.generation } : {}),
  };
  r.rollouts.put(ended);
  r.rollouts.record(rollout.alias, {
    step: rollout.step,
    at: actor.at,
    event: "aborted",
    detail: { by: actor.actor, ...detail, ...(revert ? { generation: revert.generation } : {}) },
  });
  if (!revert) {
    appendAudit(r, actor, {
      action: "rollout.abort",
      alias: rollout.alias,
      reason,
      detail: { rollout: rollout.id, step: rollout.step, ...detail },
    });
  }
  return ended;
}
