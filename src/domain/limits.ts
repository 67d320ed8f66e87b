/**
 * The contract's input limits (API.md Conventions). Exceeding one is a 400
 * `validation_failed`: they keep a row under D1's 2 MB and every recursive walk shallow.
 */

/** Keys of a tags map, after a patch has been merged in. */
export const MAX_TAGS = 256;
export const MAX_TAG_KEY = 128;
export const MAX_TAG_VALUE = 4096;
/**
 * A tags map as JSON text in UTF-8. The key and value caps alone allow 256 × (128 + 4,096)
 * characters, up to 4 bytes each (4 MiB): past the 2 MB a Durable Object or D1 row holds.
 */
export const MAX_TAGS_BYTES = 64 * 1024;
/** Keys of a version's metrics, after merging. */
export const MAX_METRICS = 256;
/**
 * Keys one patch may name: deleting every key and setting a full map of new ones at once is
 * the most a merge can need, and the after-merge cap is what bounds the stored map.
 */
export const MAX_PATCH_KEYS = 2 * MAX_TAGS;
/** A version's `lineage`, as JSON text in UTF-8. */
export const MAX_LINEAGE_BYTES = 256 * 1024;
/** Nesting of any JSON value: the outermost object or array is level 1. */
export const MAX_JSON_DEPTH = 32;

const utf8 = new TextEncoder();

/** Size of a value as JSON text, in UTF-8 bytes. */
export const jsonBytes = (value: unknown): number => utf8.encode(JSON.stringify(value)).byteLength;

/**
 * Why a tags map, as it would be stored (after merging), passes a contract limit, or null:
 * at most MAX_TAGS keys and MAX_TAGS_BYTES serialized.
 */
export function tagsOverLimit(tags: Record<string, string>, when: "after merging" | "" = ""): string | null {
  const suffix = when ? ` ${when}` : "";
  const count = Object.keys(tags).length;
  if (count > MAX_TAGS) return `at most ${MAX_TAGS} tags${suffix}; ${when ? "this patch would leave" : "got"} ${count}`;
  const bytes = jsonBytes(tags);
  if (bytes > MAX_TAGS_BYTES)
    return `at most ${MAX_TAGS_BYTES} bytes (64 KiB) of tags serialized as UTF-8${suffix}; ${when ? "this patch would leave" : "got"} ${bytes}`;
  return null;
}

/**
 * The path (keys and array indexes) to the first object or array nested deeper than
 * `maxDepth`, or null when none is. Recursion stops one level past the limit, so even a
 * value nested thousands deep costs only maxDepth + 1 frames.
 */
export function tooDeep(value: unknown, maxDepth: number = MAX_JSON_DEPTH, depth = 1): string[] | null {
  if (value === null || typeof value !== "object") return null;
  if (depth > maxDepth) return [];
  for (const [key, child] of Object.entries(value)) {
    const below = tooDeep(child, maxDepth, depth + 1);
    if (below) return [key, ...below];
  }
  return null;
}
