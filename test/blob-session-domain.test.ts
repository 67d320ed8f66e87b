/**
 * Which hash a blob session keeps (src/domain/blob-session.ts `hashAfterChunk`, `wholeHash`): the
 * sha256 of its first chunk, hashed as it streamed in, only while no later chunk followed; an end
 * may trust it instead of reading the bytes back only when it covers every byte.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashAfterChunk, wholeHash, type BlobSession } from "../src/domain/blob-session";
import { cutChunk } from "../src/domain/oci-push";

type Cuts = Pick<BlobSession, "offset" | "tail_key" | "tail_size" | "hashed">;

/** A session after chunks of `lengths` (each hashed to a distinct digest), parts of `partSize`, as blob-sessions.ts cuts them. */
function after(lengths: number[], partSize: number): Cuts {
  let session: Cuts = { offset: 0, tail_key: null, tail_size: 0, hashed: null };
  let parts = 0;
  lengths.forEach((length, i) => {
    const { fullParts, remainder } = cutChunk(session.tail_size, length, partSize);
    session = {
      hashed: hashAfterChunk(session, parts, length, `chunk-${i}`),
      offset: session.offset + length,
      tail_key: remainder > 0 ? `tail-${i}` : null,
      tail_size: remainder,
    };
    parts += fullParts;
  });
  return session;
}

describe("a blob session's hash", () => {
  it("covers every byte exactly when every chunk before the last was empty, and is the last one's", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 16 }),
        (lengths, partSize) => {
          const session = after(lengths, partSize);
          const onlyTheLast = lengths.slice(0, -1).every((l) => l === 0);
          expect(wholeHash(session)).toBe(onlyTheLast ? `chunk-${lengths.length - 1}` : null);
        },
      ),
    );
  });

  it("is kept only for a chunk nothing preceded, never one that was not hashed", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 100 }),
        fc.option(fc.constant("tail"), { nil: null }),
        fc.nat({ max: 3 }),
        fc.nat({ max: 100 }),
        fc.option(fc.constant("a".repeat(64)), { nil: null }),
        (offset, tail, parts, length, sha256) => {
          const kept = hashAfterChunk({ offset, tail_key: tail }, parts, length, sha256);
          const first = offset === 0 && tail === null && parts === 0;
          expect(kept).toEqual(first && sha256 !== null ? { size: length, sha256 } : null);
        },
      ),
    );
  });

  it("of a record written before it existed, or of fewer bytes than the session holds, covers nothing", () => {
    expect(wholeHash({ offset: 10 })).toBeNull();
    expect(wholeHash({ offset: 10, hashed: null })).toBeNull();
    expect(wholeHash({ offset: 10, hashed: { size: 9, sha256: "x" } })).toBeNull();
    expect(wholeHash({ offset: 10, hashed: { size: 10, sha256: "x" } })).toBe("x");
  });
});
