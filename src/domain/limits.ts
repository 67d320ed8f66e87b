/**
 * The contract's input limits (API.md Conventions). Exceeding one is a 400
 * `validation_failed`: they keep a row under D1's 2 MB and every recursive walk shallow.
 */

/** Keys of a tags map, after a patch has been merged in. */
export const MAX_TAGS = 256;
export const MAX_TAG_KEY = 128;
export const MAX_TAG_VALUE = 4096;
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
