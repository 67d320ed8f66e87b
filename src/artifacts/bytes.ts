/**
 * Moving bytes into R2 so that every blob the registry lists has been verified by it.
 *
 * Bytes go to their content address `blobs/sha256/<hex>` directly, to avoid copying them
 * (R2's Workers API has no server-side copy, and a copy of a 70 GB checkpoint is a second
 * full write). What makes that safe:
 * - a blob counts only once D1's `blobs` has its row, written after the registry hashed the
 *   bytes at that key itself; a declared digest alone is never trusted (no dedup, no row);
 * - unverified bytes are written to a content address only under its lease (`blob_leases`),
 *   and only after checking, under that lease, that no verified blob sits there (of any
 *   size: a body declaring the sha256 of verified bytes is only hashed, and refused unless
 *   it is those bytes), so no writer can overwrite bytes that another has verified, or is
 *   verifying;
 * - bytes that fail verification are deleted before the lease is let go;
 * - bytes a scrub found corrupt (src/artifacts/scrub.ts) count as no verified blob: an upload
 *   of their sha256 writes over them as above, and registering the verified bytes heals the
 *   blob (./blob-store.ts).
 *
 * A blob session's bytes (./blob-sessions.ts) are the one exception to the content address: their
 * digest is known only at the end, so they assemble under the session's own key, and once
 * verified (hashed as they arrived, or read through SHA-256 by `adoptAssembled`) they are
 * registered there (`settleVerifiedAt`): the `blobs` row names the key (./keys.ts
 * `blobLocation`), and the bytes are written once.
 */
import type { UploadRecord } from "../domain/upload";
import { ProblemError } from "../domain/problem";
import { validationFailed } from "../http/validation";
import type { BlobStore } from "./blob-store";
import { blobKey, stagingKey } from "./keys";
import { sha256OfStream, Sha256Stream } from "./sha256-stream";
import { readObject, sha256OfObject } from "./verify-read";

export interface VerifiedBytes {
  sha256: string;
  size: number;
  /**
   * True when the registry already held these bytes and kept its own copy. Not for the
   * caller's ears as such: whose bytes they were decides what it is told (./upload-workflow.ts).
   */
  deduplicated: boolean;
}

function mismatch(declared: string, actual: string): ProblemError {
  return new ProblemError(
    "digest_mismatch",
    `The bytes hash to ${actual}, not the declared ${declared}; nothing was kept`,
    {
      expected: declared,
      actual,
    },
  );
}

/** Leases live long enough to verify `size` bytes at a slow 10 MiB/s, and at least 10 minutes. */
function leaseMs(size: number): number {
  return 10 * 60_000 + Math.ceil(size / (10 * 1024 * 1024)) * 1000;
}

/** Runs `write` holding the lease on `sha256`'s content address; 409 when another writer holds it. */
async function underLease<T>(blobs: BlobStore, sha256: string, size: number, write: () => Promise<T>): Promise<T> {
  const outcome = await blobs.withLease(sha256, leaseMs(size), write);
  if (!outcome.held)
    throw new ProblemError("conflict", `Another upload of the bytes ${sha256} is being verified; retry shortly`);
  return outcome.value;
}

/**
 * Stores the body of a single PUT of `length` bytes and returns its verified sha256. With a
 * declared digest the body goes straight to its content address with R2 checking it as
 * well (or, when the registry holds bytes of that digest already, is only hashed: their
 * address is never written again); without one it is staged, hashed, then copied with R2
 * checking the copy. What the caller is told of bytes the registry held is the workflow's
 * rule (./upload-workflow.ts): a mismatch here reads the same whoever held what.
 */
