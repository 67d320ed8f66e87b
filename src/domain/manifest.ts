/**
 * A version's manifest and digest (docs/reference.md "Versions"): the sha256 of the lines
 * `<path>\t<size>\t<sha256>\n`, sorted by path.
 */
import { z } from "zod";

export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

/** The contract's File (docs/reference.md "Files"): a manifest entry as answers show it. */
export const File = z
  .object({
    path: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    deduplicated: z.boolean().optional(),
  })
  .meta({ id: "File" });

const encoder = new TextEncoder();

/**
 * Paths sort by their UTF-8 bytes (the same as by code point), so clients in any language
 * can recompute the digest; JavaScript's default sort (UTF-16 units) differs above U+FFFF.
 */
export function comparePaths(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export function manifestText(files: readonly ManifestEntry[]): string {
  return [...files]
    .sort((a, b) => comparePaths(a.path, b.path))
    .map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`)
    .join("");
}
