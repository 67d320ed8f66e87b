/**
 * Retention (API.md "Retention"): the policy a model (or the registry, by default) sets, and
 * the pure evaluator that decides which versions the scheduled cleanup deletes. No I/O here:
 * ModelState feeds it the facts from its own SQLite, in the same transaction that deletes,
 * and the preview feeds it the very same facts without deleting.
 */
import { z } from "zod";
import { TagKey, TagValue } from "./names";
import type { Stage, VersionStatus } from "./version";

/** Ages are whole days; a century is more than any registry will keep a version for. */
const Days = z.number().int().min(0).max(36_500);
const KEPT_STAGES = ["staging", "production", "archived"] as const;

export const RetentionPolicy = z
  .strictObject({
    keep_last: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .optional()
      .meta({ description: "keep the n newest ready versions" }),
    max_age_days: Days.optional().meta({ description: "keep ready versions younger than this (from ready_at)" }),
    keep_stages: z
      .array(z.enum(KEPT_STAGES))
      .max(KEPT_STAGES.length)
      .refine((s) => new Set(s).size === s.length, "must not name a stage twice")
      .optional()
      .meta({
        description: "stages whose versions are never deleted; default production and staging (production always)",
      }),
    keep_tags: z
      .record(TagKey, TagValue)
      .refine((t) => Object.keys(t).length <= 64, "at most 64 tags")
      .optional()
      .meta({ description: "a version carrying every one of these tags is never deleted ({} protects nothing)" }),
    pending_max_age_days: Days.optional().meta({ description: "delete pending versions created this long ago" }),
    failed_max_age_days: Days.optional().meta({ description: "delete failed versions unchanged this long" }),
  })
  .meta({ id: "RetentionPolicy" });

export type RetentionPolicy = z.output<typeof RetentionPolicy>;

/** Stages kept when the policy does not say (`keep_stages` absent). */
export const DEFAULT_KEEP_STAGES: readonly Stage[] = ["production", "staging"];

/**
 * Why a version is deleted: the rule (or both rules) that let it go. A ready version needs
 * every rule the policy sets to let it go, so with both set the rule is both.
 */
export const DELETE_RULES = [
  "keep_last",
  "max_age_days",
  "keep_last+max_age_days",
  "pending_max_age_days",
  "failed_max_age_days",
] as const;
export type DeleteRule = (typeof DELETE_RULES)[number];

/**
 * Why a version is kept. The protections (`alias`, `stage`, `keep_tags`, `lineage_parent`)
 * hold whatever the rules say; the rest name the rule that keeps it, or `no_rule` when the
 * policy sets no rule that could delete a version of its status.
 */
export const KEEP_REASONS = [
  "alias",
  "stage",
  "keep_tags",
  "lineage_parent",
  "keep_last",
  "max_age_days",
  "pending_max_age_days",
  "failed_max_age_days",
  "no_rule",
] as const;
export type KeepReason = (typeof KEEP_REASONS)[number];

export interface ParentRef {
  model: string;
  version: number;
}

/** What the evaluator knows of a version of the model. */
export interface RetentionFacts {
  version: number;
  status: VersionStatus;
  stage: Stage;
  tags: Record<string, string>;
  created_at: string;
  ready_at: string | null;
  updated_at: string;
  /** `lineage.parents`: those in this model are protected while this version is kept. */
  parents: readonly ParentRef[];
}

/**
 * A version of this model that a version of another model names as its parent. `child.version`
 * is null for a hold the parent's object keeps (the child model is known, not which version).
 */
export interface ProtectedParent {
  version: number;
  child: { model: string; version: number | null };
}

export interface RetentionInput {
  model: string;
  versions: readonly RetentionFacts[];
  /** Every alias set now, with the versions it holds (each version of a split). */
  aliases: readonly { alias: string; versions: readonly number[] }[];
  protectedParents: readonly ProtectedParent[];
  /** Milliseconds since the epoch. */
  now: number;
  policy: RetentionPolicy;
}

export interface Deletion {
  version: number;
  rule: DeleteRule;
}

export interface Keeping {
  version: number;
  reason: KeepReason;
  /** What protects it: the alias, the stage, or the child (`model/version`, or the model for a hold) naming it as parent. */
  detail?: string;
}

export interface RetentionPlan {
  /** In version order. */
  delete: Deletion[];
  /** In version order. */
  keep: Keeping[];
}

const DAY_MS = 24 * 3600 * 1000;

/** Whether the policy sets any rule that can delete a version: the empty policy cannot. */
export function mayDelete(policy: RetentionPolicy): boolean {
  return (
    policy.keep_last !== undefined ||
    policy.max_age_days !== undefined ||
    policy.pending_max_age_days !== undefined ||
    policy.failed_max_age_days !== undefined
  );
}

/**
 * When a version's age starts: a ready one's when it became ready (a training job often
 * creates its version days before it finalizes it); a pending one's at creation; a failed
 * one's at its last change, which is when it failed or later (later only postpones).
 */
function ageStart(v: RetentionFacts): number {
  if (v.status === "ready") return Date.parse(v.ready_at ?? v.created_at);
  if (v.status === "pending") return Date.parse(v.created_at);
  return Date.parse(v.updated_at);
}

