/**
 * A model version as the registry keeps it, and the pure rules for changing it. The
 * ModelState Durable Object owns these records; D1 holds their projection.
 */
import { mergeFlat } from "./canonical-json";
import { jsonBytes, MAX_LINEAGE_BYTES, MAX_METRICS, tagsOverLimit } from "./limits";
import type { ManifestEntry } from "./manifest";

export type VersionStatus = "pending" | "ready" | "failed";
export type Stage = "none" | "staging" | "production" | "archived";
export type ParamValue = string | number | boolean;
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface DatasetRef {
  uri: string;
  snapshot?: string;
  digest?: string;
}

export interface ParentRef {
  model: string;
  version: number;
}

export interface Lineage {
  run_id?: string;
  run_url?: string;
  git_repo?: string;
  git_sha?: string;
  datasets?: DatasetRef[];
  params?: Record<string, ParamValue>;
  parents?: ParentRef[];
  framework?: { name: string; version?: string };
  signature?: { [key: string]: Json };
}

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
    return { ok: false, reason: "too_large", path: "metrics", message: `at most ${MAX_METRICS} metrics after merging; this patch would leave ${metrics}` };
  }
  if (patch.lineage !== undefined && jsonBytes(next.lineage) > MAX_LINEAGE_BYTES) {
    return { ok: false, reason: "too_large", path: "lineage", message: `at most ${MAX_LINEAGE_BYTES} bytes (256 KiB) serialized after merging` };
  }
  next.updated_at = now;
  next.revision = record.revision + 1;
  return { ok: true, record: next, changed };
}
