/**
 * What a ModelState decides about rollouts (docs/rollouts.md): starting one (gates checked
 * now, as a PUT would), pausing, resuming and aborting it, and the alarm's tick that starts a
 * step's hold once the fleet serves it, applies the next step once the hold has passed, and
 * completes the rollout after the last. Each decision is one synchronous function run in one
 * transaction with its alias change and audit event (ModelState's `commit`), and decides from
 * the stored state and the time alone: a tick run twice finds the first one's work done and
 * does nothing, so no step is skipped or applied twice.
 *
 * A step is an alias change by whoever started the rollout (the audit's `rollout.step`, the
 * history's `set`, the watchers' event `rollout`); any other change of the alias ends the
 * rollout (./rollout-interrupt.ts).
 */
import type { AliasValue } from "../domain/alias";
import { sortableId, timestamp } from "../domain/ids";
import {
  applyTick,
  FLEET_RECHECK_MS,
  isActive,
  nextTick,
  pauseClock,
  resumeClock,
  stepAt,
  stepValue,
  type FleetShare,
  type Rollout,
  type RolloutClock,
  type RolloutStep,
} from "../domain/rollout";
import { changeAlias, unreadyRefusal } from "./alias-ops";
import { gateRefusal } from "./gate-ops";
import { fail, type Outcome } from "./outcome";
import { appendAudit, modelNotFound, type Actor, type Reasoned, type Rooms } from "./rooms";
import { endAborted, ROLLOUT_EVENT } from "./rollout-interrupt";
import type { RolloutRecord } from "./rollout-table";

/** What the fleet reports of `alias` serving `value`: how many nodes report, and the share serving what it intends. */
export type FleetShareOf = (alias: string, value: AliasValue) => FleetShare;

export interface StartRollout extends Reasoned {
  alias: string;
  version: number;
  steps: RolloutStep[];
  minFleet: number;
}

/** The contract's Rollout, as this object holds it. */
export function rolloutView(r: Rooms, model: string, rollout: RolloutRecord): Rollout {
  const { started_token: _token, ...shown } = rollout;
  return { model, ...shown, history: r.rollouts.history(rollout.alias) };
}

export function getRollout(r: Rooms, input: { model: string; alias: string }): Outcome<Rollout> {
  const rollout = r.rollouts.get(input.alias);
  if (!rollout) return fail("not_found", `Alias '${input.alias}' of '${input.model}' has had no rollout`);
  return { ok: true, value: rolloutView(r, input.model, rollout) };
}

/**
 * Starts moving `alias` from the one version it serves to `version`, in `steps`. Refused
 * while another rollout of the alias is running or paused (409 `conflict`), when the alias
 * does not serve exactly one version, or that version already; `version` must be ready and
 * pass the alias's gate now (409 `gate_failed`, audited as `promotion_denied`). The first
 * step is applied at once, in this transaction.
 */
export function startRollout(r: Rooms, input: StartRollout, fleet: FleetShareOf, now: number): Outcome<Rollout> {
  if (!r.model.get()) return modelNotFound(input);
  const before = r.rollouts.get(input.alias);
  if (before && isActive(before.state)) {
    return fail(
      "conflict",
      `Alias '${input.alias}' has a ${before.state} rollout (v${before.from} → v${before.to}, step ${before.step} of ${before.steps.length}); abort it first`,
      { rollout: before.id },
    );
  }
  const current = r.aliases.get(input.alias);
  if (!current || current.value.version === null) {
    return fail(
      "conflict",
      `A rollout moves an alias from the one version it serves; '${input.alias}' ${current ? "serves a split" : "is not set"}: set it to a version first`,
    );
  }
  const from = current.value.version;
  if (from === input.version) return fail("conflict", `Alias '${input.alias}' serves version ${from} already`);
  const unready = unreadyRefusal(r, [input.version]);
  if (unready) return unready;
  const denied = gateRefusal(r, input, input.alias, [input.version], { alias: input.alias });
  if (denied) return denied;
  const rollout: RolloutRecord = {
    id: sortableId(now),
    alias: input.alias,
    from,
    to: input.version,
    steps: input.steps,
    min_fleet: input.minFleet,
    step: 0,
    state: "running",
    reason: input.reason,
    started_at: input.at,
    started_by: input.actor,
    started_token: input.token ?? null,
    step_started_at: input.at,
    hold_started_at: null,
    next_at: null,
    generation: current.generation,
  };
  r.rollouts.put(rollout, true);
  appendAudit(r, input, {
    action: "rollout.start",
    alias: input.alias,
    version: input.version,
    from: current.value,
    to: { version: input.version, split: null },
    reason: input.reason,
    detail: { rollout: rollout.id, steps: input.steps, min_fleet: input.minFleet },
  });
  const first = startHoldIfServed(r, applyStep(r, input.model, rollout, 1, now), now, fleet);
  return { ok: true, value: rolloutView(r, input.model, first) };
}

