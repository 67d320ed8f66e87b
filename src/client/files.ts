/**
 * docs/reference.md "Files": single PUTs, the multipart upload routes, listing, ranged
 * downloads. `upload()` (./upload.ts) builds on these to send a whole file the best way.
 */
import { MregError } from "./errors";
import { versionPath } from "./models";
import { encodePath, seg, type BodySource, type Transport } from "./transport";
import type { FileEntry, Upload, UploadPart } from "./types";
import { invalidResponse, isSha256Hex, validFileList } from "./validate";

export interface Download {
  status: 200 | 206 | 304;
  /**
   * The bytes (null for 304). Read it or cancel it: an unread body holds the connection. It
   * never yields more than `length` bytes: more is an `invalid_response` error, fewer a
   * `network_error`, both raised from the stream when `length` is known.
   */
  body: ReadableStream<Uint8Array> | null;
  /** The file's whole size, from Content-Range or Content-Length (null for 304). */
  size: number | null;
  /** Bytes in this answer. */
  length: number | null;
  /** The range this answer holds, when 206: it starts where the request asked, and ends no later. */
  range: { start: number; end: number } | null;
  sha256: string | null;
  etag: string | null;
}

export interface DownloadOptions {
  /** Bytes from `start` to `end` inclusive (to the end of the file without `end`). */
  range?: { start: number; end?: number };
  /** The ETag seen before (`"<sha256>"` or the bare sha256): 304 when it still holds. */
  ifNoneMatch?: string;
  signal?: AbortSignal;
}

const filePath = (model: string, version: number, path: string) =>
  `${versionPath(model, version)}/files/${encodePath(path)}`;
const uploadPath = (model: string, version: number, uploadId: string) =>
  `${versionPath(model, version)}/uploads/${seg(uploadId)}`;

export class Files {
  constructor(private readonly t: Transport) {}

  /**
   * One request, for files up to the server's `MAX_SINGLE_PUT` (default 95 MiB). `body` is
   * called for each attempt; with `sha256`, the server refuses other bytes (422) and keeps none.
   */
  put(
    model: string,
    version: number,
    path: string,
    body: BodySource & { length: number },
    options: { sha256?: string; signal?: AbortSignal } = {},
  ): Promise<FileEntry> {
    return this.t.json({
      method: "PUT",
      path: filePath(model, version, path),
      body,
      headers: options.sha256 ? { "x-mreg-sha256": options.sha256 } : {},
      // Re-sending the same bytes to the same path of a pending version stores the same file.
      idempotent: options.sha256 !== undefined,
      signal: options.signal,
      what: `upload '${path}' to version ${version} of '${model}'`,
    });
  }

  /** The version's files, each path, size and sha256 checked (`invalid_response` otherwise). */
  async list(model: string, version: number, signal?: AbortSignal): Promise<FileEntry[]> {
    const what = `files of version ${version} of '${model}'`;
    return validFileList(
      await this.t.json<unknown>({ method: "GET", path: `${versionPath(model, version)}/files`, signal, what }),
      what,
    );
  }

