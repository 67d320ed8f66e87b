/**
 * Blob uploads: bytes sent for a model before any version names them, as a Hugging Face
 * client sends its LFS objects before the commit that lists them (and an OCI client its
 * blobs before the manifest). Not tied to a version, so not the `/v1` upload routes; the same
 * machinery underneath (./upload-workflow.ts, ./bytes.ts): a single request up to
 * MAX_SINGLE_PUT, streamed into R2 through a SHA-256 hash; or R2 multipart, its parts
 * recorded in the model's ModelState as they arrive (so they survive a crash of the Worker
 * and a client may send any part again), assembled and re-read through SHA-256 at the end.
 * Every byte is verified against the declared sha256 before it counts.
 *
 * What completes is the model's claim on the bytes (src/state/blob-upload-ops.ts) until the
 * upload's `expires_at` (UPLOAD_TTL_S); a write names them by sha256 within that time
 * (./derived-versions.ts), or the cleanup collects them as it collects any unreferenced
 * blob, once the claim has expired. An upload never completed is aborted by the cleanup at
 * its `expires_at`, as a version's is.
 *
 * What a caller is told of bytes the registry holds is `/v1`'s rule (./upload-workflow.ts,
 * `callerHolds`): only bytes in a model it sees, and its own model's claims, count.
 */
import { requireAuthorized } from "../auth/authorize";
import { visibilityOf, type Principal } from "../auth/principal";
import type { D1Handle } from "../db/session";
import { timestamp } from "../domain/ids";
import { ProblemError } from "../domain/problem";
import { BLOB_UPLOAD_VERSION, type UploadPart, type UploadRecord } from "../domain/upload";
import { config, type Env } from "../env";
import { validationFailed } from "../http/validation";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import type { Actor, UploadView } from "../state/model-state";
import { BlobStore } from "./blob-store";
import { assembleForSteps, completeUpload, storeSingle, type Completion } from "./bytes";
import { blobKey } from "./keys";
import { beginSteps, newMultipartUpload, receivePart, refuseUnverified, SUPERSEDED_REASON } from "./upload-workflow";

/** Who sends bytes, and for which model (its `write` grant is checked here again). */
export interface BlobWriter {
  env: Env;
  db: D1Handle;
  principal: Principal;
  model: string;
}

export interface BlobWanted {
  sha256: string;
  size: number;
}

/** How each wanted blob is to be sent. */
export type BlobPlan =
  /** The caller holds these bytes already: nothing to send. */
  | { kind: "held" }
  /** In one request (`putBlob`), up to MAX_SINGLE_PUT. */
  | { kind: "single" }
  /** In parts of `upload.part_size` (`receiveBlobPart`), then `completeBlobUpload`. */
  | { kind: "multipart"; upload: UploadView }
  /** Cannot be sent: `problem` says why. */
  | { kind: "refused"; problem: ProblemError };

const granted = (w: BlobWriter) => requireAuthorized(w.principal, { scope: "write", model: w.model });

/**
 * The sizes of the bytes among `sha256s` that the caller holds: in a file of a model it sees,
 * or claimed by an unexpired blob upload of its model. What a caller may attach without
 * sending, and all it may learn of what the registry holds.
 */
export async function heldBlobs(w: BlobWriter, sha256s: readonly string[]): Promise<Map<string, number>> {
  const [visible, claimed] = await Promise.all([
    new BlobStore(w.db).heldSizes(sha256s, visibilityOf(w.principal)),
    modelState(w.env, w.model).claimedBlobs({ sha256s: [...new Set(sha256s)], now: timestamp() }),
  ]);
  const held = new Map(visible);
  for (const { sha256, size } of unwrap(claimed)) held.set(sha256, size);
  return held;
}

/** Held bytes of another size than declared: refused, naming the size (the caller may know it). */
const heldOtherSize = (sha256: string, held: number, size: number) =>
  new ProblemError("digest_mismatch", `The registry holds the bytes of ${sha256} with ${held} bytes, not ${size}`, {
    expected: sha256,
  });