/** Pauses the alias's running rollout: the alias stays at its step, whose hold stops. Pausing a paused one changes nothing. */
export function pauseRollout(r: Rooms, input: Reasoned & { alias: string }): Outcome<Rollout> {
  const rollout = r.rollouts.get(input.alias);
  if (!rollout) return noRollout(input);
  if (rollout.state === "paused") return { ok: true, value: rolloutView(r, input.model, rollout) };
  if (rollout.state !== "running") return ended(input, rollout);
  const paused = withClock(rollout, pauseClock(clockOf(rollout)));
  if (input.reason !== null) paused.reason = input.reason;
  r.rollouts.put(paused);
  r.rollouts.record(input.alias, { step: rollout.step, at: input.at, event: "paused", detail: by(input) });
  appendAudit(r, input, {
    action: "rollout.pause",
    alias: input.alias,
    reason: input.reason,
    detail: { rollout: rollout.id, step: rollout.step },
  });
  return { ok: true, value: rolloutView(r, input.model, paused) };
}

/**
 * Resumes a paused rollout: its step holds again from the start, once the fleet serves it
 * (at once when no node reports). Resuming a running one changes nothing.
 */
export function resumeRollout(
  r: Rooms,
  input: Reasoned & { alias: string },
  fleet: FleetShareOf,
  now: number,
): Outcome<Rollout> {
  const rollout = r.rollouts.get(input.alias);
  if (!rollout) return noRollout(input);
  if (rollout.state === "running") return { ok: true, value: rolloutView(r, input.model, rollout) };
  if (rollout.state !== "paused") return ended(input, rollout);
  const resumed = withClock(rollout, resumeClock(clockOf(rollout)));
  if (input.reason !== null) resumed.reason = input.reason;
  r.rollouts.put(resumed);
  r.rollouts.record(input.alias, { step: rollout.step, at: input.at, event: "resumed", detail: by(input) });
  appendAudit(r, input, {
    action: "rollout.resume",
    alias: input.alias,
    reason: input.reason,
    detail: { rollout: rollout.id, step: rollout.step },
  });
  return { ok: true, value: rolloutView(r, input.model, startHoldIfServed(r, resumed, now, fleet)) };
}

/**
 * Aborts the alias's running or paused rollout and takes the alias back to `from`: one alias
 * change, audited as `rollout.abort` with its generation. Should `from` be gone (deleted once
 * the last step no longer held it), the alias stays where it is and the event says why.
 */
export function abortRollout(r: Rooms, input: Reasoned & { alias: string }): Outcome<Rollout> {
  const rollout = r.rollouts.get(input.alias);
  if (!rollout) return noRollout(input);
  if (!isActive(rollout.state)) return ended(input, rollout);
  const reason = input.reason ?? `aborted by ${input.actor}`;
  const current = r.aliases.get(input.alias);
  const back: AliasValue = { version: rollout.from, split: null };
  if (r.versions.head(rollout.from)?.status !== "ready") {
    const kept = endAborted(r, { ...input, reason }, rollout, reason, {
      reverted: false,
      why: `v${rollout.from} is gone`,
    });
    return { ok: true, value: rolloutView(r, input.model, kept) };
  }
  const state = changeAlias(r, { ...input, reason }, input.alias, "rollback", current?.value ?? null, back, {
    event: ROLLOUT_EVENT,
    byRollout: true,
    audit: { action: "rollout.abort", detail: { rollout: rollout.id, step: rollout.step } },
  })!;
  const aborted = endAborted(r, { ...input, reason }, rollout, reason, { reverted: true }, state);
  return { ok: true, value: rolloutView(r, input.model, aborted) };
}

/**
 * One decision of the alarm for the alias's running rollout at `now`: start the step's hold
 * (the fleet serves it), apply the next step (the hold has passed), or complete the rollout;
 * or nothing. Answers whether it decided something (then the caller commits and asks again)
 * and when it wants to be asked next.
 */
export function tickRollout(
  r: Rooms,
  model: string,
  alias: string,
  now: number,
  fleet: FleetShareOf,
): { acted: boolean; wakeAt: number | null } {
  const rollout = r.rollouts.get(alias);
  if (!rollout || rollout.state !== "running") return { acted: false, wakeAt: null };
  const tick = nextTick(clockOf(rollout), now, shareOf(rollout, fleet));
  switch (tick.kind) {
    case "wait":
      return { acted: false, wakeAt: tick.wakeAt };
    case "hold":
      startHoldIfServed(r, rollout, now, fleet);
      return { acted: true, wakeAt: null };
    case "advance": {
      const next = applyStep(r, model, rollout, tick.step, now);
      startHoldIfServed(r, next, now, fleet);
      return { acted: true, wakeAt: null };
    }
    case "complete": {
      const completed = withClock(rollout, applyTick(clockOf(rollout), tick, now));
      r.rollouts.put(completed);
      const at = timestamp(now);
      r.rollouts.record(alias, { step: rollout.step, at, event: "completed", detail: null });
      appendAudit(r, starterOf(model, rollout, at), {
        action: "rollout.complete",
        alias,
        version: rollout.to,
        reason: rollout.reason,
        detail: { rollout: rollout.id, step: rollout.step },
      });
      return { acted: true, wakeAt: null };
    }
  }
}

