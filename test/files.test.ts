import { createExecutionContext, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BlobStore } from "../src/artifacts/blob-store";
import { cleanup } from "../src/artifacts/cleanup";
import worker from "../src/index";
import { bytesOf, call, createModel, createVersion, hsToken, json, modelStub, readyVersion, sha256Of } from "./helpers";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // UPLOAD_PART_SIZE in vitest.config.ts

async function r2Keys(prefix: string): Promise<string[]> {
  return (await env.ARTIFACTS.list({ prefix })).objects.map((o) => o.key);
}

async function download(path: string, headers: Record<string, string> = {}) {
  const res = await call("GET", path, { headers });
  return { res, data: new Uint8Array(await res.arrayBuffer()) };
}

/** A stream with no declared length: the request goes out chunked, without Content-Length. */
function chunked(data: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });
}

describe("single PUT", () => {
  it("stores a file, verifies it, and serves it back byte for byte", async () => {
    await createModel("f-put");
    const { version } = await createVersion("f-put");
    const data = bytesOf(3 * MiB + 17, 7);
    const sha = await sha256Of(data);
    const put = await json("PUT", `/v1/models/f-put/versions/${version}/files/weights/model.safetensors`, {
      rawBody: data,
    });
    expect(put.status).toBe(201);
    expect(put.body).toEqual({ path: "weights/model.safetensors", size: data.length, sha256: sha });
    expect(await r2Keys(`blobs/sha256/${sha}`)).toEqual([`blobs/sha256/${sha}`]);
    expect(await r2Keys("staging/")).toEqual([]);

    const { res, data: got } = await download(`/v1/models/f-put/versions/${version}/files/weights/model.safetensors`);
    expect(res.status).toBe(200);
    expect(await sha256Of(got)).toBe(sha);
    expect(res.headers.get("etag")).toBe(`"${sha}"`);
    expect(res.headers.get("x-mreg-sha256")).toBe(sha);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("content-length")).toBe(String(data.length));
    expect(res.headers.get("cache-control")).toBe("private, no-cache");

    const listed = await json("GET", `/v1/models/f-put/versions/${version}/files`);
    expect(listed.body.items).toEqual([{ path: "weights/model.safetensors", size: data.length, sha256: sha }]);
  });

  it("accepts a matching x-mreg-sha256 and an empty file", async () => {
    await createModel("f-put2");
    const { version } = await createVersion("f-put2");
    const data = bytesOf(1000, 3);
    const put = await call("PUT", `/v1/models/f-put2/versions/${version}/files/a.bin`, {
      rawBody: data,
      headers: { "x-mreg-sha256": (await sha256Of(data)).toUpperCase() },
    });
    expect(put.status).toBe(201);
    const empty = await json("PUT", `/v1/models/f-put2/versions/${version}/files/empty`, {
      rawBody: new Uint8Array(0),
    });
    expect(empty.status).toBe(201);
    expect(empty.body.sha256).toBe(await sha256Of(new Uint8Array(0)));
  });

  it("answers a declared sha256 that does not match with 422, keeping nothing", async () => {
    await createModel("f-bad");
    const { version } = await createVersion("f-bad");
    const data = bytesOf(2 * MiB, 11);
    const wrong = await sha256Of("something else");
    const res = await json("PUT", `/v1/models/f-bad/versions/${version}/files/w.bin`, {
      rawBody: data,
      headers: { "x-mreg-sha256": wrong },
    });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("digest_mismatch");
    expect(await r2Keys(`blobs/sha256/${wrong}`)).toEqual([]);
    expect(await r2Keys(`blobs/sha256/${await sha256Of(data)}`)).toEqual([]);
    expect((await json("GET", `/v1/models/f-bad/versions/${version}/files`)).body.items).toEqual([]);
    // The wrong digest was never verified, so it does not dedup.
    const upload = await json("POST", `/v1/models/f-bad/versions/${version}/uploads`, {
      body: { path: "x", size: data.length, sha256: wrong },
    });
    expect(upload.status).toBe(201);
  });

  it("needs Content-Length (400) and refuses bodies over MAX_SINGLE_PUT (413)", async () => {
    await createModel("f-len");
    const { version } = await createVersion("f-len");
    const noLength = await json("PUT", `/v1/models/f-len/versions/${version}/files/a`, {
      rawBody: chunked(bytesOf(10)),
    });
    expect(noLength.status).toBe(400);
    expect(noLength.body.detail).toMatch(/Content-Length/);
    const big = await json("PUT", `/v1/models/f-len/versions/${version}/files/a`, { rawBody: bytesOf(6 * MiB + 1) });
    expect(big.status).toBe(413);
    expect(big.body.detail).toMatch(/uploads/);
  });

  it("404s an unknown version and 403s without the write scope", async () => {
    await createModel("f-404");
    expect((await call("PUT", "/v1/models/f-404/versions/9/files/a", { rawBody: "x" })).status).toBe(404);
    const { version } = await createVersion("f-404");
    const reader = await hsToken({ scope: "read" });
    expect(
      (await call("PUT", `/v1/models/f-404/versions/${version}/files/a`, { rawBody: "x", token: reader })).status,
    ).toBe(403);
  });

  it.each([
    ["../x", "..%2Fx"],
    ["a//b", "a//b"],
    ["a/./b", "a%2F.%2Fb"],
    ["back\\slash", "back%5Cslash"],
    ["NUL", "a%00b"],
    ["trailing slash", "a/"],
    ["1025 bytes", "a".repeat(1025)],
  ])("rejects the hostile path %s with 400", async (_, encoded) => {
    await createModel("f-hostile").catch(() => undefined);
    const res = await json("PUT", `/v1/models/f-hostile/versions/1/files/${encoded}`, { rawBody: "x" });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
  });

  it("accepts a 1024-byte path", async () => {
    await createModel("f-long");
    const { version } = await createVersion("f-long");
    const path = `${"d".repeat(511)}/${"f".repeat(512)}`;
    expect((await call("PUT", `/v1/models/f-long/versions/${version}/files/${path}`, { rawBody: "x" })).status).toBe(
      201,
    );
  });
});

