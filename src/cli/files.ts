/**
 * Local files for push and pull: sources for the client, sha256 by Node's native hash, walking
 * folders. What a folder walk follows, and why a read checks it still has the file it listed,
 * is said at `collectFiles`.
 */
import { createHash } from "node:crypto";
import { constants, createReadStream, existsSync, readFileSync, type Stats } from "node:fs";
import { lstat, open, readdir, readlink, realpath, stat, type FileHandle } from "node:fs/promises";
import { basename, isAbsolute, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import type { ByteSource } from "../client/upload";
import { CliError } from "./exit";
import { DEFAULT_PATTERNS, IgnoreRules, parseIgnore, parseLine, type Rule } from "./ignore";

const READ_CHUNK = 1024 * 1024;

/**
 * Which file on disk a path named when it was listed: a read must find the same one. Device
 * and inode name the file; size and the change times tell a file deleted and written again
 * (which may get the freed inode back) from the one listed.
 */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

const sameFile = (a: FileIdentity, b: FileIdentity) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

// Windows has neither flag: there, the identity check after opening is the whole guard.
const OPEN_AS_LISTED = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Opens `path` to read only if it is still the regular file `listed` names. A file swapped after the walk, for a link to `~/.ssh/id_rsa`, another file or a
 * FIFO, is refused before a byte of it is read: `O_NOFOLLOW` refuses a link in the last
 * place, `O_NONBLOCK` keeps a FIFO from blocking the open, and the `fstat` of what was
 * opened catches the rest (a folder on the way swapped for a link, a renamed file).
 */
async function openAsListed(path: string, listed: FileIdentity): Promise<FileHandle> {
  const changed = () =>
    new CliError(
      `${path} changed since the files were listed (it is now another file, a link or gone): not read. Run the command again`,
    );
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_AS_LISTED);
  } catch (err) {
    // ELOOP (EMLINK on the BSDs): a link where the file was; ENOENT: it is gone.
    if (["ELOOP", "EMLINK", "ENOENT", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code ?? "")) throw changed();
    throw err;
  }
  const now = await handle.stat();
  if (!now.isFile() || !sameFile(now, listed)) {
    await handle.close();
    throw changed();
  }
  return handle;
}

/** Bytes [start, end] of a file (end inclusive, to its end when omitted); from the file `listed` names when given. */
function readRange(path: string, range: { start?: number; end?: number }, listed?: FileIdentity): Readable {
  const options = { ...range, highWaterMark: READ_CHUNK };
  if (!listed) return createReadStream(path, options);
  return Readable.from(
    (async function* () {
      // The handle's stream closes it when it ends or is destroyed (a cancelled part).
      yield* (await openAsListed(path, listed)).createReadStream(options);
    })(),
    { objectMode: false },
  );
}

/** A file as a ByteSource: each slice is a fresh read of that byte range (of the file `listed` names, when given). */
export function fileSource(path: string, size: number, listed?: FileIdentity): ByteSource {
  return {
    size,
    slice(start, end) {
      if (end <= start) return new Uint8Array(0);
      // Node's stream as a web stream: what fetch takes as a streaming body.
      return Readable.toWeb(readRange(path, { start, end: end - 1 }, listed)) as ReadableStream<Uint8Array>;
    },
  };
}

/** The sha256 of a file (or of its first `length` bytes; of the file `listed` names, when given), streamed through Node's native hash. */
export function sha256File(
  path: string,
  onBytes?: (n: number) => void,
  length?: number,
  listed?: FileIdentity,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash("sha256");
    if (length === 0) return resolvePromise(hash.digest("hex"));
    const stream = readRange(path, length !== undefined ? { end: length - 1 } : {}, listed);
    let done = 0;
    stream.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      done += chunk.length;
      onBytes?.(done);
    });
    stream.on("error", reject);
    stream.on("end", () => resolvePromise(hash.digest("hex")));
  });
}

export interface LocalFile {
  /** The path inside the version (`/`-separated): where it was found, through any link. */
  path: string;
  /** Where it is on disk: its real path, every link resolved. */
  local: string;
  size: number;
  /** What the walk saw: a read checks it still has this file (`FileIdentity`). */
  stats: Stats;
}

/** A path left out of a push, and the rule that left it out (`.git/` for a whole folder). */
export interface Skipped {
  path: string;
  rule: string;
}

export interface Filters {
  /** --exclude patterns (gitignore syntax), applied after the defaults and `.mregignore`. */
  exclude?: string[];
  /** --include patterns: when given, only files matching one of them go in. */
  include?: string[];
}

/**
 * The files to push: a file goes in as its base name; a folder's files go in by their path
 * inside it, so `mreg push m ./model-dir` keeps the folder's layout. A folder is read through
 * its ignore rules (./ignore.ts); a file named on the command line always goes in (through a
 * link too: naming it is the choice).
 *
 * Links inside a folder (docs/cli.md, "Links"): one whose real target, every link of a chain
 * resolved, is inside the folder is followed, under the link's own path; the target's path
 * must pass the ignore rules as well as the link's name (`w.bin -> .ssh/id_rsa` is left out
 * as `.ssh/` is). One that leaves the folder, dangles or loops is skipped and reported, and
 * so is a linked folder that holds the link (it would be walked without end). Each file's
 * `local` is its real path, and reads check they open the file the walk saw (`openAsListed`).
 */
