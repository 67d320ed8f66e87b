/**
 * Glob patterns of tokens' `models` and `aliases` claims: `*` matches any run of characters,
 * every other character is literal.
 */
export function globMatch(pattern: string, name: string): boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === name;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!name.startsWith(first) || name.length < first.length + last.length) return false;
  if (!name.endsWith(last)) return false;
  let pos = first.length;
  const end = name.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = name.indexOf(middle, pos);
    if (found < 0 || found + middle.length > end) return false;
    pos = found + middle.length;
  }
  return true;
}

export function matchesAny(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => globMatch(p, name));
}

/** The same pattern for SQLite's GLOB operator, with its other metacharacters made literal. */
export function toSqliteGlob(pattern: string): string {
  return pattern.replace(/[[?]/g, (ch) => `[${ch}]`);
}
