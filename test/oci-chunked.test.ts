/**
 * OCI blob chunks sent without a length (`Transfer-Encoding: chunked`, no `Content-Length`: what
 * containers/image sends for a blob whose size it does not know; docs/oci.md "Pushing",
 * src/bridges/oci/streamed-body.ts): taken as they stream, cut into R2 parts, counted against the
 * zone's body limit. Inside workerd a request whose body is a stream carries no Content-Length,
 * as a chunked one arriving at a deployment does. Parts are 5 MiB here (vitest.config.ts).
 */
import { describe, expect, it } from "vitest";
import { bytesOf, call, createModel, sha256Of } from "./helpers";

const MiB = 1024 * 1024;
type Errors = { errors: { code: string; message: string; detail: unknown }[] };

/** `bytes` as a stream of no declared length, in pieces of the sizes given in turn (cycling). */
function unsized(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      const size = cuts[i++ % cuts.length]!;
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

async function blobBytes(model: string, digest: string): Promise<Uint8Array | null> {
  const res = await call("GET", `/v2/${model}/blobs/${digest}`);
  if (res.status !== 200) return null;
  return new Uint8Array(await res.arrayBuffer());
}

const rangeOf = async (location: string) => (await call("GET", location)).headers.get("range");

describe("a blob chunk without Content-Length", () => {
  it("a PATCH of the whole blob streamed in uneven pieces is taken; the PUT ends it; the bytes read back", async () => {
    await createModel("oc-patch");
    for (const [size, cuts, seed] of [
      [12 * MiB + 7, [MiB + 3, 64 * 1024, 3 * MiB], 1],
      [5 * MiB, [5 * MiB], 2],
      [777, [100], 3],
    ] as const) {
      const bytes = bytesOf(size, seed);
      const digest = `sha256:${await sha256Of(bytes)}`;
      const location = (await call("POST", "/v2/oc-patch/blobs/uploads/")).headers.get("location")!;
      const patched = await call("PATCH", location, { rawBody: unsized(bytes, [...cuts]) });
      expect(patched.status, await patched.clone().text()).toBe(202);
      expect(patched.headers.get("range")).toBe(`0-${size - 1}`);
      const done = await call("PUT", `${patched.headers.get("location")!}?digest=${digest}`);
      expect(done.status, await done.clone().text()).toBe(201);
      expect(await blobBytes("oc-patch", digest)).toEqual(bytes);
    }
  });

  it("after a sized chunk, and as the final PUT's body: pieces fill the part the upload is in", async () => {
    await createModel("oc-mixed");
    const bytes = bytesOf(14 * MiB + 11, 4);
    const digest = `sha256:${await sha256Of(bytes)}`;
    const location = (await call("POST", "/v2/oc-mixed/blobs/uploads/")).headers.get("location")!;
    // 3 MiB + 1 with a length: bytes past the last full part wait in a scratch object.
    const first = bytes.subarray(0, 3 * MiB + 1);
    const sized = await call("PATCH", location, {
      rawBody: first,
      headers: { "content-length": String(first.byteLength) },
    });
    expect(sized.status).toBe(202);
    // Then 6 MiB without one, then the rest without one in the PUT.
    const middle = await call("PATCH", sized.headers.get("location")!, {
      rawBody: unsized(bytes.subarray(3 * MiB + 1, 9 * MiB + 1), [2 * MiB + 5]),
    });
    expect(middle.status, await middle.clone().text()).toBe(202);
    expect(middle.headers.get("range")).toBe(`0-${9 * MiB}`);
    const done = await call("PUT", `${middle.headers.get("location")!}?digest=${digest}`, {
      rawBody: unsized(bytes.subarray(9 * MiB + 1), [MiB]),
    });
    expect(done.status, await done.clone().text()).toBe(201);
    expect(await blobBytes("oc-mixed", digest)).toEqual(bytes);
  });

  it("past ZONE_BODY_LIMIT: SIZE_INVALID naming the limit; the upload stays open at the end of the pieces taken, and goes on", async () => {
    await createModel("oc-zone");
    const limit = 6 * MiB;
    const settings = { ZONE_BODY_LIMIT: String(limit) };
    const bytes = bytesOf(13 * MiB + 5, 5);
    const digest = `sha256:${await sha256Of(bytes)}`;
    const location = (await call("POST", "/v2/oc-zone/blobs/uploads/", { settings })).headers.get("location")!;
    const refused = await call("PATCH", location, { rawBody: unsized(bytes, [MiB]), settings });
    expect(refused.status).toBe(400);
    const error = ((await refused.json()) as Errors).errors[0]!;
    expect(error.code).toBe("SIZE_INVALID");
    expect(error.message).toContain(`limit of ${limit} bytes`);
    expect(error.message).toContain("Content-Range");
    expect(error.detail).toEqual({ limit, received_at_least: 10 * MiB });
    // The first piece (one part, 5 MiB) was taken before the limit was passed; nothing after it.
    expect(await rangeOf(location)).toBe(`0-${5 * MiB - 1}`);
    expect(await blobBytes("oc-zone", digest)).toBeNull();
    // The client goes on from there in chunks under the limit.
    const rest = bytes.subarray(5 * MiB);
    const next = await call("PATCH", location, {
      rawBody: rest.subarray(0, 5 * MiB),
      headers: { "content-length": String(5 * MiB), "content-range": `${5 * MiB}-${10 * MiB - 1}` },
      settings,
    });
    expect(next.status, await next.clone().text()).toBe(202);
    const done = await call("PUT", `${next.headers.get("location")!}?digest=${digest}`, {
      rawBody: unsized(rest.subarray(5 * MiB), [MiB]),
      settings,
    });
    expect(done.status, await done.clone().text()).toBe(201);
    expect(await blobBytes("oc-zone", digest)).toEqual(bytes);
  });
});
