/**
 * The bytes of OCI manifests pushed and kept (R2 `oci/manifests/sha256/<hex>`, see ./keys.ts):
 * written before the model's object records the manifest (so a recorded manifest always has
 * its bytes), read by pulls, which answer exactly the bytes pushed. R2 checks the digest of
 * what it stores. The cleanup removes, after a day, bytes no D1 row names (a push refused after
 * they were written).
 */
import { ociManifestKey } from "./keys";

/** Stores a manifest's bytes under their sha256 (hex), which the caller computed from them. */
export async function putManifestBytes(bucket: R2Bucket, sha256: string, bytes: Uint8Array): Promise<void> {
  await bucket.put(ociManifestKey(sha256), bytes, { sha256 });
}

/** A kept manifest's bytes, or null when they are gone. */
export async function manifestBytes(bucket: R2Bucket, sha256: string): Promise<Uint8Array | null> {
  const object = await bucket.get(ociManifestKey(sha256));
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}
