/**
 * What a ModelState decides about blob uploads: bytes sent for the model before any version
 * names them (src/domain/upload.ts `BLOB_UPLOAD_VERSION`), as a Hugging Face client sends its
 * LFS objects before the commit that lists them. A multipart one is an upload like a
 * version's (its parts recorded by `recordPart`, checked by `uploadToComplete`, expired by
 * the cleanup), but it attaches nothing when it completes: its row stays, completed, as the
 * model's claim on the bytes until `expires_at`, which a later write (src/state/derive-ops.ts)
 * turns into files. Bytes sent in one request leave the same completed row.
 */
import { BLOB_UPLOAD_VERSION, isUnfinished, type UploadRecord } from "../domain/upload";
import { fail, type Outcome } from "./outcome";
import { appendAudit, closeUploads, modelNotFound, type Actor, type Rooms } from "./rooms";
import type { UploadView } from "./upload-ops";

const notBlob = (uploadId: string) => fail("not_found", `Upload '${uploadId}' not found`);

/**
 * Records a multipart blob upload the caller has opened in R2, unless one of the same bytes
 * is open already: then that one is answered with `existing` (the caller aborts its own in R2).
 */
export function openBlobUpload(
  r: Rooms,
  input: Actor & { upload: UploadRecord },
): Outcome<{ upload: UploadView; existing: boolean }> {
  if (!r.model.get()) return modelNotFound(input);
  const { upload } = input;
  if (upload.version !== BLOB_UPLOAD_VERSION) return fail("validation_failed", "A blob upload belongs to no version");
  const open = r.uploads.openBlob(upload.sha256, upload.size, input.at);
  if (open) return { ok: true, value: { upload: { ...open, parts: r.uploads.parts(open.upload_id) }, existing: true } };
  r.uploads.pruneClosed(input.at);
  r.uploads.opened(upload);
  appendAudit(r, input, {
    action: "upload.open",
    version: null,
    to: { size: upload.size, sha256: upload.sha256 },
    detail: { upload_id: upload.upload_id, blob: true },
  });
  return { ok: true, value: { upload: { ...upload, parts: [] }, existing: false } };
}

/** The unexpired blob upload of these bytes under way (open, or its bytes being verified), if any. */
export function openBlobUploadOf(
  r: Rooms,
  input: { sha256: string; size: number; now: string },
): Outcome<UploadView | null> {
  const open = r.uploads.openBlob(input.sha256, input.size, input.now);
  return { ok: true, value: open ? { ...open, parts: r.uploads.parts(open.upload_id) } : null };
}

/**
 * Ends a multipart blob upload whose bytes the caller has checked: `completed` keeps its row
 * as the model's claim (no event: the write that attaches the bytes audits its files);
 * `failed` is audited as `upload.fail`. Completing a completed one answers it again.
 */
export function finishBlobUpload(
  r: Rooms,
  input: Actor & { uploadId: string; result: "completed" | "failed"; reason?: string },
): Outcome<{ sha256: string; size: number }> {
  const upload = r.uploads.get(input.uploadId);
  if (!upload || upload.version !== BLOB_UPLOAD_VERSION) return notBlob(input.uploadId);
  const bytes = { sha256: upload.sha256, size: upload.size };
  if (upload.status === "completed" && input.result === "completed") return { ok: true, value: bytes };
  // Open, or verifying: its bytes were hashed over several invocations (src/artifacts/verify-steps.ts).
  if (!isUnfinished(upload.status)) return fail("conflict", `Upload '${input.uploadId}' is ${upload.status}`);
  if (input.result === "completed") r.uploads.close([upload], "completed");
  else
    closeUploads(
      r,
      { ...input, reason: input.reason ?? "the bytes did not match the declared size and sha256" },
      [upload],
      "failed",
    );
  return { ok: true, value: bytes };
}

/** Records bytes one request sent and the registry verified, as a completed blob upload of the model. */
export function recordBlobUpload(r: Rooms, input: Actor & { upload: UploadRecord }): Outcome<null> {
  if (!r.model.get()) return modelNotFound(input);
  if (input.upload.version !== BLOB_UPLOAD_VERSION || input.upload.status !== "completed")
    return fail("validation_failed", "A sent blob is recorded as a completed blob upload");
  r.uploads.pruneClosed(input.at);
  r.uploads.completedBlob(input.upload);
  return { ok: true, value: null };
}

/** The bytes among `sha256s` the model has claimed by a blob upload that has not expired, with their sizes. */
export function claimedBlobs(
  r: Rooms,
  input: { sha256s: readonly string[]; now: string },
): Outcome<{ sha256: string; size: number }[]> {
  const claimed = new Map<string, number>();
  for (const u of r.uploads.completedBlobs(input.sha256s, input.now)) claimed.set(u.sha256, u.size);
  return { ok: true, value: [...claimed].map(([sha256, size]) => ({ sha256, size })) };
}
