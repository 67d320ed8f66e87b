/**
 * Moving verified bytes into R2. Every write under `blobs/sha256/<hex>` carries bytes whose
 * sha256 has been checked on the way: by R2 itself (a put with `sha256`), or by hashing the
 * stream as it is copied and completing the copy only when the hash matches. So a declared
 * but wrong digest can never poison a blob someone else will reference.
 */
import type { UploadRecord } from "../domain/upload";
import { expectedPartSize } from "../domain/upload";
import { ProblemError } from "../http/problem";
import { validationFailed } from "../http/validation";
import { BlobStore } from "./blob-store";
import { blobKey, stagingKey, uploadKey } from "./keys";
import { Sha256Stream } from "./sha256-stream";

export interface VerifiedBytes {
  sha256: string;
  size: number;
}

function mismatch(declared: string, actual: string): ProblemError {
  return new ProblemError("digest_mismatch", `The bytes hash to ${actual}, not the declared ${declared}; nothing was kept`, {
    expected: declared,
    actual,
  });
}

/**
 * Stores the body of a single PUT of `length` bytes and returns its verified sha256. With a
 * declared digest the body goes straight to its content address with R2 checking it (or, if
 * those bytes are already held, is only hashed); without one it is staged, hashed, and copied.
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
  /** The body's sha256, once all of it went through; `failure` is what stopped the write, if anything. */
  const finish = async (failure?: unknown) => {
    const sha256 = await hasher.hex();
    const complete = hasher.bytes === length;
    if (complete && declared !== undefined && sha256 !== declared) throw mismatch(declared, sha256);
    if (failure) throw failure;
    if (!complete) throw validationFailed(`The body ended after ${hasher.bytes} of ${length} bytes`);
    return sha256;
  };

  if (declared !== undefined) {
    if (await blobs.isVerified(declared)) {
      await hasher.consume(body);
      const sha256 = await finish();
      await blobs.register(sha256, length, at);
      return { sha256, size: length };
    }
    // On a mismatch R2 refuses the put as a whole, so nothing is stored.
    const failure = await bucket.put(blobKey(declared), hasher.through(body, length), { sha256: declared }).then(
      () => undefined,
      (err: unknown) => err ?? new Error("R2 put failed"),
    );
    const sha256 = await finish(failure);
    await blobs.register(sha256, length, at);
    return { sha256, size: length };
  }

  const staged = stagingKey(crypto.randomUUID());
  try {
    await bucket.put(staged, hasher.through(body, length));
    const sha256 = await finish();
    if (!(await blobs.isVerified(sha256))) await copyVerified(bucket, staged, sha256);
    await blobs.register(sha256, length, at);
    return { sha256, size: length };
  } finally {
    await bucket.delete(staged);
  }
}

/** Copies a staged object to its content address; R2 checks the sha256 as it writes. */
async function copyVerified(bucket: R2Bucket, from: string, sha256: string): Promise<void> {
  const source = await bucket.get(from);
  if (!source) throw new Error(`staged object ${from} vanished`);
  await bucket.put(blobKey(sha256), source.body, { sha256 });
}

/**
 * Assembles a multipart upload's parts in R2. A retry after a crash finds the object already
 * assembled and goes on from there.
 */
export async function assemble(bucket: R2Bucket, upload: UploadRecord, parts: R2UploadedPart[]): Promise<void> {
  try {
    await bucket.resumeMultipartUpload(uploadKey(upload.upload_id), upload.r2_upload_id).complete(parts);
  } catch (err) {
    const existing = await bucket.head(uploadKey(upload.upload_id));
    if (existing?.size !== upload.size) throw err;
  }
}

/**
 * Re-reads an assembled upload through the hash and compares it with the declared size and
 * sha256. When they match and the registry does not hold these bytes yet, the same pass
 * copies them to `blobs/sha256/<hex>` part by part, completing the copy only after the hash
 * matched. The assembled object is deleted either way. Returns whether the bytes matched.
 */
export async function verifyUpload(bucket: R2Bucket, blobs: BlobStore, upload: UploadRecord, at: string): Promise<boolean> {
  const source = uploadKey(upload.upload_id);
  const hasher = new Sha256Stream();
  let matched: boolean;
  if (await blobs.isVerified(upload.sha256)) {
    const object = await bucket.get(source);
    if (!object) throw new Error(`assembled upload ${source} is missing`);
    await hasher.consume(object.body);
    matched = (await hasher.hex()) === upload.sha256 && hasher.bytes === upload.size;
  } else {
    const copy = await bucket.createMultipartUpload(blobKey(upload.sha256));
    try {
      const copied: R2UploadedPart[] = [];
      for (let n = 1; n <= upload.part_count; n++) {
        const length = expectedPartSize(upload, n);
        const object = await bucket.get(source, { range: { offset: (n - 1) * upload.part_size, length } });
        if (!object) throw new Error(`assembled upload ${source} is missing`);
        copied.push(await copy.uploadPart(n, hasher.through(object.body, length)));
      }
      matched = (await hasher.hex()) === upload.sha256 && hasher.bytes === upload.size;
      if (matched) await copy.complete(copied);
      else await copy.abort();
    } catch (err) {
      await copy.abort().catch(() => undefined);
      throw err;
    }
  }
  await bucket.delete(source);
  if (matched) await blobs.register(upload.sha256, upload.size, at);
  return matched;
}

/** Aborts multipart uploads that ModelState has closed. Already-gone uploads are fine. */
export async function abortR2Uploads(bucket: R2Bucket, aborts: { upload_id: string; r2_upload_id: string }[]): Promise<void> {
  await Promise.all(
    aborts.map((a) =>
      bucket
        .resumeMultipartUpload(uploadKey(a.upload_id), a.r2_upload_id)
        .abort()
        .catch(() => undefined),
    ),
  );
}