export async function storeSingle(
  bucket: R2Bucket,
  blobs: BlobStore,
  body: ReadableStream<Uint8Array>,
  length: number,
  declared: string | undefined,
  at: string,
): Promise<VerifiedBytes> {
  if (declared !== undefined) {
    /**
     * Verified bytes sit at the address: hash the body without storing it. Held bytes of
     * another size cannot hash to `declared`, so the body is refused as any wrong body is
     * (`mismatch`, with its actual sha256), never with the held size.
     */
    const compareWithHeld = async (heldSize: number): Promise<VerifiedBytes> => {
      // (The runtime errors a request body that ends before its Content-Length.)
      const sha256 = await sha256OfStream(body);
      // Another size and the declared sha256 would take a SHA-256 collision; refused all the same.
      if (sha256 !== declared || heldSize !== length) throw mismatch(declared, sha256);
      return { sha256, size: length, deduplicated: true };
    };
    const known = await blobs.verifiedSize(declared);
    if (known !== null && (known !== length || (await blobs.reuse(declared, length)))) return compareWithHeld(known);
    return underLease(blobs, declared, length, async () => {
      // Verified by another writer between the look above and the lease: never write over it.
      const now = await blobs.verifiedSize(declared);
      if (now !== null && (now !== length || (await blobs.reuse(declared, length)))) return compareWithHeld(now);
      const hasher = new Sha256Stream();
      // On a mismatch R2 refuses the put as a whole: nothing is stored.
      const failure = await bucket.put(blobKey(declared), hasher.through(body, length), { sha256: declared }).then(
        () => undefined,
        (err: unknown) => err ?? new Error("R2 put failed"),
      );
      const sha256 = await finished(hasher, length, declared, failure);
      await registerAt(bucket, blobs, sha256, length, at, blobKey(sha256));
      return { sha256, size: length, deduplicated: false };
    });
  }

  const staged = stagingKey(crypto.randomUUID());
  try {
    const hasher = new Sha256Stream();
    await bucket.put(staged, hasher.through(body, length));
    const sha256 = await finished(hasher, length, undefined, undefined);
    return await publishStaged(bucket, blobs, staged, sha256, length, at);
  } finally {
    await bucket.delete(staged);
  }
}

/** The body's sha256 once all of it went through `hasher`; `failure` is what stopped the write, if anything. */
async function finished(
  hasher: Sha256Stream,
  length: number,
  declared: string | undefined,
  failure: unknown,
): Promise<string> {
  const sha256 = await hasher.hex();
  const complete = hasher.bytes === length;
  if (complete && declared !== undefined && sha256 !== declared) throw mismatch(declared, sha256);
  // A body that ended short of its length fails the write too: the caller's error, not R2's.
  if (!complete && hasher.ended) throw validationFailed(`The body ended after ${hasher.bytes} of ${length} bytes`);
  if (failure) throw failure;
  if (!complete) throw validationFailed(`The body ended after ${hasher.bytes} of ${length} bytes`);
  return sha256;
}

/**
 * Makes verified bytes at `staged` a blob: reused when the registry holds them already,
 * else copied to their content address (R2 checking the copy) under its lease. The caller
 * deletes the staged object.
 */
async function publishStaged(
  bucket: R2Bucket,
  blobs: BlobStore,
  staged: string,
  sha256: string,
  size: number,
  at: string,
): Promise<VerifiedBytes> {
  if (await blobs.reuse(sha256, size)) return { sha256, size, deduplicated: true };
  return underLease(blobs, sha256, size, async () => {
    if (await blobs.reuse(sha256, size)) return { sha256, size, deduplicated: true };
    const source = await bucket.get(staged);
    if (!source) throw new Error(`staged object ${staged} vanished`);
    await bucket.put(blobKey(sha256), source.body, { sha256 });
    await registerAt(bucket, blobs, sha256, size, at, blobKey(sha256));
    return { sha256, size, deduplicated: false };
  });
}

/**
 * Records verified bytes at `key` as the blob `sha256`, under its address's lease (held by the
 * caller): every writer of a blob registers through here. When they heal a corrupt blob whose
 * bytes lay at another key, that object is deleted after the row moved (a crash between the two
 * leaves it to the cleanup, which deletes objects no row names).
 */
async function registerAt(
  bucket: R2Bucket,
  blobs: BlobStore,
  sha256: string,
  size: number,
  at: string,
  key: string,
): Promise<void> {
  const replaced = await blobs.register(sha256, size, at, key);
  if (replaced !== null) await bucket.delete(replaced);
}

/**
 * Makes an object mreg assembled itself (a blob session's, src/artifacts/blob-sessions.ts: `key`,
 * `size` bytes) the blob `declared` where it lies, without writing it again: it is read once
 * through SHA-256 (ranges in flight, each under the etag the read began with), then registered at
 * `key` under the address's lease. When a sound blob of that sha256 is registered already the
 * object is redundant: the blob is taken (deduplicated) and the object deleted. Bytes that do not
 * hash to `declared` are deleted (422 `digest_mismatch`) unless a row names them: a finish
 * repeated after its row was written, with another digest, must not take the blob away.
 */
