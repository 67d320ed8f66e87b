/**
 * Downloads as every protocol serves them: which file, whether the client already has it,
 * which range, and the bytes streamed from R2 (never buffered). The caller has authorized
 * the request and shapes the answer in its own dialect (headers, error format); only this
 * module and the upload side know R2 keys.
 */
import type { D1Handle } from "../db/session";
import { noneMatch, parseRange } from "../domain/range";
import type { Env } from "../env";
import { ProblemError } from "../domain/problem";
import { modelState } from "../model-writes/stub";
import { BlobStore, type StoredFile } from "./blob-store";
import { blobOpener } from "./blob-reads";
import { READ_AHEAD, readAhead } from "./read-ahead";

export type { StoredFile } from "./blob-store";

/** What a download request asks besides the file: its `Range` and `If-None-Match` headers, and whether it is a HEAD. */
export interface DownloadRequest {
  range: string | null;
  ifNoneMatch: string | null;
  head: boolean;
  /**
   * Stream a long read as consecutive ranges with a few in flight (./read-ahead.ts): for
   * routes whose clients fetch a whole large file with one GET (the OCI bridge's skopeo).
   */
  readAhead?: boolean;
  /** Whose download this is, to count it; absent for reads that are not downloads (the UI's model card). */
  count?: DownloadCount;
}

export interface DownloadCount {
  model: string;
  version: number;
  /** The request's waitUntil: the count runs after the answer. */
  waitUntil: (promise: Promise<unknown>) => void;
}

export type Download =
  /** The client holds these bytes (its ETag is the sha256). */
  | { kind: "not_modified" }
  /** The range starts past the end (416). */
  | { kind: "unsatisfiable" }
  /** 200 (the whole file) or 206 (`offset`, `length`); `body` null for a HEAD. */
  | { kind: "bytes"; status: 200 | 206; offset: number; length: number; body: ReadableStream | null };

/** A version's file as D1 lists it (its sha256, size, and whether the version is ready), or null. */
export function findFile(db: D1Handle, model: string, version: number, path: string): Promise<StoredFile | null> {
  return new BlobStore(db).file(model, version, path);
}

/**
 * Decides what to answer for `file` and opens its bytes (the range only) when there are some to
 * send. Bytes a scrub found corrupt are never sent (503 `unavailable`, a ProblemError each
 * protocol words in its dialect). Whether they are, and where the bytes lie when not at their
 * content address (./blob-reads.ts), is one read of D1 made while R2 opens the content address,
 * so an ordinary blob costs no wait of its own.
 */
export async function openDownload(
  env: Env,
  file: { sha256: string; size: number },
  request: DownloadRequest,
): Promise<Download> {
  if (noneMatch(request.ifNoneMatch, file.sha256)) return { kind: "not_modified" };
  const range = parseRange(request.range, file.size);
  if (range.kind === "unsatisfiable") return { kind: "unsatisfiable" };
  const [status, offset, length] =
    range.kind === "partial" ? ([206, range.offset, range.length] as const) : ([200, 0, file.size] as const);
  const row = blobRow(env, file.sha256);
  const corrupt = row.then((r) => r.corruptAt);
  if (request.head) {
    refuseCorrupt(file.sha256, await corrupt);
    return { kind: "bytes", status, offset, length, body: null };
  }
  const open = blobOpener(env.ARTIFACTS, file.sha256, async () => (await row).key);
  let body: ReadableStream;
  if (request.readAhead && length > READ_AHEAD.threshold) {
    body = readAhead(open, `blob ${file.sha256}`, offset, length);
    try {
      refuseCorrupt(file.sha256, await corrupt);
    } catch (err) {
      await body.cancel().catch(() => undefined);
      throw err;
    }
  } else {
    const [object, corruptAt] = await Promise.all([
      open(range.kind === "partial" ? { range: { offset, length } } : {}),
      corrupt,
    ]);
    if (corruptAt !== null) await object?.body.cancel();
    refuseCorrupt(file.sha256, corruptAt);
    if (!object) throw new Error(`blob ${file.sha256} is listed but missing from R2`);
    body = object.body;
  }
  const count = request.count;
  if (count && sendsLastByte(file.size, status, offset, length))
    body = body.pipeThrough(afterLastChunk(() => countDownload(env, count)));
  return { kind: "bytes", status, offset, length, body };
}

