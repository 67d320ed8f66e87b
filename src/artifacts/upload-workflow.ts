/**
 * The upload workflows behind docs/reference.md "Files": what happens, in which order, between
 * the model's ModelState (which decides what a version's files are), R2 (bytes) and D1's blob
 * registry. Routes parse and shape; these functions do the work.
 */
import type { D1Handle } from "../db/session";
import type { Visibility } from "../db/visibility";
import type { ManifestEntry } from "../domain/manifest";
import { timestamp } from "../domain/ids";
import { planPartSize, expectedPartSize, type UploadPart, type UploadRecord } from "../domain/upload";
import { config, type Env } from "../env";
import { ProblemError } from "../domain/problem";
import { validationFailed } from "../http/validation";
import { modelState, unwrap } from "../model-writes/stub";
import type { Actor, UploadView } from "../state/model-state";
import { BlobStore } from "./blob-store";
import { abortR2Uploads } from "../model-writes/r2-aborts";
import { assembleForSteps, completeUpload, storeSingle, verifyLeaseHolder, type Completion } from "./bytes";
import { sendVerifyStep } from "../queue/verify";
import { blobKey, stagingKey } from "./keys";

export type StoredFile = ManifestEntry & { deduplicated?: boolean };

/**
 * What an upload tells its caller of bytes the registry holds: the one rule of single PUTs
 * and multipart uploads alike. Only bytes in a file of a model the caller sees
 * (`visibility`) count. Those with the declared sha256 and another size refuse the upload at once
 * (422, naming their size); with that size the caller holds them: it may attach them without
 * sending them, and its answer and audit event say `deduplicated`. Bytes only other models
 * hold are never named: the upload runs and ends exactly as for bytes nobody holds (the
 * registry still keeps one copy of them, as a detail of storage).
 */
async function callerHolds(blobs: BlobStore, visibility: Visibility, sha256: string, size: number): Promise<boolean> {
  const held = await blobs.heldSize(sha256, visibility);
  if (held !== null && held !== size) {
    throw new ProblemError(
      "digest_mismatch",
      `The registry holds the bytes of ${sha256} with ${held} bytes, not ${size}`,
      { expected: sha256 },
    );
  }
  return held === size;
}

/** A single PUT: checks the version takes files, stores and verifies the bytes, attaches them. */
export async function putFile(
  env: Env,
  db: D1Handle,
  who: Actor,
  visibility: Visibility,
  target: { version: number; path: string },
  body: ReadableStream<Uint8Array>,
  length: number,
  declared: string | undefined,
): Promise<ManifestEntry> {
  const state = modelState(env, who.model);
  const blobs = new BlobStore(db, who.model);
  // Fail before any byte moves when the version cannot take files, or the declared bytes cannot be these.
  try {
    unwrap(await state.checkWritable({ model: who.model, version: target.version, path: target.path }));
    if (declared !== undefined) await callerHolds(blobs, visibility, declared, length);
  } catch (err) {
    await body.cancel().catch(() => undefined);
    throw err;
  }
  const bytes = await storeSingle(env.ARTIFACTS, blobs, body, length, declared, who.at);
  const deduplicated = bytes.deduplicated && (await callerHolds(blobs, visibility, bytes.sha256, bytes.size));
  return unwrap(
    await state.attachFile({
      ...who,
      version: target.version,
      file: { path: target.path, size: bytes.size, sha256: bytes.sha256 },
      deduplicated,
    }),
  );
}

/**
 * Starts a multipart upload, or attaches bytes the caller holds already (`callerHolds`)
 * without an upload. Parts assemble at the content address only when no verified blob sits
 * there; else in staging, verified at `complete`, then deduplicated.
 */
export async function startUpload(
  env: Env,
  db: D1Handle,
  who: Actor,
  visibility: Visibility,
  target: { version: number; path: string; size: number; sha256: string },
): Promise<{ deduplicated: StoredFile } | { upload: UploadView }> {
  const state = modelState(env, who.model);
  unwrap(await state.checkWritable({ model: who.model, version: target.version, path: target.path }));
  const blobs = new BlobStore(db, who.model);
  if (
    (await callerHolds(blobs, visibility, target.sha256, target.size)) &&
    (await blobs.reuse(target.sha256, target.size))
  ) {
    const file = unwrap(
      await state.attachFile({
        ...who,
        version: target.version,
        file: { path: target.path, size: target.size, sha256: target.sha256 },
        deduplicated: true,
      }),
    );
    return { deduplicated: { ...file, deduplicated: true } };
  }
  // Where the parts assemble is storage's business, told to nobody: verified bytes of this
  // sha256 (anyone's, of any size) are never written over, so the parts go to staging; bytes
  // a scrub found corrupt are no verified blob (nor deduplicated against above): the parts
  // assemble over them, and the verified upload heals the blob.
  const { upload, r2Upload } = await newMultipartUpload(env, blobs, who, target);
  const opened = await state.openUpload({ ...who, upload });
  if (!opened.ok) await r2Upload.abort();
  return { upload: unwrap(opened) };
}

