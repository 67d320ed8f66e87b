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

/** The targets among `targets` that `grants` (a token's `aliases` claim; undefined: all) does not cover. */
export function ungranted(grants: readonly string[] | undefined, targets: readonly string[]): string[] {
  return grants === undefined ? [] : targets.filter((t) => !matchesAny(grants, t));
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

/**
 * D1 refuses a LIKE or GLOB pattern longer than this many bytes (UTF-8) with "LIKE or GLOB
 * pattern too complex": its documented limit, and what workerd's D1 does (measured: 50
 * bytes pass, 51 fail). SQLite's own default is 50,000.
 */
export const D1_MAX_PATTERN_BYTES = 50;

/** A pattern as a run of literal text and wildcards (`*` any run, `?` one character). */
export type PatternToken = { literal: string } | { wildcard: "*" | "?" };

/**
 * A pattern as SQL tests it within D1's limit, whatever its length: the literal text before
 * its first wildcard (`prefix`) and after its last (`suffix`), compared with `substr`, and
 * only the span between as a SQLite GLOB pattern (`middle`, GLOB's own metacharacters in it
 * made literal; '' when there is no wildcard, so the text must be the prefix exactly).
 */
export interface SplitPattern {
  prefix: string;
  middle: string;
  suffix: string;
}

/** Text taken literally in a SQLite GLOB pattern: its metacharacters `*`, `?` and `[` each in brackets. */
const escapeGlob = (text: string) => text.replace(/[*?[]/g, (ch) => `[${ch}]`);

const literalText = (tokens: readonly PatternToken[]) => tokens.map((t) => ("literal" in t ? t.literal : "")).join("");

export function splitPattern(tokens: readonly PatternToken[]): SplitPattern {
  const first = tokens.findIndex((t) => "wildcard" in t);
  if (first < 0) return { prefix: literalText(tokens), middle: "", suffix: "" };
  const last = tokens.findLastIndex((t) => "wildcard" in t);
  const middle = tokens
    .slice(first, last + 1)
    .map((t) => ("literal" in t ? escapeGlob(t.literal) : t.wildcard))
    .join("");
  return { prefix: literalText(tokens.slice(0, first)), middle, suffix: literalText(tokens.slice(last + 1)) };
}

/** A glob of the `models` and `aliases` claims (only `*` is a wildcard) split for SQL. */
export function splitGlob(glob: string): SplitPattern {
  const tokens: PatternToken[] = [];
  glob.split("*").forEach((literal, i) => {
    if (i > 0) tokens.push({ wildcard: "*" });
    tokens.push({ literal });
  });
  return splitPattern(tokens);
}

/** Whether D1 takes this LIKE or GLOB pattern (for a split pattern: its `middle`). */
export const fitsD1 = (pattern: string) => new TextEncoder().encode(pattern).byteLength <= D1_MAX_PATTERN_BYTES;

/** Why D1 cannot test this glob of a token's claims, or null when it can. */
export function globTooComplex(glob: string): string | null {
  return fitsD1(splitGlob(glob).middle)
    ? null
    : `a glob may hold at most ${D1_MAX_PATTERN_BYTES} bytes from its first * to its last (once ? and [ are escaped)`;
}

/** A split pattern whole, as one SQLite GLOB pattern (for D1 only when it `fitsD1`). */
export const globPattern = (split: SplitPattern) => escapeGlob(split.prefix) + split.middle + escapeGlob(split.suffix);