/**
 * How each of `wanted` is to be sent: not at all when the caller holds it (and the verified
 * blob is still there: it is taken for the model, so the collector keeps it), in one request
 * up to MAX_SINGLE_PUT, else as a multipart blob upload, opened here (or the one already open
 * for the same bytes, so a client that asks again after a crash continues it).
 */
export async function planBlobUploads(w: BlobWriter, wanted: readonly BlobWanted[]): Promise<BlobPlan[]> {
  granted(w);
  const held = await heldBlobs(
    w,
    wanted.map((b) => b.sha256),
  );
  const sameSize = wanted.filter((b) => held.get(b.sha256) === b.size);
  const reused = await new BlobStore(w.db, w.model).reuseAll(sameSize);
  const cfg = config(w.env);
  const plans: BlobPlan[] = [];
  for (const blob of wanted) {
    const heldSize = held.get(blob.sha256);
    if (heldSize !== undefined && heldSize !== blob.size) {
      plans.push({ kind: "refused", problem: heldOtherSize(blob.sha256, heldSize, blob.size) });
    } else if (heldSize !== undefined && reused.has(blob.sha256)) {
      plans.push({ kind: "held" });
    } else if (blob.size <= cfg.MAX_SINGLE_PUT) {
      plans.push({ kind: "single" });
    } else {
      try {
        plans.push({ kind: "multipart", upload: await openBlobUpload(w, blob) });
      } catch (err) {
        if (!(err instanceof ProblemError)) throw err;
        plans.push({ kind: "refused", problem: err });
      }
    }
  }
  return plans;
}

/** The open blob upload of these bytes, or a new one (R2 multipart at the content address, or in staging when verified bytes sit there). */
async function openBlobUpload(w: BlobWriter, blob: BlobWanted): Promise<UploadView> {
  const state = modelState(w.env, w.model);
  const who = actorFor(w.model, w.principal);
  const open = unwrap(await state.openBlobUploadOf({ ...blob, now: who.at }));
  if (open) return stillOpen(open);
  const { upload, r2Upload } = await newMultipartUpload(w.env, new BlobStore(w.db), who, {
    version: BLOB_UPLOAD_VERSION,
    path: "",
    ...blob,
  });
  const opened = await state.openBlobUpload({ ...who, upload });
  // Refused, or another request opened one for the same bytes first: this one is not needed.
  if (!opened.ok || opened.value.existing) await r2Upload.abort();
  return stillOpen(unwrap(opened).upload);
}

/**
 * The upload under way for these bytes, if its parts may still come; one whose bytes are being
 * verified refuses (409, Retry-After): asked again once it ends, the batch finds them held, and
 * nothing is sent twice.
 */
function stillOpen(upload: UploadView): UploadView {
  if (upload.status !== "verifying") return upload;
  throw new ProblemError(
    "conflict",
    `These bytes are being verified (${upload.verify?.offset ?? 0} of ${upload.size} hashed); ask again once they are, and they will not be sent again`,
    {},
    { "retry-after": "5" },
  );
}

/**
 * Bytes sent in one request: exactly `size` of them, verified against `sha256` as they stream
 * into R2 (a mismatch keeps nothing: 422), then claimed for the model. `who` is the writer the
 * request stands for (a signed URL's holder carries no token: the caller says who issued it).
 */
