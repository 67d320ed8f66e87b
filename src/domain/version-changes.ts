/**
 * A new version's files as a starting version's files changed by a list of edits: what a
 * Hugging Face commit (and any protocol that writes a version in one request) asks for.
 * Pure: the edits apply in order to a working set, then the result is checked whole (no two
 * paths a disk cannot hold together). Paths are checked by the caller (src/domain/file-path-rule.ts)
 * before they get here.
 */
import { collidingPaths, collisionProblem } from "./file-path-rule";
import { comparePaths, type ManifestEntry } from "./manifest";

export type FileChange =
  /** Adds the file, or replaces the one at its path. */
  | { kind: "put"; file: ManifestEntry }
  /** Removes the file at `path`; it must be there. */
  | { kind: "delete"; path: string }
  /** Removes every file under the folder `path`; there must be one. */
  | { kind: "deleteFolder"; path: string }
  /** Puts the bytes of the file at `from` at `to` too. */
  | { kind: "copy"; from: string; to: string }
  /** Puts the file at `from` at `to`, and removes it from `from`. */
  | { kind: "move"; from: string; to: string };

export type ChangeRefusal =
  /** A path an edit needs is not there (a file to delete, copy or move; a folder to delete). */
  | { ok: false; reason: "missing"; path: string; message: string }
  /** The result holds two paths no disk can hold together. */
  | { ok: false; reason: "collision"; path: string; message: string };

export interface Changed {
  ok: true;
  /** The new version's files, sorted by path (UTF-8 byte order, as the manifest). */
  files: ManifestEntry[];
  /** Files the result holds that the start did not hold as they are (new, or other bytes at the path). */
  added: ManifestEntry[];
  /** Files of the start the result no longer holds at their path. */
  removed: ManifestEntry[];
}

const sameFile = (a: ManifestEntry, b: ManifestEntry) => a.size === b.size && a.sha256 === b.sha256;

/** The folder `path` names, as a prefix of the paths below it (`a/b/` for `a/b` or `a/b/`). */
export const folderPrefix = (path: string) => `${path.replace(/\/+$/, "")}/`;

/** Applies `changes` to `start` in order; the refusal of the first that cannot apply, or a collision in the result. */
export function applyChanges(start: readonly ManifestEntry[], changes: readonly FileChange[]): Changed | ChangeRefusal {
  const working = new Map(start.map((f) => [f.path, f]));
  const missing = (path: string, what: string): ChangeRefusal => ({
    ok: false,
    reason: "missing",
    path,
    message: `${what} '${path}' does not exist`,
  });
  for (const change of changes) {
    switch (change.kind) {
      case "put":
        working.set(change.file.path, change.file);
        break;
      case "delete":
        if (!working.delete(change.path)) return missing(change.path, "A file with this name doesn't exist: the file");
        break;
      case "deleteFolder": {
        const prefix = folderPrefix(change.path);
        const below = [...working.keys()].filter((p) => p.startsWith(prefix));
        if (below.length === 0) return missing(change.path, "The folder");
        for (const path of below) working.delete(path);
        break;
      }
      case "copy":
      case "move": {
        const source = working.get(change.from);
        if (!source) return missing(change.from, "The file to copy");
        if (change.kind === "move") working.delete(change.from);
        working.set(change.to, { ...source, path: change.to });
        break;
      }
    }
  }
  const files = [...working.values()].sort((a, b) => comparePaths(a.path, b.path));
  const clash = collidingPaths(files.map((f) => f.path));
  if (clash) return { ok: false, reason: "collision", path: clash[1], message: collisionProblem(clash[0], clash[1]) };
  const before = new Map(start.map((f) => [f.path, f]));
  return {
    ok: true,
    files,
    added: files.filter((f) => {
      const was = before.get(f.path);
      return !was || !sameFile(was, f);
    }),
    removed: start.filter((f) => {
      const now = working.get(f.path);
      return !now || !sameFile(now, f);
    }),
  };
}

/** Whether a result changes nothing: the same paths with the same bytes. */
export const unchanged = (changed: Changed) => changed.added.length === 0 && changed.removed.length === 0;