describe("multipart uploads", () => {
  const size = 2 * PART + 1234;

  async function startUpload(model: string, data: Uint8Array, path = "model.bin") {
    await createModel(model);
    const { version } = await createVersion(model);
    const created = await json("POST", `/v1/models/${model}/versions/${version}/uploads`, {
      body: { path, size: data.length, sha256: await sha256Of(data) },
    });
    expect(created.status).toBe(201);
    const base = `/v1/models/${model}/versions/${version}/uploads/${created.body.upload_id}`;
    return { version, upload: created.body, base };
  }

  const slice = (data: Uint8Array, n: number) => data.slice((n - 1) * PART, Math.min(n * PART, data.length));

  it("round-trips: parts in any order, re-sent parts, resume after a crash, verified complete", async () => {
    const data = bytesOf(size, 5);
    const { version, upload, base } = await startUpload("m-round", data);
    expect(upload).toMatchObject({ size, part_size: PART, part_count: 3, status: "open", parts: [] });
    expect(Date.parse(upload.expires_at) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);

    // Part 3 first, then part 1; the "crash" loses part 2.
    expect((await json("PUT", `${base}/parts/3`, { rawBody: slice(data, 3) })).body).toMatchObject({
      part: 3,
      size: 1234,
    });
    expect((await call("PUT", `${base}/parts/1`, { rawBody: bytesOf(PART, 99) })).status).toBe(200);
    // Re-sent: the right bytes replace the wrong ones.
    expect((await call("PUT", `${base}/parts/1`, { rawBody: slice(data, 1) })).status).toBe(200);

    const status = await json("GET", base);
    expect(status.body.parts.map((p: { part: number }) => p.part)).toEqual([1, 3]);

    const early = await json("POST", `${base}/complete`, { body: {} });
    expect(early.status).toBe(409);
    expect(early.body.missing_parts).toEqual([2]);

    expect((await call("PUT", `${base}/parts/2`, { rawBody: slice(data, 2) })).status).toBe(200);
    const done = await json("POST", `${base}/complete`, { body: {} });
    expect(done.status).toBe(200);
    const sha = await sha256Of(data);
    expect(done.body).toEqual({ path: "model.bin", size, sha256: sha });
    // A repeated complete (a client retrying after a lost answer) gets the same file.
    expect((await json("POST", `${base}/complete`)).body).toEqual(done.body);

    expect(await r2Keys(`blobs/sha256/${sha}`)).toHaveLength(1);
    expect((await json("GET", base)).body.status).toBe("completed");

    const { data: got } = await download(`/v1/models/m-round/versions/${version}/files/model.bin`);
    expect(got.length).toBe(size);
    expect(await sha256Of(got)).toBe(sha);
  });

  it("keeps an upload across a restart of the model's Durable Object", async () => {
    const data = bytesOf(size, 61);
    const { version, base } = await startUpload("m-restart", data);
    expect((await call("PUT", `${base}/parts/2`, { rawBody: slice(data, 2) })).status).toBe(200);
    await evictDurableObject(modelStub("m-restart"));
    const resumed = await json("GET", base);
    expect(resumed.body.parts).toEqual([{ part: 2, size: PART, etag: expect.any(String) }]);
    for (const n of [1, 3])
      expect((await call("PUT", `${base}/parts/${n}`, { rawBody: slice(data, n) })).status).toBe(200);
    expect((await json("POST", `${base}/complete`)).status).toBe(200);
    expect((await json("GET", `/v1/models/m-restart/versions/${version}/files`)).body.items).toHaveLength(1);
  });

  it("refuses a part of the wrong size or number (400)", async () => {
    const data = bytesOf(size, 6);
    const { base } = await startUpload("m-parts", data);
    expect((await json("PUT", `${base}/parts/1`, { rawBody: bytesOf(PART - 1) })).status).toBe(400);
    expect((await json("PUT", `${base}/parts/3`, { rawBody: bytesOf(1235) })).status).toBe(400);
    expect((await json("PUT", `${base}/parts/4`, { rawBody: bytesOf(10) })).status).toBe(400);
    expect((await json("PUT", `${base}/parts/0`, { rawBody: bytesOf(10) })).status).toBe(400);
    expect((await json("PUT", `${base}/parts/x`, { rawBody: bytesOf(10) })).status).toBe(400);
    expect((await json("PUT", `${base}/parts/3`, { rawBody: chunked(bytesOf(1234)) })).status).toBe(400);
  });

  it("fails an upload whose bytes do not match (422), removing them", async () => {
    const data = bytesOf(size, 8);
    const { version, base } = await startUpload("m-mismatch", data);
    const other = bytesOf(size, 9);
    for (const n of [1, 2, 3])
      expect((await call("PUT", `${base}/parts/${n}`, { rawBody: slice(other, n) })).status).toBe(200);
    const res = await json("POST", `${base}/complete`);
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("digest_mismatch");
    expect((await json("GET", base)).body.status).toBe("failed");
    expect(await r2Keys(`blobs/sha256/${await sha256Of(data)}`)).toEqual([]);
    expect(await r2Keys(`blobs/sha256/${await sha256Of(other)}`)).toEqual([]);
    expect((await json("GET", `/v1/models/m-mismatch/versions/${version}/files`)).body.items).toEqual([]);
    expect((await json("POST", `${base}/complete`)).status).toBe(409);
  });

  it("aborts an upload (204) and refuses its parts afterwards", async () => {
    const data = bytesOf(size, 10);
    const { base } = await startUpload("m-abort", data);
    expect((await call("PUT", `${base}/parts/1`, { rawBody: slice(data, 1) })).status).toBe(200);
    expect((await call("DELETE", base)).status).toBe(204);
    expect((await json("GET", base)).body.status).toBe("aborted");
    expect((await json("PUT", `${base}/parts/2`, { rawBody: slice(data, 2) })).status).toBe(409);
    expect((await json("POST", `${base}/complete`)).status).toBe(409);
    expect(
      (await call("GET", base.replace(/uploads\/.*/, "uploads/00000000-0000-4000-8000-000000000000"))).status,
    ).toBe(404);
  });

  it("dedups a verified blob without bytes, and never an unverified one", async () => {
    await createModel("m-dedup");
    const data = bytesOf(PART + 10, 12);
    const sha = await sha256Of(data);
    const first = await createVersion("m-dedup");
    // Declared only: a second upload of the same digest is a real upload, not a dedup.
    const pending = await json("POST", `/v1/models/m-dedup/versions/${first.version}/uploads`, {
      body: { path: "w", size: data.length, sha256: sha },
    });
    expect(pending.status).toBe(201);
    const again = await json("POST", `/v1/models/m-dedup/versions/${first.version}/uploads`, {
      body: { path: "w2", size: data.length, sha256: sha },
    });
    expect(again.status).toBe(201);
    // Verified by a single PUT of the real bytes...
    expect(
      (
        await call("PUT", `/v1/models/m-dedup/versions/${first.version}/files/w`, {
          rawBody: data.slice(0, data.length),
        })
      ).status,
    ).toBe(201);
    // ...it now dedups, for another version too; the size must match as well.
    const second = await createVersion("m-dedup");
    const dedup = await json("POST", `/v1/models/m-dedup/versions/${second.version}/uploads`, {
      body: { path: "copy", size: data.length, sha256: sha },
    });
    expect(dedup.status).toBe(200);
    expect(dedup.body).toEqual({ path: "copy", size: data.length, sha256: sha, deduplicated: true });
    const wrongSize = await json("POST", `/v1/models/m-dedup/versions/${second.version}/uploads`, {
      body: { path: "c2", size: 5, sha256: sha },
    });
    expect(wrongSize.status).toBe(422);
    expect(wrongSize.body.code).toBe("digest_mismatch");
    expect(await r2Keys(`blobs/sha256/${sha}`)).toHaveLength(1);
    const { data: got } = await download(`/v1/models/m-dedup/versions/${second.version}/files/copy`);
    expect(await sha256Of(got)).toBe(sha);
  });

  it("never lets a wrong upload of a digest damage the verified bytes of that digest", async () => {
    const real = bytesOf(size, 51);
    const sha = await sha256Of(real);
    const forged = bytesOf(size, 52);
    const good = await startUpload("m-poison", real, "good.bin");
    const bad = await json("POST", `/v1/models/m-poison/versions/${good.version}/uploads`, {
      body: { path: "bad.bin", size, sha256: sha },
    });
    const badBase = `/v1/models/m-poison/versions/${good.version}/uploads/${bad.body.upload_id}`;
    for (const n of [1, 2, 3]) {
      await call("PUT", `${good.base}/parts/${n}`, { rawBody: slice(real, n) });
      await call("PUT", `${badBase}/parts/${n}`, { rawBody: slice(forged, n) });
    }
    // While one upload of these bytes is being verified, another cannot write them (409, retry).
    const blobs = new BlobStore(env.DB);
    expect(await blobs.lease(sha, "someone-else", 60_000)).toBe(true);
    const busy = await json("POST", `${good.base}/complete`);
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe("conflict");
    await blobs.release(sha, "someone-else");

    expect((await json("POST", `${good.base}/complete`)).status).toBe(200);
    // The forged upload arrives after the real bytes were verified: its parts are dropped and
    // the file it names holds the verified bytes.
    const late = await json("POST", `${badBase}/complete`);
    expect(late.status).toBe(200);
    expect(late.body.deduplicated).toBe(true);
    for (const path of ["good.bin", "bad.bin"]) {
      const { data } = await download(`/v1/models/m-poison/versions/${good.version}/files/${path}`);
      expect(await sha256Of(data), path).toBe(sha);
    }
  });

  it("validates the create body", async () => {
    await createModel("m-create");
    const { version } = await createVersion("m-create");
    const url = `/v1/models/m-create/versions/${version}/uploads`;
    const sha = "a".repeat(64);
    for (const body of [
      { path: "../x", size: 10, sha256: sha },
      { path: "x", size: 0, sha256: sha },
      { path: "x", size: 10, sha256: "xyz" },
      { path: "x", size: 10 },
    ]) {
      expect((await json("POST", url, { body })).status, JSON.stringify(body)).toBe(400);
    }
    expect(
      (await json("POST", "/v1/models/m-create/versions/99/uploads", { body: { path: "x", size: 10, sha256: sha } }))
        .status,
    ).toBe(404);
  });
});