export async function putBlob(
  env: Env,
  db: D1Handle,
  who: Actor,
  blob: BlobWanted,
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<void> {
  const limit = config(env).MAX_SINGLE_PUT;
  const refusal =
    length !== blob.size
      ? validationFailed(`This object has ${blob.size} bytes; the request sends ${length}`, [
          { path: "content-length", message: `must be ${blob.size}` },
        ])
      : length > limit
        ? new ProblemError("payload_too_large", `Single uploads are limited to ${limit} bytes`, {
            max_single_put: limit,
          })
        : null;
  if (refusal) {
    await body.cancel().catch(() => undefined);
    throw refusal;
  }
  await storeSingle(env.ARTIFACTS, new BlobStore(db, who.model), body, length, blob.sha256, who.at);
  const upload: UploadRecord = {
    upload_id: crypto.randomUUID(),
    model: who.model,
    version: BLOB_UPLOAD_VERSION,
    path: "",
    size: blob.size,
    sha256: blob.sha256,
    part_size: blob.size,
    part_count: 1,
    status: "completed",
    expires_at: new Date(Date.parse(who.at) + config(env).UPLOAD_TTL_S * 1000).toISOString(),
    created_at: who.at,
    created_by: who.actor,
    r2_key: blobKey(blob.sha256),
    r2_upload_id: "",
  };
  unwrap(await modelState(env, who.model).recordBlobUpload({ ...who, upload }));
}

/** One part of a multipart blob upload, checked against the size the upload expects and recorded. */
export function receiveBlobPart(
  env: Env,
  ref: { model: string; uploadId: string; part: number },
  length: number,
  body: ReadableStream<Uint8Array>,
): Promise<UploadPart> {
  return receivePart(env, { ...ref, version: BLOB_UPLOAD_VERSION }, length, body);
}

/** A blob upload as it stands: its bytes, who opened it, and which parts arrived. */
export async function blobUpload(env: Env, ref: { model: string; uploadId: string }): Promise<UploadView> {
  return unwrap(
    await modelState(env, ref.model).getUpload({
      model: ref.model,
      version: BLOB_UPLOAD_VERSION,
      uploadId: ref.uploadId,
    }),
  );
}

/**
 * Completes a multipart blob upload: every part present, the assembled bytes re-read through
 * SHA-256 and compared with the declared size and sha256, then the model's claim recorded. A
 * mismatch fails the upload (`upload.fail`), removes its bytes and answers 422. Completing a
 * completed upload answers it again. `who` is the writer the upload was opened by.
 *
 * Bytes larger than VERIFY_BYTES_PER_STEP are not read here: the parts are assembled, the upload
 * becomes `verifying` and is answered so (`verifying`), and its bytes are hashed over several
 * invocations (./verify-steps.ts), as `/v1`'s `complete` does; completing it again meanwhile
 * answers it again. The caller waits for the end if its client needs it (./verify-wait.ts).
 */
export async function completeBlobUpload(
  env: Env,
  db: D1Handle,
  who: Actor,
  uploadId: string,
): Promise<BlobWanted | { verifying: UploadView }> {
  const state = modelState(env, who.model);
  const current = await blobUpload(env, { model: who.model, uploadId });
  const bytes = { sha256: current.sha256, size: current.size };
  if (current.status === "completed") return bytes;
  if (current.status === "verifying") return { verifying: current };
  const upload = unwrap(await state.uploadToComplete({ version: BLOB_UPLOAD_VERSION, uploadId, now: who.at }));
  const blobs = new BlobStore(db, who.model);
  const parts = upload.parts.map((p) => ({ partNumber: p.part, etag: p.etag }));
  // Whether the caller may have bytes someone else verified meanwhile cannot be told from a
  // signed URL (it carries no token's globs): such an upload is refused and sent again.
  const mayReuse = async () => false;
  let completion: Completion;
  if (upload.size > config(env).VERIFY_BYTES_PER_STEP) {
    const prepared = await assembleForSteps(env.ARTIFACTS, blobs, upload, parts, mayReuse);
    if (prepared.outcome === "stepping") return { verifying: await beginSteps(env, blobs, who, upload) };
    completion = prepared;
  } else {
    completion = await completeUpload(env.ARTIFACTS, blobs, upload, parts, who.at, mayReuse);
  }
  unwrap(await endBlobUpload(state, who, uploadId, completion));
  refuseUnverified(completion, upload.sha256, "upload the file again");
  return bytes;
}

/**
 * Records how a blob upload's completion ended in its ModelState: `completed` keeps its row as the
 * model's claim on the bytes, any other outcome fails it (`reason` when given). The last step of a
 * verification carried over invocations ends a blob upload here too (./verify-steps.ts).
 */
export function endBlobUpload(
  state: ReturnType<typeof modelState>,
  who: Actor,
  uploadId: string,
  completion: Completion,
  reason?: string,
) {
  const why = reason ?? (completion.outcome === "superseded" ? SUPERSEDED_REASON : undefined);
  return state.finishBlobUpload({
    ...who,
    uploadId,
    result: completion.outcome === "verified" ? "completed" : "failed",
    ...(why !== undefined ? { reason: why } : {}),
  });
}
