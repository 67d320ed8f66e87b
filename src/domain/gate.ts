/**
 * Promotion gates (API.md "Gates, approvals and guards"): the policy a target (an alias or a
 * stage name) sets, and the pure evaluator that decides a promotion from facts ModelState
 * reads in the same transaction that would commit it. No I/O here.
 */
import { z } from "zod";
import { AliasName } from "./alias";
import { signerIdentity, type Signer, type Voucher } from "./signature";
import type { Lineage } from "./version";

const MetricName = z.string().min(1, "must not be empty").max(128);
const Bound = z.number().refine(Number.isFinite, "must be a finite number");

const LINEAGE_FIELDS = [
  "run_id",
  "run_url",
  "source",
  "git_repo",
  "git_sha",
  "datasets",
  "params",
  "parents",
  "framework",
  "signature",
] as const;
export type LineageField = (typeof LINEAGE_FIELDS)[number];

export const GatePolicy = z
  .strictObject({
    metrics: z
      .array(
        z
          .strictObject({ name: MetricName, min: Bound.optional(), max: Bound.optional() })
          .refine((m) => m.min !== undefined || m.max !== undefined, "give min, max or both")
          .refine((m) => m.min === undefined || m.max === undefined || m.min <= m.max, "min must not exceed max"),
      )
      .max(64)
      .optional(),
    no_regression: z
      .array(
        z.strictObject({
          metric: MetricName,
          higher_is_better: z.boolean().default(true),
          tolerance: Bound.refine((t) => t >= 0, "must not be negative").default(0),
        }),
      )
      .max(64)
      .optional(),
    required_tags: z
      .record(z.string().min(1).max(128), z.string().max(4096))
      .refine((t) => Object.keys(t).length <= 64, "at most 64 tags")
      .optional(),
    required_lineage: z.array(z.enum(LINEAGE_FIELDS)).max(LINEAGE_FIELDS.length).optional(),
    approvals: z.number().int().min(0).max(20).optional(),
    from: AliasName.optional(),
    signatures: z
      .strictObject({
        keys: z
          .array(z.string().min(1).max(128))
          .min(1, "name at least one signing key (its name or id)")
          .max(64)
          .describe("Signing keys by name or id: a signature counts when one of them vouches for it"),
        min: z.number().int().min(1).max(64).default(1).describe("Distinct trusted signers needed"),
      })
      .optional(),
  })
  .meta({ id: "GatePolicy" });

export type GatePolicy = z.output<typeof GatePolicy>;

