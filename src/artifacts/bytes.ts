/**
 * Moving bytes into R2 so that every blob the registry lists has been verified by it.
 *
 * Bytes go to their content address `blobs/sha256/<hex>` directly, to avoid copying them
 * (R2's Workers API has no server-side copy, and a copy of a 70 GB checkpoint is a second
 * full write). What makes that safe:
 * - a blob counts only once D1's `blobs` has its row, written after the registry hashed the
 *   bytes at that key itself; a declared digest alone is never trusted (no dedup, no row);
 * - unverified bytes are written to a content address only under its lease (`blob_leases`),
 *   and never while a verified blob sits there (that case dedups instead), so no writer can
 *   overwrite bytes that another has verified, or is verifying;
 * - bytes that fail verification are deleted before the lease is let go.
 */
import type { UploadRecord } from "../domain/upload";
import { ProblemError } from "../http/problem";
import { validationFailed } from "../http/validation";
import type { BlobStore } from "./blob-store";
import { blobKey, stagingKey } from "./keys";
import { sha256OfStream, Sha256Stream } from "./sha256-stream";
import { sha256OfObject } from "./verify-read";

export interface VerifiedBytes {
  sha256: string;
  size: number;
  /** True when the registry already held these bytes and kept its own copy. */
  deduplicated: boolean;
}

function mismatch(declared: string, actual: string): ProblemError {
  return new ProblemError("digest_mismatch", `The bytes hash to ${actual}, not the declared ${declared}; nothing was kept`, {
    expected: declared,
    actual,
  });
}

/** Leases live long enough to verify `size` bytes at a slow 10 MiB/s, and at least 10 minutes. */
function leaseMs(size: number): number {
  return 10 * 60_000 + Math.ceil(size / (10 * 1024 * 1024)) * 1000;
}

/** Runs `write` holding the lease on `sha256`'s content address; 409 when another writer holds it. */
async function underLease<T>(blobs: BlobStore, sha256: string, size: number, write: () => Promise<T>): Promise<T> {
  const outcome = await blobs.withLease(sha256, leaseMs(size), write);
  if (!outcome.held) throw new ProblemError("conflict", `Another upload of the bytes ${sha256} is being verified; retry shortly`);
  return outcome.value;
}

/**
 * Stores the body of a single PUT of `length` bytes and returns its verified sha256. With a
 * declared digest the body goes straight to its content address with R2 checking it as
 * well (or, when the registry holds those bytes already, is only hashed); without one it is
 * staged, hashed, then copied with R2 checking the copy.
 */
export async function storeSingle(
  bucket: R2Bucket,
  blobs: BlobStore,
  body: ReadableStream<Uint8Array>,
  length: number,
  declared: string | undefined,
  at: string,
): Promise<VerifiedBytes> {
  const hasher = new Sha256Stream();
  /** The body's sha256 once all of it went through; `failure` is what stopped the write, if anything. */
  const finish = async (failure?: unknown) => {
    const sha256 = await hasher.hex();
    const complete = hasher.bytes === length;
    if (complete && declared !== undefined && sha256 !== declared) throw mismatch(declared, sha256);
    if (failure) throw failure;
    if (!complete) throw validationFailed(`The body ended after ${hasher.bytes} of ${length} bytes`);
    return sha256;
  };

  if (declared !== undefined) {
    if (await blobs.reuse(declared, length)) {
      // The registry holds these bytes: check the body against them without storing it again.
      // (The runtime errors a request body that ends before its Content-Length.)
      const sha256 = await sha256OfStream(body);
      if (sha256 !== declared) throw mismatch(declared, sha256);
      return { sha256, size: length, deduplicated: true };
    }
    return underLease(blobs, declared, length, async () => {
      // On a mismatch R2 refuses the put as a whole: nothing is stored.
      const failure = await bucket.put(blobKey(declared), hasher.through(body, length), { sha256: declared }).then(
        () => undefined,
        (err: unknown) => err ?? new Error("R2 put failed"),
      );
      const sha256 = await finish(failure);
      await blobs.register(sha256, length, at);
      return { sha256, size: length, deduplicated: false };
    });
  }

  const staged = stagingKey(crypto.randomUUID());
  try {
    await bucket.put(staged, hasher.through(body, length));
    const sha256 = await finish();
    if (await blobs.reuse(sha256, length)) return { sha256, size: length, deduplicated: true };
    return await underLease(blobs, sha256, length, async () => {
      const source = await bucket.get(staged);
      if (!source) throw new Error(`staged object ${staged} vanished`);
      await bucket.put(blobKey(sha256), source.body, { sha256 });
      await blobs.register(sha256, length, at);
      return { sha256, size: length, deduplicated: false };
    });
  } finally {
    await bucket.delete(staged);
  }
}

/**
 * Completes a multipart upload: assembles its parts at the content address, re-reads the
 * assembled object through SHA-256 and compares size and digest with the declared ones.
 * Verified bytes are registered; others are deleted. When the registry verified these bytes
 * meanwhile (another upload won the race), the parts are dropped and the blob is reused.
 */
export async function completeUpload(
  bucket: R2Bucket,
  blobs: BlobStore,
  upload: UploadRecord,
  parts: R2UploadedPart[],
  at: string,
): Promise<{ matched: boolean; deduplicated: boolean }> {
  const multipart = bucket.resumeMultipartUpload(upload.r2_key, upload.r2_upload_id);
  if (await blobs.reuse(upload.sha256, upload.size)) {
    await multipart.abort().catch(() => undefined);
    return { matched: true, deduplicated: true };
  }
  return underLease(blobs, upload.sha256, upload.size, async () => {
    try {
      await multipart.complete(parts);
    } catch (err) {
      // A retry after a crash finds the parts assembled already.
      if ((await bucket.head(upload.r2_key))?.size !== upload.size) throw err;
    }
    const matched = (await sha256OfObject(bucket, upload.r2_key, upload.size)) === upload.sha256;
    if (matched) await blobs.register(upload.sha256, upload.size, at);
    else await bucket.delete(upload.r2_key);
    return { matched, deduplicated: false };
  });
}

/** Aborts multipart uploads that ModelState has closed. Already-gone uploads are fine. */
export async function abortR2Uploads(bucket: R2Bucket, aborts: { r2_key: string; r2_upload_id: string }[]): Promise<void> {
  await Promise.all(
    aborts.map((a) =>
      bucket
        .resumeMultipartUpload(a.r2_key, a.r2_upload_id)
        .abort()
        .catch(() => undefined),
    ),
  );
}
