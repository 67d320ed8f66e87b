/**
 * Incremental SHA-256 for files that do not fit in memory. Web Crypto's `digest` takes the
 * whole input at once, so a browser (or any runtime without Node's `createHash` or Workers'
 * `DigestStream`) hashing a 100 GB file needs the plain TypeScript one (src/domain/sha256.ts).
 * Callers with a native hasher pass it instead (see `Hasher`), which is much faster.
 */
import { Sha256 } from "../domain/sha256";

export { Sha256 };

/** What the client needs of a hash: feed bytes, then the hex digest. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  digestHex(): string | Promise<string>;
}

/** Hashes a stream without holding it: chunk by chunk into `hasher` (the plain-TS one by default). */
export async function sha256OfStream(
  stream: ReadableStream<Uint8Array>,
  hasher: Hasher = new Sha256(),
): Promise<string> {
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
  }
  return hasher.digestHex();
}
