/**
 * Sending one whole file the best way: a single PUT for small files; otherwise a multipart
 * upload with several parts in flight, which resumes an earlier upload by sending only the
 * parts the server does not have. Bytes come from a `ByteSource`, read a part at a time, so
 * a file of any size streams through without being held.
 */
import { MregError } from "./errors";
import type { Files, Uploads } from "./files";
import { backoffMs } from "./transport";
import type { FileEntry, Upload, UploadPart } from "./types";

/** A body for a byte range: a stream (Node files), a Blob (browser files) or bytes in memory. */
export type Slice = ReadableStream<Uint8Array> | Blob | Uint8Array<ArrayBuffer>;

/** Where a file's bytes come from: its size, and a fresh body for any byte range. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [start, end). Called again when a part is re-sent, so it must not be single-use. */
  slice(start: number, end: number): Slice;
}

/** A Blob (a browser `File`, Node's `openAsBlob`) as a source: slices carry their size. */
export const blobSource = (blob: Blob): ByteSource => ({
  size: blob.size,
  slice: (start, end) => blob.slice(start, end),
});

/**
 * Bytes already in memory (small files, tests). Typed views of a SharedArrayBuffer cannot be
 * request bodies; every other Uint8Array can, which is what the cast says.
 */
export const bytesSource = (bytes: Uint8Array): ByteSource => ({
  size: bytes.length,
  slice: (start, end) => bytes.subarray(start, end) as Uint8Array<ArrayBuffer>,
});

export interface UploadOptions {
  /** Hex sha256 of the whole file: multipart needs it up front, a single PUT is checked against it. */
  sha256: string;
  /** Files larger than this go multipart. Default 16 MiB (the server's single PUT limit is 95 MiB). */
  multipartThreshold?: number;
  /** Parts in flight. Default 4. */
  parallel?: number;
  /** An upload of this file started earlier (same path, size, sha256): only its missing parts are sent. */
  resumeUploadId?: string;
  /** Told the upload as soon as it exists, to be saved for a later resume. */
  onUpload?: (upload: Upload) => void | Promise<void>;
  /** Bytes on their way (streams are counted as they are read; blobs when their part lands). */
  onProgress?: (progress: { sent: number; total: number }) => void;
  /** Each part the server accepted. */
  onPart?: (part: UploadPart, upload: Upload) => void;
  signal?: AbortSignal;
}

export interface UploadResult {
  file: FileEntry;
  method: "single" | "multipart" | "deduplicated";
  /** Bytes this call sent and the server accepted. */
  bytesSent: number;
  /** Bytes a resumed upload already had on the server. */
  bytesSkipped: number;
  uploadId?: string;
}

export const DEFAULT_MULTIPART_THRESHOLD = 16 * 1024 * 1024;
const COMPLETE_ATTEMPTS = 4;

export async function uploadFile(
  api: { files: Files; uploads: Uploads },
  target: { model: string; version: number; path: string },
  source: ByteSource,
  options: UploadOptions,
): Promise<UploadResult> {
  const { model, version, path } = target;
  const size = source.size;
  if (size <= (options.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD) && options.resumeUploadId === undefined) {
    const counter = new Counter(size, options.onProgress);
    const file = await api.files.put(
      model,
      version,
      path,
      { body: () => counter.wrap(0, source.slice(0, size)), length: size },
      { sha256: options.sha256, signal: options.signal },
    );
    counter.landed(0, size);
    return { file, method: "single", bytesSent: size, bytesSkipped: 0 };
  }

  let upload = options.resumeUploadId
    ? await resumable(api.uploads, target, options.resumeUploadId, size, options.sha256)
    : undefined;
  if (!upload) {
    const created = await api.uploads.create(model, version, { path, size, sha256: options.sha256 }, options.signal);
    if (created.file) return { file: created.file, method: "deduplicated", bytesSent: 0, bytesSkipped: size };
    upload = created.upload;
  }
  await options.onUpload?.(upload);

  const expected = (n: number) => Math.min(upload.part_size, size - (n - 1) * upload.part_size);
  const have = new Set(upload.parts.filter((p) => p.size === expected(p.part)).map((p) => p.part));
  const missing = Array.from({ length: upload.part_count }, (_, i) => i + 1).filter((n) => !have.has(n));
  const bytesSkipped = [...have].reduce((sum, n) => sum + expected(n), 0);
  const counter = new Counter(size, options.onProgress, bytesSkipped);
  if (upload.status === "open") {
    await sendParts(api.uploads, target, upload, source, missing, counter, options);
  }
  const file = await complete(api.uploads, target, upload.upload_id, options.signal);
  return {
    file,
    method: "multipart",
    bytesSent: counter.landedBytes - bytesSkipped,
    bytesSkipped,
    uploadId: upload.upload_id,
  };
}

