/**
 * One syntax for a tag written as text, everywhere (the CLI's `--tag`, `?tag=` on the model
 * and version lists, the web UI's search): `key=value` or `key:value`. The key ends at the
 * first `=` or `:`, whichever comes first, so a value may hold either (`source=s3://b/k`,
 * `url:http://h?a=b`). Tag keys never contain `:` (./names.ts), so `key:value` always names
 * any key that has no `=`.
 */
export interface TagPair {
  key: string;
  value: string;
}

/** The pair, or null when the text has no separator or an empty key. */
export function splitTagPair(text: string): TagPair | null {
  const at = text.search(/[=:]/);
  if (at <= 0) return null;
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

export const TAG_PAIR_HINT = "key=value (or key:value)";