  async download(model: string, version: number, path: string, options: DownloadOptions = {}): Promise<Download> {
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end ?? ""}`;
    if (options.ifNoneMatch)
      headers["if-none-match"] = options.ifNoneMatch.startsWith('"') ? options.ifNoneMatch : `"${options.ifNoneMatch}"`;
    const what = `download '${path}' of version ${version} of '${model}'`;
    const res = await this.t.send({
      method: "GET",
      path: filePath(model, version, path),
      headers,
      accept: [304],
      signal: options.signal,
      what,
    });
    const status = res.status as 200 | 206 | 304;
    const refuse = async (problem: string) => {
      await res.body?.cancel();
      return invalidResponse(what, problem, status);
    };
    const sha256 = res.headers.get("x-mreg-sha256");
    if (sha256 !== null && !isSha256Hex(sha256))
      throw await refuse(`x-mreg-sha256 is not a sha256 (${sha256.slice(0, 80)})`);
    const etag = res.headers.get("etag");
    if (status === 304) return { status, body: null, size: null, length: null, range: null, sha256, etag };
    let length = numberHeader(res, "content-length");
    let size = length;
    let range: Download["range"] = null;
    if (status === 206) {
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      if (!match) {
        await res.body?.cancel();
        throw new MregError({
          status,
          code: "unexpected_response",
          detail: "A 206 answer without a usable Content-Range",
        });
      }
      range = { start: Number(match[1]), end: Number(match[2]) };
      size = Number(match[3]);
      const asked = options.range;
      // The bytes of another range written where these were asked for would be a corrupt file.
      if (
        !asked ||
        range.start !== asked.start ||
        (asked.end !== undefined && range.end > asked.end) ||
        range.end < range.start ||
        range.end >= size
      ) {
        throw await refuse(
          `a 206 of bytes ${range.start}-${range.end}/${size}, asked for ${asked ? `${asked.start}-${asked.end ?? ""}` : "the whole file"}`,
        );
      }
      if (length !== null && length !== range.end - range.start + 1)
        throw await refuse(`a 206 of bytes ${range.start}-${range.end} with Content-Length ${length}`);
      length = range.end - range.start + 1;
    } else if (options.range && options.range.start > 0) {
      // A server (or proxy) that ignored the Range sent the whole file: say so rather than
      // let a caller append it to what it has.
      await res.body?.cancel();
      throw new MregError({ status, code: "unexpected_response", detail: "The server ignored the Range request" });
    }
    // An encoded body (a proxy that compressed it) is decoded as it is read: its length is not the header's.
    const encoded = (res.headers.get("content-encoding") ?? "identity").toLowerCase() !== "identity";
    const body = res.body && length !== null && !encoded ? res.body.pipeThrough(exactly(length, what)) : res.body;
    return { status, body, size, length, range, sha256, etag };
  }

  async delete(model: string, version: number, path: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: filePath(model, version, path),
      signal,
      what: `delete '${path}' of version ${version} of '${model}'`,
    });
  }
}

export type CreatedUpload = { upload: Upload; file?: undefined } | { file: FileEntry; upload?: undefined };

export class Uploads {
  constructor(private readonly t: Transport) {}

  /** 201 an open upload; or, when the registry holds these bytes already, the attached file (`deduplicated`). */
  async create(
    model: string,
    version: number,
    body: { path: string; size: number; sha256: string },
    signal?: AbortSignal,
  ): Promise<CreatedUpload> {
    const what = `start uploading '${body.path}' to version ${version} of '${model}'`;
    const res = await this.t.send({
      method: "POST",
      path: `${versionPath(model, version)}/uploads`,
      json: body,
      signal,
      what,
    });
    // Read through the transport: a connection that breaks off mid-answer is a network_error.
    const answer = await this.t.read<Upload | FileEntry>(res, what);
    return res.status === 201 ? { upload: answer as Upload } : { file: answer as FileEntry };
  }

  get(model: string, version: number, uploadId: string, signal?: AbortSignal): Promise<Upload> {
    return this.t.json({
      method: "GET",
      path: uploadPath(model, version, uploadId),
      signal,
      what: `upload ${uploadId}`,
    });
  }

  /** Part `n` (from 1): exactly `part_size` bytes, the last part the rest. Re-sending replaces it. */
  putPart(
    model: string,
    version: number,
    uploadId: string,
    n: number,
    body: BodySource & { length: number },
    signal?: AbortSignal,
  ): Promise<UploadPart> {
    return this.t.json({
      method: "PUT",
      path: `${uploadPath(model, version, uploadId)}/parts/${seg(n)}`,
      body,
      idempotent: true,
      signal,
      what: `part ${n} of upload ${uploadId}`,
    });
  }

  /**
   * The server re-reads the parts and checks size and sha256: 422 `digest_mismatch` fails the
   * upload. A file too large to verify in one invocation answers the Upload, `verifying` (202):
   * poll `get` until it is `completed` or `failed`.
   */
  complete(model: string, version: number, uploadId: string, signal?: AbortSignal): Promise<FileEntry | Upload> {
    return this.t.json({
      method: "POST",
      path: `${uploadPath(model, version, uploadId)}/complete`,
      json: {},
      // Completing a completed upload answers its file again.
      idempotent: true,
      signal,
      what: `complete upload ${uploadId}`,
    });
  }

  async abort(model: string, version: number, uploadId: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: uploadPath(model, version, uploadId),
      signal,
      what: `abort upload ${uploadId}`,
    });
  }
}

/**
 * Passes `length` bytes through and then insists the body is over: a body that goes on (a
 * size that lies, a body that never ends) fails at the first byte too many, before a caller
 * could write it; one that stops short fails at its end.
 */
function exactly(length: number, what: string): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > length) throw invalidResponse(what, `more bytes than the ${length} the answer announced`);
      controller.enqueue(chunk);
    },
    flush() {
      if (seen < length)
        throw new MregError({
          status: 0,
          code: "network_error",
          detail: `${what}: the body ended after ${seen} of ${length} bytes`,
        });
    },
  });
}

function numberHeader(res: Response, name: string): number | null {
  const value = res.headers.get(name);
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}
