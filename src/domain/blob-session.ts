/**
 * Blob upload sessions not tied to a version (docs/architecture.md "How bytes flow"): bytes
 * sent to a model in chunks of any size, before anything names them as a file. The OCI
 * bridge's chunked uploads are one; the session's record lives in the model's ModelState.
 *
 * Chunks are re-cut into storage parts of `part_size` (all equal but the last): full parts go
 * to a multipart upload at `r2_key`, and the bytes after the last full part (`tail`, fewer
 * than one part) wait in a scratch object until the next chunk or the end. A chunk is written
 * by one request at a time: it claims the session (`holder`, until `held_until`, so a request
 * that died lets go by itself) and records what it wrote when done.
 *
 * `verifying`: the end assembled the bytes, but they are more than one invocation may read
 * (VERIFY_BYTES_PER_STEP), so they are hashed in steps (src/artifacts/session-steps.ts); the
 * session then ends `completed` (the blob held by the model) or `failed`.
 */
import type { VerifyProgress } from "./upload";

export type BlobSessionStatus = "open" | "verifying" | "completed" | "failed" | "aborted";

/** A verifying session's stepped verification: what is checked, against what, and how far it got. */
export type SessionVerify = VerifyProgress & {
  /** The digest the end named, and the assembled object's key and size. */
  sha256: string;
  key: string;
  size: number;
};

export interface BlobSessionPart {
  part: number;
  size: number;
  etag: string;
}

export interface BlobSession {
  id: string;
  model: string;
  status: BlobSessionStatus;
  /** Bytes received so far. */
  offset: number;
  part_size: number;
  /** Where the multipart upload assembles (a staging key: the digest is known only at the end). */
  r2_key: string;
  /** R2's id of the multipart upload, once the first full part was cut; null before. */
  r2_upload_id: string | null;
  /** The scratch object holding the bytes after the last full part, and how many. */
  tail_key: string | null;
  tail_size: number;
  /** The request writing a chunk now, and until when its claim holds. */
  holder: string | null;
  held_until: string | null;
  /** Once completed: the verified sha256 of the bytes. */
  sha256: string | null;
  created_at: string;
  created_by: string;
  expires_at: string;
  /** While `verifying` (and kept after): the stepped verification of the assembled bytes. */
  verify?: SessionVerify;
  /**
   * The sha256 of the session's bytes [0, `size`), hashed as they streamed into R2, when they came
   * in the session's first chunk. A later chunk cannot extend it (a native hash's state cannot be
   * saved), so it clears it. While it covers every byte the end compares the digest named with it
   * instead of reading the bytes back. Absent from records written before it existed: no hash.
   */
  hashed?: SessionHash | null;
}

/** What the bytes a session holds hash to, so far as they were hashed as they arrived. */
export interface SessionHash {
  size: number;
  sha256: string;
}

/** Whether a chunk written now is the session's first bytes: nothing before it (no offset, no scratch bytes, no parts). */
export function takesFirstBytes(session: Pick<BlobSession, "offset" | "tail_key">, partsBefore: number): boolean {
  return session.offset === 0 && session.tail_key === null && partsBefore === 0;
}

/**
 * The hash a session holds after a chunk of `length` bytes that hashed to `chunkHash` (null: not
 * hashed): the chunk's own when it was the session's first bytes, none otherwise.
 */
export function hashAfterChunk(
  before: Pick<BlobSession, "offset" | "tail_key">,
  partsBefore: number,
  length: number,
  chunkHash: string | null,
): SessionHash | null {
  return takesFirstBytes(before, partsBefore) && chunkHash !== null ? { size: length, sha256: chunkHash } : null;
}

/** The digest that covers every byte the session holds, if its bytes were hashed as they arrived. */
export function wholeHash(session: Pick<BlobSession, "offset" | "hashed">): string | null {
  const hashed = session.hashed ?? null;
  return hashed !== null && hashed.size === session.offset ? hashed.sha256 : null;
}

/** A session with the parts R2 accepted, in order. */
export type BlobSessionView = BlobSession & { parts: BlobSessionPart[] };

/** How long one request may hold a session: long enough to write `bytes` at a slow 10 MiB/s, and 10 minutes at least. */
export function holdMs(bytes: number): number {
  return 10 * 60_000 + Math.ceil(bytes / (10 * 1024 * 1024)) * 1000;
}
