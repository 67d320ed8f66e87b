/**
 * Rollouts (docs/rollouts.md): an alias moved from one version to another in steps, each a
 * split `[{from, 100 − w}, {to, w}]` (weight 100: plain `to`), each held for `hold_s` once
 * enough of the fleet serves it. The rules here are pure: the request's shape, the value a
 * step gives the alias, when a step's hold may start, and the clock that says what comes
 * next. The model's object applies them (src/state/rollout-ops.ts), one decision per
 * transaction, so a decision taken twice (an alarm run twice) finds the first one done.
 */
import { z } from "zod";
import type { AliasValue } from "./alias";

/** The most steps a rollout may have. */
export const MAX_ROLLOUT_STEPS = 20;
/** The longest hold of one step: a week. */
export const MAX_HOLD_S = 7 * 86_400;
/** The share of the reporting nodes that must serve a step before its hold starts, when the request names none. */
export const DEFAULT_MIN_FLEET = 0.9;
/** While a step waits for the fleet, how often the object looks again (the relays send a summary at most once a second). */
export const FLEET_RECHECK_MS = 1_000;

export const RolloutStep = z.strictObject({
  weight: z.number().int().min(1).max(100).describe("The share of requests `to` serves in this step, in percent"),
  hold_s: z
    .number()
    .int()
    .min(0)
    .max(MAX_HOLD_S)
    .describe("How long the step holds once at least `min_fleet` of the reporting nodes serve it"),
});
export type RolloutStep = z.infer<typeof RolloutStep>;

export const RolloutSteps = z
  .array(RolloutStep)
  .min(1)
  .max(MAX_ROLLOUT_STEPS)
  .refine((steps) => steps[steps.length - 1]?.weight === 100, "the last step's weight must be 100");

export const MinFleet = z.number().min(0).max(1);

export const ROLLOUT_STATES = ["running", "paused", "completed", "aborted"] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** What a rollout's history records: a step applied, its hold started, and the changes of state. */
export const ROLLOUT_EVENTS = ["step", "hold", "paused", "resumed", "completed", "aborted"] as const;
export type RolloutEvent = (typeof ROLLOUT_EVENTS)[number];

export const RolloutHistoryEntry = z
  .object({
    step: z.number().int(),
    at: z.string(),
    event: z.enum(ROLLOUT_EVENTS),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: "RolloutHistoryEntry" });
export type RolloutHistoryEntry = z.infer<typeof RolloutHistoryEntry>;

/** The contract's Rollout, with what else the object knows (`id`, `min_fleet`, `hold_started_at`, `generation`). */
export const Rollout = z
  .object({
    id: z.string().describe("Names this rollout in its audit events (`detail.rollout`)"),
    model: z.string(),
    alias: z.string(),
    from: z.number().int(),
    to: z.number().int(),
    steps: z.array(RolloutStep),
    min_fleet: z.number(),
    step: z.number().int().describe("The step in force, counted from 1: `steps[step - 1]`"),
    state: z.enum(ROLLOUT_STATES),
    reason: z.string().nullable(),
    started_at: z.string(),
    started_by: z.string(),
    step_started_at: z.string().describe("When the step in force was applied"),
    hold_started_at: z
      .string()
      .nullable()
      .describe("When enough of the fleet served the step in force; null while it waits for the fleet"),
    next_at: z
      .string()
      .nullable()
      .describe(
        "When the next step (or the completion) is due; null while the step waits for the fleet, while paused, and once ended",
      ),
    generation: z.number().int().describe("The alias's generation after the rollout's latest change of it"),
    history: z.array(RolloutHistoryEntry),
  })
  .meta({ id: "Rollout" });
export type Rollout = z.infer<typeof Rollout>;

/** The alias's value at a step of weight `weight`: a split of `from` and `to`, or `to` alone at 100. */
export function stepValue(from: number, to: number, weight: number): AliasValue {
  if (weight >= 100) return { version: to, split: null };
  return {
    version: null,
    split: [
      { version: from, weight: 100 - weight },
      { version: to, weight },
    ],
  };
}

