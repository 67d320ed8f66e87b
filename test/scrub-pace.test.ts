/**
 * The scrub's pace (src/domain/scrub-pace.ts): each run's share is within the budget, and runs of
 * it every 15 minutes, least recently verified blob first (a blob larger than what is left of a
 * run carried over to the next, as src/artifacts/scrub.ts does), check every blob of a store the
 * budget covers within SCRUB_DAYS, without re-reading the store run after run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BEHIND_SHARE, CYCLE_SHARE, runTarget, type PaceInput } from "../src/domain/scrub-pace";

const DAY = 24 * 3600 * 1000;
const INTERVAL = 15 * 60 * 1000;
const iso = (ms: number) => new Date(ms).toISOString();

interface Blob {
  size: number;
  checkedAt: number;
  /** Bytes hashed of a blob in progress (0: none). */
  progress: number;
}

/** Runs the cron for `days` over `blobs` as the scrub does; returns the oldest age seen after each run and the bytes read. */
function simulate(blobs: Blob[], budget: number, scrubDays: number, days: number, lastRunAt?: number) {
  const start = lastRunAt === undefined ? 100 * DAY : lastRunAt + INTERVAL;
  let lastRun: number | null = lastRunAt ?? null;
  let worstAge = 0;
  let read = 0;
  const stored = blobs.reduce((n, b) => n + b.size, 0);
  for (let now = start; now <= start + days * DAY; now += INTERVAL) {
    const oldest = Math.min(...blobs.map((b) => b.checkedAt));
    let left = runTarget({
      budget,
      scrubDays,
      storedBytes: stored,
      oldestCheck: iso(oldest),
      lastRun: lastRun === null ? null : iso(lastRun),
      now,
    });
    expect(left).toBeLessThanOrEqual(budget);
    const order = blobs.filter((b) => b.checkedAt < now).sort((a, b) => a.checkedAt - b.checkedAt);
    for (const blob of order) {
      if (left <= 0) break;
      if (blob.progress === 0 && blob.size <= left) {
        left -= blob.size;
        read += blob.size;
        blob.checkedAt = now;
        continue;
      }
      const take = Math.min(left, blob.size - blob.progress);
      blob.progress += take;
      left -= take;
      read += take;
      if (blob.progress === blob.size) {
        blob.progress = 0;
        blob.checkedAt = now;
      }
    }
    lastRun = now;
    worstAge = Math.max(worstAge, ...blobs.map((b) => now - b.checkedAt));
  }
  return { worstAge, read, stored };
}

const input = (over: Partial<PaceInput> = {}): PaceInput => ({
  budget: 1000,
  scrubDays: 30,
  storedBytes: 1_000_000,
  oldestCheck: iso(90 * DAY),
  lastRun: iso(100 * DAY - INTERVAL),
  now: 100 * DAY,
  ...over,
});

describe("the scrub's pace", () => {
  it("stays within the budget, grows with the store and the time since the last run, and takes the whole budget when behind, unpaced or first", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 365 }),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.integer({ min: 0, max: 400 * DAY }),
        fc.integer({ min: 0, max: 10 * DAY }),
        (budget, scrubDays, storedBytes, age, since) => {
          const p = input({ budget, scrubDays, storedBytes, oldestCheck: iso(100 * DAY - age) });
          const target = runTarget({ ...p, lastRun: iso(p.now - since) });
          expect(Number.isSafeInteger(target)).toBe(true);
          expect(target).toBeGreaterThanOrEqual(0);
          expect(target).toBeLessThanOrEqual(budget);
          expect(runTarget({ ...p, lastRun: iso(p.now - since - INTERVAL) })).toBeGreaterThanOrEqual(target);
          expect(
            runTarget({ ...p, storedBytes: storedBytes + 1000, lastRun: iso(p.now - since) }),
          ).toBeGreaterThanOrEqual(target);
          const behind = scrubDays === 0 || age >= BEHIND_SHARE * scrubDays * DAY;
          if (storedBytes > 0 && behind) expect(target).toBe(budget);
          if (storedBytes > 0) expect(runTarget({ ...p, lastRun: null })).toBe(budget);
        },
      ),
    );
    expect(runTarget(input({ storedBytes: 0 }))).toBe(0);
    expect(runTarget(input({ oldestCheck: null }))).toBe(0);
    // Never verified ('', rows from before the column was filled): behind.
    expect(runTarget(input({ oldestCheck: "" }))).toBe(1000);
    // One 15-minute share of a 30-day cycle at 0.8: 1,000,000 / 2,304.
    expect(runTarget(input())).toBe(Math.ceil(1_000_000 / (CYCLE_SHARE * 30 * 96)));
  });

  it("in step, checks every blob of a store the budget covers every 0.8 of SCRUB_DAYS, reading it once a cycle (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        (scrubDays, sizes, headroom) => {
          const stored = sizes.reduce((a, b) => a + b, 0);
          const runsPerCycle = (CYCLE_SHARE * scrubDays * DAY) / INTERVAL;
          // A budget that goes round the store in a cycle, with `headroom` to spare.
          const budget = Math.ceil((stored / runsPerCycle) * headroom);
          // As a cycle leaves them: each blob last checked as long ago as the pace takes to read the blobs after it.
          let after = stored;
          const blobs = sizes.map((size) => {
            after -= size;
            return {
              size,
              checkedAt: 100 * DAY - Math.floor((CYCLE_SHARE * scrubDays * DAY * after) / stored),
              progress: 0,
            };
          });
          const days = 3 * scrubDays;
          const { worstAge, read } = simulate(blobs, budget, scrubDays, days, 100 * DAY - INTERVAL);
          // A cycle, and the run or two a blob's last bytes may wait for.
          expect(worstAge).toBeLessThanOrEqual(CYCLE_SHARE * scrubDays * DAY + 2 * INTERVAL);
          // About once a cycle: the store every 0.8 of the period, rounding up each run's share to a byte.
          const runs = (days * DAY) / INTERVAL + 1;
          expect(read).toBeLessThanOrEqual((days / (CYCLE_SHARE * scrubDays) + 1) * stored + runs);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("from any state, with a budget twice the pace, checks every blob within SCRUB_DAYS once it has caught up (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 30, maxLength: 30 }),
        (scrubDays, sizes, ages) => {
          const stored = sizes.reduce((a, b) => a + b, 0);
          const budget = Math.ceil((2 * stored * INTERVAL) / (CYCLE_SHARE * scrubDays * DAY));
          const blobs = sizes.map((size, i) => ({
            size,
            checkedAt: 100 * DAY - Math.floor(ages[i]! * scrubDays * DAY),
            progress: 0,
          }));
          // The first period catches up (the first run, with no run before it, and every run while behind, take the whole budget).
          simulate(blobs, budget, scrubDays, scrubDays);
          const { worstAge } = simulate(blobs, budget, scrubDays, 3 * scrubDays, (100 + scrubDays) * DAY);
          expect(worstAge).toBeLessThanOrEqual(scrubDays * DAY);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("falls behind a store larger than the budget covers, and then takes the whole budget every run", () => {
    const blobs = Array.from({ length: 20 }, (_, i) => ({
      size: 10_000,
      checkedAt: 100 * DAY - i * 1000,
      progress: 0,
    }));
    // 200,000 bytes; a 1-day period of 96 runs at 1,500 bytes covers 144,000.
    const { worstAge, read } = simulate(blobs, 1500, 1, 3);
    expect(worstAge).toBeGreaterThan(DAY);
    // Behind almost the whole time: nearly every run read its budget.
    expect(read).toBeGreaterThan(0.9 * 1500 * 3 * 96);
  });
});
