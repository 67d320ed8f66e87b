/**
 * Hashes bytes as they stream, with backpressure: each chunk is written to a
 * `crypto.DigestStream` and awaited before it is passed on, so neither side buffers more
 * than a chunk (unlike `tee()`, which buffers for the slower branch without bound).
 */
export class Sha256Stream {
  private readonly digest = new crypto.DigestStream("SHA-256");
  private readonly writer = this.digest.getWriter();
  /** Bytes hashed so far. */
  bytes = 0;

  /**
   * Returns `source` as a stream of known length (what R2's put and uploadPart need) that
   * feeds this hash as it is read. A source shorter or longer than `length` errors it.
   */
  through(source: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
    const fixed = new FixedLengthStream(length);
    const hashing = new TransformStream<Uint8Array, Uint8Array>({
      transform: async (chunk, controller) => {
        this.bytes += chunk.byteLength;
        await this.writer.write(chunk);
        controller.enqueue(chunk);
      },
    });
    // Errors reach the consumer through fixed.readable; this promise only needs handling.
    source
      .pipeThrough(hashing)
      .pipeTo(fixed.writable)
      .catch(() => undefined);
    return fixed.readable as ReadableStream<Uint8Array>;
  }

  /** Hashes `source` to its end without keeping it. */
  async consume(source: ReadableStream<Uint8Array>): Promise<void> {
    const reader = source.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      this.bytes += value.byteLength;
      await this.writer.write(value);
    }
  }

  /** Ends the hash: lower-case hex. */
  async hex(): Promise<string> {
    await this.writer.close();
    const buffer = await this.digest.digest;
    return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
}
