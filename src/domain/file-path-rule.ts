/**
 * File paths inside a version (API.md "Names"): 1..1024 bytes of UTF-8, `/`-separated, no
 * empty, `.` or `..` segment, no leading or trailing `/`, no `\`, no control characters.
 * The rule, without zod, so the CLI bundle checks paths by the same code (src/cli/names.ts).
 */

const MAX_PATH_BYTES = 1024;

/** Why a path is refused, or null when it is acceptable. */
export function filePathProblem(path: string): string | null {
  const bytes = new TextEncoder().encode(path).byteLength;
  if (bytes === 0) return "must not be empty";
  if (bytes > MAX_PATH_BYTES) return `must be at most ${MAX_PATH_BYTES} bytes of UTF-8`;
  if (path.includes("\\")) return "must not contain '\\'";
  // C0 controls (NUL included), DEL and C1 controls.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) return "must not contain control characters";
  if (path.startsWith("/") || path.endsWith("/")) return "must not start or end with '/'";
  for (const segment of path.split("/")) {
    if (segment === "") return "must not contain an empty segment ('//')";
    if (segment === "." || segment === "..") return "must not contain '.' or '..' segments";
  }
  return null;
}

/**
 * The name a path takes on a disk that ignores case and Unicode normalisation (macOS, Windows):
 * NFC, then lower case. Two paths of one version with the same key would land on one file
 * there, so neither the registry nor a node writing a version to disk accepts them together.
 */
export function pathCollisionKey(path: string): string {
  return path.normalize("NFC").toLowerCase();
}

/**
 * The first two paths that cannot both be files on such a disk, or null when they all can:
 * two that share a collision key, or a file and a path beneath it (`a` and `A/b`: `a` would
 * have to be a file and a folder at once).
 */
export function collidingPaths(paths: Iterable<string>): [string, string] | null {
  const files = new Map<string, string>();
  /** The key of every folder some path lies in, with the first such path. */
  const folders = new Map<string, string>();
  for (const path of paths) {
    const key = pathCollisionKey(path);
    const earlier = files.get(key) ?? folders.get(key);
    if (earlier !== undefined) return [earlier, path];
    const segments = key.split("/");
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join("/");
      const file = files.get(folder);
      if (file !== undefined) return [file, path];
      if (!folders.has(folder)) folders.set(folder, path);
    }
    files.set(key, path);
  }
  return null;
}
