/** Local files for push and pull: sources for the client, sha256 by Node's native hash, walking folders. */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, type Stats } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { join, relative, resolve, sep, basename } from "node:path";
import { Readable } from "node:stream";
import type { ByteSource } from "../client/upload";
import { CliError } from "./exit";
import { DEFAULT_PATTERNS, IgnoreRules, parseIgnore, parseLine, type Rule } from "./ignore";

const READ_CHUNK = 1024 * 1024;

/** A file as a ByteSource: each slice is a fresh read stream of that byte range. */
export function fileSource(path: string, size: number): ByteSource {
  return {
    size,
    slice(start, end) {
      if (end <= start) return new Uint8Array(0);
      const stream = createReadStream(path, { start, end: end - 1, highWaterMark: READ_CHUNK });
      // Node's stream as a web stream: what fetch takes as a streaming body.
      return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
    },
  };
}

/** The sha256 of a file (or of its first `length` bytes), streamed through Node's native hash. */
export function sha256File(path: string, onBytes?: (n: number) => void, length?: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash("sha256");
    if (length === 0) return resolvePromise(hash.digest("hex"));
    const stream = createReadStream(path, { highWaterMark: READ_CHUNK, ...(length !== undefined ? { end: length - 1 } : {}) });
    let done = 0;
    stream.on("data", (chunk) => {
      hash.update(chunk);
      done += chunk.length;
      onBytes?.(done);
    });
    stream.on("error", reject);
    stream.on("end", () => resolvePromise(hash.digest("hex")));
  });
}

export interface LocalFile {
  /** The path inside the version (`/`-separated). */
  path: string;
  /** Where it is on disk. */
  local: string;
  size: number;
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
 * its ignore rules (./ignore.ts); a file named on the command line always goes in.
 */
export async function collectFiles(args: string[], filters: Filters = {}): Promise<{ files: LocalFile[]; skipped: Skipped[] }> {
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
    if (stats.isFile()) out.push({ path: basename(arg), local: resolve(arg), size: stats.size, stats });
    else if (stats.isDirectory()) {
      const root = await realpath(arg);
      const ignoreFile = join(root, ".mregignore");
      const own = existsSync(ignoreFile) ? parseIgnore(readFileSync(ignoreFile, "utf8"), ".mregignore:") : [];
      const rules = new IgnoreRules([...DEFAULT_PATTERNS.map((p) => parseLine(p, "default:")!), ...own, ...extra], include);
      for await (const file of walk(root, root, rules, skipped)) {
        const s = await stat(file);
        out.push({ path: relative(root, file).split(sep).join("/"), local: file, size: s.size, stats: s });
      }
    } else throw new CliError(`Not a file or folder: ${arg}`);
  }
  const seen = new Map<string, string>();
  for (const f of out) {
    const other = seen.get(f.path);
    if (other) throw new CliError(`Two files would be stored as '${f.path}': ${other} and ${f.local}`);
    seen.set(f.path, f.local);
  }
  if (out.length === 0) throw new CliError(skipped.length ? `Nothing to push: every file was left out (${skipped.map((s) => s.path).join(", ")})` : "Nothing to push: the folders are empty");
  return { files: out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), skipped };
}

async function* walk(root: string, dir: string, rules: IgnoreRules, skipped: Skipped[]): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const full = join(dir, e.name);
    const rel = relative(root, full).split(sep).join("/");
    if (e.isDirectory()) {
      const why = rules.skipReason(rel, true);
      if (why) skipped.push({ path: `${rel}/`, rule: why });
      else yield* walk(root, full, rules, skipped);
      continue;
    }
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(full).catch(() => undefined);
      // Linked files are followed; linked folders are not (a link to a parent would never end).
      isFile = s?.isFile() === true;
    }
    if (!isFile) continue;
    const why = rules.skipReason(rel, false);
    if (why) skipped.push({ path: rel, rule: why });
    else yield full;
  }
}
