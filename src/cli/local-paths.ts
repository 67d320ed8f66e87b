/**
 * Where a version's files land on this disk, for `mreg pull` and `mreg agent`. The client has
 * refused any path that breaks the registry's rule (src/client/validate.ts); these are the
 * node's own rules on top, checked again where each name is built, so that even a caller's
 * mistake cannot write outside the folder: every destination stays inside it, two paths
 * that would be one file on a disk that ignores case or Unicode normalisation are refused
 * (and a file beside a path beneath it, `a` and `a/b`), and so are names mreg keeps for its
 * own files beside a version's.
 */
import { isAbsolute, join, relative, sep } from "node:path";
import type { FileEntry } from "../client/types";
import { collidingPaths, filePathProblem, pathCollisionKey } from "../domain/file-path-rule";
import { CliError } from "./exit";

/** A file being downloaded: `<file>.mreg-partial`, with its finished ranges in `<file>.mreg-partial.json`. */
export const PARTIAL = ".mreg-partial";
/** A copy being verified, where a hard link could not be made (the agent). */
export const COPYING = ".mreg-copy";
/** Ends of names that are mreg's own beside a version's files; a version may not use them. */
const RESERVED_ENDINGS = [PARTIAL, `${PARTIAL}.json`, COPYING];

/** Whether `path` lies inside `dir` (not `dir` itself), lexically; a name such as `..x` is inside. */
export function insideDir(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Where `path` (a version's file path) goes under `dir`; refuses a path that breaks the rule or would leave `dir`. */
export function destination(dir: string, path: string): string {
  const problem = filePathProblem(path);
  if (problem) throw new CliError(`Refusing the file path ${JSON.stringify(path)}: it ${problem}`);
  const dest = join(dir, ...path.split("/"));
  if (!insideDir(dir, dest)) throw new CliError(`Refusing the file path ${JSON.stringify(path)}: it leaves ${dir}`);
  return dest;
}

/**
 * Why these files cannot all be written to one folder, or null when they can: two paths that
 * would land on one file, a name ending the way mreg's own files do, or one of `reserved`
 * (names the caller keeps at the folder's top). Compared by collision key, so `Model.bin`
 * and `model.BIN.mreg-partial` are caught on any disk.
 */
export function unwritable(files: readonly FileEntry[], reserved: readonly string[] = []): string | null {
  for (const f of files) {
    const problem = filePathProblem(f.path);
    if (problem) return `the file path ${JSON.stringify(f.path)} ${problem}`;
    const key = pathCollisionKey(f.path);
    const ending = RESERVED_ENDINGS.find((e) => key.endsWith(e));
    if (ending) return `'${f.path}': mreg keeps names ending in ${ending} for its own files`;
    const kept = reserved.find((r) => pathCollisionKey(r) === key);
    if (kept) return `'${f.path}': mreg keeps ${kept} at the top of the folder for its own record`;
  }
  const pair = collidingPaths(files.map((f) => f.path));
  if (pair) {
    const [a, b] = pair;
    return pathCollisionKey(a) === pathCollisionKey(b)
      ? `'${a}' and '${b}' would be one file on a disk that ignores case or Unicode normalisation`
      : `'${a}' and '${b}' cannot both be written: '${a}' would have to be a file and a folder`;
  }
  return null;
}

/** `mreg pull`'s folder when none is given: `<model>-<version>`, one name in the working folder. */
export function pullFolderName(model: string, version: number): string {
  const name = `${model}-${version}`;
  if (name.includes("/") || filePathProblem(name) || !Number.isSafeInteger(version) || version < 1) {
    throw new CliError(`Refusing the folder name ${JSON.stringify(name)}: not one plain name`);
  }
  return name;
}
