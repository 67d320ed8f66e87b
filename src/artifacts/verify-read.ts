/**
 * Re-reading a stored object through SHA-256 with several ranged reads in flight.
 *
 * One `get` of a whole object is one sequential stream: its hashing waits on every read in
 * turn. Here the object is read as consecutive ranges, up to `inFlight` of them requested
 * at once, and their bodies go into one `DigestStream` strictly in order, each piped
 * natively, never `arrayBuffer()`ed. A range is only requested when the window has room, so
 * memory stays within `inFlight × rangeSize` whatever the object's size: a body requested
 * ahead may be buffered by R2's side until it is read (the local simulator does buffer
 * multipart objects' ranges in full), but never more than the window holds.
 */

import { toHex } from "../domain/ids";

const MiB = 1024 * 1024;

export interface RangedReadOptions {
  /** Bytes per ranged `get` (the last range: the rest). */
  rangeSize: number;
  /** Ranged `get`s open at once, counting the one being hashed. */
  inFlight: number;
}

/** What `complete` uses; see bench/README.md for how these were picked. */
export const VERIFY_READ: RangedReadOptions = { rangeSize: 8 * MiB, inFlight: 4 };

/** What `head` and `get` of the R2 binding a read needs (the scrub counts its calls through it). */
export type ObjectReader = Pick<R2Bucket, "head" | "get">;

/** What reading an object whole found. */
export type ObjectRead =
  /** Every byte, hashed: the sha256 (lower-case hex) of the object with this etag. */
  | { kind: "read"; sha256: string; etag: string }
  /** No object at the key. */
  | { kind: "missing" }
  /** An object of another size than expected (with this etag); nothing was read. */
  | { kind: "size"; found: number; etag: string }
  /** The object changed while it was read (a range no longer matched the etag the read started with). */
  | { kind: "replaced" };

/**
 * The sha256 (lower-case hex) of the object at `key`, read whole, or null when it is not an
 * object of exactly `size` bytes: missing, shorter or longer, or replaced while it was read
 * (every range is read under `etagMatches` of the etag the read started with).
 */
export async function sha256OfObject(
  bucket: ObjectReader,
  key: string,
  size: number,
  options: RangedReadOptions = VERIFY_READ,
): Promise<string | null> {
  const read = await readObject(bucket, key, size, options);
  return read.kind === "read" ? read.sha256 : null;
}

/** Reads the object at `key`, expected to be `size` bytes, through SHA-256, and says what it found. */
export async function readObject(
  bucket: ObjectReader,
  key: string,
  size: number,
  { rangeSize, inFlight }: RangedReadOptions = VERIFY_READ,
): Promise<ObjectRead> {
  if (!(Number.isSafeInteger(rangeSize) && rangeSize > 0 && Number.isSafeInteger(inFlight) && inFlight > 0)) {
    throw new RangeError(`rangeSize and inFlight must be positive integers, not ${rangeSize} and ${inFlight}`);
  }
  const head = await bucket.head(key);
  if (head === null) return { kind: "missing" };
  if (head.size !== size) return { kind: "size", found: head.size, etag: head.etag };

  const count = Math.ceil(size / rangeSize);
  const open: Promise<R2ObjectBody | R2Object | null>[] = [];
  let requested = 0;
  const request = () => {
    const offset = requested++ * rangeSize;
    const length = Math.min(rangeSize, size - offset);
    const got = bucket.get(key, { range: { offset, length }, onlyIf: { etagMatches: head.etag } });
    // Handled where it is awaited, in order; this only keeps a later range's failure from
    // counting as unhandled while an earlier one is still being hashed.
    got.catch(() => undefined);
    open.push(got);
  };

  const digest = new crypto.DigestStream("SHA-256");
  // Rejects when the digest is aborted; that outcome is reported by whatever aborted it.
  digest.digest.catch(() => undefined);
  try {
    while (requested < Math.min(count, inFlight)) request();
    for (let i = 0; i < count; i++) {
      const length = Math.min(rangeSize, size - i * rangeSize);
      // reason: `open` holds exactly the requested-but-unhashed ranges, in order.
      const range = await open.shift()!;
      // Without a body: the etag no longer matched, i.e. the object was replaced meanwhile.
      if (range === null || !("body" in range) || range.size !== size) {
        if (range !== null && "body" in range) await range.body.cancel();
        await digest.abort().catch(() => undefined);
        return { kind: "replaced" };
      }
      // FixedLengthStream errors the pipe if the body is not exactly `length` bytes, so
      // every byte is accounted for, not only the total in the metadata.
      const counted = new FixedLengthStream(length);
      await Promise.all([range.body.pipeTo(counted.writable), counted.readable.pipeTo(digest, { preventClose: true })]);
      if (requested < count) request();
    }
    await digest.close();
    return { kind: "read", sha256: toHex(await digest.digest), etag: head.etag };
  } catch (err) {
    await digest.abort(err).catch(() => undefined);
    throw err;
  } finally {
    // Bodies fetched ahead and never hashed (a mismatch or an error stopped the read).
    for (const got of open) {
      void got.then((o) => (o !== null && "body" in o ? o.body.cancel() : undefined)).catch(() => undefined);
    }
  }
}
