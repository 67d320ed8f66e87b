/** What a ModelState decides about multipart uploads. */
import type { ManifestEntry } from "../domain/manifest";
import { closeSessions } from "./blob-session-ops";
import {
  isUnfinished,
  missingParts,
  verifyBegun,
  verifyStepTaken,
  type UploadPart,
  type UploadRecord,
  type VerifyProgress,
} from "../domain/upload";
import { fail, type Outcome } from "./outcome";
import {
  appendAudit,
  attach,
  closeUploads,
  immutable,
  pathCollision,
  versionNotFound,
  type Actor,
  type Rooms,
} from "./rooms";
import type { R2Aborts } from "./upload-table";

export interface UploadView extends UploadRecord {
  parts: UploadPart[];
}

/** Records a multipart upload the caller has opened in R2 (the caller aborts it if refused). */
export function openUpload(r: Rooms, input: Actor & { upload: UploadRecord }): Outcome<UploadView> {
  const current = r.versions.head(input.upload.version);
  if (!current) return versionNotFound({ model: input.model, version: input.upload.version });
  if (current.status !== "pending") return immutable(current);
  const collision = pathCollision(r, current.version, input.upload.path);
  if (collision) return collision;
  r.uploads.pruneClosed(input.at);
  r.uploads.opened(input.upload);
  const { upload_id, path, size, sha256 } = input.upload;
  appendAudit(r, input, {
    action: "upload.open",
    version: current.version,
    to: { path, size, sha256 },
    detail: { upload_id },
  });
  return { ok: true, value: { ...input.upload, parts: [] } };
}

/** Records a part R2 has accepted; a re-sent part replaces the earlier one. */
export function recordPart(
  r: Rooms,
  input: { version: number; uploadId: string; part: UploadPart; now: string },
): Outcome<UploadPart> {
  const upload = r.uploads.get(input.uploadId);
  if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
  const refused = uploadRefusal(upload, input.now);
  if (refused) return refused;
  r.uploads.recordPart(input.uploadId, input.part);
  return { ok: true, value: input.part };
}

/**
 * Ends an upload: `completed` attaches its verified file to the version (its audit event is
 * that `file.add`); `failed` does not (`upload.fail`).
 */
export function finishUpload(
  r: Rooms,
  input: Actor & { uploadId: string; result: "completed" | "failed"; deduplicated: boolean; reason?: string },
): Outcome<ManifestEntry> {
  const upload = r.uploads.get(input.uploadId);
  if (!upload) return fail("not_found", `Upload '${input.uploadId}' not found`);
  if (!isUnfinished(upload.status)) return fail("conflict", `Upload '${input.uploadId}' is ${upload.status}`);
  const file = { path: upload.path, size: upload.size, sha256: upload.sha256 };
  const current = r.versions.head(upload.version);
  if (!current) return versionNotFound({ model: input.model, version: upload.version });
  // Unreachable while finalize waits for open uploads; kept so the rule holds regardless.
  if (current.status !== "pending") return immutable(current);
  // A colliding file may have landed while the bytes were sent: the upload fails, its bytes stay
  // verified (and are collected if nothing holds them).
  const collision = input.result === "completed" ? pathCollision(r, current.version, file.path) : null;
  if (collision) {
    closeUploads(r, { ...input, reason: collision.detail }, [upload], "failed");
    return collision;
  }
  if (input.result === "completed") {
    r.uploads.close([upload], "completed");
    attach(r, current, input, file, { deduplicated: input.deduplicated, upload_id: upload.upload_id });
  } else {
    closeUploads(
      r,
      { ...input, reason: input.reason ?? "the bytes did not match the declared size and sha256" },
      [upload],
      "failed",
    );
  }
  return { ok: true, value: file };
}

export function abortUpload(r: Rooms, input: Actor & { version: number; uploadId: string }): Outcome<R2Aborts> {
  const upload = r.uploads.get(input.uploadId);
  if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
  if (!isUnfinished(upload.status)) return { ok: true, value: { aborts: [] } };
  return { ok: true, value: { aborts: closeUploads(r, { ...input, reason: null }, [upload], "aborted") } };
}

