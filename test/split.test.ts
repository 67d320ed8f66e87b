/**
 * Canary splits (src/domain/alias.ts): how evenly routing keys spread over a split's
 * versions, that a key's version is stable, and properties that hold for any split.
 *
 * Tolerance: a share p over n keys, with a hash that behaves like a uniform random unit, is
 * binomial with a standard deviation of sqrt(p(1-p)/n). Each share must be within 5 of those:
 * for 10% of 10,000 keys that is ±1.5 points (σ = 0.3), so a good hash fails a model with a
 * chance of about 6e-7; the old FNV-1a without a finalizer missed it for 21 of these 100 names.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashUnit, pickByUnit, pickFromSplit, type SplitEntry } from "../src/domain/alias";

const KEYS = 10_000;
const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);

/** 100 model names of varied shapes: short, long, digits only, sharing long prefixes. */
function modelNames(): string[] {
  const names = ["a", "b", "m", "x1", "9", "ab", "fraud", "churn", "llm", "bert"];
  for (let i = 0; i < 20; i++) names.push(`fraud-detector-${i}`);
  for (let i = 0; i < 15; i++) names.push(`model${i}`);
  for (let i = 0; i < 15; i++) names.push(`payments.risk-scorer_v${i * 7}`);
  for (let i = 0; i < 10; i++) names.push(`${i}${"z".repeat(i)}`);
  for (let i = 0; i < 10; i++)
    names.push(`team-${String.fromCharCode(97 + i)}.recsys-ranker-${"long".repeat(10)}-${i}`);
  for (let i = 0; i < 10; i++) names.push(`${(i + 1) * 1234567}`);
  for (let i = 0; i < 10; i++) names.push(`${"x".repeat(118)}${`-${i}`.padStart(10, "0")}`);
  return names;
}

/** Percentage of keys per version. */
function shares(split: SplitEntry[], model: string, alias: string): Map<number, number> {
  const counts = new Map(split.map((s) => [s.version, 0]));
  for (const key of keys) {
    const v = pickFromSplit(split, model, alias, key);
    counts.set(v, counts.get(v)! + 1);
  }
  return new Map([...counts].map(([v, c]) => [v, (100 * c) / KEYS]));
}

/** 5 binomial standard deviations, in percentage points. */
const tolerance = (percent: number) => 5 * 100 * Math.sqrt(((percent / 100) * (1 - percent / 100)) / KEYS);

describe("split distribution", () => {
  const names = modelNames();

  it("has 100 distinct, valid model names", () => {
    expect(new Set(names).size).toBe(100);
    for (const n of names) expect(n).toMatch(/^[a-z0-9][a-z0-9._-]{0,127}$/);
  });

  it("sends 10% ±1.5 points of user-0..user-9999 to the canary of a 90/10 split, for every model", () => {
    expect(tolerance(10)).toBeCloseTo(1.5, 10);
    const split = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    const off: string[] = [];
    for (const name of names) {
      const canary = shares(split, name, "prod").get(2)!;
      if (Math.abs(canary - 10) > 1.5) off.push(`${name}: ${canary.toFixed(2)}%`);
    }
    expect(off).toEqual([]);
  });

  it("keeps each share of a 50/30/20 split within 5σ (±2.5, ±2.3, ±2.0 points), for every model", () => {
    const split = [
      { version: 3, weight: 50 },
      { version: 7, weight: 30 },
      { version: 9, weight: 20 },
    ];
    const off: string[] = [];
    for (const name of names) {
      const got = shares(split, name, "canary");
      for (const { version, weight } of split) {
        if (Math.abs(got.get(version)! - weight) > tolerance(weight))
          off.push(`${name} v${version}: ${got.get(version)!.toFixed(2)}%`);
      }
    }
    expect(off).toEqual([]);
  });
});

