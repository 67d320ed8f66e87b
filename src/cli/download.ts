/**
 * Downloading one file of a version, as `mreg pull` and `mreg agent` both do it: in ranges
 * (several in flight) into `<file>.mreg-partial`, recording finished ranges beside it so a
 * rerun fetches only the rest; then the whole file's sha256 is checked and only on a match is
 * it renamed into place. A mismatch removes the partial file and fails: a wrong file never
 * lands under its name. A file already in place with the right size and sha256 is left alone.
 * Each answer must hold the range asked for of a file of the size the version lists, and no
 * more bytes (the client stops a body at its announced length); a download that receives
 * nothing for `stallMs` is abandoned, its finished ranges kept.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { MregClient } from "../client/client";
import type { Download } from "../client/files";
import type { FileEntry } from "../client/types";
import { removeFile, writePrivate } from "./config";
import { CliError } from "./exit";
import { sha256File } from "./files";
import { destination, PARTIAL } from "./local-paths";
import { bytes } from "./output";
import type { Progress } from "./progress";

export const DEFAULT_CHUNK = 32 * 1024 * 1024;
/** How long a download may receive nothing before it is abandoned (`--stall-timeout`). */
export const DEFAULT_STALL_MS = 60_000;

interface Sidecar {
  sha256: string;
  size: number;
  chunk_size: number;
  done: number[];
}

export interface Fetched {
  path: string;
  size: number;
  sha256: string;
  status: "downloaded" | "resumed" | "unchanged";
  bytes_received: number;
}

export interface DownloadOptions {
  /** Ranges in flight. */
  parallel: number;
  /** Range size (a resumed file keeps the size it started with). */
  chunkSize: number;
  /** Abandons the download; the ranges that finished stay recorded for the next run. */
  signal?: AbortSignal;
  /** Called before writing each piece of the body: a rate limit waits here. */
  throttle?: (bytes: number, signal?: AbortSignal) => Promise<void>;
  /** What to tell people (`up to date`, `resuming …`). */
  note?: (message: string) => void;
  /** A display of the bytes: total, and what was already here. */
  progress?: (label: string, total: number, start: number) => Progress;
  /** Each piece of the body as it lands (bytes). */
  onBytes?: (n: number) => void;
  /** A download that receives nothing for this long (no answer, or a body that stops) is abandoned; its finished ranges stay. */
  stallMs: number;
}

