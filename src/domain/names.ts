/**
 * The contract's naming rules (docs/reference.md "Names"), as zod schemas so routes validate
 * with them and the OpenAPI document shows them.
 */
import { z } from "zod";
import { MAX_PATCH_KEYS, MAX_TAG_KEY, MAX_TAG_VALUE, tagsOverLimit } from "./limits";

export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export const ModelName = z
  .string()
  .regex(MODEL_NAME_PATTERN, "must match ^[a-z0-9][a-z0-9._-]{0,127}$ (lower case, no folding)")
  .refine((name) => !name.includes(".."), "must not contain '..'");

/** Version numbers in paths: positive integers without sign, leading zeros or exponent. */
export const VersionNumber = z
  .string()
  .regex(/^[1-9][0-9]{0,8}$/, "must be a positive integer")
  .transform(Number);

/** Tag keys and values: short strings; keys are what `?tag=key:value` filters on. */
export const TagKey = z
  .string()
  .min(1)
  .max(MAX_TAG_KEY)
  .regex(/^[^\u0000-\u001f:]+$/, "must not contain ':' or control characters");
export const TagValue = z.string().max(MAX_TAG_VALUE);
export const Tags = z.record(TagKey, TagValue).superRefine((tags, ctx) => {
  const problem = tagsOverLimit(tags);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
/** A tag patch: a null value deletes the key. The stored map's cap is checked after merging. */
export const TagPatch = z
  .record(TagKey, TagValue.nullable())
  .refine((t) => Object.keys(t).length <= MAX_PATCH_KEYS, `at most ${MAX_PATCH_KEYS} keys per patch`);
