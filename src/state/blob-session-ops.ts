/**
 * What a ModelState decides about blob sessions (src/domain/blob-session.ts) and loose blobs:
 * which request may write the next chunk, at which offset, what it wrote, and how a session
 * ends. R2 is the caller's: these say what to abort.
 */
import {
  hashAfterChunk,
  type BlobSession,
  type BlobSessionPart,
  type BlobSessionView,
  type SessionVerify,
} from "../domain/blob-session";
import { verifyBegun, verifyStepTaken, type VerifyProgress } from "../domain/upload";
import { fail, type Outcome } from "./outcome";
import { modelNotFound, type Actor, type Rooms } from "./rooms";
import type { R2Aborts } from "./upload-table";

type SessionRef = { model: string; id: string };

const sessionNotFound = (id: string) => fail("not_found", `Blob upload '${id}' not found`);

export function openSession(r: Rooms, input: Actor & { session: BlobSession }): Outcome<BlobSession> {
  if (!r.model.get()) return modelNotFound(input);
  r.blobSessions.prune(input.at);
  r.blobSessions.opened(input.session);
  return { ok: true, value: input.session };
}

export function getSession(r: Rooms, input: SessionRef): Outcome<BlobSessionView> {
  const session = r.blobSessions.get(input.id);
  if (!session || session.model !== input.model) return sessionNotFound(input.id);
  return { ok: true, value: { ...session, parts: r.blobSessions.parts(session.id) } };
}

/** Why a session takes no bytes now (ended, expired, or another request writing), or null. */
function refusal(session: BlobSession, now: string) {
  if (session.status !== "open") return fail("conflict", `Blob upload '${session.id}' is ${session.status}`);
  if (session.expires_at <= now) return fail("conflict", `Blob upload '${session.id}' expired`);
  if (session.holder !== null && session.held_until !== null && session.held_until > now)
    return fail("conflict", `Another request is writing to blob upload '${session.id}'; retry when it ends`);
  return null;
}

/**
 * Claims an open session for one request (`holder`, until `until`), which writes the bytes
 * from `start` (the session's offset when null). A chunk that starts anywhere but where the
 * session ends is refused (416, with the offset), and so is a session another request holds.
 */
export function claimSession(
  r: Rooms,
  input: SessionRef & { start: number | null; holder: string; until: string; now: string },
): Outcome<BlobSessionView> {
  const found = getSession(r, input);
  if (!found.ok) return found;
  const refused = refusal(found.value, input.now);
  if (refused) return refused;
  if (input.start !== null && input.start !== found.value.offset)
    return fail("range_not_satisfiable", `This upload holds ${found.value.offset} bytes; a chunk must start there`, {
      offset: found.value.offset,
    });
  const claimed = { ...found.value, holder: input.holder, held_until: input.until };
  const { parts: _parts, ...record } = claimed;
  r.blobSessions.put(record);
  return { ok: true, value: claimed };
}

/** Whether `holder` still holds the session (its claim was not taken over after running out). */
function held(r: Rooms, input: SessionRef & { holder: string }): Outcome<BlobSession> {
  const session = r.blobSessions.get(input.id);
  if (!session || session.model !== input.model) return sessionNotFound(input.id);
  if (session.status !== "open" || session.holder !== input.holder)
    return fail("conflict", `Blob upload '${input.id}' was taken over or ended while this request wrote to it`);
  return { ok: true, value: session };
}

/**
 * Records what a claimed chunk wrote (its parts, the new tail and offset) and lets the session go.
 * `sha256`: what the chunk hashed to as it streamed in, kept only if it was the session's first
 * bytes (any later chunk clears the session's hash: src/domain/blob-session.ts `hashed`).
 */
export function recordChunk(
  r: Rooms,
  input: SessionRef & {
    holder: string;
    offset: number;
    r2UploadId: string | null;
    parts: BlobSessionPart[];
    tail: { key: string | null; size: number };
    sha256: string | null;
  },
): Outcome<BlobSession> {
  const found = held(r, input);
  if (!found.ok) return found;
  const before = found.value;
  const next: BlobSession = {
    ...before,
    hashed: hashAfterChunk(before, r.blobSessions.parts(input.id).length, input.offset - before.offset, input.sha256),
    offset: input.offset,
    r2_upload_id: input.r2UploadId,
    tail_key: input.tail.key,
    tail_size: input.tail.size,
    holder: null,
    held_until: null,
  };
  r.blobSessions.addParts(input.id, input.parts);
  r.blobSessions.put(next);
  return { ok: true, value: next };
}

/** Lets a claimed session go without recording anything (the chunk failed). */
export function releaseSession(r: Rooms, input: SessionRef & { holder: string }): Outcome<null> {
  const found = held(r, input);
  if (found.ok) r.blobSessions.put({ ...found.value, holder: null, held_until: null });
  return { ok: true, value: null };
}

/**
 * Ends a claimed session: with the verified bytes (`blob`), held by this model as a loose
 * blob until `expiresAt`; or failed (the bytes did not match their digest).
 */
