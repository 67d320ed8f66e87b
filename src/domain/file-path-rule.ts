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

/** The collision keys of the directories a path with this key needs: `a/b/c` → `a`, `a/b`. */
export function directoryKeys(key: string): string[] {
  const dirs: string[] = [];
  for (let i = key.indexOf("/"); i >= 0; i = key.indexOf("/", i + 1)) dirs.push(key.slice(0, i));
  return dirs;
}

/**
 * The first two of these (distinct) paths that no disk can hold together, or null: two with
 * the same collision key would land on one file where case and normalisation are ignored,
 * and a file whose key is a directory another path needs (`a` beside `a/b`, `Model` beside
 * `model/x`) cannot be written anywhere.
 */
export function collidingPaths(paths: Iterable<string>): [string, string] | null {
  const files = new Map<string, string>();
  /** A directory's key → the first path under it. */
  const directories = new Map<string, string>();
  for (const path of paths) {
    const key = pathCollisionKey(path);
    const needed = directoryKeys(key);
    const earlier =
      files.get(key) ?? directories.get(key) ?? needed.map((dir) => files.get(dir)).find((p) => p !== undefined);
    if (earlier !== undefined) return [earlier, path];
    files.set(key, path);
    for (const dir of needed) if (!directories.has(dir)) directories.set(dir, path);
  }
  return null;
}

/** Why two colliding paths (as `collidingPaths` finds them) cannot be written together. */
export function collisionProblem(held: string, path: string): string {
  return pathCollisionKey(held) === pathCollisionKey(path)
    ? `'${path}' and '${held}' are one file on a disk that ignores case or Unicode normalisation`
    : `'${path}' and '${held}' cannot both be written: one is a file where the other needs a directory`;
}