/** The earlier upload if it can still take parts (or is completed) for the same bytes; else undefined. */
async function resumable(
  uploads: Uploads,
  target: { model: string; version: number; path: string },
  id: string,
  size: number,
  sha256: string,
) {
  let upload: Upload;
  try {
    upload = await uploads.get(target.model, target.version, id);
  } catch (err) {
    if (err instanceof MregError && err.code === "not_found") return undefined;
    throw err;
  }
  const same = upload.path === target.path && upload.size === size && upload.sha256 === sha256.toLowerCase();
  const usable =
    upload.status === "completed" ||
    upload.status === "verifying" ||
    (upload.status === "open" && Date.parse(upload.expires_at) > Date.now() + 60_000);
  return same && usable ? upload : undefined;
}

async function sendParts(
  uploads: Uploads,
  target: { model: string; version: number },
  upload: Upload,
  source: ByteSource,
  missing: number[],
  counter: Counter,
  options: UploadOptions,
): Promise<void> {
  // One failed part stops the others: no point sending bytes of an upload that will not complete.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const queue = [...missing];
  const worker = async () => {
    for (let n = queue.shift(); n !== undefined && !stop.signal.aborted; n = queue.shift()) {
      const start = (n - 1) * upload.part_size;
      const end = Math.min(start + upload.part_size, source.size);
      const part = await uploads.putPart(
        target.model,
        target.version,
        upload.upload_id,
        n,
        { body: () => counter.wrap(start, source.slice(start, end)), length: end - start },
        stop.signal,
      );
      counter.landed(start, end - start);
      options.onPart?.(part, upload);
    }
  };
  try {
    const workers = Array.from({ length: Math.max(1, Math.min(options.parallel ?? 4, missing.length)) }, worker);
    const results = await Promise.allSettled(
      workers.map((w) =>
        w.catch((err: unknown) => {
          stop.abort();
          throw err;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected" && !isAbort(r.reason));
    if (failed) throw failed.reason;
    const aborted = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (aborted) throw aborted.reason;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

const isAbort = (err: unknown) => err instanceof MregError && err.code === "aborted";

/** `complete`, retried while another writer holds the content address (409 `conflict`, "retry"). */
async function complete(
  uploads: Uploads,
  target: { model: string; version: number },
  id: string,
  signal?: AbortSignal,
): Promise<FileEntry> {
  for (let attempt = 1; ; attempt++) {
    try {
      const done = await uploads.complete(target.model, target.version, id, signal);
      return "upload_id" in done ? await verified(uploads, target, done, signal) : done;
    } catch (err) {
      if (!(err instanceof MregError) || err.code !== "conflict" || attempt >= COMPLETE_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, backoffMs(attempt)));
    }
  }
}

/** Polls an upload the server verifies over several invocations until it is `completed` (its file) or not. */
async function verified(
  uploads: Uploads,
  target: { model: string; version: number },
  upload: Upload,
  signal?: AbortSignal,
): Promise<FileEntry> {
  for (let poll = 1; upload.status === "verifying"; poll++) {
    await new Promise((r) => setTimeout(r, Math.min(VERIFY_POLL_MAX_MS, 500 * poll)));
    signal?.throwIfAborted();
    upload = await uploads.get(target.model, target.version, upload.upload_id, signal);
  }
  if (upload.status === "completed")
    return upload.file ?? { path: upload.path, size: upload.size, sha256: upload.sha256 };
  throw new MregError({
    status: 422,
    code: "digest_mismatch",
    detail: `Upload ${upload.upload_id} ended ${upload.status}: the server's verification of the assembled bytes did not pass`,
  });
}

/** The longest wait between two looks at a verifying upload (about 1 GiB is verified per step). */
const VERIFY_POLL_MAX_MS = 10_000;

/**
 * Progress in bytes. A stream is counted as the request reads it; when an attempt fails and
 * is re-sent, its range is counted afresh (per-range figures, so retries never add up twice).
 */
class Counter {
  private readonly inFlight = new Map<number, number>();
  landedBytes: number;

  constructor(
    private readonly total: number,
    private readonly onProgress: UploadOptions["onProgress"],
    already = 0,
  ) {
    this.landedBytes = already;
    this.report();
  }

  wrap(start: number, body: Slice): Slice {
    this.inFlight.set(start, 0);
    if (!(body instanceof ReadableStream) || !this.onProgress) return body;
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          this.inFlight.set(start, (this.inFlight.get(start) ?? 0) + chunk.length);
          this.report();
          controller.enqueue(chunk);
        },
      }),
    );
  }

  landed(start: number, length: number): void {
    this.inFlight.delete(start);
    this.landedBytes += length;
    this.report();
  }

  private report(): void {
    if (!this.onProgress) return;
    let sent = this.landedBytes;
    for (const n of this.inFlight.values()) sent += n;
    this.onProgress({ sent: Math.min(sent, this.total), total: this.total });
  }
}
