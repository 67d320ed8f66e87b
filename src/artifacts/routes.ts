/**
 * Routes of API.md "Files": single PUT, multipart uploads, listing, download, deletion.
 * Bytes stream through; ModelState decides what a version's files are, R2 holds the bytes.
 */
import { z } from "zod";
import { timestamp } from "../domain/ids";
import { noneMatch, parseRange } from "../domain/range";
import { planPartSize, expectedPartSize, type UploadRecord } from "../domain/upload";
import { config } from "../env";
import { defineRoute, type AppContext } from "../http/api";
import { ProblemError } from "../http/problem";
import { parseWith, validationFailed } from "../http/validation";
import { VersionParams } from "../models/schemas";
import { VersionStore } from "../models/version-store";
import { actorFor, modelState, unwrap } from "../state/client";
import type { UploadView } from "../state/model-state";
import { BlobStore } from "./blob-store";
import { abortR2Uploads, completeUpload, storeSingle } from "./bytes";
import { blobKey } from "./keys";
import { CreateUploadBody, File, FileList, FileParams, PartParams, Sha256Hex, Upload, UploadPartBody, UploadParams } from "./schemas";

/** The declared body length; artifact routes need it to stream into R2 without buffering. */
function contentLength(c: AppContext): number {
  const header = c.req.header("content-length");
  if (header === undefined) {
    throw validationFailed("Content-Length is required: send the file with a known length (not chunked)", [
      { path: "content-length", message: "required" },
    ]);
  }
  if (!/^\d{1,15}$/.test(header)) throw validationFailed("Content-Length must be a byte count");
  return Number(header);
}

function uploadBody(upload: UploadView): z.infer<typeof Upload> {
  return {
    upload_id: upload.upload_id,
    path: upload.path,
    size: upload.size,
    sha256: upload.sha256,
    part_size: upload.part_size,
    part_count: upload.part_count,
    parts: upload.parts,
    status: upload.status,
    expires_at: upload.expires_at,
  };
}

const BYTES = "application/octet-stream";

