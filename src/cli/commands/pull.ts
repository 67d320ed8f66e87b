/**
 * `mreg pull <uri> <dir>`: resolve, then download each file in ranges (several in flight)
 * into `<file>.mreg-partial`, recording finished ranges beside it so a rerun fetches only
 * the rest; then check the whole file's sha256 and only on a match move it into place. A
 * mismatch removes the partial file and fails: a wrong file never lands under its name.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { parseModelUri } from "../../client/aliases";
import type { FileEntry, Resolution } from "../../client/types";
import { int, size, str, type Command } from "../command";
import { removeFile, writePrivate } from "../config";
import type { Context } from "../context";
import { CliError, UsageError } from "../exit";
import { sha256File } from "../files";
import { bytes } from "../output";
import { progress } from "../progress";

const PARTIAL = ".mreg-partial";
const DEFAULT_CHUNK = 32 * 1024 * 1024;

interface Sidecar {
  sha256: string;
  size: number;
  chunk_size: number;
  done: number[];
}

interface Pulled {
  path: string;
  size: number;
  sha256: string;
  status: "downloaded" | "resumed" | "unchanged";
  bytes_received: number;
}

/** `registry://m@a`, `registry://m/3`, or the same without the scheme. */
export function normalizeUri(arg: string): string {
  const uri = arg.startsWith("registry://") ? arg : `registry://${arg}`;
  parseModelUri(uri);
  return uri;
}

export const pull: Command = {
  name: "pull",
  args: "<uri> [dir]",
  summary: "Download a version's files by URI (ranged, resumable, sha256-verified)",
  options: {
    key: { type: "string" },
    parallel: { type: "string" },
    "chunk-size": { type: "string" },
  },
  help: [
    "--key KEY          Routing key, for an alias that is a split",
    "--parallel N       Ranges in flight per file (default 4)",
    "--chunk-size SIZE  Range size (default 32MiB)",
    "dir defaults to ./<model>-<version>",
  ],
  examples: ["mreg pull registry://payment-fraud@production ./model", "mreg pull payment-fraud/3 --json"],
  async run(ctx, input) {
    const uri = normalizeUri(input.positionals[0]!);
    const parallel = int(input, "parallel", { min: 1, max: 32 }) ?? 4;
    const chunkSize = size(input, "chunk-size") ?? DEFAULT_CHUNK;
    if (chunkSize < 64 * 1024) throw new UsageError("--chunk-size must be at least 64KiB", "pull");
    const key = str(input, "key");
    const resolution = await ctx.client.resolve(uri, key ? { key } : {});
    const dir = resolve(input.positionals[1] ?? `${resolution.model}-${resolution.version}`);
    ctx.out.note(`${uri} → registry://${resolution.model}/${resolution.version} (${resolution.files.length} files)`);
    await mkdir(dir, { recursive: true });
    const pulled: Pulled[] = [];
    for (const file of resolution.files) pulled.push(await pullFile(ctx, resolution, file, dir, { parallel, chunkSize }));
    const summary = {
      uri,
      model: resolution.model,
      version: resolution.version,
      digest: resolution.digest,
      dir,
      bytes_received: pulled.reduce((s, f) => s + f.bytes_received, 0),
      files: pulled,
    };
    ctx.out.result(summary, () => dir);
  },
};

async function pullFile(ctx: Context, r: Resolution, file: FileEntry, dir: string, options: { parallel: number; chunkSize: number }): Promise<Pulled> {
  const dest = join(dir, ...file.path.split("/"));
  const inside = relative(dir, dest);
  if (inside.startsWith("..") || isAbsolute(inside)) throw new CliError(`Refusing the file path '${file.path}': it leaves ${dir}`);
  const base = { path: file.path, size: file.size, sha256: file.sha256 };
  if (existsSync(dest) && statSync(dest).size === file.size && (await sha256File(dest)) === file.sha256) {
    ctx.out.note(`${file.path}: up to date`);
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
  if (resumed) ctx.out.note(`${file.path}: resuming, ${bytes(already)} of ${bytes(file.size)} already here`);
  const bar = progress(ctx.out, file.path, file.size, already);

  const handle = await open(partial, existsSync(partial) ? "r+" : "w+");
  try {
    let failed = false;
    const worker = async () => {
      for (let i = todo.shift(); i !== undefined && !failed; i = todo.shift()) {
        const start = i * sidecar.chunk_size;
        const length = chunkBytes(i);
        if (length === 0) continue;
        const dl = await ctx.client.files.download(r.model, r.version, file.path, { range: { start, end: start + length - 1 } });
        if (!dl.body) throw new CliError(`${file.path}: the server sent no bytes for ${start}-${start + length - 1}`);
        let at = start;
        for await (const chunk of dl.body) {
          if (at + chunk.length > start + length) throw new CliError(`${file.path}: the server sent more bytes than the range holds`);
          await handle.write(chunk, 0, chunk.length, at);
          at += chunk.length;
          received += chunk.length;
          bar.update(already + received);
        }
        if (at !== start + length) throw new CliError(`${file.path}: the download of bytes ${start}-${start + length - 1} ended early`);
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
    if (error) throw error.reason;
    await handle.truncate(file.size);
    await handle.sync();
  } finally {
    await handle.close();
  }
  bar.finish(`${file.path}: ${bytes(file.size)} ${resumed ? "resumed" : "downloaded"}, verifying sha256`);
  const actual = await sha256File(partial);
  if (actual !== file.sha256) {
    await rm(partial, { force: true });
    removeFile(sidecarFile);
    throw new CliError(`${file.path}: sha256 mismatch (expected ${file.sha256}, got ${actual}); the download was discarded`);
  }
  await rename(partial, dest);
  removeFile(sidecarFile);
  return { ...base, status: resumed ? "resumed" : "downloaded", bytes_received: received };
}

function readSidecar(file: string): Sidecar | undefined {
  try {
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Sidecar) : undefined;
  } catch {
    return undefined;
  }
}