/**
 * An R2 multipart upload for `target`'s bytes, and the record the model's object keeps of it
 * (not yet recorded: the caller opens it, and aborts the R2 upload if that is refused). Its part
 * size is planned from the file's size; its parts assemble at the content address unless
 * verified bytes sit there already (./bytes.ts), then in staging.
 */
export async function newMultipartUpload(
  env: Env,
  blobs: BlobStore,
  who: Actor,
  target: { version: number; path: string; size: number; sha256: string },
): Promise<{ upload: UploadRecord; r2Upload: R2MultipartUpload }> {
  const cfg = config(env);
  const plan = planPartSize(target.size, cfg.UPLOAD_PART_SIZE);
  if (!plan)
    throw validationFailed("The file is too large for 10,000 parts of at most 95 MiB", [
      { path: "size", message: "too large" },
    ]);
  const known = await blobs.verifiedSize(target.sha256);
  const r2Key = known === null ? blobKey(target.sha256) : stagingKey(crypto.randomUUID());
  const r2Upload = await env.ARTIFACTS.createMultipartUpload(r2Key);
  const upload: UploadRecord = {
    upload_id: crypto.randomUUID(),
    model: who.model,
    version: target.version,
    path: target.path,
    size: target.size,
    sha256: target.sha256,
    part_size: plan.partSize,
    part_count: plan.partCount,
    status: "open",
    expires_at: new Date(Date.parse(who.at) + cfg.UPLOAD_TTL_S * 1000).toISOString(),
    created_at: who.at,
    created_by: who.actor,
    r2_key: r2Key,
    r2_upload_id: r2Upload.uploadId,
  };
  return { upload, r2Upload };
}

/** Streams one part into R2 after checking it is the size the upload expects, and records it. */
export async function receivePart(
  env: Env,
  ref: { model: string; version: number; uploadId: string; part: number },
  length: number,
  body: ReadableStream<Uint8Array>,
): Promise<UploadPart> {
  const state = modelState(env, ref.model);
  const now = timestamp();
  const upload = unwrap(await state.getUpload({ model: ref.model, version: ref.version, uploadId: ref.uploadId }));
  if (upload.status !== "open" || upload.expires_at <= now) {
    throw new ProblemError(
      "conflict",
      `Upload '${upload.upload_id}' is ${upload.status === "open" ? "expired" : upload.status}`,
    );
  }
  if (ref.part > upload.part_count) {
    throw validationFailed(`This upload has parts 1..${upload.part_count}`, [{ path: "n", message: "out of range" }]);
  }
  const expected = expectedPartSize(upload, ref.part);
  if (length !== expected) {
    throw validationFailed(`Part ${ref.part} must be exactly ${expected} bytes, not ${length}`, [
      { path: "content-length", message: `must be ${expected}` },
    ]);
  }
  const uploaded = await env.ARTIFACTS.resumeMultipartUpload(upload.r2_key, upload.r2_upload_id).uploadPart(
    ref.part,
    body,
  );
  return unwrap(
    await state.recordPart({
      version: ref.version,
      uploadId: upload.upload_id,
      part: { part: ref.part, size: length, etag: uploaded.etag },
      now,
    }),
  );
}

/**
 * Completes a multipart upload: every part present, the assembled bytes verified, then the
 * file attached. A mismatch fails the upload (422) and removes its bytes. Repeating a
 * completed `complete` returns the file again.
 *
 * A file larger than VERIFY_BYTES_PER_STEP is not read here: its parts are assembled, the upload
 * becomes `verifying` and is answered at once (`verifying`), and its bytes are verified over
 * several invocations (./verify-steps.ts); repeating `complete` meanwhile answers it again.
 */