/**
 * What the fleet reports of a value the alias intends: how many nodes report, and the share of
 * them that serve what the value intends for each (for a split, the member its key picks): a
 * quotient of two counts, 1 when none reports.
 */
export interface FleetShare {
  reporting: number;
  share: number;
}

/**
 * Whether a step's hold may start: no node reports (nothing to wait for), or at least
 * `minFleet` of the reporting nodes serve what the step intends. The share is compared as the
 * quotient it is, never multiplied back: 0.07 × 100 is 7.000000000000001 in binary, which 7
 * nodes would never reach, while 7 / 100, correctly rounded, is the double nearest 0.07, the
 * same as `minFleet` read from "0.07".
 */
export function holdMayStart(fleet: FleetShare, minFleet: number): boolean {
  return fleet.reporting <= 0 || fleet.share >= minFleet;
}

/** Where a rollout stands, as its clock needs it: times in ms since the epoch. */
export interface RolloutClock {
  state: RolloutState;
  /** The step in force, from 1. */
  step: number;
  steps: readonly RolloutStep[];
  minFleet: number;
  /** When the step in force began to hold; null while it waits for the fleet. */
  holdStartedAt: number | null;
  /** When the next step (or the completion) is due; null while waiting for the fleet. */
  nextAt: number | null;
}

/**
 * What a running rollout does at `now`:
 * - `wait`: nothing yet; look again at `wakeAt` (waiting for the fleet: a moment later;
 *   holding: when the hold ends; null: never, the rollout is not running);
 * - `hold`: enough of the fleet serves the step: its hold starts now and ends at `nextAt`;
 * - `advance`: the hold has passed: apply the next step;
 * - `complete`: the last step's hold has passed.
 */
export type Tick =
  | { kind: "wait"; wakeAt: number | null }
  | { kind: "hold"; nextAt: number }
  | { kind: "advance"; step: number }
  | { kind: "complete" };

export function nextTick(clock: RolloutClock, now: number, share: FleetShare): Tick {
  if (clock.state !== "running") return { kind: "wait", wakeAt: null };
  if (clock.holdStartedAt === null || clock.nextAt === null) {
    if (!holdMayStart(share, clock.minFleet)) return { kind: "wait", wakeAt: now + FLEET_RECHECK_MS };
    return { kind: "hold", nextAt: now + stepAt(clock, clock.step).hold_s * 1000 };
  }
  if (now < clock.nextAt) return { kind: "wait", wakeAt: clock.nextAt };
  return clock.step < clock.steps.length ? { kind: "advance", step: clock.step + 1 } : { kind: "complete" };
}

/** The clock after `tick` was applied at `now`. */
export function applyTick(clock: RolloutClock, tick: Tick, now: number): RolloutClock {
  switch (tick.kind) {
    case "wait":
      return clock;
    case "hold":
      return { ...clock, holdStartedAt: now, nextAt: tick.nextAt };
    case "advance":
      return { ...clock, step: tick.step, holdStartedAt: null, nextAt: null };
    case "complete":
      return { ...clock, state: "completed", holdStartedAt: null, nextAt: null };
  }
}

/** Paused: the alias stays at the step in force, whose hold stops. */
export function pauseClock(clock: RolloutClock): RolloutClock {
  return { ...clock, state: "paused", holdStartedAt: null, nextAt: null };
}

/** Resumed: the step in force holds again from the start, once the fleet serves it. */
export function resumeClock(clock: RolloutClock): RolloutClock {
  return { ...clock, state: "running", holdStartedAt: null, nextAt: null };
}

export const isActive = (state: RolloutState) => state === "running" || state === "paused";

/** The step `n` (from 1) of a rollout. */
export function stepAt(clock: Pick<RolloutClock, "steps">, n: number): RolloutStep {
  const step = clock.steps[n - 1];
  if (!step) throw new RangeError(`step ${n} of a rollout of ${clock.steps.length} steps`);
  return step;
}
