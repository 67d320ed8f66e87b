/**
 * The pure rules of a rollout (src/domain/rollout.ts) over many inputs: the request's shape,
 * the value each step gives the alias, when a hold may start, and the clock the model's object
 * runs, simulated as its alarm would run it (decisions until none is due) through random
 * times, fleets, pauses and resumes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyTick,
  holdMayStart,
  MAX_HOLD_S,
  MAX_ROLLOUT_STEPS,
  nextTick,
  pauseClock,
  resumeClock,
  RolloutSteps,
  stepValue,
  type FleetShare,
  type RolloutClock,
  type RolloutStep,
} from "../src/domain/rollout";

const weight = fc.integer({ min: 1, max: 100 });
const hold = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 120 }), fc.constant(MAX_HOLD_S));
/** Valid steps: 1 to 8, any weights, the last 100. */
const steps = fc
  .array(fc.record({ weight, hold_s: hold }), { minLength: 1, maxLength: 8 })
  .map((s) => s.map((step, i) => (i === s.length - 1 ? { ...step, weight: 100 } : step)));
/** What the fleet reports: nobody, or a share of 1..50 nodes that is a quotient of counts. */
const fleet: fc.Arbitrary<FleetShare> = fc.oneof(
  fc.constant({ reporting: 0, share: 1 }),
  fc
    .integer({ min: 1, max: 50 })
    .chain((reporting) =>
      fc.integer({ min: 0, max: reporting }).map((matching) => ({ reporting, share: matching / reporting })),
    ),
);
const minFleet = fc.oneof(fc.constantFrom(0, 0.5, 0.7, 0.9, 1), fc.double({ min: 0, max: 1, noNaN: true }));

describe("a rollout's request", () => {
  it("takes 1 to 20 steps of weight 1..100 and hold 0..a week, the last of weight 100", () => {
    fc.assert(
      fc.property(steps, (s) => {
        expect(RolloutSteps.safeParse(s).success).toBe(true);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(steps, fc.integer({ min: 1, max: 99 }), (s, last) => {
        const wrong = [...s.slice(0, -1), { weight: last, hold_s: 0 }];
        expect(RolloutSteps.safeParse(wrong).success).toBe(false);
      }),
      { numRuns: 200 },
    );
    const step = (weight: number, hold_s = 0): RolloutStep => ({ weight, hold_s });
    expect(RolloutSteps.safeParse([]).success).toBe(false);
    expect(RolloutSteps.safeParse(Array.from({ length: MAX_ROLLOUT_STEPS }, () => step(100))).success).toBe(true);
    expect(RolloutSteps.safeParse(Array.from({ length: MAX_ROLLOUT_STEPS + 1 }, () => step(100))).success).toBe(false);
    for (const bad of [step(0), step(101), step(50.5), step(100, -1), step(100, MAX_HOLD_S + 1), step(100, 0.5)])
      expect(RolloutSteps.safeParse([bad]).success, JSON.stringify(bad)).toBe(false);
  });
});

describe("a step's value", () => {
  it("is a split of from and to whose weights make 100, to taking the step's weight; at 100, to alone", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 1e6 }), weight, (from, to, w) => {
        fc.pre(from !== to);
        const value = stepValue(from, to, w);
        if (w === 100) {
          expect(value).toEqual({ version: to, split: null });
          return;
        }
        expect(value.version).toBeNull();
        expect(value.split).toEqual([
          { version: from, weight: 100 - w },
          { version: to, weight: w },
        ]);
        expect(value.split!.every((s) => s.weight > 0)).toBe(true);
      }),
    );
  });
});

describe("the hold rule", () => {
  it("starts at once when no node reports, and otherwise exactly when the share reaches min_fleet", () => {
    fc.assert(
      fc.property(minFleet, (min) => {
        expect(holdMayStart({ reporting: 0, share: 1 }, min)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fleet, minFleet, (f, min) => {
        if (f.reporting > 0) expect(holdMayStart(f, min)).toBe(f.share >= min);
      }),
    );
  });

  it("meets a min_fleet written in decimals with exactly that share of the nodes (a quotient, never a product)", () => {
    // d per cent of 100 × k nodes, against min_fleet read from its decimal text: 0.07, 0.7, 0.57 …
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 1000 }), (d, k) => {
        const min = Number((d / 100).toString());
        const reporting = 100 * k;
        expect(holdMayStart({ reporting, share: (d * k) / reporting }, min)).toBe(true);
        if (d > 0) expect(holdMayStart({ reporting, share: (d * k - 1) / reporting }, min)).toBe(false);
      }),
      { numRuns: 500 },
    );
    // The product would refuse 7 of 100 nodes against 0.07: 0.07 × 100 is 7.000000000000001.
    expect(holdMayStart({ reporting: 100, share: 7 / 100 }, 0.07)).toBe(true);
    expect(0.07 * 100).toBeGreaterThan(7);
  });
});

/** One moment of a simulated run: time passes, the fleet reports, someone may pause or resume. */
interface Moment {
  advanceMs: number;
  fleet: FleetShare;
  action: "none" | "pause" | "resume";
}
const moment: fc.Arbitrary<Moment> = fc.record({
  advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 2_000 })),
  fleet,
  action: fc.constantFrom<"none" | "pause" | "resume">("none", "none", "none", "pause", "resume"),
});

