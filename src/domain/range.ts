/**
 * `Range` header parsing for downloads: one `bytes=` range (first-last, first-, or -suffix).
 * Multiple ranges are answered with the whole body, as RFC 9110 allows. A header that is not
 * a valid range set (malformed, or `first-last` with last before first) is ignored (RFC 9110
 * §14.2): the whole body, never a 416, which is only for a valid range the body cannot meet.
 */
export type RangeOutcome =
  { kind: "full" } | { kind: "partial"; offset: number; length: number } | { kind: "unsatisfiable" };

export function parseRange(header: string | null, size: number): RangeOutcome {
  if (header === null) return { kind: "full" };
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  if (!match) return { kind: "full" }; // multiple or malformed ranges: ignore the header
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    const length = Math.min(suffix, size);
    return { kind: "partial", offset: size - length, length };
  }
  const offset = Number(first);
  if (last !== "" && Number(last) < offset) return { kind: "full" }; // invalid range-spec: ignore the header
  if (offset >= size) return { kind: "unsatisfiable" };
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: "partial", offset, length: end - offset + 1 };
}

/** Whether an `If-None-Match` header matches the ETag `"<tag>"` (weak comparison). */
export function noneMatch(header: string | null, tag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  return header
    .split(",")
    .map((t) => t.trim().replace(/^W\//, ""))
    .some((t) => t === `"${tag}"`);
}
