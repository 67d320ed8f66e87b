/**
 * Which files `mreg push <dir>` leaves out: built-in defaults (VCS folders, common secret
 * files, mreg's own leftovers), then the folder's `.mregignore` (gitignore syntax), then
 * `--exclude` patterns; `--include` then keeps only the files it names.
 *
 * A parser and matcher on user input, written without regular expressions built from the
 * patterns: a pattern is split into path segments and each segment into tokens, and both
 * levels match with the classic "remember the last star" walk, which backtracks only to the
 * newest `*` (or `**`). Matching is O(pattern × path) per rule; no input makes it
 * exponential (units.test.ts times 100 KB of near-matches).
 *
 * gitignore rules supported: `#` comments, blank lines, `\` escapes (`\#`, `\!`, `\ `),
 * trailing spaces dropped, `!` re-includes, a trailing `/` matches folders only, a `/` at the
 * start or in the middle anchors the pattern to the folder (else it matches at any depth),
 * `*`, `?`, `[a-z]`/`[!a-z]` classes, and `**` as a whole segment. As in git, a file inside a
 * left-out folder cannot be re-included (the folder is never read). Only the `.mregignore`
 * at the top of each pushed folder is read. A followed link is judged by its own path and by
 * its target's (./files.ts).
 */

type Token =
  | { kind: "char"; c: string }
  | { kind: "any" }
  | { kind: "star" }
  | { kind: "class"; negate: boolean; ranges: [string, string][] };
/** A segment of a pattern: `**`, or tokens matched against one path segment. */
type Segment = "**" | Token[];

export interface Rule {
  /** Where it came from, as reported: `default: .env`, `.mregignore: *.tmp`, `--exclude notes/**`. */
  label: string;
  negate: boolean;
  dirOnly: boolean;
  segments: Segment[];
}

/** Longest pattern line taken: a longer one is a mistake, not a pattern. */
const MAX_PATTERN = 4096;

/** The built-in rules: what a model folder next to its code usually holds and must not publish. */
export const DEFAULT_PATTERNS = [
  ".git/",
  ".hg/",
  ".svn/",
  ".bzr/",
  ".jj/",
  "_darcs/",
  ".env",
  ".env.*",
  "*.pem",
  "*.key",
  "*.p12",
  "*.pfx",
  "id_rsa*",
  "id_dsa*",
  "id_ecdsa*",
  "id_ed25519*",
  ".netrc",
  ".npmrc",
  ".pypirc",
  ".git-credentials",
  ".aws/",
  ".ssh/",
  ".gnupg/",
  ".DS_Store",
  ".mregignore",
  ".mreg-pull.json",
  "*.mreg-partial",
  "*.mreg-partial.json",
];

/** The rules of one gitignore-syntax text; `labelPrefix` says where each came from. */
export function parseIgnore(text: string, labelPrefix: string): Rule[] {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const rule = parseLine(raw, labelPrefix);
    if (rule) rules.push(rule);
  }
  return rules;
}

/** One pattern as a rule; null for a blank line or a comment. */
export function parseLine(raw: string, labelPrefix: string): Rule | null {
  if (raw.length > MAX_PATTERN) throw new Error(`${labelPrefix}: a pattern longer than ${MAX_PATTERN} characters`);
  let line = trimTrailingSpaces(raw);
  if (line === "" || line.startsWith("#")) return null;
  const label = `${labelPrefix} ${line}`.trim();
  let negate = false;
  if (line.startsWith("!")) {
    negate = true;
    line = line.slice(1);
  }
  let dirOnly = false;
  if (line.endsWith("/") && !line.endsWith("\\/")) {
    dirOnly = true;
    line = line.replace(/\/+$/, "");
  }
  if (line === "") return null;
  // A slash at the start or in the middle anchors the pattern to the folder; without one it
  // matches a name at any depth, as if it began with `**/`.
  const anchored = line.includes("/");
  if (line.startsWith("/")) line = line.slice(1);
  const parts = line.split("/").filter((p) => p !== "");
  const segments: Segment[] = parts.map((p) => (p === "**" ? "**" : tokenize(p)));
  // `dir/**` matches what is inside dir, not dir itself: at least one segment after it.
  if (segments.length > 1 && segments.at(-1) === "**") segments.splice(segments.length - 1, 0, [{ kind: "star" }]);
  if (!anchored) segments.unshift("**");
  return { label, negate, dirOnly, segments };
}

/** Drops trailing spaces unless escaped with a backslash (gitignore's rule). */
function trimTrailingSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) {
    if (end >= 2 && line[end - 2] === "\\") break;
    end--;
  }
  return line.slice(0, end);
}