describe("finalize and immutability", () => {
  it("computes the manifest digest and freezes files and lineage", async () => {
    await createModel("fin");
    const { version } = await createVersion("fin", { lineage: { run_id: "r1" } });
    const a = bytesOf(100, 1);
    const b = bytesOf(200, 2);
    const noFiles = await json("POST", `/v1/models/fin/versions/${version}/finalize`);
    expect(noFiles.status).toBe(409);
    expect(noFiles.body.code).toBe("conflict");
    await call("PUT", `/v1/models/fin/versions/${version}/files/z/b.bin`, { rawBody: b });
    await call("PUT", `/v1/models/fin/versions/${version}/files/a.bin`, { rawBody: a });

    const ready = await json("POST", `/v1/models/fin/versions/${version}/finalize`);
    expect(ready.status).toBe(200);
    const manifest = `a.bin\t100\t${await sha256Of(a)}\nz/b.bin\t200\t${await sha256Of(b)}\n`;
    expect(ready.body).toMatchObject({ status: "ready", digest: `sha256:${await sha256Of(manifest)}` });
    expect(ready.body.ready_at).toEqual(expect.any(String));
    expect(ready.body.files.map((f: { path: string }) => f.path)).toEqual(["a.bin", "z/b.bin"]);

    const base = `/v1/models/fin/versions/${version}`;
    for (const [method, path, opts] of [
      ["PUT", `${base}/files/c.bin`, { rawBody: "c" }],
      ["DELETE", `${base}/files/a.bin`, {}],
      ["POST", `${base}/uploads`, { body: { path: "d", size: 10, sha256: "b".repeat(64) } }],
      ["PATCH", base, { body: { lineage: { run_id: "r2" } } }],
      ["POST", `${base}/finalize`, {}],
    ] as const) {
      const res = await json(method, path, opts);
      expect(res.status, `${method} ${path}`).toBe(409);
      expect(res.body.code).toBe("immutable");
    }
    // Metrics, tags and description stay patchable.
    const patched = await json("PATCH", base, { body: { metrics: { auc: 0.97 }, tags: { x: "y" }, description: "d" } });
    expect(patched.status).toBe(200);
    const { res } = await download(`${base}/files/a.bin`);
    expect(res.headers.get("cache-control")).toBe("private, max-age=31536000, immutable");
  });

  it("refuses to finalize while an upload is open", async () => {
    await createModel("fin-open");
    const { version } = await createVersion("fin-open");
    await call("PUT", `/v1/models/fin-open/versions/${version}/files/a`, { rawBody: "a" });
    const up = await json("POST", `/v1/models/fin-open/versions/${version}/uploads`, {
      body: { path: "big", size: PART + 1, sha256: "c".repeat(64) },
    });
    const res = await json("POST", `/v1/models/fin-open/versions/${version}/finalize`);
    expect(res.status).toBe(409);
    expect(res.body.detail).toContain(up.body.upload_id);
    await call("DELETE", `/v1/models/fin-open/versions/${version}/uploads/${up.body.upload_id}`);
    expect((await json("POST", `/v1/models/fin-open/versions/${version}/finalize`)).status).toBe(200);
  });
});

