/**
 * A stored blob's bytes as text, by sha256, for what shows content rather than serving it
 * (the lineage diff, the Hub's model card, a Sigstore bundle pushed as an OCI layer): callers
 * name bytes by their hash and never see an R2 key (./blob-reads.ts finds them).
 */
import type { Env } from "../env";
import { BlobStore } from "./blob-store";
import { blobOpener } from "./blob-reads";

/** The blob's UTF-8 text, or why there is none. */
export type BlobText =
  | { kind: "text"; text: string }
  /** Not UTF-8, or holds a NUL as binaries do. */
  | { kind: "binary" }
  /** Larger than the caller's bound: not read. */
  | { kind: "too_large" }
  /** R2 holds no bytes of the blob. */
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
export async function readBlobText(
  env: Pick<Env, "ARTIFACTS" | "DB">,
  sha256: string,
  maxBytes: number,
): Promise<BlobText> {
  // Asked only on a miss at the content address; at the primary: the bytes may be just registered.
  const located = async () => (await new BlobStore(env.DB.withSession("first-primary")).location(sha256))?.key ?? null;
  const object = await blobOpener(env.ARTIFACTS, sha256, located)();
  if (!object) return { kind: "missing" };
  if (object.size > maxBytes) {
    await object.body.cancel();
    return { kind: "too_large" };
  }
  const text = decodeText(new Uint8Array(await object.arrayBuffer()));
  return text === null ? { kind: "binary" } : { kind: "text", text };
}