/** The aliases whose rollouts the alarm drives now. */
export function runningAliases(r: Rooms): string[] {
  return r.rollouts.running().map((rollout) => rollout.alias);
}

/**
 * When the alarm must next look at the running rollouts: the earliest step due, or a moment
 * from `now` for a step waiting for the fleet; null when none runs.
 */
export function rolloutWake(r: Rooms, now: number): number | null {
  let wake: number | null = null;
  for (const rollout of r.rollouts.running()) {
    const at = rollout.next_at === null ? now + FLEET_RECHECK_MS : Date.parse(rollout.next_at);
    wake = wake === null ? at : Math.min(wake, at);
  }
  return wake;
}

/** Applies step `n`: the alias's value for its weight, as an alias change by the rollout's starter. */
function applyStep(r: Rooms, model: string, rollout: RolloutRecord, n: number, now: number): RolloutRecord {
  const at = timestamp(now);
  const { weight } = stepAt(rollout, n);
  const value = stepValue(rollout.from, rollout.to, weight);
  const current = r.aliases.get(rollout.alias);
  const starter = {
    ...starterOf(model, rollout, at),
    reason: `rollout step ${n} of ${rollout.steps.length}${rollout.reason ? `: ${rollout.reason}` : ""}`,
  };
  const state = changeAlias(r, starter, rollout.alias, "set", current?.value ?? null, value, {
    event: ROLLOUT_EVENT,
    byRollout: true,
    audit: { action: "rollout.step", detail: { rollout: rollout.id, step: n, of: rollout.steps.length, weight } },
  })!;
  const next: RolloutRecord = {
    ...rollout,
    step: n,
    step_started_at: at,
    hold_started_at: null,
    next_at: null,
    generation: state.generation,
  };
  r.rollouts.put(next);
  r.rollouts.record(rollout.alias, { step: n, at, event: "step", detail: { weight, generation: state.generation } });
  return next;
}

/** Starts the step's hold when the fleet serves it (or no node reports); otherwise leaves it waiting. */
function startHoldIfServed(r: Rooms, rollout: RolloutRecord, now: number, fleet: FleetShareOf): RolloutRecord {
  if (rollout.state !== "running" || rollout.hold_started_at !== null) return rollout;
  const share = shareOf(rollout, fleet);
  const tick = nextTick(clockOf(rollout), now, share);
  if (tick.kind !== "hold") return rollout;
  const holding = withClock(rollout, applyTick(clockOf(rollout), tick, now));
  r.rollouts.put(holding);
  r.rollouts.record(rollout.alias, {
    step: rollout.step,
    at: timestamp(now),
    event: "hold",
    detail: { reporting: share.reporting, share: share.share, until: holding.next_at },
  });
  return holding;
}

function shareOf(rollout: RolloutRecord, fleet: FleetShareOf): FleetShare {
  return fleet(rollout.alias, stepValue(rollout.from, rollout.to, stepAt(rollout, rollout.step).weight));
}

function clockOf(rollout: RolloutRecord): RolloutClock {
  return {
    state: rollout.state,
    step: rollout.step,
    steps: rollout.steps,
    minFleet: rollout.min_fleet,
    holdStartedAt: rollout.hold_started_at === null ? null : Date.parse(rollout.hold_started_at),
    nextAt: rollout.next_at === null ? null : Date.parse(rollout.next_at),
  };
}

function withClock(rollout: RolloutRecord, clock: RolloutClock): RolloutRecord {
  return {
    ...rollout,
    state: clock.state,
    step: clock.step,
    hold_started_at: clock.holdStartedAt === null ? null : timestamp(clock.holdStartedAt),
    next_at: clock.nextAt === null ? null : timestamp(clock.nextAt),
  };
}

/** The rollout's own changes are audited as made by whoever started it, with their token. */
function starterOf(model: string, rollout: RolloutRecord, at: string): Actor {
  return {
    model,
    actor: rollout.started_by,
    ...(rollout.started_token !== null ? { token: rollout.started_token } : {}),
    at,
  };
}

const by = (input: Reasoned) => ({ by: input.actor, ...(input.reason !== null ? { reason: input.reason } : {}) });

const noRollout = (input: { model: string; alias: string }) =>
  fail("not_found", `Alias '${input.alias}' of '${input.model}' has had no rollout`);

const ended = (input: { alias: string }, rollout: RolloutRecord) =>
  fail("conflict", `The rollout of '${input.alias}' has ${rollout.state}: start a new one`, { state: rollout.state });