describe("split stability", () => {
  it("gives a key the same version every time, and pins the hash so no release reshuffles keys", () => {
    const split = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    for (const key of keys.slice(0, 500))
      expect(pickFromSplit(split, "fraud", "canary", key)).toBe(pickFromSplit(split, "fraud", "canary", key));
    // Exact values: the hash is integer arithmetic over UTF-8, so every runtime agrees.
    expect(hashUnit("")).toBe(0.6590754610733209);
    expect(hashUnit("a")).toBe(0.8122685482359144);
    expect(hashUnit("m\u0000prod\u0000user-0")).toBe(0.7538996049045968);
    expect(hashUnit("fraud\u0000canary\u0000user-42")).toBe(0.9499322422273601);
    expect(hashUnit("modèle-é\u0000a\u0000🙂")).toBe(0.19511465136541384);
    expect(
      keys
        .slice(0, 20)
        .map((k) => pickFromSplit(split, "fraud", "canary", k))
        .join(","),
    ).toBe("2,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1");
  });

  it("moves only the keys it must when the weights change (90/10 → 80/20: only 1 → 2, about 10%)", () => {
    const before = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    const after = [
      { version: 1, weight: 80 },
      { version: 2, weight: 20 },
    ];
    let moved = 0;
    for (const key of keys) {
      const a = pickFromSplit(before, "ranker", "prod", key);
      const b = pickFromSplit(after, "ranker", "prod", key);
      if (a !== b) {
        expect([a, b]).toEqual([1, 2]);
        moved++;
      }
    }
    expect(Math.abs((100 * moved) / KEYS - 10)).toBeLessThanOrEqual(tolerance(10));
  });
});

describe("split properties", () => {
  const split = fc
    .uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 20 })
    .chain((versions) =>
      fc.tuple(
        ...versions.map((version) =>
          fc.double({ min: 1e-6, max: 1e6, noNaN: true }).map((weight) => ({ version, weight })),
        ),
      ),
    );
  const text = fc.string({ unit: "binary", maxLength: 200 });

  it("hashes any string to a unit in [0, 1), whatever was hashed before it", () => {
    fc.assert(
      fc.property(text, text, (s, other) => {
        const u = hashUnit(s);
        hashUnit(other); // the hash reuses one buffer: nothing of `other` may stick
        return u >= 0 && u < 1 && u === hashUnit(s);
      }),
    );
  });

  it("always answers one of the split's versions, and the same one for the same inputs", () => {
    fc.assert(
      fc.property(split, text, text, text, (entries, model, alias, key) => {
        const v = pickFromSplit(entries, model, alias, key);
        expect(entries.map((e) => e.version)).toContain(v);
        expect(pickFromSplit(entries, model, alias, key)).toBe(v);
      }),
    );
  });

  it("answers a one-entry split's version for any key, or none", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1 }),
        fc.double({ min: 1e-9, max: 1e9, noNaN: true }),
        text,
        fc.option(text, { nil: undefined }),
        (version, weight, model, key) => {
          expect(pickFromSplit([{ version, weight }], model, "prod", key)).toBe(version);
        },
      ),
    );
  });

  it("never picks an entry of weight 0, even for units just below 1", () => {
    const unit = fc.oneof(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.constant(1 - 2 ** -53));
    fc.assert(
      fc.property(split, fc.nat(), unit, (entries, at, u) => {
        // A weight-0 entry, anywhere (last included), beside entries with weight.
        const zero = { version: 0, weight: 0 };
        const withZero = [
          ...entries.slice(0, at % (entries.length + 1)),
          zero,
          ...entries.slice(at % (entries.length + 1)),
        ];
        expect(pickByUnit(withZero, u)).not.toBe(0);
      }),
    );
    // Rounding runs the point past every entry here: 1 - 0.1 - 0.2 is 0.7000000000000001, not below 0.7.
    expect(
      pickByUnit(
        [
          { version: 1, weight: 0.1 },
          { version: 2, weight: 0.2 },
          { version: 3, weight: 0.7 },
          { version: 4, weight: 0 },
        ],
        1 - 2 ** -53,
      ),
    ).toBe(3);
  });
});
