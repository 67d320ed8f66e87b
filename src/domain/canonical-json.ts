/** Canonical JSON (keys sorted at every depth) so equal values have equal text and hashes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

/**
 * RFC 7396 merge of a flat patch: keys with `null` are removed, others set. The same
 * semantics SQLite's json_patch gives the D1 side, for state the Durable Object owns.
 */
export function mergeFlat<V>(target: Record<string, V>, patch: Record<string, V | null>): Record<string, V> {
  const out: Record<string, V> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else setOwn(out, key, value);
  }
  return out;
}

/**
 * Sets an own property, whatever the key: a tag or param named `__proto__` (JSON allows it)
 * must be kept as data, not change the object's prototype (what `out[key] = value` does).
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
