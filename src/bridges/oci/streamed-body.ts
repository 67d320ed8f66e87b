/**
 * A blob upload's chunk sent without a length: `Transfer-Encoding: chunked` and no
 * `Content-Length`, as containers/image sends a blob whose size it does not know. R2's parts need
 * known lengths, so the body is read in pieces of known length, each the rest of the session's
 * current part (`part_size` less the bytes already past its last full part), and each is
 * appended as a chunk of that length (src/artifacts/blob-sessions.ts `appendChunk`): cut into R2
 * parts as a chunk of known length is, with no bytes copied twice.
 *
 * Memory: one piece at most, `UPLOAD_PART_SIZE` (64 MiB by default, at most 95 MiB) of the
 * isolate's 128 MB, and nothing of the body beyond it is read until that piece is in R2.
 *
 * The zone's body limit (`ZONE_BODY_LIMIT`) is counted as the bytes arrive: a piece that would
 * take the request past it is refused (SIZE_INVALID, as for a declared length over it) before it
 * is appended, so the upload stays open, at the end of the pieces appended before, and a client
 * may go on from there (`GET` of the upload tells where).
 */
import { appendChunk, blobSessionStatus, type BlobWriter } from "../../artifacts/blob-sessions";
import type { BlobSession } from "../../domain/blob-session";
import type { Env } from "../../env";
import { overBodyLimit } from "../../http/body-limit";
import { OciError } from "./errors";

/** Reads the next `want` bytes of `reader` (fewer only at its end), keeping what a read gave past them. */
async function nextPiece(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  carry: { rest: Uint8Array | null },
  want: number,
): Promise<{ chunks: Uint8Array[]; size: number; ended: boolean }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < want) {
    let chunk = carry.rest;
    carry.rest = null;
    if (chunk === null) {
      const read = await reader.read();
      if (read.done) return { chunks, size, ended: true };
      chunk = read.value;
    }
    const take = Math.min(chunk.byteLength, want - size);
    if (take > 0) chunks.push(chunk.subarray(0, take));
    size += take;
    if (take < chunk.byteLength) carry.rest = chunk.subarray(take);
  }
  return { chunks, size, ended: false };
}

const streamOf = (chunks: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });

/**
 * Appends `body`, of unknown length, to the session `id` from `start` (its end when null), piece
 * by piece; `howToChunk` is what the refusal past the zone's limit tells the client to do. The
 * session after the last piece.
 */
export async function appendStreamed(
  env: Env,
  w: BlobWriter,
  id: string,
  start: number | null,
  body: ReadableStream<Uint8Array>,
  howToChunk: string,
): Promise<BlobSession> {
  const reader = body.getReader();
  const carry = { rest: null as Uint8Array | null };
  let session: BlobSession = await blobSessionStatus(w, id);
  let at = start;
  let received = 0;
  try {
    for (;;) {
      const rest = session.part_size - session.tail_size;
      const piece = await nextPiece(reader, carry, rest > 0 ? rest : session.part_size);
      if (piece.size === 0) return session;
      received += piece.size;
      const over = overBodyLimit(env, received, howToChunk);
      if (over)
        throw new OciError(400, "SIZE_INVALID", over.message, {}, { limit: over.limit, received_at_least: received });
      // Each later piece goes where the last one ended: another writer in between is refused (416).
      session = await appendChunk(w, id, at, streamOf(piece.chunks), piece.size);
      at = session.offset;
      if (piece.ended) return session;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
