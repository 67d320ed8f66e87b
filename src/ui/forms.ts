/**
 * The edit forms' text fields: tags and metrics as `key=value` lines, turned into the API's
 * merge patches (a key no longer listed is sent as `null`, which deletes it). Linear in the
 * input: one split per line, no regular expression over user text.
 */

export class FormError extends Error {}

/** `key=value` lines (blank lines skipped); the first `=` splits, so values may hold more. */
export function parsePairs(text: string, what: string): Map<string, string> {
  const pairs = new Map<string, string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? "" : line.slice(0, eq).trim();
    if (key === "")
      throw new FormError(
        `${what}, line ${i + 1}: write it as key=value (got '${line.length > 60 ? `${line.slice(0, 60)}…` : line}').`,
      );
    if (pairs.has(key)) throw new FormError(`${what}: '${key}' is listed twice.`);
    pairs.set(key, line.slice(eq + 1).trim());
  }
  return pairs;
}

/** Metric lines: every value a finite number. */
export function parseMetrics(text: string): Map<string, number> {
  const metrics = new Map<string, number>();
  for (const [key, raw] of parsePairs(text, "Metrics")) {
    const value = raw === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(value))
      throw new FormError(
        `Metrics: '${key}' must be a number (got '${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw}').`,
      );
    metrics.set(key, value);
  }
  return metrics;
}

/** The merge patch that turns `current` into `next`: changed keys, and `null` for removed ones. Empty when nothing changed. */
export function mergePatch<T extends string | number>(
  current: Record<string, T>,
  next: Map<string, T>,
): Record<string, T | null> {
  const patch: Record<string, T | null> = {};
  for (const key of Object.keys(current)) if (!next.has(key)) patch[key] = null;
  for (const [key, value] of next) if (current[key] !== value) patch[key] = value;
  return patch;
}

/** A map as the lines the form shows. */
export const pairsText = (values: Record<string, string | number>): string =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
