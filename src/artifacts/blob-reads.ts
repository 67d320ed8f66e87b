/**
 * Opening a blob's bytes by sha256, wherever they lie (./keys.ts `blobLocation`): at their content
 * address, or at the key their `blobs` row names (a verified OCI blob session's object, registered
 * where it was uploaded). Every read of a blob's bytes by sha256 goes through here.
 *
 * The content address is tried first, and the row is asked only when nothing is there: readers
 * that already read the row beside the bytes (a download asks for the corrupt mark at the same
 * time) hand its answer in, so a blob at its content address costs no wait of its own, and one
 * elsewhere one more R2 call.
 */
import { blobKey } from "./keys";

/** Opens the blob's bytes (a range of them); null when R2 holds them nowhere. */
export type BlobOpener = (options?: { range?: R2Range }) => Promise<R2ObjectBody | null>;

/**
 * An opener of the blob `sha256`'s bytes. `located` answers the key its row names (null: no row,
 * or unknown); it is called at most once, on the first miss at the content address, and the key
 * it answers is read from then on.
 */
export function blobOpener(
  bucket: Pick<R2Bucket, "get">,
  sha256: string,
  located: () => Promise<string | null>,
): BlobOpener {
  const address = blobKey(sha256);
  let elsewhere: Promise<string | null> | null = null;
  return async (options) => {
    if (elsewhere === null) {
      const object = await bucket.get(address, options);
      if (object !== null) return object;
      elsewhere ??= located();
    }
    const key = await elsewhere;
    return key !== null && key !== address ? bucket.get(key, options) : null;
  };
}