export function uploadRefusal(upload: UploadRecord, now: string) {
  if (upload.status !== "open") return fail("conflict", `Upload '${upload.upload_id}' is ${upload.status}`);
  if (upload.expires_at <= now) return fail("conflict", `Upload '${upload.upload_id}' expired at ${upload.expires_at}`);
  return null;
}

export function getUpload(r: Rooms, input: { version: number; uploadId: string }): Outcome<UploadView> {
  const upload = r.uploads.get(input.uploadId);
  if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
  return { ok: true, value: { ...upload, parts: r.uploads.parts(upload.upload_id) } };
}

/**
 * Checks that an upload may complete: open, not expired, every part present with its size.
 * Changes nothing; `finishUpload` records the outcome once the bytes are verified.
 */
export function uploadToComplete(
  r: Rooms,
  input: { version: number; uploadId: string; now: string },
): Outcome<UploadView> {
  const found = getUpload(r, input);
  if (!found.ok) return found;
  const upload = found.value;
  const refused = uploadRefusal(upload, input.now);
  if (refused) return refused;
  const missing = missingParts(upload.part_count, upload.parts);
  if (missing.length > 0) {
    return fail("conflict", `Parts ${missing.join(", ")} have not been uploaded`, { missing_parts: missing });
  }
  return found;
}

/** Aborts every open upload past its `expires_at` (the scheduled cleanup's actor). */
export function expireUploads(r: Rooms, input: Actor): Outcome<R2Aborts> {
  const aborts = [
    ...closeUploads(r, { ...input, reason: "expired" }, r.uploads.openExpired(input.at), "aborted"),
    ...closeSessions(r, r.blobSessions.openExpired(input.at), "aborted"),
  ];
  r.blobSessions.prune(input.at);
  return { ok: true, value: { aborts } };
}

/**
 * `complete` of a file too large to verify in one invocation: every part is there and R2 has
 * assembled them; the upload becomes `verifying` and its bytes are hashed over several
 * invocations (src/artifacts/verify-steps.ts). Parts can no longer be sent. A repeated call on a
 * verifying upload answers it unchanged.
 */
export function beginVerify(
  r: Rooms,
  input: { version: number; uploadId: string; now: string; by: VerifyProgress["by"] },
): Outcome<UploadView> {
  const found = getUpload(r, input);
  if (!found.ok) return found;
  if (found.value.status === "verifying") return found;
  const ready = uploadToComplete(r, input);
  if (!ready.ok) return ready;
  const verify = verifyBegun(input.now, input.by);
  const upload: UploadRecord = { ...withoutParts(ready.value), status: "verifying", verify };
  r.uploads.update(upload);
  return { ok: true, value: { ...upload, parts: ready.value.parts } };
}

/**
 * A verification step's progress, saved only if the upload is still verifying from `from` bytes:
 * a step run twice (a queue message delivered again, a re-sent one) saves once, and the other
 * stops. False when it was not saved.
 */
export function saveVerifyProgress(
  r: Rooms,
  input: {
    uploadId: string;
    from: number;
    to: { offset: number; state: string; etag: string };
    step: { bytes: number; calls: number };
    now: string;
  },
): Outcome<boolean> {
  const upload = r.uploads.get(input.uploadId);
  if (!upload || upload.status !== "verifying") return { ok: true, value: false };
  const verify = verifyStepTaken(upload.verify, input.from, input.to, input.step, input.now);
  if (!verify) return { ok: true, value: false };
  r.uploads.update({ ...upload, verify });
  return { ok: true, value: true };
}

/** Verifying uploads no step has moved since `before`: their next step is sent again. */
export function stalledVerifications(r: Rooms, before: string): UploadRecord[] {
  return r.uploads.verifying().filter((u) => (u.verify?.updated_at ?? "") < before);
}

const withoutParts = (view: UploadView): UploadRecord => {
  const { parts: _parts, ...record } = view;
  return record;
};
