/**
 * The plain-TypeScript SHA-256 whose state is saved between scheduled runs (src/domain/sha256.ts):
 * any input, cut into any pieces, with its state saved to a string and taken up again by a new
 * hasher at any of the cuts, hashes exactly as Web Crypto does; and a saved state that was
 * damaged is refused, never misread.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Sha256 } from "../src/domain/sha256";
import { bytesOf, sha256Of } from "./helpers";

/** Cut points (sorted, within the input) and, for each piece, whether to save and restore before it. */
const pieces = (length: number) =>
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: length }), fc.boolean()), { maxLength: 12 })
    .map((cuts) => cuts.sort((a, b) => a[0] - b[0]));

describe("resumable SHA-256", () => {
  it("hashes any input, cut anywhere and resumed from a saved string at any cut, as Web Crypto does (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 0, max: 3000 })
          .chain((n) => fc.tuple(fc.uint8Array({ minLength: n, maxLength: n }), pieces(n))),
        async ([input, cuts]) => {
          let hash = new Sha256();
          let at = 0;
          for (const [cut, resume] of cuts) {
            hash.update(input.subarray(at, cut));
            at = cut;
            if (resume) {
              const saved = hash.save();
              expect(saved.length).toBeLessThanOrEqual(220);
              hash = Sha256.restore(saved);
              expect(hash.bytes).toBe(at);
            }
          }
          hash.update(input.subarray(at));
          expect(hash.digestHex()).toBe(await sha256Of(input));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("resumes across megabytes and block boundaries", async () => {
    const input = bytesOf(65536 * 40 + 37, 29);
    let hash = new Sha256();
    const step = 1_048_576 + 13;
    for (let at = 0; at < input.length; at += step) {
      hash.update(input.subarray(at, at + step));
      hash = Sha256.restore(hash.save());
    }
    expect(hash.digestHex()).toBe(await sha256Of(input));
  });

  it("refuses a saved state that is damaged, cut short, or inconsistent", () => {
    const hash = new Sha256();
    hash.update(new Uint8Array(70));
    const saved = hash.save();
    expect(Sha256.restore(saved).save()).toBe(saved);
    for (const bad of [
      "",
      saved.slice(0, -2), // the unfinished block is shorter than the count says
      saved.replace(":70:", ":71:"),
      saved.replace(":70:", ":7:"),
      saved.replace("sha256-state:1:", "sha256-state:2:"),
      saved.toUpperCase(),
      `${saved}00`,
      saved.replace(":70:", ":070:"),
      saved.replace(/:[0-9a-f]{64}:/, ":abc:"),
    ]) {
      expect(() => Sha256.restore(bad), bad).toThrow(RangeError);
    }
    hash.digestHex();
    expect(() => hash.save()).toThrow(/after digest/);
  });
});
