/**
 * A model version as the registry keeps it, and the pure rules for changing it. The
 * ModelState Durable Object owns these records; D1 holds their projection.
 */
import { z } from "zod";
import { mergeFlat } from "./canonical-json";
import { jsonBytes, MAX_LINEAGE_BYTES, MAX_METRICS, tagsOverLimit } from "./limits";
import type { ManifestEntry } from "./manifest";
import { ModelName } from "./names";

export type VersionStatus = "pending" | "ready" | "failed";
export type Stage = "none" | "staging" | "production" | "archived";

export const LINEAGE_CAP_MESSAGE = `at most ${MAX_LINEAGE_BYTES} bytes (256 KiB) serialized`;
export const fitsLineageCap = (lineage: object) => jsonBytes(lineage) <= MAX_LINEAGE_BYTES;

/** Each lineage field as a version's body may set it (API.md "Versions"); a patch makes each nullable. */
export const LineageFields = {
  run_id: z.string().min(1).max(256),
  run_url: z.url().max(2048),
  /** Where the files came from, as the tool that registered the version named it (MLflow's `source` URI). */
  source: z.string().min(1).max(2048),
  git_repo: z.string().min(1).max(2048),
  git_sha: z.string().regex(/^[0-9a-fA-F]{4,64}$/, "must be a hex commit id"),
  datasets: z
    .array(
      z.strictObject({
        uri: z.string().min(1).max(2048),
        snapshot: z.string().max(256).optional(),
        digest: z.string().max(256).optional(),
      }),
    )
    .max(100),
  params: z
    .record(z.string().min(1).max(256), z.union([z.string().max(4096), z.number(), z.boolean()]))
    .refine((p) => Object.keys(p).length <= 1000, "at most 1000 params"),
  parents: z.array(z.strictObject({ model: ModelName, version: z.number().int().positive() })).max(32),
  framework: z.strictObject({ name: z.string().min(1).max(128), version: z.string().max(128).optional() }),
  signature: z.record(z.string(), z.json()),
};

/** The contract's lineage, written once: what a version's body sets and every answer shows. */
export const Lineage = z
  .strictObject({
    run_id: LineageFields.run_id.optional(),
    run_url: LineageFields.run_url.optional(),
    source: LineageFields.source.optional(),
    git_repo: LineageFields.git_repo.optional(),
    git_sha: LineageFields.git_sha.optional(),
    datasets: LineageFields.datasets.optional(),
    params: LineageFields.params.optional(),
    parents: LineageFields.parents.optional(),
    framework: LineageFields.framework.optional(),
    signature: LineageFields.signature.optional(),
  })
  .refine(fitsLineageCap, LINEAGE_CAP_MESSAGE)
  .meta({ id: "Lineage" });

export type Lineage = z.output<typeof Lineage>;
export type DatasetRef = NonNullable<Lineage["datasets"]>[number];
export type ParentRef = NonNullable<Lineage["parents"]>[number];
export type ParamValue = NonNullable<Lineage["params"]>[string];

/** A version without its files: what ModelState keeps in one row and D1 in `versions`. */
export interface VersionHead {
  model: string;
  version: number;
  status: VersionStatus;
  stage: Stage;
  description: string | null;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  lineage: Lineage;
  digest: string | null;
  created_at: string;
  created_by: string;
  updated_at: string;
  ready_at: string | null;
  /** Bumped on every change; orders projections so an old snapshot never overwrites a new one. */
  revision: number;
}

export interface VersionRecord extends VersionHead {
  /** Sorted by path (comparePaths). */
  files: ManifestEntry[];
}

export interface VersionPatch {
  description?: string | null;
  tags?: Record<string, string | null>;
  metrics?: Record<string, number | null>;
  /** Top-level lineage fields to set; `null` removes a field. */
  lineage?: { [K in keyof Lineage]?: Lineage[K] | null };
}

export type PatchOutcome<T extends VersionHead> =
  | { ok: true; record: T; changed: string[] }
  | { ok: false; reason: "immutable" }
  /** The merged map or lineage would pass a contract limit: nothing is applied. */
  | { ok: false; reason: "too_large"; path: "tags" | "metrics" | "lineage"; message: string };

/**
 * Applies a patch. Description, tags and metrics stay patchable for the version's whole life
 * (metrics often arrive after `ready`); lineage is fixed once the version leaves `pending`.
 */
export function applyVersionPatch<T extends VersionHead>(record: T, patch: VersionPatch, now: string): PatchOutcome<T> {
  if (patch.lineage !== undefined && record.status !== "pending") return { ok: false, reason: "immutable" };
  const next: T = { ...record };
  const changed: string[] = [];
  if (patch.description !== undefined) {
    next.description = patch.description;
    changed.push("description");
  }
  if (patch.tags !== undefined) {
    next.tags = mergeFlat(record.tags, patch.tags);
    changed.push("tags");
  }
  if (patch.metrics !== undefined) {
    next.metrics = mergeFlat(record.metrics, patch.metrics);
    changed.push("metrics");
  }
  if (patch.lineage !== undefined) {
    next.lineage = mergeFlat(record.lineage as Record<string, unknown>, patch.lineage) as Lineage;
    changed.push("lineage");
  }
  // Each patch is checked on its own by the route; only the merge shows whether the stored
  // maps would pass the caps (many small patches must not add up to an unbounded row).
  const tags = patch.tags !== undefined ? tagsOverLimit(next.tags, "after merging") : null;
  if (tags) return { ok: false, reason: "too_large", path: "tags", message: tags };
  const metrics = Object.keys(next.metrics).length;
  if (metrics > MAX_METRICS) {
    return {
      ok: false,
      reason: "too_large",
      path: "metrics",
      message: `at most ${MAX_METRICS} metrics after merging; this patch would leave ${metrics}`,
    };
  }
  if (patch.lineage !== undefined && jsonBytes(next.lineage) > MAX_LINEAGE_BYTES) {
    return {
      ok: false,
      reason: "too_large",
      path: "lineage",
      message: `at most ${MAX_LINEAGE_BYTES} bytes (256 KiB) serialized after merging`,
    };
  }
  next.updated_at = now;
  next.revision = record.revision + 1;
  return { ok: true, record: next, changed };
}