export async function finishUpload(
  env: Env,
  db: D1Handle,
  who: Actor,
  visibility: Visibility,
  ref: { version: number; uploadId: string },
): Promise<StoredFile | { verifying: UploadView }> {
  const state = modelState(env, who.model);
  const current = unwrap(await state.getUpload({ model: who.model, version: ref.version, uploadId: ref.uploadId }));
  const file = { path: current.path, size: current.size, sha256: current.sha256 };
  if (current.status === "completed") return file;
  if (current.status === "verifying") return { verifying: current };
  const upload = unwrap(
    await state.uploadToComplete({ version: ref.version, uploadId: ref.uploadId, now: timestamp() }),
  );
  const blobs = new BlobStore(db, who.model);
  const parts = upload.parts.map((p) => ({ partNumber: p.part, etag: p.etag }));
  const mayReuse = () => callerHolds(blobs, visibility, upload.sha256, upload.size);
  if (upload.size > config(env).VERIFY_BYTES_PER_STEP) {
    const prepared = await assembleForSteps(env.ARTIFACTS, blobs, upload, parts, mayReuse);
    if (prepared.outcome === "stepping") return { verifying: await beginSteps(env, blobs, who, upload) };
    return answer(state, who, visibility, blobs, upload, prepared);
  }
  const completion = await completeUpload(env.ARTIFACTS, blobs, upload, parts, who.at, mayReuse);
  return answer(state, who, visibility, blobs, upload, completion);
}

/** Marks the upload `verifying` and sends its first step; a refusal lets go of what `assembleForSteps` took. */
export async function beginSteps(env: Env, blobs: BlobStore, who: Actor, upload: UploadView): Promise<UploadView> {
  const begun = await modelState(env, who.model).beginVerify({
    version: upload.version,
    uploadId: upload.upload_id,
    now: timestamp(),
    by: { actor: who.actor, ...(who.token !== undefined ? { token: who.token } : {}) },
  });
  if (!begun.ok) {
    if (upload.r2_key === blobKey(upload.sha256))
      await blobs.release(upload.sha256, verifyLeaseHolder(upload.upload_id));
    return unwrap(begun);
  }
  // Lost with a crash here, the first step is sent by the model's alarm (src/state/model-state.ts).
  await sendVerifyStep(env, upload).catch((err: unknown) =>
    console.error("sending the first verification step failed; the model's alarm sends it", err),
  );
  return begun.value;
}

/** The answer of a completion decided in this request: the file, or the contract's error. */
async function answer(
  state: ReturnType<typeof modelState>,
  who: Actor,
  visibility: Visibility,
  blobs: BlobStore,
  upload: UploadView,
  completion: Completion,
): Promise<StoredFile> {
  const verified = completion.outcome === "verified";
  const deduplicated =
    verified && completion.deduplicated && (await callerHolds(blobs, visibility, upload.sha256, upload.size));
  const file = unwrap(await endUpload(state, who, upload.upload_id, completion, deduplicated));
  refuseUnverified(completion, upload.sha256, "start a new upload of the file");
  return deduplicated ? { ...file, deduplicated } : file;
}

/** Why an upload whose bytes another upload verified meanwhile failed (its audited reason). */
export const SUPERSEDED_REASON =
  "the bytes were verified by another upload meanwhile; this one's parts were dropped unchecked";

/**
 * The contract's error for a completion that did not verify (`again`: what the caller does
 * next when another upload verified the bytes meanwhile); nothing when it verified.
 */
export function refuseUnverified(completion: Completion, sha256: string, again: string): void {
  if (completion.outcome === "superseded") {
    throw new ProblemError(
      "conflict",
      `These bytes were verified by another upload while this one ran, and its parts cannot be checked without overwriting them; ${again}`,
    );
  }
  if (completion.outcome !== "verified") {
    throw new ProblemError(
      "digest_mismatch",
      "The assembled bytes do not match the declared size and sha256; the upload failed and its bytes were removed",
      { expected: sha256 },
    );
  }
}

/**
 * Records how an upload's completion ended in its ModelState: `completed` attaches the file, any
 * other outcome fails the upload (`upload.fail`, with `reason` when given). A step of a
 * verification carried over invocations ends its upload here too (./verify-steps.ts).
 */
export function endUpload(
  state: ReturnType<typeof modelState>,
  who: Actor,
  uploadId: string,
  completion: Completion,
  deduplicated: boolean,
  reason?: string,
) {
  const verified = completion.outcome === "verified";
  const why = reason ?? (completion.outcome === "superseded" ? SUPERSEDED_REASON : undefined);
  return state.finishUpload({
    ...who,
    uploadId,
    result: verified ? "completed" : "failed",
    deduplicated,
    ...(why !== undefined ? { reason: why } : {}),
  });
}

/** Aborts a multipart upload: ModelState ends it (audited), then its parts are dropped in R2. */
export async function abortUpload(env: Env, who: Actor, ref: { version: number; uploadId: string }): Promise<void> {
  const { aborts } = unwrap(
    await modelState(env, who.model).abortUpload({ ...who, version: ref.version, uploadId: ref.uploadId }),
  );
  await abortR2Uploads(env.ARTIFACTS, aborts);
}
