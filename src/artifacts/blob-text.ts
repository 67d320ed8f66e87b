/**
 * A stored blob's bytes as text, by sha256, for what shows content rather than serving it
 * (the lineage diff): callers name bytes by their hash and never see an R2 key.
 */
import { blobKey } from "./keys";

/** The blob's UTF-8 text, or why there is none. */
export type BlobText =
  | { kind: "text"; text: string }
  /** Not UTF-8, or holds a NUL as binaries do. */
  | { kind: "binary" }
  /** Larger than the caller's bound: not read. */
  | { kind: "too_large" }
  /** R2 has no object at the blob's address. */
  | { kind: "missing" };

/** UTF-8 text, or null for bytes that are not (invalid UTF-8, or a NUL as binaries have). */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Reads the blob `sha256` whole when it holds at most `maxBytes`: a larger one is left
 * unread, so a caller's memory bound holds even where a manifest's size were wrong.
 */
export async function readBlobText(bucket: R2Bucket, sha256: string, maxBytes: number): Promise<BlobText> {
  const object = await bucket.get(blobKey(sha256));
  if (!object) return { kind: "missing" };
  if (object.size > maxBytes) {
    await object.body.cancel();
    return { kind: "too_large" };
  }
  const text = decodeText(new Uint8Array(await object.arrayBuffer()));
  return text === null ? { kind: "binary" } : { kind: "text", text };
}
