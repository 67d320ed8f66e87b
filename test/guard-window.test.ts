/**
 * A guard's window over any sequence of valid signals (API.md: values within ±1e12, counts
 * 1..100,000), through the real arithmetic: the Worker's tally of a batch (addSample) and
 * ModelState's table (GuardTable, on the object's own SQLite).
 *
 * Tolerance: floating-point sums lose digits to cancellation, so no bound relative to the
 * mean itself holds when values of both signs meet (+1e12 and -1e12 leave a mean near 0
 * carrying an error near 1e12 × 2^-52). The bound is relative to the mean magnitude
 * A / N = Σ|v|·c / Σc: |mean − exact| ≤ 2^-40 (about 9.1e-13) × A / N, which is a plain
 * relative tolerance of 2^-40 whenever all values share a sign; plus 2^-1073 absolute, as a
 * mean in the subnormal range cannot be nearer (5e-324 / 2 is 0). The exact weighted mean is
 * computed in BigInt arithmetic (every double is an integer multiple of 2^-1074).
 */
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addSample, bucketOf, MAX_SIGNAL_COUNT, MAX_SIGNAL_MAGNITUDE, WINDOW_BUCKETS, type Tally } from "../src/domain/guard";
import { GuardTable } from "../src/state/guard-table";
import type { ModelState } from "../src/state/model-state";
import { modelStub } from "./helpers";

/** A double as an exact integer count of 2^-1074 (the smallest subnormal). */
function scaled(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const exponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  // Normal: (2^52 + f) × 2^(e − 1075); subnormal: f × 2^-1074. Scaled by 2^1074.
  const magnitude = exponent === 0 ? fraction : ((1n << 52n) | fraction) << BigInt(exponent - 1);
  return negative ? -magnitude : magnitude;
}

const abs = (x: bigint) => (x < 0n ? -x : x);

interface Signal {
  value: number;
  count: number;
  /** The bucket (of the window) it arrives in, counted back from the newest. */
  age: number;
  /** Whether it closes the Worker's batch it is in. */
  flush: boolean;
}

const value = fc.oneof(
  fc.double({ min: -MAX_SIGNAL_MAGNITUDE, max: MAX_SIGNAL_MAGNITUDE, noNaN: true }),
  fc.constantFrom(MAX_SIGNAL_MAGNITUDE, -MAX_SIGNAL_MAGNITUDE, 0, 0.01, 1e-300),
  fc.double({ min: -1, max: 1, noNaN: true }),
);
const signal: fc.Arbitrary<Signal> = fc.record({
  value,
  count: fc.oneof(fc.integer({ min: 1, max: MAX_SIGNAL_COUNT }), fc.constantFrom(1, MAX_SIGNAL_COUNT)),
  age: fc.integer({ min: 0, max: WINDOW_BUCKETS - 1 }),
  flush: fc.boolean(),
});

describe("a guard's window", () => {
  it("keeps its sum and mean finite and equal to the weighted mean, for any valid signals", async () => {
    const windowS = 300;
    const now = Date.parse("2026-11-27T04:05:06.789Z");
    const newest = bucketOf(now, windowS);
    await runInDurableObject(modelStub("gw-property"), (_instance: ModelState, state) => {
      const table = new GuardTable(state.storage.sql);
      let run = 0;
      fc.assert(
        fc.property(fc.array(signal, { minLength: 1, maxLength: 80, size: "medium" }), (signals) => {
          const alias = `p${run++}`;
          // The Worker tallies signals into batches; each batch lands in one bucket of the window.
          let batch: Tally = { count: 0, sum: 0 };
          for (const [i, s] of signals.entries()) {
            addSample(batch, s.value, s.count);
            if (s.flush || i === signals.length - 1) {
              expect(table.add(alias, 7, newest - s.age, batch, [7])).toBe(true);
              batch = { count: 0, sum: 0 };
            }
          }
          const rows = state.storage.sql.exec<{ n: number; sum: number }>("SELECT n, sum FROM guard_buckets WHERE alias = ?", alias).toArray();
          expect(rows.length).toBeLessThanOrEqual(WINDOW_BUCKETS);
          for (const row of rows) expect(Number.isFinite(row.n) && Number.isFinite(row.sum)).toBe(true);
          const stats = table.stats(alias, [7], newest);
          const n = signals.reduce((t, s) => t + s.count, 0);
          expect(stats.samples).toBe(n);
          expect(stats.mean).not.toBeNull();
          expect(Number.isFinite(stats.mean)).toBe(true);
          // Exact: S = Σ v·c and A = Σ |v|·c, both × 2^1074; the computed mean × N against S.
          const exactSum = signals.reduce((t, s) => t + scaled(s.value) * BigInt(s.count), 0n);
          const magnitude = signals.reduce((t, s) => t + abs(scaled(s.value)) * BigInt(s.count), 0n);
          const error = abs(scaled(stats.mean!) * BigInt(n) - exactSum);
          // In units of 2^-1074: error ≤ A × 2^-40 + 2 × N (the mean within 2^-1073, times N).
          const slack = 2n * BigInt(n);
          expect(error <= magnitude / 2n ** 40n + slack, `mean ${stats.mean} off by ${error} of ${magnitude}`).toBe(true);
          table.forget(alias);
        }),
        { numRuns: 300 },
      );
    });
  });
});
