import { describe, expect, it } from "vitest";
import { canonicalJson, mergeFlat } from "../src/domain/canonical-json";
import fc from "fast-check";
import { globMatch, globPattern, globWithin, splitGlob } from "../src/domain/glob";
import { sortableId } from "../src/domain/ids";
import { ModelName } from "../src/domain/names";
import { resolutionFor, type ResolveState } from "../src/domain/resolution";
import { applyVersionPatch, type VersionRecord } from "../src/domain/version";
import { hasScope, visibilityOf } from "../src/auth/principal";
import { principalFromClaims } from "../src/auth/verify";

describe("globMatch", () => {
  it.each([
    ["fraud-*", "fraud-a", true],
    ["fraud-*", "fraud-", true],
    ["fraud-*", "churn", false],
    ["*", "anything", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["exact", "exact", true],
    ["exact", "exactly", false],
    ["*-prod", "m-prod", true],
    ["a*a", "a", false],
  ])("%s ~ %s = %s", (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  it.each([
    ["team-a-fraud*", ["team-a-*"], true],
    ["team-a-*", ["team-a-*"], true],
    ["team-*", ["team-a-*"], false],
    ["*", ["team-a-*"], false],
    ["team-a-x", ["team-b-*", "team-a-*"], true],
    ["*-a-*", ["team-a-*"], false],
    ["a*b", ["a*", "*c"], true],
  ])("globWithin(%s, %j) = %s", (pattern, allowed, expected) => {
    expect(globWithin(pattern, allowed)).toBe(expected);
  });

  it("globWithin is sound: every name the pattern matches, an allowed glob matches too", () => {
    const glob = fc.stringMatching(/^[ab*]{0,6}$/);
    // A name the pattern matches: each `*` of it replaced by a run of letters.
    const instance = (pattern: string) =>
      fc.array(fc.stringMatching(/^[abc]{0,3}$/), { minLength: 8, maxLength: 8 }).map((fills) => {
        let i = 0;
        return pattern.replace(/\*/g, () => fills[i++ % fills.length]!);
      });
    fc.assert(
      fc.property(glob, glob, fc.gen(), (pattern, allowed, gen) => {
        const name = gen(() => instance(pattern));
        expect(globMatch(pattern, name)).toBe(true);
        if (globWithin(pattern, [allowed])) expect(globMatch(allowed, name)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("globWithin is exact for one allowed glob: a refusal has a witness name", () => {
    // Fill each `*` with a letter the allowed glob never uses: only its own `*` can take it.
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*]{0,6}$/), fc.stringMatching(/^[ab*]{0,6}$/), (pattern, allowed) => {
        if (globWithin(pattern, [allowed])) return;
        const witness = pattern.replace(/\*/g, "zzzzzzz");
        expect(globMatch(allowed, witness)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it("splits a glob for SQL: literal ends, the span between its first `*` and its last as GLOB (its metacharacters literal)", () => {
    expect(globPattern(splitGlob("a?[b]*"))).toBe("a[?][[]b]*");
    expect(splitGlob("team-a-*")).toEqual({ prefix: "team-a-", middle: "*", suffix: "" });
    expect(splitGlob("a*?*[c")).toEqual({ prefix: "a", middle: "*[?]*", suffix: "[c" });
    expect(splitGlob("exact")).toEqual({ prefix: "exact", middle: "", suffix: "" });
    expect(splitGlob("*")).toEqual({ prefix: "", middle: "*", suffix: "" });
  });
});

describe("names", () => {
  it("accepts the contract's model names and nothing else", () => {
    expect(ModelName.safeParse("payment-fraud.v2_x").success).toBe(true);
    for (const bad of ["Upper", "a..b", ".a", "a b", "a/b", "é", "a".repeat(129)]) {
      expect(ModelName.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe("canonical JSON and merges", () => {
  it("sorts keys at every depth", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}',
    );
  });
  it("deletes null keys and sets the rest", () => {
    expect(mergeFlat({ a: "1", b: "2" }, { b: null, c: "3" })).toEqual({ a: "1", c: "3" });
    // A key JSON allows but an assignment would swallow: kept as data.
    const merged = mergeFlat<string>({ a: "1" }, JSON.parse('{"__proto__": "x"}'));
    expect(Object.keys(merged)).toEqual(["a", "__proto__"]);
    expect(JSON.stringify(merged)).toBe('{"a":"1","__proto__":"x"}');
  });
});

describe("sortableId", () => {
  it("sorts by time and is unique", () => {
    const a = sortableId(1_000);
    const b = sortableId(2_000);
    expect(a < b).toBe(true);
    expect(a).toHaveLength(26);
    expect(new Set(Array.from({ length: 1000 }, () => sortableId(5))).size).toBe(1000);
  });
});

describe("applyVersionPatch", () => {
  const base: VersionRecord = {
    model: "m",
    version: 1,
    status: "pending",
    stage: "none",
    description: null,
    tags: {},
    metrics: { auc: 0.9 },
    lineage: { run_id: "r" },
    files: [],
    digest: null,
    created_at: "t0",
    created_by: "alice",
    updated_at: "t0",
    ready_at: null,
    revision: 1,
  };

  it("bumps the revision and names what changed", () => {
    const out = applyVersionPatch(base, { metrics: { f1: 0.5 } }, "t1");
    expect(out).toMatchObject({
      ok: true,
      changed: ["metrics"],
      record: { revision: 2, updated_at: "t1", metrics: { auc: 0.9, f1: 0.5 } },
    });
  });

  it("refuses lineage changes once the version is ready, but not metrics", () => {
    const ready = { ...base, status: "ready" as const };
    expect(applyVersionPatch(ready, { lineage: { run_id: "x" } }, "t1")).toEqual({ ok: false, reason: "immutable" });
    expect(applyVersionPatch(ready, { metrics: { auc: 0.95 }, tags: { a: "b" }, description: "d" }, "t1").ok).toBe(
      true,
    );
  });
});

describe("principals", () => {
  it("reads scope and scp, and admin implies everything", () => {
    const p = principalFromClaims({ sub: "a", scope: "read write", scp: ["promote"] });
    expect([...p.scopes].sort()).toEqual(["promote", "read", "write"]);
    expect(hasScope(p, "admin")).toBe(false);
    expect(hasScope(principalFromClaims({ sub: "a", scope: "admin" }), "approve")).toBe(true);
  });
  it("limits models by glob", () => {
    const p = principalFromClaims({ sub: "a", scope: "read", models: ["fraud-*"] });
    expect(visibilityOf(p).sees("fraud-1")).toBe(true);
    expect(visibilityOf(p).sees("churn")).toBe(false);
  });
  it("refuses tokens without a sub", () => {
    expect(() => principalFromClaims({ scope: "read" })).toThrow();
  });
});

describe("resolutionFor", () => {
  it("lists no signatures for a state cached by a registry from before signatures (the colo keeps one up to a day)", () => {
    // A ResolveState as the Cache API holds it, JSON written before targets had `signatures`.
    const cached = JSON.parse(
      JSON.stringify({
        model: "m",
        alias: "prod",
        generation: 3,
        etag: "3",
        split: null,
        targets: [{ version: 2, digest: "sha256:00", files: [] }],
      }),
    ) as ResolveState;
    expect(resolutionFor(cached, undefined)).toMatchObject({ version: 2, signatures: [] });
  });
});