export function finishSession(
  r: Rooms,
  input: Actor & { id: string; holder: string; blob: { sha256: string; size: number } | null; expiresAt: string },
): Outcome<BlobSession> {
  const found = held(r, input);
  if (!found.ok) return found;
  if (input.blob === null) return { ok: true, value: r.blobSessions.close(found.value, "failed") };
  r.blobSessions.holdLoose(input.blob.sha256, input.blob.size, input.expiresAt);
  return { ok: true, value: r.blobSessions.close(found.value, "completed", input.blob.sha256) };
}

/**
 * An end whose assembled bytes are verified in steps (src/artifacts/session-steps.ts): the claimed
 * session becomes `verifying` (no chunk, no other end, no abandonment: its bytes are assembled)
 * and lets go of its claim. A session verifying already is answered as it is.
 */
export function beginSessionVerify(
  r: Rooms,
  input: SessionRef & {
    holder: string;
    target: { sha256: string; key: string; size: number };
    now: string;
    by: VerifyProgress["by"];
  },
): Outcome<BlobSession> {
  const current = r.blobSessions.get(input.id);
  if (current?.status === "verifying" && current.model === input.model) return { ok: true, value: current };
  const found = held(r, input);
  if (!found.ok) return found;
  const verify: SessionVerify = { ...input.target, ...verifyBegun(input.now, input.by) };
  const session: BlobSession = { ...found.value, status: "verifying", holder: null, held_until: null, verify };
  r.blobSessions.put(session);
  return { ok: true, value: session };
}

/**
 * A step's progress through a verifying session, saved only if it is still verifying from `from`
 * bytes: a step run twice saves once, and the other stops. False when it was not saved.
 */
export function saveSessionVerifyProgress(
  r: Rooms,
  input: {
    id: string;
    from: number;
    to: { offset: number; state: string; etag: string };
    step: { bytes: number; calls: number };
    now: string;
  },
): Outcome<boolean> {
  const session = r.blobSessions.get(input.id);
  if (!session || session.status !== "verifying") return { ok: true, value: false };
  const verify = verifyStepTaken(session.verify ?? undefined, input.from, input.to, input.step, input.now);
  if (!verify) return { ok: true, value: false };
  r.blobSessions.put({ ...session, verify });
  return { ok: true, value: true };
}

/**
 * The last step's verdict on a verifying session: with the verified bytes (`blob`), held by this
 * model as a loose blob until `expiresAt`; or failed. A session not verifying any more (settled
 * by a step delivered twice) is answered as it is.
 */
export function settleSessionVerify(
  r: Rooms,
  input: Actor & { id: string; blob: { sha256: string; size: number } | null; expiresAt: string },
): Outcome<BlobSession> {
  const session = r.blobSessions.get(input.id);
  if (!session || session.model !== input.model) return sessionNotFound(input.id);
  if (session.status !== "verifying") return { ok: true, value: session };
  if (input.blob === null) return { ok: true, value: r.blobSessions.close(session, "failed") };
  r.blobSessions.holdLoose(input.blob.sha256, input.blob.size, input.expiresAt);
  return { ok: true, value: r.blobSessions.close(session, "completed", input.blob.sha256) };
}

/** Verifying sessions no step has moved since `before`: their next step is sent again. */
export function stalledSessionVerifications(r: Rooms, before: string): BlobSession[] {
  return r.blobSessions.verifying().filter((s) => (s.verify?.updated_at ?? "") < before);
}

/** Abandons a session (its parts are the caller's to abort in R2); a session that already ended stays as it is. */
export function abandonSession(r: Rooms, input: Actor & { id: string }): Outcome<R2Aborts> {
  const found = getSession(r, input);
  if (!found.ok) return found;
  if (found.value.status !== "open") return sessionNotFound(input.id);
  return { ok: true, value: { aborts: closeSessions(r, [found.value], "aborted") } };
}

/** Ends sessions without bytes; answers the multipart uploads R2 must abort. */
export function closeSessions(r: Rooms, sessions: BlobSession[], status: "aborted" | "failed"): R2Aborts["aborts"] {
  return sessions.flatMap((s) => {
    r.blobSessions.close(s, status);
    return s.r2_upload_id === null ? [] : [{ r2_key: s.r2_key, r2_upload_id: s.r2_upload_id }];
  });
}

/** Holds verified bytes for this model until `expiresAt`: a monolithic upload's, or a mount's. */
export function holdLooseBlob(
  r: Rooms,
  input: Actor & { sha256: string; size: number; expiresAt: string },
): Outcome<null> {
  if (!r.model.get()) return modelNotFound(input);
  r.blobSessions.prune(input.at);
  r.blobSessions.holdLoose(input.sha256, input.size, input.expiresAt);
  return { ok: true, value: null };
}

/**
 * The size of bytes this model holds: a loose blob, a version's file, or a blob a stored
 * manifest keeps; null when it holds none.
 */
export function heldSize(r: Rooms, sha256: string, now: string): number | null {
  return r.blobSessions.looseSize(sha256, now) ?? r.versions.fileSize(sha256) ?? r.oci.blobSize(sha256);
}