export async function collectFiles(
  args: string[],
  filters: Filters = {},
): Promise<{ files: LocalFile[]; skipped: Skipped[] }> {
  const out: LocalFile[] = [];
  const skipped: Skipped[] = [];
  const extra = (filters.exclude ?? []).map((p) => parseLine(p, "--exclude")).filter((r): r is Rule => r !== null);
  const include = (filters.include ?? []).map((p) => parseLine(p, "--include")).filter((r): r is Rule => r !== null);
  for (const arg of args) {
    let stats: Stats;
    try {
      stats = await stat(arg);
    } catch {
      throw new CliError(`No such file or folder: ${arg}`);
    }
    if (stats.isFile()) out.push({ path: basename(arg), local: await realpath(arg), size: stats.size, stats });
    else if (stats.isDirectory()) {
      const root = await realpath(arg);
      const ignoreFile = join(root, ".mregignore");
      const own = existsSync(ignoreFile) ? parseIgnore(readFileSync(ignoreFile, "utf8"), ".mregignore:") : [];
      const rules = new IgnoreRules(
        [...DEFAULT_PATTERNS.map((p) => parseLine(p, "default:")!), ...own, ...extra],
        include,
      );
      for await (const file of walk({ root, rules, skipped }, root, "", new Set([root]))) out.push(file);
    } else throw new CliError(`Not a file or folder: ${arg}`);
  }
  const seen = new Map<string, string>();
  for (const f of out) {
    const other = seen.get(f.path);
    if (other) throw new CliError(`Two files would be stored as '${f.path}': ${other} and ${f.local}`);
    seen.set(f.path, f.local);
  }
  if (out.length === 0)
    throw new CliError(
      skipped.length
        ? `Nothing to push: every file was left out (${skipped.map((s) => s.path).join(", ")})`
        : "Nothing to push: the folders are empty",
    );
  return { files: out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), skipped };
}

interface Walk {
  /** The pushed folder's real path. */
  root: string;
  rules: IgnoreRules;
  skipped: Skipped[];
}

/** `target` (a real path) relative to the folder, `/`-separated, or null when it is outside. */
function insideRoot(root: string, target: string): string | null {
  const rel = relative(root, target);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return null;
  return rel.split(sep).join("/");
}

/**
 * The files of `realDir` (a real path) and below, named `relDir/...` in the version. `above`
 * holds the real paths of the folders walked down to here: a link to one of them is a loop.
 */
async function* walk(w: Walk, realDir: string, relDir: string, above: ReadonlySet<string>): AsyncGenerator<LocalFile> {
  const names = (await readdir(realDir)).sort();
  for (const name of names) {
    const local = join(realDir, name);
    const rel = relDir ? `${relDir}/${name}` : name;
    const s = await lstat(local).catch(() => undefined);
    if (!s) continue; // gone since the listing: nothing to push
    if (s.isSymbolicLink()) {
      yield* followLink(w, local, rel, above);
      continue;
    }
    // Under a followed link, the real path must pass the rules too (an anchored `/data/x.bin`).
    const realRel = insideRoot(w.root, local)!;
    const why = (isDir: boolean) =>
      w.rules.skipReason(rel, isDir) ?? (realRel !== rel ? w.rules.excludedBy(realRel, isDir) : null);
    if (s.isDirectory()) {
      const reason = why(true);
      if (reason) w.skipped.push({ path: `${rel}/`, rule: reason });
      else yield* walk(w, local, rel, new Set([...above, local]));
    } else if (s.isFile()) {
      const reason = why(false);
      if (reason) w.skipped.push({ path: rel, rule: reason });
      else yield { path: rel, local, size: s.size, stats: s };
    } else w.skipped.push({ path: rel, rule: "not a regular file (a FIFO, socket or device)" });
  }
}

/** A link met in a walk: followed when its real target is inside the folder and passes the rules, else reported. */
async function* followLink(w: Walk, local: string, rel: string, above: ReadonlySet<string>): AsyncGenerator<LocalFile> {
  let target: string;
  let s: Stats;
  try {
    target = await realpath(local);
    s = await stat(target);
  } catch (err) {
    const to = await readlink(local).catch(() => "?");
    const code = (err as NodeJS.ErrnoException).code;
    const rule =
      code === "ELOOP"
        ? `a link that loops (${to})`
        : code === "ENOENT" || code === "ENOTDIR"
          ? `a link to ${to}, which does not exist`
          : `a link that cannot be followed (${to}: ${code})`;
    w.skipped.push({ path: rel, rule });
    return;
  }
  const isDir = s.isDirectory();
  const shown = isDir ? `${rel}/` : rel;
  const skip = (rule: string) => w.skipped.push({ path: shown, rule });
  const byName = w.rules.skipReason(rel, isDir);
  if (byName) return skip(byName);
  const targetRel = insideRoot(w.root, target);
  if (targetRel === null) return skip(`a link out of the folder, to ${target}`);
  const targetShown = isDir ? `${targetRel || "."}/` : targetRel;
  if (isDir && above.has(target)) return skip(`a link to ${targetShown}, a folder that holds it (a loop)`);
  const byTarget = targetRel === "" ? null : w.rules.excludedAlong(targetRel, isDir);
  if (byTarget) return skip(`a link to ${targetShown}: ${byTarget}`);
  if (isDir) yield* walk(w, target, rel, new Set([...above, target]));
  else if (s.isFile()) yield { path: rel, local: target, size: s.size, stats: s };
  else skip(`a link to ${targetShown}, not a regular file`);
}
