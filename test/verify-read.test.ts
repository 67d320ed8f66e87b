/**
 * The ranged re-read that `complete` verifies multipart objects with, against the local R2:
 * small ranges here so that a few KiB make many ranges.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256OfObject, type RangedReadOptions } from "../src/artifacts/verify-read";
import { bytesOf, call, createModel, createVersion, json, sha256Of } from "./helpers";

const MiB = 1024 * 1024;
const bucket = env.ARTIFACTS;
const R = 1000; // range size in these tests
const small: RangedReadOptions = { rangeSize: R, inFlight: 3 };

let keys = 0;
async function stored(data: Uint8Array): Promise<string> {
  const key = `test/verify-read/${keys++}`;
  await bucket.put(key, data);
  return key;
}

function flipped(data: Uint8Array, at: number): Uint8Array {
  const copy = data.slice();
  copy[at] = copy[at]! ^ 0x01;
  return copy;
}

describe("sha256OfObject", () => {
  it("hashes objects of every shape like crypto.subtle does", async () => {
    for (const size of [0, 1, R - 1, R, R + 1, 2 * R, 7 * R + 3, 20 * R]) {
      const data = bytesOf(size, size + 1);
      const key = await stored(data);
      for (const inFlight of [1, 2, 3, 8]) {
        expect(
          await sha256OfObject(bucket, key, size, { rangeSize: R, inFlight }),
          `size ${size}, ${inFlight} in flight`,
        ).toBe(await sha256Of(data));
      }
    }
  });

  it("reads a multipart object across its part boundaries", async () => {
    // Two 5 MiB parts (R2's minimum) and a short last one; ranges that straddle the joins.
    const data = bytesOf(2 * 5 * MiB + 4321, 77);
    const key = `test/verify-read/multipart-${keys++}`;
    const upload = await bucket.createMultipartUpload(key);
    const parts: R2UploadedPart[] = [];
    for (let n = 1, at = 0; at < data.length; n++, at += 5 * MiB)
      parts.push(await upload.uploadPart(n, data.slice(at, at + 5 * MiB)));
    await upload.complete(parts);
    const sha = await sha256Of(data);
    for (const opts of [
      { rangeSize: MiB + 1, inFlight: 4 },
      { rangeSize: 5 * MiB, inFlight: 2 },
      { rangeSize: 3 * MiB, inFlight: 1 },
      { rangeSize: 64 * MiB, inFlight: 4 },
    ]) {
      expect(await sha256OfObject(bucket, key, data.length, opts)).toBe(sha);
    }
  });

  it("is null for an object shorter or longer than declared, or missing", async () => {
    const data = bytesOf(5 * R, 3);
    const key = await stored(data);
    expect(await sha256OfObject(bucket, key, 5 * R + 1, small)).toBeNull();
    expect(await sha256OfObject(bucket, key, 5 * R - 1, small)).toBeNull();
    expect(await sha256OfObject(bucket, key, 0, small)).toBeNull();
    expect(await sha256OfObject(bucket, "test/verify-read/none", 5 * R, small)).toBeNull();
    const empty = await stored(new Uint8Array(0));
    expect(await sha256OfObject(bucket, empty, 1, small)).toBeNull();
    expect(await sha256OfObject(bucket, empty, 0, small)).toBe(await sha256Of(new Uint8Array(0)));
  });

  it("sees one changed byte anywhere: first, middle and last range, either side of a range boundary", async () => {
    const size = 10 * R + 17;
    const data = bytesOf(size, 11);
    const sha = await sha256Of(data);
    for (const at of [0, 1, R - 1, R, R + 1, 5 * R - 1, 5 * R, 5 * R + 500, 10 * R - 1, 10 * R, size - 1]) {
      const changed = flipped(data, at);
      const got = await sha256OfObject(bucket, await stored(changed), size, small);
      expect(got, `byte ${at}`).not.toBe(sha);
      expect(got, `byte ${at}`).toBe(await sha256Of(changed));
    }
  });

  it("is null when the object is replaced while it is read", async () => {
    const data = bytesOf(10 * R, 21);
    const key = await stored(data);
    let gets = 0;
    // Only the calls the reader makes; the second ranged get finds another object there.
    const racing = {
      head: (k: string) => bucket.head(k),
      get: async (k: string, options: R2GetOptions) => {
        if (++gets === 2) await bucket.put(k, flipped(data, 5 * R));
        return bucket.get(k, options);
      },
    } as unknown as R2Bucket;
    expect(await sha256OfObject(racing, key, data.length, { rangeSize: R, inFlight: 1 })).toBeNull();
    expect(gets).toBe(2);
  });

  it("refuses a window that reads nothing", async () => {
    await expect(sha256OfObject(bucket, "k", 1, { rangeSize: 0, inFlight: 1 })).rejects.toThrow(RangeError);
    await expect(sha256OfObject(bucket, "k", 1, { rangeSize: R, inFlight: 0 })).rejects.toThrow(RangeError);
  });
});

describe("complete with the ranged re-read", () => {
  it("fails an upload whose assembled bytes differ from the declared ones in a single byte", async () => {
    const PART = 5 * MiB; // UPLOAD_PART_SIZE in vitest.config.ts
    const data = bytesOf(2 * PART + 99, 31);
    await createModel("vr-flip");
    const { version } = await createVersion("vr-flip");
    const created = await json("POST", `/v1/models/vr-flip/versions/${version}/uploads`, {
      body: { path: "w.bin", size: data.length, sha256: await sha256Of(data) },
    });
    expect(created.status).toBe(201);
    const base = `/v1/models/vr-flip/versions/${version}/uploads/${created.body.upload_id}`;
    // The last byte of the first part, just before a part boundary.
    const sent = flipped(data, PART - 1);
    for (const n of [1, 2, 3]) {
      const res = await call("PUT", `${base}/parts/${n}`, { rawBody: sent.slice((n - 1) * PART, n * PART) });
      expect(res.status).toBe(200);
    }
    const res = await json("POST", `${base}/complete`);
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("digest_mismatch");
    expect((await bucket.list({ prefix: `blobs/sha256/${await sha256Of(data)}` })).objects).toEqual([]);
  });
});