function tokenize(segment: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === "\\" && i + 1 < segment.length) tokens.push({ kind: "char", c: segment[++i]! });
    else if (c === "*") {
      // `a**b` inside a segment is two stars, which match what one does.
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star" });
    } else if (c === "?") tokens.push({ kind: "any" });
    else if (c === "[") {
      const cls = readClass(segment, i);
      if (cls) {
        tokens.push(cls.token);
        i = cls.end;
      } else tokens.push({ kind: "char", c });
    } else tokens.push({ kind: "char", c });
  }
  return tokens;
}

/** `[...]` starting at `start`: the token and the index of its `]`; null when unclosed (then `[` is literal). */
function readClass(s: string, start: number): { token: Token; end: number } | null {
  let i = start + 1;
  let negate = false;
  if (s[i] === "!" || s[i] === "^") {
    negate = true;
    i++;
  }
  const ranges: [string, string][] = [];
  let first = true;
  for (; i < s.length; i++) {
    let c = s[i]!;
    if (c === "]" && !first) return { token: { kind: "class", negate, ranges }, end: i };
    first = false;
    if (c === "\\" && i + 1 < s.length) c = s[++i]!;
    if (s[i + 1] === "-" && i + 2 < s.length && s[i + 2] !== "]") {
      let hi = s[i + 2]!;
      i += 2;
      if (hi === "\\" && i + 1 < s.length) hi = s[++i]!;
      ranges.push([c, hi]);
    } else ranges.push([c, c]);
  }
  return null;
}

function tokenMatches(t: Token, c: string): boolean {
  if (t.kind === "char") return t.c === c;
  if (t.kind === "any") return true;
  if (t.kind === "class") return t.negate !== t.ranges.some(([lo, hi]) => c >= lo && c <= hi);
  return false;
}

/** One path segment against a segment's tokens: `*` matches any run of characters. */
export function segmentMatches(tokens: Token[], name: string): boolean {
  const chars = Array.from(name);
  let t = 0;
  let c = 0;
  let starT = -1;
  let starC = 0;
  while (c < chars.length) {
    const tok = tokens[t];
    if (tok && tok.kind === "star") {
      starT = t++;
      starC = c;
    } else if (tok && tokenMatches(tok, chars[c]!)) {
      t++;
      c++;
    } else if (starT >= 0) {
      // Give the newest star one more character and try again from there.
      t = starT + 1;
      c = ++starC;
    } else return false;
  }
  while (tokens[t]?.kind === "star") t++;
  return t === tokens.length;
}

/** Path segments against pattern segments: `**` matches any number of segments (zero included). */
export function pathMatches(segments: Segment[], path: string[]): boolean {
  let s = 0;
  let p = 0;
  let starS = -1;
  let starP = 0;
  while (p < path.length) {
    const seg = segments[s];
    if (seg === "**") {
      starS = s++;
      starP = p;
    } else if (seg && segmentMatches(seg, path[p]!)) {
      s++;
      p++;
    } else if (starS >= 0) {
      s = starS + 1;
      p = ++starP;
    } else return false;
  }
  while (segments[s] === "**") s++;
  return s === segments.length;
}

export class IgnoreRules {
  constructor(
    private readonly rules: Rule[],
    private readonly include: Rule[] = [],
  ) {}

  /**
   * Why `path` (relative, `/`-separated) is left out, or null when it goes in. The last rule
   * that matches decides, as in git; a file must then match one --include pattern, if any.
   */
  skipReason(path: string, isDir: boolean): string | null {
    const excluded = this.excludedBy(path, isDir);
    if (excluded) return excluded;
    if (!isDir && this.include.length > 0 && !this.include.some((r) => pathMatches(r.segments, path.split("/"))))
      return "not matched by --include";
    return null;
  }

  /** The rule that leaves `path` out, --include aside (the last match decides), or null. */
  excludedBy(path: string, isDir: boolean): string | null {
    const parts = path.split("/");
    let decided: Rule | undefined;
    for (const rule of this.rules) {
      if (rule.dirOnly && !isDir) continue;
      if (pathMatches(rule.segments, parts)) decided = rule;
    }
    return decided && !decided.negate ? decided.label : null;
  }

  /**
   * The rule that leaves out `path` or a folder above it, --include aside. For a link's
   * target: the walk never reads a left-out folder, so a link must not reach into one
   * (`weights.bin -> .ssh/id_rsa` is left out as `.ssh/` is), and --include judges the
   * link's own name, not its target's.
   */
  excludedAlong(path: string, isDir: boolean): string | null {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const why = this.excludedBy(parts.slice(0, i).join("/"), true);
      if (why) return why;
    }
    return this.excludedBy(path, isDir);
  }
}