export async function adoptAssembled(
  bucket: R2Bucket,
  blobs: BlobStore,
  key: string,
  size: number,
  declared: string,
  at: string,
): Promise<VerifiedBytes> {
  const read = await readObject(bucket, key, size);
  if (read.kind === "missing" || read.kind === "replaced")
    throw new Error(`the assembled object ${key} was removed or replaced while it was verified`);
  if (read.kind === "size" || read.sha256 !== declared) {
    await discardAssembled(bucket, blobs, key);
    throw mismatch(declared, read.kind === "read" ? read.sha256 : `(${read.found} bytes, not ${size})`);
  }
  return settleVerifiedAt(bucket, blobs, key, declared, size, at);
}

/**
 * Deletes assembled bytes that did not verify, unless a row names them: an end repeated after its
 * row was written must not take the blob away.
 */
export async function discardAssembled(bucket: R2Bucket, blobs: BlobStore, key: string): Promise<void> {
  if (!(await blobs.namedKeys([key])).has(key)) await bucket.delete(key);
}

/**
 * Verified bytes at `key` (not their content address) become the blob `sha256` where they lie,
 * or join the sound blob registered already (their object is then deleted). A repeated call
 * finds its own registration and answers it again.
 */
export async function settleVerifiedAt(
  bucket: R2Bucket,
  blobs: BlobStore,
  key: string,
  sha256: string,
  size: number,
  at: string,
): Promise<VerifiedBytes> {
  return underLease(blobs, sha256, size, async () => {
    const held = await blobs.soundBlob(sha256);
    if (held?.key === key) return { sha256, size, deduplicated: false };
    if (held !== null) {
      // Another size and this sha256 would take a SHA-256 collision; refused all the same.
      if (held.size !== size || !(await blobs.reuse(sha256, size))) {
        await bucket.delete(key);
        throw new ProblemError("digest_mismatch", `The registry holds the bytes of ${sha256} with another size`, {
          expected: sha256,
        });
      }
      await bucket.delete(key);
      return { sha256, size, deduplicated: true };
    }
    await registerAt(bucket, blobs, sha256, size, at, key);
    return { sha256, size, deduplicated: false };
  });
}

/** Whether the assembled object at `key` has exactly `size` bytes hashing to `sha256` (ranged reads in flight). */
async function verifyObject(bucket: R2Bucket, key: string, size: number, sha256: string): Promise<boolean> {
  return (await sha256OfObject(bucket, key, size)) === sha256;
}

/** Assembles a multipart upload's parts; a retry after a crash finds them assembled already. */
async function assemble(bucket: R2Bucket, upload: UploadRecord, parts: R2UploadedPart[]): Promise<void> {
  try {
    await bucket.resumeMultipartUpload(upload.r2_key, upload.r2_upload_id).complete(parts);
  } catch (err) {
    if ((await bucket.head(upload.r2_key))?.size !== upload.size) throw err;
  }
}

/**
 * A verified blob arrived at the content address while the upload ran: its parts are dropped
 * unassembled (they cannot be assembled without writing over it), and it ends as the caller could
 * have had those bytes without sending them, or not.
 */
async function dropForHeld(
  bucket: R2Bucket,
  blobs: BlobStore,
  upload: UploadRecord,
  known: number,
  mayReuseUnverified: () => Promise<boolean>,
): Promise<Completion> {
  await bucket
    .resumeMultipartUpload(upload.r2_key, upload.r2_upload_id)
    .abort()
    .catch(() => undefined);
  if (known !== upload.size) return { outcome: "mismatch" };
  if (!(await mayReuseUnverified())) return { outcome: "superseded" };
  await blobs.reuse(upload.sha256, upload.size);
  return { outcome: "verified", deduplicated: true };
}

/** How a multipart completion ended. */
export type Completion =
  | { outcome: "verified"; deduplicated: boolean }
  | { outcome: "mismatch" }
  /** The registry verified these bytes while the upload ran, for models this caller may not see. */
  | { outcome: "superseded" };

/**
 * Completes a multipart upload: assembles its parts, re-reads the assembled object through
 * SHA-256 and compares size and digest with the declared ones. Verified bytes become (or
 * join) a blob; others are deleted.
 *
 * An upload assembles at its content address only when no verified blob sat there when it
 * started; else in staging. When a verified blob arrived at the address meanwhile, the
 * parts cannot be assembled without writing over it, so they are dropped: the blob is
 * reused if the caller could have had it without bytes (`mayReuseUnverified`), and the
 * upload is refused otherwise (a new one assembles in staging and is verified there).
 */