/**
 * When a scrub found these bytes corrupt (null: sound), and where they lie (null: no row, or D1
 * could not say). A read D1 cannot answer lets the download through (logged): a D1 outage is no
 * sign of corruption, and downloads that need no other D1 read (the Hugging Face bridge on a
 * cached resolution) keep working through one, for blobs at their content address.
 */
async function blobRow(env: Env, sha256: string): Promise<{ corruptAt: string | null; key: string | null }> {
  try {
    const row = await new BlobStore(env.DB.withSession("first-unconstrained")).location(sha256);
    return { corruptAt: row?.corruptAt ?? null, key: row?.key ?? null };
  } catch (err) {
    console.error(`download: could not tell whether blob ${sha256} is corrupt; serving it`, err);
    return { corruptAt: null, key: null };
  }
}

/** What a corrupt blob's downloads answer: retry in an hour (healing takes an upload). */
const CORRUPT_RETRY_AFTER_S = 3600;

/** 503 `unavailable` for bytes a scrub found corrupt (src/artifacts/scrub.ts): never the wrong bytes. */
function refuseCorrupt(sha256: string, corruptAt: string | null): void {
  if (corruptAt === null) return;
  throw new ProblemError(
    "unavailable",
    `The stored bytes of this file (sha256 ${sha256}) failed their integrity check at ${corruptAt} and are not served; uploading the same file again (to any version, e.g. \`mreg push\`) repairs them`,
    { sha256 },
    { "retry-after": String(CORRUPT_RETRY_AFTER_S) },
  );
}

/**
 * Whether an answer is a download to count: it sends the file's last byte (a whole file, or
 * the range a resumed or ranged download ends with), so a reader of a file's header (a GGUF
 * parser's ranged reads from byte 0) counts nothing, and a download in ranges counts once.
 * The Hub clients' one-byte size probe (`bytes=0-0`, a 206 of one byte) is not a download,
 * even of a one-byte file.
 */
export function sendsLastByte(size: number, status: 200 | 206, offset: number, length: number): boolean {
  if (status === 206 && length === 1) return false;
  return offset + length === size;
}

/** Passes the bytes through and calls `done` once, when the last of them has been read (a client that stops early never gets there). */
function afterLastChunk(done: () => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({ flush: done });
}

function countDownload(env: Env, { model, version, waitUntil }: DownloadCount): void {
  const counted = modelState(env, model)
    .countDownloads({ version, n: 1 })
    // A lost count costs a statistic, never the download.
    .catch((err: unknown) => console.error(`counting a download of ${model} v${version} failed`, err));
  try {
    waitUntil(counted);
  } catch {
    // No execution context (Hono's app.request in tests): the count runs on, detached.
  }
}

/** The media type every file's bytes are answered with. */
export const BYTES = "application/octet-stream";

/**
 * The HTTP answer to a decided download, with the caller's `headers` (ETag, caching …): a
 * 304, or the bytes with their length and range. A range past the end is each protocol's
 * own answer, so `unsatisfiable` gives it (or throws it).
 */
export function answerDownload(
  download: Download,
  size: number,
  headers: Headers,
  unsatisfiable: () => Response,
): Response {
  switch (download.kind) {
    case "not_modified":
      return new Response(null, { status: 304, headers });
    case "unsatisfiable":
      return unsatisfiable();
    case "bytes":
      headers.set("content-type", BYTES);
      headers.set("content-length", String(download.length));
      if (download.status === 206)
        headers.set("content-range", `bytes ${download.offset}-${download.offset + download.length - 1}/${size}`);
      return new Response(download.body, { status: download.status, headers });
  }
}

/**
 * An empty file asked for a range (the Hub's and OCI clients probe with `bytes=0-0`): it has no
 * byte to range over, and those clients read its size from a 200 with no body.
 */
export function emptyFileAnswer(headers: Headers): Response {
  headers.set("content-type", BYTES);
  headers.set("content-length", "0");
  return new Response(null, { status: 200, headers });
}