describe("downloads", () => {
  it("serves ranges, HEAD and 304", async () => {
    await createModel("dl");
    const data = bytesOf(1000, 4);
    const v = await readyVersion("dl", { "w.bin": data });
    const url = `/v1/models/dl/versions/${v.version}/files/w.bin`;
    const sha = await sha256Of(data);

    const first = await download(url, { range: "bytes=0-0" });
    expect(first.res.status).toBe(206);
    expect([...first.data]).toEqual([data[0]]);
    expect(first.res.headers.get("content-range")).toBe("bytes 0-0/1000");

    const last = await download(url, { range: "bytes=999-999" });
    expect([...last.data]).toEqual([data[999]]);
    const suffix = await download(url, { range: "bytes=-10" });
    expect(suffix.res.headers.get("content-range")).toBe("bytes 990-999/1000");
    expect([...suffix.data]).toEqual([...data.slice(990)]);
    const open = await download(url, { range: "bytes=500-" });
    expect(open.data.length).toBe(500);
    const clipped = await download(url, { range: "bytes=900-5000" });
    expect(clipped.res.headers.get("content-range")).toBe("bytes 900-999/1000");

    const past = await call("GET", url, { headers: { range: "bytes=1000-" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe("bytes */1000");
    expect(((await past.json()) as { code: string }).code).toBe("range_not_satisfiable");

    const cached = await call("GET", url, { headers: { "if-none-match": `"${sha}"` } });
    expect(cached.status).toBe(304);
    expect(cached.headers.get("etag")).toBe(`"${sha}"`);
    expect((await call("GET", url, { headers: { "if-none-match": '"other"' } })).status).toBe(200);

    const head = await call("HEAD", url);
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1000");
    expect(head.headers.get("x-mreg-sha256")).toBe(sha);
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    expect((await call("GET", `/v1/models/dl/versions/${v.version}/files/nope`)).status).toBe(404);
  });

  it("lets only private caches keep a ready file, unless reads are public (PUBLIC_READ)", async () => {
    await createModel("dl-cache");
    const v = await readyVersion("dl-cache", { "w.bin": bytesOf(10, 5) });
    const url = `/v1/models/dl-cache/versions/${v.version}/files/w.bin`;
    // A shared cache must not hand bytes fetched with a token to a caller without one.
    const authed = await call("GET", url);
    expect(authed.status).toBe(200);
    expect(authed.headers.get("cache-control")).toBe("private, max-age=31536000, immutable");
    const notModified = await call("GET", url, { headers: { "if-none-match": authed.headers.get("etag")! } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("cache-control")).toBe("private, max-age=31536000, immutable");

    const ctx = createExecutionContext();
    const open = await worker.fetch(new Request(`http://mreg.test${url}`), { ...env, PUBLIC_READ: "true" }, ctx);
    await waitOnExecutionContext(ctx);
    expect(open.status).toBe(200);
    expect(open.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    await open.arrayBuffer();
  });
});

describe("deletion and cleanup", () => {
  it("deletes a pending file (204), and 404s a missing one", async () => {
    await createModel("del-file");
    const { version } = await createVersion("del-file");
    await call("PUT", `/v1/models/del-file/versions/${version}/files/a`, { rawBody: "a" });
    expect((await call("DELETE", `/v1/models/del-file/versions/${version}/files/a`)).status).toBe(204);
    expect((await json("GET", `/v1/models/del-file/versions/${version}/files`)).body.items).toEqual([]);
    expect((await call("DELETE", `/v1/models/del-file/versions/${version}/files/a`)).status).toBe(404);
  });

  it("deletes a version (admin), keeps its number, and collects blobs no version references", async () => {
    await createModel("del-ver");
    const shared = bytesOf(5000, 21);
    const own = bytesOf(6000, 22);
    const v1 = await readyVersion("del-ver", { "shared.bin": shared, "own.bin": own });
    const v2 = await readyVersion("del-ver", { "shared.bin": shared });
    const writer = await hsToken({ scope: "read write" });
    expect((await json("DELETE", `/v1/models/del-ver/versions/${v1.version}`, { token: writer })).status).toBe(403);
    expect((await call("DELETE", `/v1/models/del-ver/versions/${v1.version}`)).status).toBe(204);
    expect((await json("GET", `/v1/models/del-ver/versions/${v1.version}`)).status).toBe(404);
    expect((await call("DELETE", `/v1/models/del-ver/versions/${v1.version}`)).status).toBe(404);
    expect((await createVersion("del-ver")).version).toBe(3);

    // The first run notes the blob unreferenced; one past the grace period deletes it.
    const afterGrace = () => new Date(Date.now() + 301_000);
    const minGrace = { ...env, BLOB_GC_GRACE_S: "300" };
    expect((await cleanup(minGrace)).deletedBlobs).toBe(0);
    expect(await r2Keys(`blobs/sha256/${await sha256Of(own)}`)).toHaveLength(1);
    const report = await cleanup(minGrace, afterGrace());
    expect(report.deletedBlobs).toBeGreaterThanOrEqual(1);
    expect(await r2Keys(`blobs/sha256/${await sha256Of(own)}`)).toEqual([]);
    expect(await r2Keys(`blobs/sha256/${await sha256Of(shared)}`)).toHaveLength(1);
    expect((await download(`/v1/models/del-ver/versions/${v2.version}/files/shared.bin`)).data.length).toBe(5000);

    expect((await call("DELETE", `/v1/models/del-ver/versions/${v2.version}`)).status).toBe(204);
    await cleanup(minGrace);
    await cleanup(minGrace, afterGrace());
    expect(await r2Keys(`blobs/sha256/${await sha256Of(shared)}`)).toEqual([]);
  });

  it("keeps an unreferenced blob through the grace period", async () => {
    await createModel("del-grace");
    const data = bytesOf(700, 31);
    const { version } = await createVersion("del-grace");
    await call("PUT", `/v1/models/del-grace/versions/${version}/files/a`, { rawBody: data });
    await call("DELETE", `/v1/models/del-grace/versions/${version}/files/a`);
    await cleanup({ ...env, BLOB_GC_GRACE_S: "3600" });
    expect(await r2Keys(`blobs/sha256/${await sha256Of(data)}`)).toHaveLength(1);
  });

  it("aborts uploads past expires_at on the scheduled run", async () => {
    await createModel("expire");
    const { version } = await createVersion("expire");
    const data = bytesOf(PART + 5, 41);
    const up = await json("POST", `/v1/models/expire/versions/${version}/uploads`, {
      body: { path: "x", size: data.length, sha256: await sha256Of(data) },
    });
    await call("PUT", `/v1/models/expire/versions/${version}/uploads/${up.body.upload_id}/parts/1`, {
      rawBody: data.slice(0, PART),
    });
    const report = await cleanup(env, new Date(Date.now() + 25 * 3600 * 1000));
    // Other tests of this file left uploads open too; all of them have expired by then.
    expect(report.expiredUploads).toBeGreaterThanOrEqual(1);
    const after = await json("GET", `/v1/models/expire/versions/${version}/uploads/${up.body.upload_id}`);
    expect(after.body.status).toBe("aborted");
    expect(after.body.parts).toEqual([]);
    // The version can be finalized again once it has a file: nothing is left open.
    await call("PUT", `/v1/models/expire/versions/${version}/files/small`, { rawBody: "s" });
    expect((await json("POST", `/v1/models/expire/versions/${version}/finalize`)).status).toBe(200);
  });
});