/** Downloads `file` of version `ref` to its place under `dir` (see the module comment). */
export async function downloadFile(
  client: MregClient,
  ref: { model: string; version: number },
  file: FileEntry,
  dir: string,
  options: DownloadOptions,
): Promise<Fetched> {
  const dest = destination(dir, file.path);
  const base = { path: file.path, size: file.size, sha256: file.sha256 };
  if (existsSync(dest) && statSync(dest).size === file.size && (await sha256File(dest)) === file.sha256) {
    options.note?.(`${file.path}: up to date`);
    return { ...base, status: "unchanged", bytes_received: 0 };
  }
  await mkdir(dirname(dest), { recursive: true });
  const partial = dest + PARTIAL;
  const sidecarFile = partial + ".json";
  let sidecar = readSidecar(sidecarFile);
  if (!sidecar || sidecar.sha256 !== file.sha256 || sidecar.size !== file.size || !existsSync(partial)) {
    sidecar = { sha256: file.sha256, size: file.size, chunk_size: options.chunkSize, done: [] };
    await rm(partial, { force: true });
  }
  const resumed = sidecar.done.length > 0;
  const chunks = Math.max(1, Math.ceil(file.size / sidecar.chunk_size));
  const done = new Set(sidecar.done);
  const todo = Array.from({ length: chunks }, (_, i) => i).filter((i) => !done.has(i));
  const chunkBytes = (i: number) => Math.min(sidecar.chunk_size, file.size - i * sidecar.chunk_size);
  let received = 0;
  const already = [...done].reduce((s, i) => s + chunkBytes(i), 0);
  if (resumed) options.note?.(`${file.path}: resuming, ${bytes(already)} of ${bytes(file.size)} already here`);
  const bar = options.progress?.(file.path, file.size, already);

  const handle = await open(partial, existsSync(partial) ? "r+" : "w+");
  const watchdog = stallWatchdog(options.stallMs);
  const signal = options.signal ? AbortSignal.any([options.signal, watchdog.signal]) : watchdog.signal;
  try {
    let failed = false;
    const worker = async () => {
      for (let i = todo.shift(); i !== undefined && !failed; i = todo.shift()) {
        const start = i * sidecar.chunk_size;
        const length = chunkBytes(i);
        if (length === 0) continue;
        const dl = await client.files.download(ref.model, ref.version, file.path, {
          range: { start, end: start + length - 1 },
          signal,
        });
        watchdog.alive();
        const wrong = answerProblem(dl, file, start, length);
        if (wrong) {
          await dl.body?.cancel();
          throw new CliError(`${file.path}: ${wrong}`);
        }
        if (!dl.body) throw new CliError(`${file.path}: the server sent no bytes for ${start}-${start + length - 1}`);
        let at = start;
        for await (const chunk of dl.body) {
          watchdog.alive();
          if (at + chunk.length > start + length)
            throw new CliError(`${file.path}: the server sent more bytes than the range holds`);
          await options.throttle?.(chunk.length, signal);
          watchdog.alive(); // a wait of our own rate limit is not the server's stall
          await handle.write(chunk, 0, chunk.length, at);
          at += chunk.length;
          received += chunk.length;
          options.onBytes?.(chunk.length);
          bar?.update(already + received);
        }
        if (at !== start + length)
          throw new CliError(`${file.path}: the download of bytes ${start}-${start + length - 1} ended early`);
        done.add(i);
        sidecar.done = [...done].sort((a, b) => a - b);
        writePrivate(sidecarFile, JSON.stringify(sidecar));
      }
    };
    const workers = Array.from({ length: Math.min(options.parallel, Math.max(1, todo.length)) }, () =>
      worker().catch((err: unknown) => {
        failed = true; // the other ranges stop at their next turn; what finished stays recorded
        throw err;
      }),
    );
    const error = (await Promise.allSettled(workers)).find((w): w is PromiseRejectedResult => w.status === "rejected");
    if (error) {
      // The watchdog's abort surfaces as whatever the fetch or the stream threw: say what it was.
      if (watchdog.signal.aborted && !options.signal?.aborted) {
        throw new CliError(
          `${file.path}: no bytes for ${Math.round(options.stallMs / 1000)} s; the download stopped (the ranges that arrived are kept)`,
        );
      }
      throw error.reason;
    }
    await handle.truncate(file.size);
    await handle.sync();
  } finally {
    watchdog.stop();
    await handle.close();
  }
  bar?.finish(`${file.path}: ${bytes(file.size)} ${resumed ? "resumed" : "downloaded"}, verifying sha256`);
  const actual = await sha256File(partial);
  if (actual !== file.sha256) {
    await rm(partial, { force: true });
    removeFile(sidecarFile);
    throw new CliError(
      `${file.path}: sha256 mismatch (expected ${file.sha256}, got ${actual}); the download was discarded`,
    );
  }
  await rename(partial, dest);
  removeFile(sidecarFile);
  return { ...base, status: resumed ? "resumed" : "downloaded", bytes_received: received };
}

/** Why an answer is not the range asked for of the file the version lists (null when it is); the client has checked its own consistency. */
function answerProblem(dl: Download, file: FileEntry, start: number, length: number): string | null {
  if (dl.size !== null && dl.size !== file.size)
    return `the registry's answer holds ${dl.size} bytes, not the ${file.size} the version lists`;
  if (dl.range && (dl.range.start !== start || dl.range.end !== start + length - 1))
    return `the registry answered bytes ${dl.range.start}-${dl.range.end}, asked for ${start}-${start + length - 1}`;
  if (dl.sha256 !== null && dl.sha256 !== file.sha256)
    return `the registry serves bytes of sha256 ${dl.sha256}, not the ${file.sha256} the version lists`;
  return null;
}

/** Aborts when `alive()` has not been called for `ms` (checked a few times within it). */
function stallWatchdog(ms: number) {
  const controller = new AbortController();
  let last = Date.now();
  const timer = setInterval(
    () => {
      if (Date.now() - last > ms) controller.abort();
    },
    Math.min(5000, ms / 4),
  );
  return { signal: controller.signal, alive: () => (last = Date.now()), stop: () => clearInterval(timer) };
}

function readSidecar(file: string): Sidecar | undefined {
  try {
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Sidecar) : undefined;
  } catch {
    return undefined;
  }
}
