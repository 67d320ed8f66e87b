/** A model as the registry keeps it (API.md "Models"); its ModelState owns the record. */
import { mergeFlat } from "./canonical-json";

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

/** Applies a patch: description replaced, tags merged (`null` deletes a key). */
export function applyModelPatch(record: ModelRecord, patch: ModelPatch, now: string): ModelRecord {
  return {
    ...record,
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.tags !== undefined ? { tags: mergeFlat(record.tags, patch.tags) } : {}),
    updated_at: now,
  };
}
