/** The pure gate evaluator, table-driven: one policy rule at a time, then the combinations. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluateGate, GatePolicy, type GateFacts } from "../src/domain/gate";

const facts = (version: number, over: Partial<GateFacts> = {}): GateFacts => ({
  version,
  metrics: {},
  tags: {},
  lineage: {},
  created_by: "trainer",
  approvers: [],
  heldFrom: false,
  signatures: [],
  ...over,
});

const policy = (p: unknown) => GatePolicy.parse(p);

describe("evaluateGate", () => {
  const cases: {
    name: string;
    policy: unknown;
    candidates: GateFacts[];
    holders?: GateFacts[];
    passed: boolean;
    checks: unknown[];
  }[] = [
    {
      name: "metric within bounds",
      policy: { metrics: [{ name: "auc", min: 0.9 }] },
      candidates: [facts(2, { metrics: { auc: 0.93 } })],
      passed: true,
      checks: [{ check: "metrics.auc", passed: true, expected: ">= 0.9", actual: 0.93, detail: null }],
    },
    {
      name: "metric below min",
      policy: { metrics: [{ name: "auc", min: 0.9, max: 1 }] },
      candidates: [facts(2, { metrics: { auc: 0.85 } })],
      passed: false,
      checks: [{ check: "metrics.auc", passed: false, expected: ">= 0.9 and <= 1", actual: 0.85, detail: null }],
    },
    {
      name: "missing metric fails",
      policy: { metrics: [{ name: "latency_p99_ms", max: 40 }] },
      candidates: [facts(2)],
      passed: false,
      checks: [
        {
          check: "metrics.latency_p99_ms",
          passed: false,
          expected: "<= 40",
          actual: null,
          detail: "version 2 has no metric 'latency_p99_ms'",
        },
      ],
    },
    {
      name: "no regression: nothing holds the target",
      policy: { no_regression: [{ metric: "auc" }] },
      candidates: [facts(2, { metrics: { auc: 0.5 } })],
      holders: [],
      passed: true,
      checks: [{ check: "no_regression.auc", passed: true, expected: "nothing holds the target", actual: 0.5 }],
    },
    {
      name: "no regression: worse than the holder beyond tolerance",
      policy: { no_regression: [{ metric: "auc", higher_is_better: true, tolerance: 0.01 }] },
      candidates: [facts(3, { metrics: { auc: 0.912 } })],
      holders: [facts(2, { metrics: { auc: 0.941 } })],
      passed: false,
      checks: [{ check: "no_regression.auc", passed: false, expected: ">= 0.931", actual: 0.912 }],
    },
    {
      name: "no regression: lower is better, within tolerance",
      policy: { no_regression: [{ metric: "latency", higher_is_better: false, tolerance: 2 }] },
      candidates: [facts(3, { metrics: { latency: 31 } })],
      holders: [facts(2, { metrics: { latency: 30 } })],
      passed: true,
      checks: [{ check: "no_regression.latency", passed: true, expected: "<= 32", actual: 31 }],
    },
    {
      name: "no regression: a split holder is compared with every version it serves",
      policy: { no_regression: [{ metric: "auc" }] },
      candidates: [facts(4, { metrics: { auc: 0.92 } })],
      holders: [facts(2, { metrics: { auc: 0.9 } }), facts(3, { metrics: { auc: 0.95 } })],
      passed: false,
      checks: [{ check: "no_regression.auc", passed: false, expected: ">= 0.95", actual: 0.92 }],
    },
    {
      name: "a split candidate: every version must pass",
      policy: { metrics: [{ name: "auc", min: 0.9 }] },
      candidates: [facts(2, { metrics: { auc: 0.95 } }), facts(3, { metrics: { auc: 0.8 } })],
      passed: false,
      checks: [
        { check: "metrics.auc@v2", passed: true },
        { check: "metrics.auc@v3", passed: false, actual: 0.8 },
      ],
    },
    {
      name: "required tags and lineage",
      policy: { required_tags: { validation: "passed" }, required_lineage: ["git_sha", "datasets"] },
      candidates: [facts(2, { tags: { validation: "passed" }, lineage: { git_sha: "abc123", datasets: [] } })],
      passed: false,
      checks: [
        { check: "required_tags.validation", passed: true, expected: "passed", actual: "passed" },
        { check: "required_lineage.git_sha", passed: true, actual: "present" },
        { check: "required_lineage.datasets", passed: false, actual: "missing" },
      ],
    },
    {
      name: "approvals: distinct, the creator never counts",
      policy: { approvals: 2 },
      candidates: [facts(2, { approvers: ["trainer", "bob", "bob"] })],
      passed: false,
      checks: [{ check: "approvals", passed: false, expected: ">= 2", actual: 1, detail: "approved by bob" }],
    },
    {
      name: "from",
      policy: { from: "staging" },
      candidates: [facts(2, { heldFrom: true })],
      passed: true,
      checks: [{ check: "from", passed: true, expected: "staging", actual: "staging", detail: null }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = evaluateGate(policy(c.policy), c.candidates, c.holders ?? []);
      expect(result.passed).toBe(c.passed);
      expect(result.checks).toHaveLength(c.checks.length);
      c.checks.forEach((expected, i) => expect(result.checks[i]).toMatchObject(expected as object));
    });
  }

  it("no_regression against the last holder, and when every holder is gone", () => {
    const rule = policy({ no_regression: [{ metric: "auc" }] });
    const candidate = [facts(3, { metrics: { auc: 0.9 } })];
    const last = evaluateGate(rule, candidate, [facts(1, { metrics: { auc: 0.95 } })], "last");
    expect(last.checks[0]).toMatchObject({
      passed: false,
      expected: ">= 0.95",
      detail: "against the last holder, v1=0.95",
    });
    expect(evaluateGate(rule, candidate, [], "gone").checks[0]).toMatchObject({
      passed: false,
      expected: "a holder to compare with",
    });
    expect(evaluateGate(rule, candidate, [], "current").checks[0]).toMatchObject({
      passed: true,
      expected: "nothing holds the target",
    });
  });

  it("refuses malformed policies", () => {
    for (const bad of [
      { unknown: 1 },
      { metrics: [{ name: "", min: 1 }] },
      { metrics: [{ name: "auc", min: 2, max: 1 }] },
      { metrics: [{ name: "auc" }] },
      { no_regression: [{ metric: "auc", tolerance: -1 }] },
      { required_lineage: ["nope"] },
      { approvals: -1 },
      { from: "Not An Alias!" },
      { signatures: { keys: [] } },
      { signatures: { keys: ["k"], min: 0 } },
      { signatures: { min: 1 } },
      { signatures: { keys: ["k"], extra: true } },
    ]) {
      expect(GatePolicy.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(GatePolicy.parse({})).toEqual({});
  });
});

describe("the signatures rule", () => {
  const key = (fp: string) => ({ kind: "key" as const, fingerprint: `sha256:${fp}` });
  const sigstore = (subject: string) => ({
    kind: "sigstore" as const,
    fingerprint: null,
    subject,
    issuer: "https://accounts.example.com",
  });
  const release = { id: "sk_01JRELEASE0000000000000000", name: "release-2026" };
  const ci = { id: "sk_01JCI000000000000000000000", name: "ci-key" };

  it("counts signatures a named key vouches for, by name or by id, and says so in words", () => {
    const result = evaluateGate(
      policy({ signatures: { keys: ["release-2026", ci.id] } }),
      [
        facts(3, {
          signatures: [
            { signer: key("aa"), vouchers: [release] },
            { signer: key("bb"), vouchers: [ci] },
          ],
        }),
      ],
      [],
    );
    expect(result).toEqual({
      passed: true,
      checks: [
        {
          check: "signatures",
          passed: true,
          expected: `>= 1 by release-2026, ${ci.id}`,
          actual: 2,
          detail: "2 trusted signatures by release-2026, ci-key; needs 1",
        },
      ],
    });
  });

  it("fails without a signature a named key vouches for, and says what the version has", () => {
    const none = evaluateGate(policy({ signatures: { keys: ["release-2026"] } }), [facts(3)], []);
    expect(none.checks[0]).toMatchObject({
      passed: false,
      actual: 0,
      detail: "no signature trusted by release-2026; needs 1 (version 3 has no signature)",
    });
    const others = evaluateGate(
      policy({ signatures: { keys: ["release-2026"] } }),
      [
        facts(3, {
          signatures: [
            { signer: key("aa"), vouchers: [ci] },
            { signer: key("bb"), vouchers: [] },
          ],
        }),
      ],
      [],
    );
    expect(others.checks[0]).toMatchObject({
      passed: false,
      detail:
        "no signature trusted by release-2026; needs 1 (version 3 has 2 signatures: 1 trusted by other keys only, 1 trusted by no registered key)",
    });
  });

  it("counts distinct signers: one key signing twice is one, a Sigstore identity is one whatever its keys", () => {
    const twice = evaluateGate(
      policy({ signatures: { keys: ["release-2026"], min: 2 } }),
      [
        facts(3, {
          signatures: [
            { signer: key("aa"), vouchers: [release] },
            { signer: key("aa"), vouchers: [release] },
            { signer: { ...sigstore("a@example.com"), fingerprint: "sha256:01" }, vouchers: [release] },
            { signer: { ...sigstore("a@example.com"), fingerprint: "sha256:02" }, vouchers: [release] },
          ],
        }),
      ],
      [],
    );
    expect(twice.checks[0]).toMatchObject({
      passed: true,
      actual: 2,
      detail: "2 distinct trusted signers (4 signatures) by release-2026; needs 2",
    });
  });

  it("labels each member of a split", () => {
    const result = evaluateGate(
      policy({ signatures: { keys: ["ci-key"] } }),
      [facts(2, { signatures: [{ signer: key("aa"), vouchers: [ci] }] }), facts(3)],
      [],
    );
    expect(result.checks.map((c) => [c.check, c.passed])).toEqual([
      ["signatures@v2", true],
      ["signatures@v3", false],
    ]);
  });

  it("passes exactly when the distinct signers vouched for by named keys reach min (property)", () => {
    const keys = [release, ci, { id: "sk_01JOTHER000000000000000000", name: "other" }];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            signer: fc.integer({ min: 0, max: 4 }),
            vouchers: fc.subarray(keys),
          }),
          { maxLength: 8 },
        ),
        fc.subarray(["release-2026", ci.id, "other", "nobody"], { minLength: 1 }),
        fc.integer({ min: 1, max: 4 }),
        (signatures, named, min) => {
          const version = facts(5, {
            signatures: signatures.map((s) => ({ signer: key(String(s.signer)), vouchers: s.vouchers })),
          });
          const result = evaluateGate(policy({ signatures: { keys: named, min } }), [version], []);
          const counted = new Set(
            signatures
              .filter((s) => s.vouchers.some((v) => named.includes(v.name) || named.includes(v.id)))
              .map((s) => s.signer),
          );
          expect(result.checks[0]!.actual).toBe(counted.size);
          expect(result.passed).toBe(counted.size >= min);
        },
      ),
    );
  });
});
