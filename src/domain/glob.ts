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

/**
 * Whether every name `pattern` matches is also matched by one of `allowed`: how a narrow
 * token's globs bound what it may create (a webhook's `models`, a minted token's claims).
 * Treating the pattern's `*` as a character that only an allowed glob's `*` can absorb makes
 * this one `globMatch`: an allowed glob's literal runs then have to meet literal runs of the
 * pattern. For one allowed glob the answer is exact; across several it is sound but may say
 * no to a pattern only their union covers (`*` within `a*` and `[^a]*`), which errs toward
 * refusing.
 */
export function globWithin(pattern: string, allowed: readonly string[]): boolean {
  return allowed.some((glob) => globMatch(glob, pattern));
}

/** The same pattern for SQLite's GLOB operator, with its other metacharacters made literal. */
export function toSqliteGlob(pattern: string): string {
  return pattern.replace(/[[?]/g, (ch) => `[${ch}]`);
}