const olderThan = (v: RetentionFacts, days: number, now: number) => now - ageStart(v) >= days * DAY_MS;

/** The protection that holds a version whatever the rules say, if any. */
function protection(
  v: RetentionFacts,
  heldBy: ReadonlyMap<number, string>,
  keptStages: ReadonlySet<Stage>,
  keepTags: readonly [string, string][],
  crossModel: ReadonlyMap<number, ProtectedParent["child"]>,
): Keeping | null {
  const alias = heldBy.get(v.version);
  if (alias !== undefined) return { version: v.version, reason: "alias", detail: alias };
  if (keptStages.has(v.stage)) return { version: v.version, reason: "stage", detail: v.stage };
  if (keepTags.length > 0 && keepTags.every(([k, value]) => v.tags[k] === value))
    return { version: v.version, reason: "keep_tags" };
  const child = crossModel.get(v.version);
  if (child)
    return {
      version: v.version,
      reason: "lineage_parent",
      detail: child.version === null ? child.model : `${child.model}/${child.version}`,
    };
  return null;
}

/** What the policy's rules say of an unprotected version. */
function ruling(
  v: RetentionFacts,
  readyRank: ReadonlyMap<number, number>,
  policy: RetentionPolicy,
  now: number,
): Keeping | Deletion {
  const keep = (reason: KeepReason): Keeping => ({ version: v.version, reason });
  if (v.status === "pending" || v.status === "failed") {
    const rule = v.status === "pending" ? "pending_max_age_days" : "failed_max_age_days";
    const days = policy[rule];
    if (days === undefined) return keep("no_rule");
    return olderThan(v, days, now) ? { version: v.version, rule } : keep(rule);
  }
  const { keep_last: keepLast, max_age_days: maxAge } = policy;
  if (keepLast === undefined && maxAge === undefined) return keep("no_rule");
  // Rank 0 is the newest ready version: keep_last keeps ranks 0 .. keep_last - 1.
  if (keepLast !== undefined && readyRank.get(v.version)! < keepLast) return keep("keep_last");
  if (maxAge !== undefined && !olderThan(v, maxAge, now)) return keep("max_age_days");
  const rule: DeleteRule =
    keepLast !== undefined && maxAge !== undefined
      ? "keep_last+max_age_days"
      : keepLast !== undefined
        ? "keep_last"
        : "max_age_days";
  return { version: v.version, rule };
}

/**
 * Decides every version of the model: deleted (with the rule) or kept (with the reason).
 *
 * - A ready version goes when it is neither among the `keep_last` newest ready versions
 *   (newest = highest number, as `latest` is) nor younger than `max_age_days`; each rule
 *   counts only where set, so the empty policy keeps everything.
 * - Pending and failed versions go after `pending_max_age_days` / `failed_max_age_days`.
 * - Never deleted: a version an alias holds (every version of a split), one in a stage of
 *   `keep_stages` (default production and staging; `production` always, since a version in
 *   production cannot be deleted at all), one carrying every tag of `keep_tags` (an empty
 *   map protects nothing), one another model's version names as parent, and, to a fixpoint,
 *   every parent in this model of a kept version.
 */
export function evaluateRetention(input: RetentionInput): RetentionPlan {
  const { policy, now } = input;
  const versions = [...input.versions].sort((a, b) => a.version - b.version);

  const heldBy = new Map<number, string>();
  for (const a of [...input.aliases].sort((x, y) => (x.alias < y.alias ? -1 : x.alias > y.alias ? 1 : 0))) {
    for (const v of a.versions) if (!heldBy.has(v)) heldBy.set(v, a.alias);
  }
  const keptStages = new Set<Stage>([...(policy.keep_stages ?? DEFAULT_KEEP_STAGES), "production"]);
  const keepTags = Object.entries(policy.keep_tags ?? {});
  const crossModel = new Map<number, ProtectedParent["child"]>();
  for (const p of input.protectedParents) if (!crossModel.has(p.version)) crossModel.set(p.version, p.child);
  const readyRank = new Map<number, number>();
  for (const v of [...versions].reverse()) if (v.status === "ready") readyRank.set(v.version, readyRank.size);

  const verdicts = new Map<number, Keeping | Deletion>();
  for (const v of versions)
    verdicts.set(
      v.version,
      protection(v, heldBy, keptStages, keepTags, crossModel) ?? ruling(v, readyRank, policy, now),
    );

  // Parents of kept versions stay, and so do theirs: walk from every kept version.
  const byNumber = new Map(versions.map((v) => [v.version, v]));
  const queue = versions.filter((v) => "reason" in verdicts.get(v.version)!);
  for (let child = queue.pop(); child; child = queue.pop()) {
    for (const parent of child.parents) {
      if (parent.model !== input.model) continue;
      const facts = byNumber.get(parent.version);
      if (!facts || "reason" in verdicts.get(facts.version)!) continue;
      verdicts.set(facts.version, {
        version: facts.version,
        reason: "lineage_parent",
        detail: `${input.model}/${child.version}`,
      });
      queue.push(facts);
    }
  }

  const plan: RetentionPlan = { delete: [], keep: [] };
  for (const v of versions) {
    const verdict = verdicts.get(v.version)!;
    if ("reason" in verdict) plan.keep.push(verdict);
    else plan.delete.push(verdict);
  }
  return plan;
}