export async function completeUpload(
  bucket: R2Bucket,
  blobs: BlobStore,
  upload: UploadRecord,
  parts: R2UploadedPart[],
  at: string,
  mayReuseUnverified: () => Promise<boolean>,
): Promise<Completion> {
  if (upload.r2_key !== blobKey(upload.sha256)) {
    await assemble(bucket, upload, parts);
    try {
      if (!(await verifyObject(bucket, upload.r2_key, upload.size, upload.sha256))) return { outcome: "mismatch" };
      const published = await publishStaged(bucket, blobs, upload.r2_key, upload.sha256, upload.size, at);
      return { outcome: "verified", deduplicated: published.deduplicated };
    } finally {
      await bucket.delete(upload.r2_key);
    }
  }
  return underLease(blobs, upload.sha256, upload.size, async (): Promise<Completion> => {
    const known = await blobs.verifiedSize(upload.sha256);
    if (known !== null) return dropForHeld(bucket, blobs, upload, known, mayReuseUnverified);
    await assemble(bucket, upload, parts);
    if (await verifyObject(bucket, upload.r2_key, upload.size, upload.sha256)) {
      await registerAt(bucket, blobs, upload.sha256, upload.size, at, upload.r2_key);
      return { outcome: "verified", deduplicated: false };
    }
    // Nobody verified bytes here (checked under this lease): these are only the upload's own.
    await bucket.delete(upload.r2_key);
    return { outcome: "mismatch" };
  });
}

/**
 * The holder of a content address's lease while an upload's bytes are verified over several
 * invocations (./verify-steps.ts): the upload itself, so each step renews it, and the collector,
 * which needs the lease to delete unregistered bytes, leaves them alone meanwhile.
 */
export const verifyLeaseHolder = (uploadId: string) => `upload:${uploadId}`;

/** A stepped verification's lease outlives its last step by this much: a stalled one is sent again well before. */
export const STEP_LEASE_MS = 30 * 60_000;

/**
 * `complete` of an upload verified over several invocations: as `completeUpload` up to the read.
 * At the content address the address's lease is taken for the upload and kept (`stepping`) until
 * the last step settles; a verified blob found there ends it at once, as in `completeUpload`.
 */
export async function assembleForSteps(
  bucket: R2Bucket,
  blobs: BlobStore,
  upload: UploadRecord,
  parts: R2UploadedPart[],
  mayReuseUnverified: () => Promise<boolean>,
): Promise<Completion | { outcome: "stepping" }> {
  if (upload.r2_key !== blobKey(upload.sha256)) {
    await assemble(bucket, upload, parts);
    return { outcome: "stepping" };
  }
  const holder = verifyLeaseHolder(upload.upload_id);
  if (!(await blobs.lease(upload.sha256, holder, STEP_LEASE_MS)))
    throw new ProblemError("conflict", `Another upload of the bytes ${upload.sha256} is being verified; retry shortly`);
  let stepping = false;
  try {
    const known = await blobs.verifiedSize(upload.sha256);
    if (known !== null) return await dropForHeld(bucket, blobs, upload, known, mayReuseUnverified);
    await assemble(bucket, upload, parts);
    stepping = true;
    return { outcome: "stepping" };
  } finally {
    if (!stepping) await blobs.release(upload.sha256, holder);
  }
}

/**
 * The last step's verdict on an upload verified over several invocations: bytes that hashed right
 * become (or join) a blob, others are deleted; the lease taken by `assembleForSteps` is let go.
 * Staged bytes join the verified blob they were staged beside; if that blob went meanwhile they
 * are not copied (a copy of a file this large is no one invocation's work either): `superseded`.
 */
export async function settleStepped(
  bucket: R2Bucket,
  blobs: BlobStore,
  upload: UploadRecord,
  sound: boolean,
  at: string,
): Promise<Completion> {
  if (upload.r2_key !== blobKey(upload.sha256)) {
    try {
      if (!sound) return { outcome: "mismatch" };
      if (await blobs.reuse(upload.sha256, upload.size)) return { outcome: "verified", deduplicated: true };
      return { outcome: "superseded" };
    } finally {
      await bucket.delete(upload.r2_key);
    }
  }
  try {
    if (sound) {
      await registerAt(bucket, blobs, upload.sha256, upload.size, at, upload.r2_key);
      return { outcome: "verified", deduplicated: false };
    }
    await bucket.delete(upload.r2_key);
    return { outcome: "mismatch" };
  } finally {
    await blobs.release(upload.sha256, verifyLeaseHolder(upload.upload_id));
  }
}
