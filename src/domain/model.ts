/** A model as the registry keeps it (API.md "Models"); its ModelState owns the record. */
import { mergeFlat } from "./canonical-json";
import { tagsOverLimit } from "./limits";

export type ModelKind = "model" | "prompt" | "config";

export interface ModelRecord {
  name: string;
  kind: ModelKind;
  description: string | null;
  tags: Record<string, string>;
  created_at: string;
  created_by: string;
  updated_at: string;
}

export interface ModelPatch {
  description?: string | null;
  /** Merged into the model's tags; a `null` value deletes the key. */
  tags?: Record<string, string | null>;
}

export type ModelPatchOutcome = { ok: true; record: ModelRecord } | { ok: false; path: "tags"; message: string };

/**
 * Applies a patch: description replaced, tags merged (`null` deletes a key). Refused when the
 * merged tags would pass a tags limit (count or bytes): each patch is capped by the route, only the merge shows
 * whether many small patches add up to an unbounded row.
 */
export function applyModelPatch(record: ModelRecord, patch: ModelPatch, now: string): ModelPatchOutcome {
  const tags = patch.tags !== undefined ? mergeFlat(record.tags, patch.tags) : record.tags;
  const problem = patch.tags !== undefined ? tagsOverLimit(tags, "after merging") : null;
  if (problem) return { ok: false, path: "tags", message: problem };
  return {
    ok: true,
    record: {
      ...record,
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      tags,
      updated_at: now,
    },
  };
}
