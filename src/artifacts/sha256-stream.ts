/**
 * SHA-256 over streams with `crypto.DigestStream`, never holding more than a chunk: a
 * `tee()` would buffer for the slower branch without bound.
 */

import { toHex } from "../domain/ids";

/** Hashes a stream to its end without keeping it: a native pipe, no JavaScript per chunk. */
export async function sha256OfStream(source: ReadableStream<Uint8Array>): Promise<string> {
  const digest = new crypto.DigestStream("SHA-256");
  await source.pipeTo(digest);
  return toHex(await digest.digest);
}

/**
 * Hashes bytes on their way somewhere else. Each chunk is written to the digest and awaited
 * before it is passed on, so the hash keeps pace with the consumer (backpressure).
 */
export class Sha256Stream {
  private readonly digest = new crypto.DigestStream("SHA-256");
  private readonly writer = this.digest.getWriter();
  /** Bytes hashed so far. */
  bytes = 0;
  /** Whether the source ended by itself (rather than being cut off by its consumer). */
  ended = false;

  /**
   * Returns `source` as a stream of known length (what R2's put needs) that feeds this hash
   * as it is read. A source shorter or longer than `length` errors it.
   */
  through(source: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
    const fixed = new FixedLengthStream(length);
    // Errors reach the consumer through fixed.readable; this promise only needs handling.
    this.tap(source)
      .pipeTo(fixed.writable)
      .catch(() => undefined);
    return fixed.readable as ReadableStream<Uint8Array>;
  }

  /** Returns `source` as it is, feeding this hash as it is read; its length is the consumer's to check. */
  tap(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    return source.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: async (chunk, controller) => {
          this.bytes += chunk.byteLength;
          await this.writer.write(chunk);
          controller.enqueue(chunk);
        },
        flush: () => {
          this.ended = true;
        },
      }),
    );
  }

  /** Ends the hash: lower-case hex. */
  async hex(): Promise<string> {
    await this.writer.close();
    return toHex(await this.digest.digest);
  }
}

/** Feeds a body into a resumable `hash` (src/domain/sha256.ts) chunk by chunk; returns how many bytes it had. */
export async function hashInto(
  body: ReadableStream<Uint8Array>,
  hash: { update(bytes: Uint8Array): void },
): Promise<number> {
  const reader = body.getReader();
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return read;
    hash.update(value);
    read += value.byteLength;
  }
}
