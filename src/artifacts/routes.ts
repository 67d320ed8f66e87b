/**
 * Routes of docs/reference.md "Files": single PUT, multipart uploads, listing, download,
 * deletion. Bytes stream through; ModelState decides what a version's files are, R2 holds the
 * bytes.
 */
import { isPreview } from "../auth/internal";
import { visibilityOf } from "../auth/principal";
import { queryDb, skipWriteBookmark } from "../db/session";
import { z } from "zod";
import { config } from "../env";
import { defineRoute, MODEL_PARAM } from "../http/api";
import type { AppContext } from "../http/app-env";
import { ProblemError } from "../domain/problem";
import { parseWith, validationFailed } from "../http/validation";
import { VersionParams } from "../models/schemas";
import { VersionStore } from "../models/version-store";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import type { UploadView } from "../state/model-state";
import { abortUpload, finishUpload, putFile, receivePart, startUpload } from "./upload-workflow";
import { answerDownload, BYTES, findFile, openDownload } from "./download";
import {
  CreateUploadBody,
  File,
  FileList,
  FileParams,
  PartParams,
  Sha256Hex,
  Upload,
  UploadPartBody,
  UploadParams,
} from "./schemas";

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
    ...(upload.status === "completed" ? { file: { path: upload.path, size: upload.size, sha256: upload.sha256 } } : {}),
  };
}

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
    subject: { model: MODEL_PARAM },
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
      const declared =
        declaredHeader === undefined ? undefined : parseWith(Sha256Hex, declaredHeader, "x-mreg-sha256 header");
      const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (ctl) => ctl.close() });
      const file = await putFile(
        c.env,
        queryDb(c),
        actorFor(params.model, principal),
        visibilityOf(principal),
        params,
        body,
        length,
        declared,
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
      "The server picks `part_size`; every part but the last must be exactly that size. When a model this token may act on holds a verified blob with this sha256 and size, it is attached at once (200, `deduplicated: true`) and no bytes are sent; otherwise the bytes are uploaded and `complete` deduplicates once it has verified them. A declared sha256 whose verified blob has another size is 422 `digest_mismatch`.",
    tag: "Files",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    body: CreateUploadBody,
    responses: {
      201: { description: "The open upload", schema: Upload },
      200: { description: "Deduplicated: the file is attached without an upload", schema: File },
    },
    errors: [
      "validation_failed",
      "not_found",
      "immutable",
      "digest_mismatch",
      "payload_too_large",
      "unsupported_media_type",
    ],
    async handler(c, { params, body, principal }) {
      const started = await startUpload(c.env, queryDb(c), actorFor(params.model, principal), visibilityOf(principal), {
        version: params.version,
        ...body,
      });
      if ("deduplicated" in started) return c.json(started.deduplicated, 200);
      return c.json(uploadBody(started.upload), 201);
    },
  }),

  defineRoute({
    method: "put",
    path: "/v1/models/{model}/versions/{version}/uploads/{upload_id}/parts/{n}",
    operationId: "uploadPart",
    summary: "Upload one part",
    description:
      "`Content-Length` must be `part_size` (the last part: the rest). A re-sent part replaces the earlier one.",
    tag: "Files",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: PartParams,
    responses: { 200: { description: "The part R2 accepted", schema: UploadPartBody } },
    errors: ["validation_failed", "not_found", "conflict"],
    async handler(c, { params }) {
      const length = contentLength(c);
      const body = c.req.raw.body;
      if (!body) throw validationFailed("The part has no body");
      // A part changes nothing in D1: no fresh bookmark needed.
      skipWriteBookmark(c);
      const part = await receivePart(
        c.env,
        { model: params.model, version: params.version, uploadId: params.upload_id, part: params.n },
        length,
        body,
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
    subject: { model: MODEL_PARAM },
    params: UploadParams,
    responses: { 200: { description: "The upload", schema: Upload } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const upload = unwrap(
        await modelState(c.env, params.model).getUpload({
          model: params.model,
          version: params.version,
          uploadId: params.upload_id,
        }),
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
      "Assembles the parts, re-reads them through SHA-256 and compares size and digest with the declared ones. On a match the file is attached; on a mismatch the upload is `failed`, its bytes removed, and the answer is 422. Repeating a completed `complete` returns the file again. A file larger than one invocation verifies (`VERIFY_BYTES_PER_STEP`, default 1 GiB) is answered at once with 202 and the upload `verifying`: its bytes are verified over several invocations; poll `GET .../uploads/{upload_id}` until it is `completed` (with `file`) or `failed`.",
    tag: "Files",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: UploadParams,
    responses: {
      200: { description: "The verified file", schema: File },
      202: { description: "The upload, `verifying`: poll it until `completed` or `failed`", schema: Upload },
    },
    errors: ["validation_failed", "not_found", "conflict", "digest_mismatch"],
    async handler(c, { params, principal }) {
      const done = await finishUpload(c.env, queryDb(c), actorFor(params.model, principal), visibilityOf(principal), {
        version: params.version,
        uploadId: params.upload_id,
      });
      if ("verifying" in done) return c.json(uploadBody(done.verifying), 202);
      return c.json(done);
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/versions/{version}/uploads/{upload_id}",
    operationId: "abortUpload",
    summary: "Abort a multipart upload and drop its parts",
    tag: "Files",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: UploadParams,
    responses: { 204: { description: "Aborted" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      await abortUpload(c.env, actorFor(params.model, principal), {
        version: params.version,
        uploadId: params.upload_id,
      });
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
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    responses: { 200: { description: "The files, sorted by path", schema: FileList } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const record = await new VersionStore(queryDb(c)).get(params.model, params.version);
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
      "Streams the bytes. One `Range` (206; 416 past the end), `If-None-Match` (304). `ETag` and `x-mreg-sha256` are the sha256; files of `ready` versions are cacheable for a year. Bytes a scrub found corrupt are never served: 503 `unavailable` with `Retry-After` until a file with the same sha256 is uploaded again (to any version), which repairs them.",
    tag: "Files",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: FileParams,
    headers: { Range: "bytes=first-last, first- or -suffix", "If-None-Match": 'The ETag seen before: "<sha256>"' },
    responses: {
      200: { description: "The file", mediaType: BYTES },
      206: { description: "The requested range", mediaType: BYTES },
      304: { description: "Not modified" },
    },
    errors: ["validation_failed", "not_found", "range_not_satisfiable", "unavailable"],
    async handler(c, { params }) {
      const file = await findFile(queryDb(c), params.model, params.version, params.path);
      if (!file)
        throw new ProblemError(
          "not_found",
          `Version ${params.version} of '${params.model}' has no file '${params.path}'`,
        );
      const headers = new Headers({
        etag: `"${file.sha256}"`,
        "x-mreg-sha256": file.sha256,
        "accept-ranges": "bytes",
        // Bytes of a ready version never change; a pending version's path may be re-uploaded.
        // Shared caches may keep them only when anyone may read them anyway (PUBLIC_READ).
        "cache-control":
          file.status === "ready"
            ? `${config(c.env).PUBLIC_READ ? "public" : "private"}, max-age=31536000, immutable`
            : "private, no-cache",
      });
      const download = await openDownload(c.env, file, {
        range: c.req.header("range") ?? null,
        ifNoneMatch: c.req.header("if-none-match") ?? null,
        head: c.req.method === "HEAD",
        ...(!isPreview(c.req.raw) && {
          count: { model: params.model, version: params.version, waitUntil: (p) => c.executionCtx.waitUntil(p) },
        }),
      });
      return answerDownload(download, file.size, headers, () => {
        throw new ProblemError(
          "range_not_satisfiable",
          `The file has ${file.size} bytes`,
          {},
          { "content-range": `bytes */${file.size}` },
        );
      });
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/versions/{version}/files/{path}",
    operationId: "deleteFile",
    summary: "Remove a file from a pending version",
    tag: "Files",
    scope: "write",
    subject: { model: MODEL_PARAM },
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
