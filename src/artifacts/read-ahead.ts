/**
 * A long read of one R2 object as consecutive range reads with a few in flight, streamed in
 * order into one body of known length. For clients that fetch a large file with one GET and
 * no ranges (skopeo, curl): the first byte leaves after the first range is open instead of
 * after the whole object is, and the next ranges are being opened while this one streams,
 * as a ranged client (`mreg pull`) gets by itself. At most `ahead` ranges are open at once,
 * each streamed (never buffered whole) when its turn comes.
 */

export interface ReadAhead {
  /** Bytes per range read. */
  chunk: number;
  /** Range reads open at once (the one streaming, and those opened behind it). */
  ahead: number;
}

/** Reads above this length go through `readAhead`; below it, one get is as good. */
export const READ_AHEAD: ReadAhead & { threshold: number } = {
  threshold: 64 * 1024 * 1024,
  chunk: 16 * 1024 * 1024,
  ahead: 3,
};

/**
 * The bytes `[offset, offset + length)` of what `read` opens (`name` names it in errors). The
 * body's length is fixed (a FixedLengthStream), so the response keeps its Content-Length; a range
 * that cannot be read errors the stream, and the client sees a short body, never wrong bytes.
 */
export function readAhead(
  read: (options: { range: R2Range }) => Promise<R2ObjectBody | null>,
  name: string,
  offset: number,
  length: number,
  plan: ReadAhead = READ_AHEAD,
): ReadableStream<Uint8Array> {
  const out = new FixedLengthStream(length);
  const end = offset + length;
  let next = offset;
  const open: Promise<R2ObjectBody | null>[] = [];
  const openNext = () => {
    if (next >= end) return;
    const size = Math.min(plan.chunk, end - next);
    const reading = read({ range: { offset: next, length: size } });
    // Handled when its turn comes; this keeps a failure of a range opened ahead from being "unhandled" meanwhile.
    reading.catch(() => undefined);
    open.push(reading);
    next += size;
  };
  for (let i = 0; i < plan.ahead; i++) openNext();
  const pump = async () => {
    while (open.length > 0) {
      const object = await open.shift()!;
      openNext();
      if (!object) throw new Error(`${name} vanished from R2 during a read`);
      await object.body.pipeTo(out.writable, { preventClose: true });
    }
    await out.writable.close();
  };
  pump().catch(async (err: unknown) => {
    // The client went away (the pipe was cancelled) or R2 failed: stop reading ahead.
    for (const pending of open.splice(0)) void pending.then((o) => o?.body.cancel()).catch(() => undefined);
    await out.writable.abort(err).catch(() => undefined);
  });
  return out.readable;
}
