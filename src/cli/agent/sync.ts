/**
 * Making a version complete on disk: found among the versions held (a link switch, no
 * download), or built in `.incoming/v<n>` from links to files already held (same sha256) and
 * downloads (ranged, resumable, verified: ../download.ts), then moved into versions/. A
 * version whose files cannot all be written (../local-paths.ts) is refused before anything
 * is, and one is moved into versions/ only once every file is there at its size.
 */
import { existsSync, statSync } from "node:fs";
import { copyFile, link, mkdir, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { MregClient } from "../../client/client";
import { MregError } from "../../client/errors";
import type { FileEntry, WatchEvent } from "../../client/types";
import { downloadFile } from "../download";
import { CliError } from "../exit";
import { sha256File } from "../files";
import { COPYING, destination, PARTIAL, unwritable } from "../local-paths";
import { listFiles, type Layout, type Manifest } from "./layout";
import { planFiles } from "./plan";

/** What a sync reports as it goes, for /status and /metrics. */
export interface SyncProgress {
  version: number;
  files: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
}

export interface SyncCounters {
  bytesDownloaded: number;
  filesDownloaded: number;
  filesLinked: number;
}

export interface SyncOptions {
  parallel: number;
  chunkSize: number;
  throttle?: (bytes: number, signal?: AbortSignal) => Promise<void>;
  log: (message: string) => void;
  counters: SyncCounters;
  onProgress: (p: SyncProgress | null) => void;
  /** A download that receives nothing for this long is abandoned (to be resumed), not waited on forever. */
  stallMs: number;
}

/** A resolution that names a version (the agent never syncs "nothing"). */
export type Target = WatchEvent & { version: number; files: FileEntry[] };

/** Makes version `target.version` complete under versions/ and answers its manifest. */
export async function prepare(
  client: MregClient,
  layout: Layout,
  model: string,
  target: Target,
  options: SyncOptions,
  signal: AbortSignal,
): Promise<Manifest> {
  const n = target.version;
  const held = layout.manifest(n);
  if (held && existsSync(layout.versionDir(n)) && held.digest === target.digest) return held;
  const refused = unwritable(target.files);
  if (refused) throw new CliError(`refusing v${n}: ${refused}`);

  const dir = layout.incoming(n);
  await mkdir(dir, { recursive: true });
  const index = await heldFiles(layout, n);
  const steps = planFiles(target.files, index);
  const progress: SyncProgress = {
    version: n,
    files: target.files.length,
    filesDone: 0,
    bytesTotal: target.files.reduce((s, f) => s + f.size, 0),
    bytesDone: 0,
  };
  options.onProgress(progress);
  const fetches = steps.filter((s) => s.action === "fetch").length;
  options.log(`v${n}: ${target.files.length} files, ${fetches} to fetch, ${steps.length - fetches} to link`);
  try {
    for (const step of steps) {
      if (signal.aborted) throw new CliError("stopped");
      const dest = destination(dir, step.file.path);
      if (step.action === "fetch") {
        const got = await downloadFile(client, { model, version: n }, step.file, dir, {
          parallel: options.parallel,
          chunkSize: options.chunkSize,
          stallMs: options.stallMs,
          signal,
          throttle: options.throttle,
          note: (m) => options.log(`v${n}: ${m}`),
          onBytes: (b) => {
            progress.bytesDone += b;
            options.counters.bytesDownloaded += b;
          },
        }).catch((err: unknown) => {
          if (err instanceof MregError || err instanceof CliError || signal.aborted) throw err;
          // A body cut off mid-stream (undici says "terminated"): the finished ranges stay.
          throw new CliError(
            `${step.file.path}: the download broke off (${err instanceof Error ? err.message : String(err)}); it resumes from the ranges that arrived`,
          );
        });
        if (got.status !== "unchanged") options.counters.filesDownloaded++;
        // A resumed file counts what it had before this run as done too.
        progress.bytesDone += step.file.size - got.bytes_received;
      } else {
        const from = step.action === "link" ? step.from : destination(dir, step.same);
        await linkOrCopy(from, dest, step.file);
        options.counters.filesLinked++;
        progress.bytesDone += step.file.size;
      }
      progress.filesDone++;
    }
    // Exactly the version's files: nothing a listing could mistake for part of it.
    const wanted = new Set(target.files.map((f) => f.path));
    for (const path of await listFiles(dir)) {
      if (!wanted.has(path)) await rm(join(dir, ...path.split("/")), { force: true });
    }
    // And all of them: `current` never points at a version with a file missing.
    for (const f of target.files) {
      const s = await stat(destination(dir, f.path)).catch(() => undefined);
      if (!s?.isFile() || s.size !== f.size)
        throw new CliError(
          `v${n}: ${f.path} is ${s ? `${s.size} bytes, not ${f.size}` : "missing"} after the sync; not installing it`,
        );
    }
    const manifest: Manifest = {
      model,
      version: n,
      digest: target.digest,
      files: target.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      resolution: target,
      verified_at: new Date().toISOString(),
      served_at: held?.served_at ?? null,
    };
    await layout.install(manifest);
    return manifest;
  } finally {
    options.onProgress(null);
  }
}

/** sha256 → a verified file of another complete version that is still there with its size. */
async function heldFiles(layout: Layout, except: number): Promise<Map<string, { path: string; size: number }>> {
  const index = new Map<string, { path: string; size: number }>();
  for (const m of await layout.held()) {
    if (m.version === except) continue;
    for (const f of m.files) {
      if (index.has(f.sha256)) continue;
      let path: string;
      try {
        path = destination(layout.versionDir(m.version), f.path);
      } catch {
        continue; // a manifest an older agent wrote for a path no version may hold: never a source
      }
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile() && s.size === f.size) index.set(f.sha256, { path, size: f.size });
    }
  }
  return index;
}

/**
 * A hard link to the verified file: the same inode, so no bytes are read or written. Where
 * links cannot be made (another filesystem, a filesystem without them), a copy, whose sha256
 * is checked since those bytes are new.
 */
async function linkOrCopy(from: string, dest: string, file: FileEntry): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  if (existsSync(dest)) {
    if (statSync(dest).ino === statSync(from).ino) return;
    await unlink(dest);
  }
  await rm(dest + PARTIAL, { force: true });
  try {
    await link(from, dest);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK" && code !== "ENOTSUP" && code !== "EOPNOTSUPP")
      throw err;
  }
  const temp = dest + COPYING;
  await copyFile(from, temp);
  const actual = await sha256File(temp);
  if (actual !== file.sha256) {
    await rm(temp, { force: true });
    throw new CliError(
      `${file.path}: the copy of ${from} does not match its sha256 (expected ${file.sha256}, got ${actual})`,
    );
  }
  await rename(temp, dest);
}