export const artifactRoutes = [
  defineRoute({
    method: "put",
    path: "/v1/models/{model}/versions/{version}/files/{path}",
    operationId: "putFile",
    summary: "Upload a file in one request",
    description:
      "The raw body streams into R2 while it is hashed. `Content-Length` is required; files above `MAX_SINGLE_PUT` (95 MiB) take the multipart route. With `x-mreg-sha256`, a mismatch is 422 and nothing is kept.",
    tag: "Files",
    scope: "write",
    params: FileParams,
    headers: { "x-mreg-sha256": "The sha256 (hex) the body must have" },
    responses: { 201: { description: "The stored file", schema: File } },
    errors: ["validation_failed", "not_found", "immutable", "payload_too_large", "digest_mismatch"],
    async handler(c, { params, principal }) {
      const length = contentLength(c);
      const limit = config(c.env).MAX_SINGLE_PUT;
      if (length > limit) {
        throw new ProblemError(
          "payload_too_large",
          `Single uploads are limited to ${limit} bytes; use POST .../uploads (multipart) for this file`,
          { max_single_put: limit },
        );
      }
      const declaredHeader = c.req.header("x-mreg-sha256");
      const declared = declaredHeader === undefined ? undefined : parseWith(Sha256Hex, declaredHeader, "x-mreg-sha256 header");
      const state = modelState(c.env, params.model);
      // Fail before any byte moves when the version cannot take files.
      unwrap(await state.checkWritable({ model: params.model, version: params.version }));
      const who = actorFor(params.model, principal);
      const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (ctl) => ctl.close() });
      const bytes = await storeSingle(c.env.ARTIFACTS, new BlobStore(c.env.DB), body, length, declared, who.at);
      const file = unwrap(
        await state.attachFile({
          ...who,
          version: params.version,
          file: { path: params.path, size: bytes.size, sha256: bytes.sha256 },
          deduplicated: bytes.deduplicated,
        }),
      );
      return c.json(file, 201);
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions/{version}/uploads",
    operationId: "createUpload",
    summary: "Start a multipart upload (or attach bytes the registry already holds)",
    description:
      "The server picks `part_size`; every part but the last must be exactly that size. When a verified blob with this sha256 and size exists, it is attached at once (200, `deduplicated: true`) and no bytes are sent.",
    tag: "Files",
    scope: "write",
    params: VersionParams,
    body: CreateUploadBody,
    responses: {
      201: { description: "The open upload", schema: Upload },
      200: { description: "Deduplicated: the file is attached without an upload", schema: File },
    },
    errors: ["validation_failed", "not_found", "immutable", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const state = modelState(c.env, params.model);
      const who = actorFor(params.model, principal);
      unwrap(await state.checkWritable({ model: params.model, version: params.version }));
      if (await new BlobStore(c.env.DB).reuse(body.sha256, body.size)) {
        const file = unwrap(
          await state.attachFile({
            ...who,
            version: params.version,
            file: { path: body.path, size: body.size, sha256: body.sha256 },
            deduplicated: true,
          }),
        );
        return c.json({ ...file, deduplicated: true }, 200);
      }
      const cfg = config(c.env);
      const plan = planPartSize(body.size, cfg.UPLOAD_PART_SIZE);
      if (!plan) throw validationFailed("The file is too large for 10,000 parts of at most 95 MiB", [{ path: "size", message: "too large" }]);
      const uploadId = crypto.randomUUID();
      // The parts assemble at the content address; bytes count there only once verified.
      const r2Key = blobKey(body.sha256);
      const r2Upload = await c.env.ARTIFACTS.createMultipartUpload(r2Key);
      const upload: UploadRecord = {
        upload_id: uploadId,
        model: params.model,
        version: params.version,
        path: body.path,
        size: body.size,
        sha256: body.sha256,
        part_size: plan.partSize,
        part_count: plan.partCount,
        status: "open",
        expires_at: new Date(Date.parse(who.at) + cfg.UPLOAD_TTL_S * 1000).toISOString(),
        created_at: who.at,
        created_by: principal.sub,
        r2_key: r2Key,
        r2_upload_id: r2Upload.uploadId,
      };
      const opened = await state.openUpload({ ...who, upload });
      if (!opened.ok) await r2Upload.abort();
      return c.json(uploadBody(unwrap(opened)), 201);
    },
  }),

  defineRoute({
    method: "put",
    path: "/v1/models/{model}/versions/{version}/uploads/{upload_id}/parts/{n}",
    operationId: "uploadPart",
    summary: "Upload one part",
    description: "`Content-Length` must be `part_size` (the last part: the rest). A re-sent part replaces the earlier one.",
    tag: "Files",
    scope: "write",
    params: PartParams,
    responses: { 200: { description: "The part R2 accepted", schema: UploadPartBody } },
    errors: ["validation_failed", "not_found", "conflict"],
    async handler(c, { params }) {
      const state = modelState(c.env, params.model);
      const now = timestamp();
      const upload = unwrap(await state.getUpload({ model: params.model, version: params.version, uploadId: params.upload_id }));
      if (upload.status !== "open" || upload.expires_at <= now) {
        throw new ProblemError("conflict", `Upload '${upload.upload_id}' is ${upload.status === "open" ? "expired" : upload.status}`);
      }
      if (params.n > upload.part_count) {
        throw validationFailed(`This upload has parts 1..${upload.part_count}`, [{ path: "n", message: "out of range" }]);
      }
      const expected = expectedPartSize(upload, params.n);
      const length = contentLength(c);
      if (length !== expected) {
        throw validationFailed(`Part ${params.n} must be exactly ${expected} bytes, not ${length}`, [
          { path: "content-length", message: `must be ${expected}` },
        ]);
      }
      const body = c.req.raw.body;
      if (!body) throw validationFailed("The part has no body");
      const uploaded = await c.env.ARTIFACTS.resumeMultipartUpload(upload.r2_key, upload.r2_upload_id).uploadPart(
        params.n,
        body,
      );
      const part = unwrap(
        await state.recordPart({
          version: params.version,
          uploadId: upload.upload_id,
          part: { part: params.n, size: length, etag: uploaded.etag },
          now,
        }),
      );
      return c.json(part);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/uploads/{upload_id}",
    operationId: "getUpload",
    summary: "An upload's state: which parts have arrived",
    tag: "Files",
    scope: "read",
    params: UploadParams,
    responses: { 200: { description: "The upload", schema: Upload } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const upload = unwrap(
        await modelState(c.env, params.model).getUpload({ model: params.model, version: params.version, uploadId: params.upload_id }),
      );
      return c.json(uploadBody(upload));
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions/{version}/uploads/{upload_id}/complete",
    operationId: "completeUpload",
    summary: "Complete a multipart upload",
    description:
      "Assembles the parts, re-reads them through SHA-256 and compares size and digest with the declared ones. On a match the file is attached; on a mismatch the upload is `failed`, its bytes removed, and the answer is 422. Repeating a completed `complete` returns the file again.",
    tag: "Files",
    scope: "write",
    params: UploadParams,
    responses: { 200: { description: "The verified file", schema: File } },
    errors: ["validation_failed", "not_found", "conflict", "digest_mismatch"],
    async handler(c, { params, principal }) {
      const state = modelState(c.env, params.model);
      const ref = { model: params.model, version: params.version, uploadId: params.upload_id };
      const current = unwrap(await state.getUpload(ref));
      const file = { path: current.path, size: current.size, sha256: current.sha256 };
      if (current.status === "completed") return c.json(file);
      const upload = unwrap(await state.uploadToComplete({ version: params.version, uploadId: params.upload_id, now: timestamp() }));
      const who = actorFor(params.model, principal);
      const { matched, deduplicated } = await completeUpload(
        c.env.ARTIFACTS,
        new BlobStore(c.env.DB),
        upload,
        upload.parts.map((p) => ({ partNumber: p.part, etag: p.etag })),
        who.at,
      );
      unwrap(
        await state.finishUpload({
          ...who,
          uploadId: upload.upload_id,
          result: matched ? "completed" : "failed",
          deduplicated,
        }),
      );
      if (!matched) {
        throw new ProblemError(
          "digest_mismatch",
          "The assembled bytes do not match the declared size and sha256; the upload failed and its bytes were removed",
          { expected: upload.sha256 },
        );
      }
      return c.json(deduplicated ? { ...file, deduplicated } : file);
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/versions/{version}/uploads/{upload_id}",
    operationId: "abortUpload",
    summary: "Abort a multipart upload and drop its parts",
    tag: "Files",
    scope: "write",
    params: UploadParams,
    responses: { 204: { description: "Aborted" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const { aborts } = unwrap(await modelState(c.env, params.model).abortUpload({ version: params.version, uploadId: params.upload_id }));
      await abortR2Uploads(c.env.ARTIFACTS, aborts);
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/files",
    operationId: "listFiles",
    summary: "A version's files",
    tag: "Files",
    scope: "read",
    params: VersionParams,
    responses: { 200: { description: "The files, sorted by path", schema: FileList } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const record = await new VersionStore(c.env.DB).get(params.model, params.version);
      if (!record) throw new ProblemError("not_found", `Version ${params.version} of '${params.model}' not found`);
      return c.json({ items: record.files });
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/files/{path}",
    operationId: "downloadFile",
    summary: "Download a file (also HEAD)",
    description:
      "Streams the bytes. One `Range` (206; 416 past the end), `If-None-Match` (304). `ETag` and `x-mreg-sha256` are the sha256; files of `ready` versions are cacheable for a year.",
    tag: "Files",
    scope: "read",
    params: FileParams,
    headers: { Range: "bytes=first-last, first- or -suffix", "If-None-Match": 'The ETag seen before: "<sha256>"' },
    responses: {
      200: { description: "The file", mediaType: BYTES },
      206: { description: "The requested range", mediaType: BYTES },
      304: { description: "Not modified" },
    },
    errors: ["validation_failed", "not_found", "range_not_satisfiable"],
    async handler(c, { params }) {
      const file = await new BlobStore(c.env.DB).file(params.model, params.version, params.path);
      if (!file) throw new ProblemError("not_found", `Version ${params.version} of '${params.model}' has no file '${params.path}'`);
      const headers = new Headers({
        etag: `"${file.sha256}"`,
        "x-mreg-sha256": file.sha256,
        "accept-ranges": "bytes",
        // Bytes of a ready version never change; a pending version's path may be re-uploaded.
        // Shared caches may keep them only when anyone may read them anyway (PUBLIC_READ).
        "cache-control": file.status === "ready" ? `${config(c.env).PUBLIC_READ ? "public" : "private"}, max-age=31536000, immutable` : "private, no-cache",
      });
      if (noneMatch(c.req.header("if-none-match") ?? null, file.sha256)) return new Response(null, { status: 304, headers });
      const range = parseRange(c.req.header("range") ?? null, file.size);
      if (range.kind === "unsatisfiable") {
        throw new ProblemError("range_not_satisfiable", `The file has ${file.size} bytes`, {}, { "content-range": `bytes */${file.size}` });
      }
      const offset = range.kind === "partial" ? range.offset : 0;
      const length = range.kind === "partial" ? range.length : file.size;
      headers.set("content-type", BYTES);
      headers.set("content-length", String(length));
      const status = range.kind === "partial" ? 206 : 200;
      if (status === 206) headers.set("content-range", `bytes ${offset}-${offset + length - 1}/${file.size}`);
      if (c.req.method === "HEAD") return new Response(null, { status, headers });
      const object = await c.env.ARTIFACTS.get(blobKey(file.sha256), range.kind === "partial" ? { range: { offset, length } } : {});
      if (!object) throw new Error(`blob ${file.sha256} is listed but missing from R2`);
      return new Response(object.body, { status, headers });
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/versions/{version}/files/{path}",
    operationId: "deleteFile",
    summary: "Remove a file from a pending version",
    tag: "Files",
    scope: "write",
    params: FileParams,
    responses: { 204: { description: "Removed" } },
    errors: ["validation_failed", "not_found", "immutable"],
    async handler(c, { params, principal }) {
      unwrap(
        await modelState(c.env, params.model).detachFile({
          ...actorFor(params.model, principal),
          version: params.version,
          path: params.path,
        }),
      );
      return c.body(null, 204);
    },
  }),
];
