/** The pure retention evaluator: examples rule by rule, then properties over random registries. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  evaluateRetention,
  mayDelete,
  RetentionPolicy,
  type ProtectedParent,
  type RetentionFacts,
  type RetentionInput,
  type RetentionPlan,
} from "../src/domain/retention";
import type { Stage, VersionStatus } from "../src/domain/version";

const DAY = 24 * 3600 * 1000;
const NOW = Date.parse("2026-11-27T00:00:00.000Z");
const daysAgo = (d: number) => new Date(NOW - d * DAY).toISOString();

/** A ready version `age` days old (created and made ready then), unless `over` says otherwise. */
const v = (version: number, age: number, over: Partial<RetentionFacts> = {}): RetentionFacts => ({
  version,
  status: "ready",
  stage: "none",
  tags: {},
  created_at: daysAgo(age),
  ready_at: daysAgo(age),
  updated_at: daysAgo(age),
  parents: [],
  ...over,
});

const input = (versions: RetentionFacts[], policy: unknown, over: Partial<RetentionInput> = {}): RetentionInput => ({
  model: "m",
  versions,
  aliases: [],
  protectedParents: [],
  now: NOW,
  policy: RetentionPolicy.parse(policy),
  ...over,
});

const deleted = (plan: RetentionPlan) => plan.delete.map((d) => d.version);

