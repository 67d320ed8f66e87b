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
import {
  addNode,
  addSample,
  ANONYMOUS_NODE,
  breaks,
  bucketOf,
  GuardBody,
  MAX_SIGNAL_COUNT,
  MAX_SIGNAL_MAGNITUDE,
  WINDOW_BUCKETS,
  type SignalTally,
} from "../src/domain/guard";
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
          let batch: SignalTally = { count: 0, sum: 0, nodes: [ANONYMOUS_NODE] };
          for (const [i, s] of signals.entries()) {
            addSample(batch, s.value, s.count);
            if (s.flush || i === signals.length - 1) {
              expect(table.add(alias, 7, newest - s.age, batch, [7], 1)).toBe(true);
              batch = { count: 0, sum: 0, nodes: [ANONYMOUS_NODE] };
            }
          }
          const rows = state.storage.sql
            .exec<{ n: number; sum: number }>("SELECT n, sum FROM guard_buckets WHERE alias = ?", alias)
            .toArray();
          expect(rows.length).toBeLessThanOrEqual(WINDOW_BUCKETS);
          for (const row of rows) expect(Number.isFinite(row.n) && Number.isFinite(row.sum)).toBe(true);
          const stats = table.stats(alias, [7], newest, 1);
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
          expect(error <= magnitude / 2n ** 40n + slack, `mean ${stats.mean} off by ${error} of ${magnitude}`).toBe(
            true,
          );
          table.forget(alias);
        }),
        { numRuns: 300 },
      );
    });
  });
});

/** One signal of the node-rule property: who sent it, a value on either side of the bound, how many samples. */
interface NodeSignal {
  node: string;
  value: 0 | 1;
  count: number;
}

/** A step of time (0 to 3 buckets on) and one Worker batch of signals arriving then. */
const step = fc.record({
  advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })),
  signals: fc.array(
    fc.record({
      node: fc.constantFrom(ANONYMOUS_NODE, "a", "b", "c", "d", "e", "f", "g"),
      value: fc.constantFrom<0 | 1>(0, 1),
      count: fc.integer({ min: 1, max: 20 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
});

describe("a guard's node rule", () => {
  it("trips exactly when the window holds min_samples from min_nodes distinct nodes and its mean breaks the bound (against a model of the rule)", async () => {
    await runInDurableObject(modelStub("gw-nodes"), (_instance: ModelState, state) => {
      const table = new GuardTable(state.storage.sql);
      let run = 0;
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 60 }),
          fc.integer({ min: 1, max: 6 }),
          fc.array(step, { minLength: 1, maxLength: 40 }),
          (minSamples, minNodes, steps) => {
            const alias = `n${run++}`;
            const policy = GuardBody.parse({ metric: "err", max: 0.5, min_samples: minSamples, min_nodes: minNodes });
            // The model: every signal with the bucket it arrived in; the window is the last WINDOW_BUCKETS buckets.
            const seen: (NodeSignal & { bucket: number })[] = [];
            let bucket = 1_000_000;
            for (const { advance, signals } of steps) {
              bucket += advance;
              // The Worker's batch: the samples' tally and the nodes, at most min_nodes names (src/guards/coalesce.ts).
              const batch: SignalTally = { count: 0, sum: 0, nodes: [] };
              const nodes = new Set<string>();
              for (const s of signals) {
                addSample(batch, s.value, s.count);
                addNode(nodes, s.node, minNodes);
                seen.push({ ...s, bucket });
              }
              expect(table.add(alias, 7, bucket, { ...batch, nodes: [...nodes] }, [7], minNodes)).toBe(true);

              const inWindow = seen.filter((s) => s.bucket > bucket - WINDOW_BUCKETS);
              const samples = inWindow.reduce((t, s) => t + s.count, 0);
              const sum = inWindow.reduce((t, s) => t + s.value * s.count, 0);
              const distinct = new Set(inWindow.map((s) => s.node)).size;
              const trips = samples >= minSamples && distinct >= minNodes && sum / samples > 0.5;

              const stats = table.stats(alias, [7], bucket, minNodes);
              expect(stats.samples).toBe(samples);
              expect(stats.nodes).toBe(Math.min(distinct, minNodes));
              expect(breaks(policy, stats), JSON.stringify({ samples, distinct, mean: sum / samples })).toBe(trips);
            }
            // Bounded: at most min_nodes names per bucket, WINDOW_BUCKETS buckets.
            const rows = state.storage.sql
              .exec<{ n: number }>("SELECT count(*) AS n FROM guard_nodes WHERE alias = ?", alias)
              .one();
            expect(rows.n).toBeLessThanOrEqual(WINDOW_BUCKETS * minNodes);
            table.forget(alias);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