/** The contract's GateResult (API.md), written once: one check per rule and candidate. */
export const GateResult = z
  .object({
    passed: z.boolean(),
    checks: z.array(
      z.object({
        check: z.string(),
        passed: z.boolean(),
        expected: z.string(),
        actual: z.unknown(),
        detail: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: "GateResult" });

export type GateResult = z.output<typeof GateResult>;
export type GateCheck = GateResult["checks"][number];

/** What the evaluator knows of a version that is to receive the target, or holds it now. */
export interface GateFacts {
  version: number;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  lineage: Lineage;
  created_by: string;
  /** Distinct approvers of this version for this target. */
  approvers: string[];
  /** Whether it holds, or has held, the alias or stage the policy's `from` names. */
  heldFrom: boolean;
  /** Its signatures: who signed each, and the signing keys (still registered) that vouch for it. */
  signatures: readonly { signer: Signer; vouchers: readonly Voucher[] }[];
}

const present = (value: unknown): boolean =>
  value !== undefined &&
  value !== null &&
  value !== "" &&
  !(Array.isArray(value) && value.length === 0) &&
  !(typeof value === "object" && !Array.isArray(value) && Object.keys(value as object).length === 0);

/**
 * Where the versions `no_regression` compares with come from: those serving the target now;
 * when nothing does, the last ones that did (so deleting an alias, or moving a version out of
 * a stage, and promoting a worse one compares with what was there); `gone` when the target
 * has held versions but every one of them has since been deleted (nothing left to compare
 * with, so the check fails rather than waving the candidate through).
 */
export type BaselineSource = "current" | "last" | "gone";

/**
 * Evaluates `policy` for a promotion of `candidates` (one version, or every version of a
 * split: each must pass) over `holders` (the versions serving the target now, a split's
 * every version; else its last holders, as `source` says; none when it never held anything).
 * One check per rule and candidate.
 */
export function evaluateGate(
  policy: GatePolicy,
  candidates: readonly GateFacts[],
  holders: readonly GateFacts[],
  source: BaselineSource = "current",
): GateResult {
  const checks: GateCheck[] = [];
  const many = candidates.length > 1;
  const label = (name: string, c: GateFacts) => (many ? `${name}@v${c.version}` : name);
  for (const c of candidates) {
    for (const m of policy.metrics ?? []) {
      const actual = c.metrics[m.name];
      const bounds = [m.min !== undefined ? `>= ${m.min}` : null, m.max !== undefined ? `<= ${m.max}` : null]
        .filter(Boolean)
        .join(" and ");
      const passed =
        actual !== undefined && (m.min === undefined || actual >= m.min) && (m.max === undefined || actual <= m.max);
      checks.push({
        check: label(`metrics.${m.name}`, c),
        passed,
        expected: bounds,
        actual: actual ?? null,
        detail: actual === undefined ? `version ${c.version} has no metric '${m.name}'` : null,
      });
    }
    for (const rule of policy.no_regression ?? []) {
      const actual = c.metrics[rule.metric];
      if (source === "gone") {
        checks.push({
          check: label(`no_regression.${rule.metric}`, c),
          passed: false,
          expected: "a holder to compare with",
          actual: actual ?? null,
          detail:
            "every version that held the target has been deleted: nothing to compare with (an admin may change the gate)",
        });
        continue;
      }
      if (holders.length === 0) {
        checks.push({
          check: label(`no_regression.${rule.metric}`, c),
          passed: true,
          expected: "nothing holds the target",
          actual: actual ?? null,
          detail: "the target has never held a version: no regression possible",
        });
        continue;
      }
      // Against every version serving the target: the candidate must not be worse than any.
      const baselines = holders
        .filter((h) => h.version !== c.version)
        .map((h) => ({ version: h.version, value: h.metrics[rule.metric] }));
      const missing = baselines.filter((b) => b.value === undefined).map((b) => b.version);
      const known = baselines.filter((b): b is { version: number; value: number } => b.value !== undefined);
      const bound =
        known.length === 0
          ? null
          : rule.higher_is_better
            ? Math.max(...known.map((b) => b.value)) - rule.tolerance
            : Math.min(...known.map((b) => b.value)) + rule.tolerance;
      const expected =
        bound === null
          ? "no holder has the metric"
          : `${rule.higher_is_better ? ">=" : "<="} ${roundForDisplay(bound)}`;
      const passed =
        actual !== undefined && (bound === null || (rule.higher_is_better ? actual >= bound : actual <= bound));
      const details: string[] = [];
      if (actual === undefined) details.push(`version ${c.version} has no metric '${rule.metric}'`);
      if (missing.length > 0) details.push(`holders without the metric: ${missing.map((v) => `v${v}`).join(", ")}`);
      if (known.length > 0)
        details.push(
          `against ${source === "last" ? "the last holder, " : ""}${known.map((b) => `v${b.version}=${b.value}`).join(", ")}`,
        );
      checks.push({
        check: label(`no_regression.${rule.metric}`, c),
        passed,
        expected,
        actual: actual ?? null,
        detail: details.join("; ") || null,
      });
    }
    for (const [key, value] of Object.entries(policy.required_tags ?? {})) {
      const actual = c.tags[key];
      checks.push({
        check: label(`required_tags.${key}`, c),
        passed: actual === value,
        expected: value,
        actual: actual ?? null,
        detail: null,
      });
    }
    for (const field of policy.required_lineage ?? []) {
      const passed = present(c.lineage[field]);
      checks.push({
        check: label(`required_lineage.${field}`, c),
        passed,
        expected: "present",
        actual: passed ? "present" : "missing",
        detail: null,
      });
    }
    if (policy.approvals !== undefined && policy.approvals > 0) {
      const counted = [...new Set(c.approvers)].filter((a) => a !== c.created_by);
      checks.push({
        check: label("approvals", c),
        passed: counted.length >= policy.approvals,
        expected: `>= ${policy.approvals}`,
        actual: counted.length,
        detail: counted.length > 0 ? `approved by ${counted.join(", ")}` : null,
      });
    }
    if (policy.from !== undefined) {
      checks.push({
        check: label("from", c),
        passed: c.heldFrom,
        expected: policy.from,
        actual: c.heldFrom ? policy.from : null,
        detail: c.heldFrom ? null : `version ${c.version} has never held '${policy.from}'`,
      });
    }
    if (policy.signatures !== undefined)
      checks.push({ ...signatureCheck(policy.signatures, c), check: label("signatures", c) });
  }
  return { passed: checks.every((ch) => ch.passed), checks };
}

/**
 * The `signatures` rule: at least `min` distinct signers among the candidate's signatures that
 * a key named in `keys` (by name or id) vouches for. Said in words, as people read it: "2
 * trusted signatures by release-2026, ci-key; needs 1".
 */
function signatureCheck(rule: { keys: readonly string[]; min: number }, c: GateFacts): Omit<GateCheck, "check"> {
  const named = new Set(rule.keys);
  const signers = new Set<string>();
  const by = new Set<string>();
  let counted = 0;
  for (const s of c.signatures) {
    const vouching = s.vouchers.filter((v) => named.has(v.name) || named.has(v.id));
    if (vouching.length === 0) continue;
    counted += 1;
    signers.add(signerIdentity(s.signer));
    for (const v of vouching) by.add(v.name);
  }
  const n = signers.size;
  const expected = `>= ${rule.min} by ${rule.keys.join(", ")}`;
  const needs = `needs ${rule.min}`;
  if (n === 0) {
    const untrusted = c.signatures.filter((s) => s.vouchers.length === 0).length;
    const other = c.signatures.length - untrusted;
    const held =
      c.signatures.length === 0
        ? `version ${c.version} has no signature`
        : `version ${c.version} has ${plural(c.signatures.length, "signature")}: ${[
            other > 0 ? `${other} trusted by other keys only` : null,
            untrusted > 0 ? `${untrusted} trusted by no registered key` : null,
          ]
            .filter(Boolean)
            .join(", ")}`;
    return {
      passed: false,
      expected,
      actual: 0,
      detail: `no signature trusted by ${rule.keys.join(", ")}; ${needs} (${held})`,
    };
  }
  const keys = [...by].join(", ");
  const what =
    counted === n
      ? `${plural(n, "trusted signature")} by ${keys}`
      : `${plural(n, "distinct trusted signer")} (${counted} signatures) by ${keys}`;
  return { passed: n >= rule.min, expected, actual: n, detail: `${what}; ${needs}` };
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** Bounds shown to people: floating-point noise from `0.931 - 0.0` style sums trimmed. */
function roundForDisplay(n: number): number {
  return Number.parseFloat(n.toPrecision(12));
}