describe("evaluateRetention, rule by rule", () => {
  const ten = Array.from({ length: 10 }, (_, i) => v(i + 1, 100 - i * 10));

  it("keeps everything under the empty policy, which can delete nothing", () => {
    const plan = evaluateRetention(input([...ten, v(11, 50, { status: "pending", ready_at: null })], {}));
    expect(plan.delete).toEqual([]);
    expect(plan.keep.every((k) => k.reason === "no_rule")).toBe(true);
    expect(mayDelete({})).toBe(false);
    expect(mayDelete({ keep_stages: ["archived"], keep_tags: { a: "b" } })).toBe(false);
    expect(mayDelete({ failed_max_age_days: 3 })).toBe(true);
  });

  it("keep_last alone keeps the newest ready versions, by number", () => {
    const plan = evaluateRetention(input(ten, { keep_last: 3 }));
    expect(plan.delete).toEqual([1, 2, 3, 4, 5, 6, 7].map((version) => ({ version, rule: "keep_last" })));
    expect(plan.keep).toEqual([8, 9, 10].map((version) => ({ version, reason: "keep_last" })));
  });

  it("max_age_days alone keeps the versions younger than it", () => {
    // Ages 100, 90, …, 10 days: 50 is not younger than 50.
    const plan = evaluateRetention(input(ten, { max_age_days: 50 }));
    expect(deleted(plan)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(plan.delete[0]!.rule).toBe("max_age_days");
    expect(plan.keep.map((k) => k.reason)).toEqual(["max_age_days", "max_age_days", "max_age_days", "max_age_days"]);
  });

  it("with both, a version goes only when both rules let it go", () => {
    const plan = evaluateRetention(input(ten, { keep_last: 2, max_age_days: 35 }));
    expect(plan.delete).toEqual([1, 2, 3, 4, 5, 6, 7].map((version) => ({ version, rule: "keep_last+max_age_days" })));
    expect(plan.keep).toEqual([
      { version: 8, reason: "max_age_days" },
      { version: 9, reason: "keep_last" },
      { version: 10, reason: "keep_last" },
    ]);
    // keep_last larger than the young ones: it is what keeps the older ones.
    expect(deleted(evaluateRetention(input(ten, { keep_last: 5, max_age_days: 35 })))).toEqual([1, 2, 3, 4, 5]);
  });

  it("counts a ready version's age from ready_at: a long training run is not old on arrival", () => {
    const slow = v(1, 1, { created_at: daysAgo(40) });
    expect(evaluateRetention(input([slow], { max_age_days: 30 })).delete).toEqual([]);
  });

  it("counts only ready versions for keep_last; pending and failed go by their own ages", () => {
    const versions = [
      v(1, 20),
      v(2, 20, { status: "pending", ready_at: null }),
      v(3, 2, { status: "pending", ready_at: null }),
      v(4, 20, { status: "failed", ready_at: null, updated_at: daysAgo(1) }),
      v(5, 20, { status: "failed", ready_at: null }),
      v(6, 20),
    ];
    const plan = evaluateRetention(input(versions, { keep_last: 2, pending_max_age_days: 7, failed_max_age_days: 3 }));
    expect(plan.delete).toEqual([
      { version: 2, rule: "pending_max_age_days" },
      { version: 5, rule: "failed_max_age_days" },
    ]);
    // A failed version's age starts at its last change (version 4 failed yesterday).
    expect(plan.keep).toEqual([
      { version: 1, reason: "keep_last" },
      { version: 3, reason: "pending_max_age_days" },
      { version: 4, reason: "failed_max_age_days" },
      { version: 6, reason: "keep_last" },
    ]);
    // Without their rules, pending and failed versions stay whatever their age.
    expect(deleted(evaluateRetention(input(versions, { keep_last: 0 })))).toEqual([1, 6]);
  });

  it("never deletes a version an alias holds, a split's included", () => {
    const plan = evaluateRetention(
      input(
        ten,
        { keep_last: 1 },
        {
          aliases: [
            { alias: "production", versions: [2] },
            { alias: "canary", versions: [4, 5] },
          ],
        },
      ),
    );
    expect(deleted(plan)).toEqual([1, 3, 6, 7, 8, 9]);
    expect(plan.keep.filter((k) => k.reason === "alias")).toEqual([
      { version: 2, reason: "alias", detail: "production" },
      { version: 4, reason: "alias", detail: "canary" },
      { version: 5, reason: "alias", detail: "canary" },
    ]);
  });

  it("keeps production and staging by default, the stages of keep_stages when given, and production always", () => {
    const staged = ten.map((x) =>
      x.version === 2
        ? { ...x, stage: "production" as Stage }
        : x.version === 3
          ? { ...x, stage: "staging" as Stage }
          : x.version === 4
            ? { ...x, stage: "archived" as Stage }
            : x,
    );
    expect(deleted(evaluateRetention(input(staged, { keep_last: 1 })))).toEqual([1, 4, 5, 6, 7, 8, 9]);
    expect(deleted(evaluateRetention(input(staged, { keep_last: 1, keep_stages: ["archived"] })))).toEqual([
      1, 3, 5, 6, 7, 8, 9,
    ]);
    // A version in production cannot be deleted at all (409 in_use), so retention never tries.
    expect(deleted(evaluateRetention(input(staged, { keep_last: 1, keep_stages: [] })))).toEqual([
      1, 3, 4, 5, 6, 7, 8, 9,
    ]);
  });

  it("keeps a version with all of keep_tags; an empty keep_tags protects nothing", () => {
    const tagged = ten.map((x) =>
      x.version === 2
        ? { ...x, tags: { keep: "true", team: "risk" } }
        : x.version === 3
          ? { ...x, tags: { keep: "true" } }
          : x,
    );
    const plan = evaluateRetention(input(tagged, { keep_last: 1, keep_tags: { keep: "true", team: "risk" } }));
    expect(plan.keep).toContainEqual({ version: 2, reason: "keep_tags" });
    expect(deleted(plan)).toContain(3);
    expect(deleted(evaluateRetention(input(tagged, { keep_last: 1, keep_tags: {} })))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
  });

  it("keeps the parents of kept versions, to a fixpoint, and those another model's versions name", () => {
    const lineage = ten.map((x) => {
      if (x.version === 10)
        return {
          ...x,
          parents: [
            { model: "m", version: 6 },
            { model: "other", version: 1 },
          ],
        };
      if (x.version === 6) return { ...x, parents: [{ model: "m", version: 3 }] };
      if (x.version === 5) return { ...x, parents: [{ model: "m", version: 1 }] };
      return x;
    });
    const crossModel: ProtectedParent[] = [{ version: 2, child: { model: "fine-tune", version: 7 } }];
    const plan = evaluateRetention(input(lineage, { keep_last: 1 }, { protectedParents: crossModel }));
    // 10 is kept → 6 → 3; 5 is deleted, so its parent 1 is not protected.
    expect(deleted(plan)).toEqual([1, 4, 5, 7, 8, 9]);
    expect(plan.keep).toEqual([
      { version: 2, reason: "lineage_parent", detail: "fine-tune/7" },
      { version: 3, reason: "lineage_parent", detail: "m/6" },
      { version: 6, reason: "lineage_parent", detail: "m/10" },
      { version: 10, reason: "keep_last" },
    ]);
  });

  it("refuses policies outside the contract's shape", () => {
    for (const bad of [
      { keep_last: -1 },
      { keep_last: 1.5 },
      { max_age_days: "90" },
      { max_age_days: 40_000 },
      { keep_stages: ["none"] },
      { keep_stages: ["staging", "staging"] },
      { keep_tags: { "": "x" } },
      { pending_max_age_days: null },
      { keep_forever: true },
    ]) {
      expect(RetentionPolicy.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(RetentionPolicy.parse({ keep_last: 0, max_age_days: 0, keep_stages: [], keep_tags: {} })).toEqual({
      keep_last: 0,
      max_age_days: 0,
      keep_stages: [],
      keep_tags: {},
    });
  });
});

// ---- properties ---------------------------------------------------------------------------

const STATUSES: VersionStatus[] = ["ready", "ready", "ready", "pending", "failed"];
const STAGES: Stage[] = ["none", "none", "none", "staging", "production", "archived"];

/** A model of up to 40 versions with random statuses, stages, tags, ages and in-model parents (lower numbers). */
const registry = fc.integer({ min: 0, max: 40 }).chain((n) =>
  fc.record({
    versions: fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.record({
          status: fc.constantFrom(...STATUSES),
          stage: fc.constantFrom(...STAGES),
          keep: fc.boolean(),
          team: fc.boolean(),
          created: fc.integer({ min: 0, max: 200 }),
          readyAfter: fc.integer({ min: 0, max: 30 }),
          changedAfter: fc.integer({ min: 0, max: 30 }),
          parents:
            i === 0 ? fc.constant<number[]>([]) : fc.uniqueArray(fc.integer({ min: 1, max: i }), { maxLength: 2 }),
          foreignParent: fc.boolean(),
        }),
      ),
    ),
    aliases: fc.array(fc.uniqueArray(fc.integer({ min: 1, max: Math.max(n, 1) }), { minLength: 1, maxLength: 3 }), {
      maxLength: 3,
    }),
    crossModel: fc.uniqueArray(fc.integer({ min: 1, max: Math.max(n, 1) }), { maxLength: 3 }),
    policy: fc.record(
      {
        keep_last: fc.integer({ min: 0, max: 15 }),
        max_age_days: fc.integer({ min: 0, max: 200 }),
        keep_stages: fc.subarray(["staging", "production", "archived"] as const),
        keep_tags: fc.constantFrom<Record<string, string>[]>({}, { keep: "true" }, { keep: "true", team: "risk" }),
        pending_max_age_days: fc.integer({ min: 0, max: 100 }),
        failed_max_age_days: fc.integer({ min: 0, max: 100 }),
      },
      { requiredKeys: [] },
    ),
  }),
);

type Registry = typeof registry extends fc.Arbitrary<infer T> ? T : never;

function build(r: Registry): RetentionInput {
  const versions: RetentionFacts[] = r.versions.map((x, i) => ({
    version: i + 1,
    status: x.status,
    stage: x.status === "ready" ? x.stage : "none",
    tags: { ...(x.keep ? { keep: "true" } : {}), ...(x.team ? { team: "risk" } : {}) },
    created_at: daysAgo(x.created),
    ready_at: x.status === "ready" ? daysAgo(Math.max(0, x.created - x.readyAfter)) : null,
    updated_at: daysAgo(Math.max(0, x.created - x.changedAfter)),
    parents: [
      ...x.parents.map((p) => ({ model: "m", version: p })),
      ...(x.foreignParent ? [{ model: "base", version: 1 }] : []),
    ],
  }));
  const n = versions.length;
  return {
    model: "m",
    versions,
    aliases: n === 0 ? [] : r.aliases.map((vs, i) => ({ alias: `a${i}`, versions: vs.filter((x) => x <= n) })),
    protectedParents:
      n === 0
        ? []
        : r.crossModel.filter((x) => x <= n).map((version) => ({ version, child: { model: "ft", version: 1 } })),
    now: NOW,
    policy: r.policy,
  };
}

const ageDays = (f: RetentionFacts) => {
  const start = f.status === "ready" ? f.ready_at! : f.status === "pending" ? f.created_at : f.updated_at;
  return (NOW - Date.parse(start)) / DAY;
};

describe("evaluateRetention, properties", () => {
  const runs = { numRuns: 400 };

  it("decides every version exactly once, in version order", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const plan = evaluateRetention(i);
        const all = [...plan.delete.map((d) => d.version), ...plan.keep.map((k) => k.version)].sort((a, b) => a - b);
        expect(all).toEqual(i.versions.map((x) => x.version));
        expect(plan.delete.map((d) => d.version)).toEqual([...plan.delete.map((d) => d.version)].sort((a, b) => a - b));
        expect(plan.keep.map((k) => k.version)).toEqual([...plan.keep.map((k) => k.version)].sort((a, b) => a - b));
      }),
      runs,
    );
  });

  it("never deletes what the contract protects, whatever the policy", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const gone = new Set(deleted(evaluateRetention(i)));
        const stages = new Set([...(i.policy.keep_stages ?? ["production", "staging"]), "production"]);
        const tags = Object.entries(i.policy.keep_tags ?? {});
        for (const f of i.versions) {
          if (!gone.has(f.version)) continue;
          expect(i.aliases.some((a) => a.versions.includes(f.version))).toBe(false);
          expect(stages.has(f.stage)).toBe(false);
          expect(tags.length > 0 && tags.every(([k, val]) => f.tags[k] === val)).toBe(false);
          expect(i.protectedParents.some((p) => p.version === f.version)).toBe(false);
        }
      }),
      runs,
    );
  });

  it("keeps every in-model parent of a kept version", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const gone = new Set(deleted(evaluateRetention(i)));
        for (const f of i.versions) {
          if (gone.has(f.version)) continue;
          for (const p of f.parents) if (p.model === "m") expect(gone.has(p.version)).toBe(false);
        }
      }),
      runs,
    );
  });

  it("deletes only by a rule that is set and lets the version go", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const p = i.policy;
        const newestReady = i.versions
          .filter((x) => x.status === "ready")
          .map((x) => x.version)
          .sort((a, b) => b - a);
        for (const d of evaluateRetention(i).delete) {
          const f = i.versions[d.version - 1]!;
          if (f.status === "pending") {
            expect(d.rule).toBe("pending_max_age_days");
            expect(ageDays(f)).toBeGreaterThanOrEqual(p.pending_max_age_days!);
          } else if (f.status === "failed") {
            expect(d.rule).toBe("failed_max_age_days");
            expect(ageDays(f)).toBeGreaterThanOrEqual(p.failed_max_age_days!);
          } else {
            expect(p.keep_last !== undefined || p.max_age_days !== undefined).toBe(true);
            if (p.keep_last !== undefined) expect(newestReady.indexOf(f.version)).toBeGreaterThanOrEqual(p.keep_last);
            if (p.max_age_days !== undefined) expect(ageDays(f)).toBeGreaterThanOrEqual(p.max_age_days);
            const both = p.keep_last !== undefined && p.max_age_days !== undefined;
            expect(d.rule).toBe(
              both ? "keep_last+max_age_days" : p.keep_last !== undefined ? "keep_last" : "max_age_days",
            );
          }
        }
      }),
      runs,
    );
  });

  it("deletes nothing under a policy without a deleting rule", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const { keep_stages, keep_tags } = i.policy;
        const harmless = { ...(keep_stages ? { keep_stages } : {}), ...(keep_tags ? { keep_tags } : {}) };
        expect(evaluateRetention({ ...i, policy: harmless }).delete).toEqual([]);
      }),
      runs,
    );
  });

  it("is idempotent: run again at the same moment on what is left, it deletes nothing more", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const gone = new Set(deleted(evaluateRetention(i)));
        const left = i.versions.filter((f) => !gone.has(f.version));
        expect(evaluateRetention({ ...i, versions: left }).delete).toEqual([]);
      }),
      runs,
    );
  });

  it("gives every kept version a reason that holds", () => {
    fc.assert(
      fc.property(registry, (r) => {
        const i = build(r);
        const plan = evaluateRetention(i);
        const kept = new Set(plan.keep.map((k) => k.version));
        const newestReady = i.versions
          .filter((x) => x.status === "ready")
          .map((x) => x.version)
          .sort((a, b) => b - a);
        for (const k of plan.keep) {
          const f = i.versions[k.version - 1]!;
          switch (k.reason) {
            case "alias":
              expect(i.aliases.find((a) => a.alias === k.detail)!.versions).toContain(f.version);
              break;
            case "stage":
              expect(k.detail).toBe(f.stage);
              break;
            case "lineage_parent": {
              const [model, child] = k.detail!.split("/");
              if (model === "m") {
                expect(kept.has(Number(child))).toBe(true);
                expect(i.versions[Number(child) - 1]!.parents).toContainEqual({ model: "m", version: f.version });
              } else {
                expect(i.protectedParents.some((p) => p.version === f.version)).toBe(true);
              }
              break;
            }
            case "keep_last":
              expect(newestReady.indexOf(f.version)).toBeLessThan(i.policy.keep_last!);
              break;
            case "max_age_days":
              expect(ageDays(f)).toBeLessThan(i.policy.max_age_days!);
              break;
            case "no_rule":
              if (f.status === "ready")
                expect(i.policy.keep_last === undefined && i.policy.max_age_days === undefined).toBe(true);
              else
                expect(
                  i.policy[f.status === "pending" ? "pending_max_age_days" : "failed_max_age_days"],
                ).toBeUndefined();
              break;
            default:
              break;
          }
        }
      }),
      runs,
    );
  });
});