interface Applied {
  step: number;
  at: number;
}

/**
 * A rollout run as the object runs it: the first step at once (with its hold if the fleet
 * allows), then at each moment the alarm takes every decision due, in order.
 */
class Simulation {
  now = 1_000_000;
  readonly applied: Applied[] = [{ step: 1, at: this.now }];
  readonly holds: { step: number; at: number; until: number; fleet: FleetShare }[] = [];
  readonly wakes: (number | null)[] = [];
  clock: RolloutClock;

  constructor(
    readonly steps: readonly RolloutStep[],
    min: number,
  ) {
    this.clock = { state: "running", step: 1, steps, minFleet: min, holdStartedAt: null, nextAt: null };
  }

  /** The alarm at this moment: every decision due, until it says when to look again. */
  run(f: FleetShare) {
    for (let i = 0; i < 2 * this.steps.length + 2; i++) {
      const tick = nextTick(this.clock, this.now, f);
      if (tick.kind === "wait") return tick;
      if (tick.kind === "hold") this.holds.push({ step: this.clock.step, at: this.now, until: tick.nextAt, fleet: f });
      if (tick.kind === "advance") this.applied.push({ step: tick.step, at: this.now });
      this.clock = applyTick(this.clock, tick, this.now);
    }
    throw new Error("the alarm kept deciding: more decisions than a rollout has");
  }

  moment(m: Moment): void {
    this.now += m.advanceMs;
    if (m.action === "pause" && this.clock.state === "running") this.clock = pauseClock(this.clock);
    if (m.action === "resume" && this.clock.state === "paused") this.clock = resumeClock(this.clock);
    this.wakes.push(this.run(m.fleet).wakeAt);
  }
}

function simulate(s: readonly RolloutStep[], min: number, moments: Moment[]): Simulation {
  const sim = new Simulation(s, min);
  for (const m of moments) sim.moment(m);
  return sim;
}

describe("the rollout's clock, as the alarm runs it", () => {
  it("applies steps in order, each only after its whole hold, which starts only when the fleet allows", () => {
    fc.assert(
      fc.property(steps, minFleet, fc.array(moment, { maxLength: 60 }), (s, min, moments) => {
        const { clock, applied, holds, wakes } = simulate(s, min, moments);
        expect(applied[0]).toEqual({ step: 1, at: 1_000_000 });
        // Never skips a step, never repeats one, never goes past the last.
        expect(applied.map((a) => a.step)).toEqual(applied.map((_, i) => i + 1));
        expect(applied.length).toBeLessThanOrEqual(s.length);
        expect(clock.step).toBe(applied.length);
        // Each step after the first follows a hold of the one before it that had passed.
        for (const a of applied.slice(1)) {
          const before = holds.filter((h) => h.step === a.step - 1 && h.at <= a.at).at(-1);
          expect(before, `a hold of step ${a.step - 1} before step ${a.step}`).toBeDefined();
          expect(a.at).toBeGreaterThanOrEqual(before!.at + s[a.step - 2]!.hold_s * 1000);
          expect(before!.until).toBe(before!.at + s[a.step - 2]!.hold_s * 1000);
        }
        // A hold starts only with the fleet's leave.
        for (const h of holds) expect(holdMayStart(h.fleet, min)).toBe(true);
        // Completed only after the last step's hold.
        if (clock.state === "completed") {
          const last = holds.filter((h) => h.step === s.length).at(-1);
          expect(last).toBeDefined();
        }
        // A running rollout always wants the alarm again; an ended or paused one never.
        if (moments.length > 0) {
          if (clock.state === "running") expect(wakes.at(-1)).not.toBeNull();
          else expect(wakes.at(-1)).toBeNull();
        }
      }),
      { numRuns: 400 },
    );
  });

  it("completes every step once the fleet follows and no one pauses it", () => {
    fc.assert(
      fc.property(steps, minFleet, fc.array(moment, { maxLength: 30 }), (s, min, moments) => {
        const sim = simulate(s, min, moments);
        if (sim.clock.state === "paused") sim.clock = resumeClock(sim.clock);
        for (let i = 0; i <= s.length + 1 && sim.clock.state === "running"; i++) {
          sim.run({ reporting: 5, share: 1 });
          sim.now += MAX_HOLD_S * 1000;
          sim.run({ reporting: 5, share: 1 });
        }
        expect(sim.clock.state).toBe("completed");
        expect(sim.applied.map((a) => a.step)).toEqual(s.map((_, i) => i + 1));
      }),
      { numRuns: 200 },
    );
  });

  it("decides nothing twice: a second run at the same moment, with the same fleet, finds nothing due", () => {
    fc.assert(
      fc.property(steps, minFleet, fc.array(moment, { minLength: 1, maxLength: 30 }), (s, min, moments) => {
        const sim = simulate(s, min, moments);
        const before = { clock: sim.clock, applied: sim.applied.length, holds: sim.holds.length };
        const again = sim.run(moments.at(-1)!.fleet);
        expect(sim.applied.length).toBe(before.applied);
        expect(sim.holds.length).toBe(before.holds);
        expect(sim.clock).toEqual(before.clock);
        expect(again.kind).toBe("wait");
      }),
      { numRuns: 300 },
    );
  });
});
