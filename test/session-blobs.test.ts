/**
 * A verified blob session stays where it was uploaded (src/artifacts/blob-sessions.ts,
 * src/artifacts/bytes.ts `adoptAssembled`): the OCI bridge's chunked upload assembles under
 * `sessions/`, is read once through SHA-256, and its `blobs` row names that key, so its bytes are
 * written once. Every reader finds them there (downloads on /v1, the Hub and OCI, HEAD, ranges,
 * the scrub), the cleanup keeps registered ones and deletes what no row names, and a finish that
 * dies between its steps loses nothing and leaves nothing for good.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { appendChunk, type BlobWriter } from "../src/artifacts/blob-sessions";
import { BlobStore } from "../src/artifacts/blob-store";
import { cleanup } from "../src/artifacts/cleanup";
import { BLOB_PREFIX, blobKey, SESSION_PREFIX } from "../src/artifacts/keys";
import { READ_AHEAD } from "../src/artifacts/read-ahead";
import { scrub } from "../src/artifacts/scrub";
import { EMPTY_DIGEST } from "../src/domain/oci";
import { bytesOf, call, createModel, json, modelStub, sha256Of } from "./helpers";

const MiB = 1024 * 1024;
const DAY = 24 * 3600 * 1000;
type Errors = { errors: { code: string }[] };
const codeOf = async (res: Response) => ((await res.json()) as Errors).errors[0]!.code;

/** Opens a session and sends `bytes` in PATCHes of the given sizes; answers its id and Location. */
async function patched(model: string, bytes: Uint8Array, sizes: number[]): Promise<{ id: string; location: string }> {
  const start = await call("POST", `/v2/${model}/blobs/uploads/`);
  expect(start.status).toBe(202);
  let location = start.headers.get("location")!;
  let offset = 0;
  for (const size of sizes) {
    const chunk = bytes.subarray(offset, offset + size);
    const res = await call("PATCH", location, {
      rawBody: chunk,
      headers: { "content-length": String(chunk.byteLength) },
    });
    expect(res.status, await res.clone().text()).toBe(202);
    offset += chunk.byteLength;
    location = res.headers.get("location")!;
  }
  return { id: location.split("/").pop()!, location };
}

/** The final PUT ?digest= with the rest of `bytes` after `sent` (if any). */
function finish(location: string, digest: string, rest?: Uint8Array, settings?: Partial<typeof env>) {
  return call("PUT", `${location}?digest=${digest}`, {
    rawBody: rest && rest.byteLength > 0 ? rest : undefined,
    headers: rest && rest.byteLength > 0 ? { "content-length": String(rest.byteLength) } : {},
    ...(settings ? { settings } : {}),
  });
}

const rowOf = (sha256: string) =>
  env.DB.prepare("SELECT size, r2_key, corrupt_at FROM blobs WHERE sha256 = ?")
    .bind(sha256)
    .first<{ size: number; r2_key: string | null; corrupt_at: string | null }>();

/** Every key in the bucket under `prefix`. */
async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.ARTIFACTS.list({ prefix, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/** The R2 binding with the key of every write recorded (puts, multipart creations and their parts), and of every read (`get`). */
function recordingBucket(bucket: R2Bucket): { bucket: R2Bucket; written: string[]; read: string[] } {
  const written: string[] = [];
  const read: string[] = [];
  const upload = (u: R2MultipartUpload, key: string): R2MultipartUpload =>
    new Proxy(u, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop !== "uploadPart") return (value as (...a: unknown[]) => unknown).bind(target);
        return (...args: unknown[]) => {
          written.push(key);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const recorded = new Proxy(bucket, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const fn = value as (...a: unknown[]) => unknown;
      if (prop === "put")
        return (key: string, ...rest: unknown[]) => {
          written.push(key);
          return fn.apply(target, [key, ...rest]);
        };
      if (prop === "get")
        return (key: string, ...rest: unknown[]) => {
          read.push(key);
          return fn.apply(target, [key, ...rest]);
        };
      if (prop === "createMultipartUpload")
        return async (key: string, ...rest: unknown[]) =>
          upload((await fn.apply(target, [key, ...rest])) as R2MultipartUpload, key);
      if (prop === "resumeMultipartUpload")
        return (key: string, id: string) => upload(fn.apply(target, [key, id]) as R2MultipartUpload, key);
      return fn.bind(target);
    },
  });
  return { bucket: recorded, written, read };
}

/** Pushes a manifest naming `bytes` as `path`; answers the version made. */
async function versionOf(model: string, path: string, bytes: Uint8Array): Promise<number> {
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.example.model.v1",
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 },
    layers: [
      {
        mediaType: "application/octet-stream",
        digest: `sha256:${await sha256Of(bytes)}`,
        size: bytes.byteLength,
        annotations: { "org.opencontainers.image.title": path },
      },
    ],
  });
  const res = await call("PUT", `/v2/${model}/manifests/staging`, {
    rawBody: body,
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await json("GET", `/v1/models/${model}/aliases/staging`)).body.version as number;
}

/** Emulates an end that died right after R2 assembled the session's parts (as blob-sessions.ts assembles them). */
async function assembleAsACrashedEnd(model: string, id: string): Promise<string> {
  const session = await modelStub(model).blobSession({ model, id });
  if (!session.ok) throw new Error("no session");
  const s = session.value;
  const upload = env.ARTIFACTS.resumeMultipartUpload(s.r2_key, s.r2_upload_id!);
  const parts = s.parts.map((p) => ({ partNumber: p.part, etag: p.etag }));
  if (s.tail_key) {
    const tail = await env.ARTIFACTS.get(s.tail_key);
    parts.push({ partNumber: parts.length + 1, etag: (await upload.uploadPart(parts.length + 1, tail!.body)).etag });
  }
  await upload.complete(parts);
  return s.r2_key;
}

describe("a verified blob session", () => {
  it("is registered where it was uploaded, never written twice, whatever the cuts", async () => {
    await createModel("sb-cuts");
    let seed = 40;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 * MiB }),
        fc.array(fc.integer({ min: 1, max: 7 * MiB }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (size, cuts, lastInPut) => {
          const bytes = bytesOf(size, ++seed);
          const sha256 = await sha256Of(bytes);
          const sizes: number[] = [];
          let sent = 0;
          for (const c of cuts) {
            const n = Math.min(c, size - sent - (lastInPut ? 1 : 0));
            if (n > 0) sizes.push(n);
            sent += Math.max(n, 0);
          }
          if (sizes.length === 0) return;
          const { id, location } = await patched("sb-cuts", bytes, sizes);
          const recording = recordingBucket(env.ARTIFACTS);
          const res = await finish(location, `sha256:${sha256}`, bytes.subarray(sent), {
            ARTIFACTS: recording.bucket,
          });
          expect(res.status, await res.clone().text()).toBe(201);
          // The end wrote nothing at the content address: the assembled bytes are the blob.
          expect(recording.written.filter((k) => k.startsWith(BLOB_PREFIX))).toEqual([]);
          expect(await env.ARTIFACTS.head(blobKey(sha256))).toBeNull();
          const row = await rowOf(sha256);
          // Bytes that came in one chunk were hashed as they streamed in: the end does not read the
          // assembled object back. Any other cut is verified by reading it.
          const inOneChunk = sizes.length === 1 && sent === size;
          if (inOneChunk) expect(recording.read).not.toContain(row?.r2_key);
          else expect(recording.read).toContain(row?.r2_key);
          expect(row?.size).toBe(size);
          expect(row?.r2_key).toMatch(new RegExp(`^${SESSION_PREFIX}${id}`));
          // One object holds the bytes: the session left nothing else behind.
          expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([row!.r2_key]);
          const got = await call("GET", `/v2/sb-cuts/blobs/sha256:${sha256}`);
          expect(got.status).toBe(200);
          expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
        },
      ),
      { numRuns: 6 },
    );
  });

  it("is served from where it lies by /v1, the Hub and OCI, whole, in ranges and read ahead, and answers HEAD", async () => {
    await createModel("sb-reads");
    const bytes = bytesOf(11 * MiB + 123, 7);
    const sha256 = await sha256Of(bytes);
    const { location } = await patched("sb-reads", bytes, [6 * MiB, 5 * MiB]);
    expect((await finish(location, `sha256:${sha256}`, bytes.subarray(11 * MiB))).status).toBe(201);
    expect((await rowOf(sha256))?.r2_key).toMatch(/^sessions\//);
    const v = await versionOf("sb-reads", "weights/model.bin", bytes);
    const routes = [
      `/v1/models/sb-reads/versions/${v}/files/weights/model.bin`,
      `/mreg/sb-reads/resolve/v${v}/weights/model.bin`,
      `/sb-reads/resolve/v${v}/weights/model.bin`,
      `/v2/sb-reads/blobs/sha256:${sha256}`,
    ];
    for (const route of routes) {
      const whole = await call("GET", route);
      expect(whole.status, route).toBe(200);
      expect(new Uint8Array(await whole.arrayBuffer())).toEqual(bytes);
      const ranged = await call("GET", route, { headers: { range: `bytes=${5 * MiB - 3}-${6 * MiB + 9}` } });
      expect(ranged.status, route).toBe(206);
      expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.subarray(5 * MiB - 3, 6 * MiB + 10));
      const head = await call("HEAD", route);
      expect(head.status, route).toBe(200);
      if (!route.includes("/resolve/")) expect(head.headers.get("content-length")).toBe(String(bytes.byteLength));
    }
    // The OCI bridge reads a long GET ahead in ranges: each of them finds the bytes too.
    const saved = { ...READ_AHEAD };
    Object.assign(READ_AHEAD, { threshold: MiB, chunk: 2 * MiB, ahead: 2 });
    try {
      const ahead = await call("GET", `/v2/sb-reads/blobs/sha256:${sha256}`);
      expect(new Uint8Array(await ahead.arrayBuffer())).toEqual(bytes);
    } finally {
      Object.assign(READ_AHEAD, saved);
    }
  });

  it("smaller than one part is its one scratch object, registered where it lies", async () => {
    await createModel("sb-small");
    const bytes = bytesOf(1000, 8);
    const sha256 = await sha256Of(bytes);
    const { id, location } = await patched("sb-small", bytes, [400]);
    expect((await finish(location, `sha256:${sha256}`, bytes.subarray(400))).status).toBe(201);
    const row = await rowOf(sha256);
    expect(row?.r2_key).toMatch(new RegExp(`^${SESSION_PREFIX}${id}-1000-`));
    expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([row!.r2_key]);
    expect(new Uint8Array(await (await call("GET", `/v2/sb-small/blobs/sha256:${sha256}`)).arrayBuffer())).toEqual(
      bytes,
    );
  });

  it("whose bytes lie about their digest is refused, with nothing registered and nothing left", async () => {
    await createModel("sb-liar");
    const bytes = bytesOf(7 * MiB, 9);
    const claimed = await sha256Of(bytesOf(7 * MiB, 10));
    const { id, location } = await patched("sb-liar", bytes, [7 * MiB]);
    const res = await finish(location, `sha256:${claimed}`);
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe("DIGEST_INVALID");
    expect(await rowOf(claimed)).toBeNull();
    expect(await rowOf(await sha256Of(bytes))).toBeNull();
    expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([]);
  });

  it("joins a sound blob registered already, and its own object goes", async () => {
    await createModel("sb-dedup");
    const bytes = bytesOf(6 * MiB, 11);
    const sha256 = await sha256Of(bytes);
    const first = await patched("sb-dedup", bytes, [6 * MiB]);
    expect((await finish(first.location, `sha256:${sha256}`)).status).toBe(201);
    const kept = (await rowOf(sha256))!.r2_key;
    const second = await patched("sb-dedup", bytes, [3 * MiB, 3 * MiB]);
    expect((await finish(second.location, `sha256:${sha256}`)).status).toBe(201);
    expect((await rowOf(sha256))!.r2_key).toBe(kept);
    expect(await keysUnder(`${SESSION_PREFIX}${second.id}`)).toEqual([]);
  });
});

/** A writer of `model`'s blobs, for what no request can send (a body shorter than its length). */
const writerOf = (model: string): BlobWriter => ({
  env,
  db: env.DB,
  principal: { sub: "test", scopes: new Set(["write"]) },
  model,
});

/**
 * Ends a session with the bucket's reads recorded; answers the response and the reads of the
 * session's keys (the scratch bytes past the last full part, appended as the last part, are read
 * to be copied: never more than one part).
 */
async function finishedReading(id: string, location: string, digest: string) {
  const recording = recordingBucket(env.ARTIFACTS);
  const res = await finish(location, `sha256:${digest}`, undefined, { ARTIFACTS: recording.bucket });
  return { res, readBack: recording.read.filter((k) => k.startsWith(`${SESSION_PREFIX}${id}`)) };
}

describe("a session whose bytes came in one chunk (hashed as they streamed into R2)", () => {
  it("ends without reading them back, in one part or many, and they download with their sha256", async () => {
    await createModel("sb-inline");
    for (const [size, seed] of [
      [1, 60],
      [MiB - 3, 61],
      [5 * MiB, 62],
      [11 * MiB + 5, 63],
    ] as const) {
      const bytes = bytesOf(size, seed);
      const sha256 = await sha256Of(bytes);
      const { id, location } = await patched("sb-inline", bytes, [size]);
      const { res, readBack } = await finishedReading(id, location, sha256);
      expect(res.status, await res.clone().text()).toBe(201);
      const row = await rowOf(sha256);
      expect(readBack).not.toContain(row?.r2_key);
      expect(readBack.length).toBeLessThanOrEqual(1);
      expect(row?.size).toBe(size);
      expect(row?.r2_key).toMatch(new RegExp(`^${SESSION_PREFIX}${id}`));
      expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([row!.r2_key]);
      const got = await call("GET", `/v2/sb-inline/blobs/sha256:${sha256}`);
      expect(got.status).toBe(200);
      expect(await sha256Of(await got.arrayBuffer())).toBe(sha256);
    }
  });

  it("naming another digest is refused, nothing registered, nothing left, nothing read", async () => {
    await createModel("sb-inline-liar");
    for (const [size, seed] of [
      [7 * MiB, 64],
      [1000, 65],
    ] as const) {
      const bytes = bytesOf(size, seed);
      const claimed = await sha256Of(bytesOf(size, seed + 100));
      const { id, location } = await patched("sb-inline-liar", bytes, [size]);
      const { res, readBack } = await finishedReading(id, location, claimed);
      expect(res.status).toBe(400);
      expect(await codeOf(res)).toBe("DIGEST_INVALID");
      expect(readBack).toEqual([]);
      expect(await rowOf(claimed)).toBeNull();
      expect(await rowOf(await sha256Of(bytes))).toBeNull();
      expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([]);
      expect((await call("HEAD", `/v2/sb-inline-liar/blobs/sha256:${claimed}`)).status).toBe(404);
      // The session failed: a repeated end with the true digest finds nothing to register.
      const again = await finish(location, `sha256:${await sha256Of(bytes)}`);
      expect(again.status).not.toBe(201);
    }
  });

  it("in two chunks, or one and the last in the PUT, is still verified by reading the assembled bytes", async () => {
    await createModel("sb-inline-two");
    const bytes = bytesOf(6 * MiB + 5, 66);
    const sha256 = await sha256Of(bytes);
    const two = await patched("sb-inline-two", bytes, [3 * MiB, 3 * MiB + 5]);
    const ended = await finishedReading(two.id, two.location, sha256);
    expect(ended.res.status, await ended.res.clone().text()).toBe(201);
    expect(ended.readBack).toContain(`${SESSION_PREFIX}${two.id}`);

    const lying = await patched("sb-inline-two", bytes, [3 * MiB, 3 * MiB + 5]);
    const refused = await finishedReading(lying.id, lying.location, await sha256Of("other"));
    expect(await codeOf(refused.res)).toBe("DIGEST_INVALID");
    expect(await keysUnder(`${SESSION_PREFIX}${lying.id}`)).toEqual([]);

    const other = bytesOf(6 * MiB + 5, 67);
    const otherSha = await sha256Of(other);
    const withLast = await patched("sb-inline-two", other, [6 * MiB]);
    const recording = recordingBucket(env.ARTIFACTS);
    const res = await finish(withLast.location, `sha256:${otherSha}`, other.subarray(6 * MiB), {
      ARTIFACTS: recording.bucket,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(recording.read).toContain(`${SESSION_PREFIX}${withLast.id}`);
  });

  it("whose first chunk ended short of its length records nothing; the chunk sent again at 0 is hashed", async () => {
    await createModel("sb-inline-short");
    const bytes = bytesOf(6 * MiB + 9, 68);
    const sha256 = await sha256Of(bytes);
    const start = await call("POST", "/v2/sb-inline-short/blobs/uploads/");
    const location = start.headers.get("location")!;
    const id = location.split("/").pop()!;
    const short = new Response(bytes.subarray(0, 6 * MiB)).body!;
    await expect(appendChunk(writerOf("sb-inline-short"), id, 0, short, bytes.byteLength)).rejects.toMatchObject({
      code: "validation_failed",
    });
    const after = await modelStub("sb-inline-short").blobSession({ model: "sb-inline-short", id });
    expect(after.ok && after.value.offset).toBe(0);
    expect(after.ok && (after.value.hashed ?? null)).toBeNull();
    // The client sends the chunk again from 0 (as after a crash): this one's hash covers the session.
    const again = await call("PATCH", location, {
      rawBody: bytes,
      headers: { "content-length": String(bytes.byteLength), "content-range": `0-${bytes.byteLength - 1}` },
    });
    expect(again.status, await again.clone().text()).toBe(202);
    // A repeat of it at 0 now is refused: the session holds those bytes.
    const repeat = await call("PATCH", location, {
      rawBody: bytes,
      headers: { "content-length": String(bytes.byteLength), "content-range": `0-${bytes.byteLength - 1}` },
    });
    expect(repeat.status).toBe(416);
    const { res, readBack } = await finishedReading(id, location, sha256);
    expect(res.status, await res.clone().text()).toBe(201);
    expect(readBack).not.toContain(`${SESSION_PREFIX}${id}`);
    expect(await sha256Of(await (await call("GET", `/v2/sb-inline-short/blobs/sha256:${sha256}`)).arrayBuffer())).toBe(
      sha256,
    );
  });

  it("keeps its hash across a restart of the model's object; a session recorded without one is verified by reading", async () => {
    await createModel("sb-inline-restart");
    const bytes = bytesOf(6 * MiB + 1, 69);
    const sha256 = await sha256Of(bytes);
    const kept = await patched("sb-inline-restart", bytes, [bytes.byteLength]);
    await evictDurableObject(modelStub("sb-inline-restart"));
    const ended = await finishedReading(kept.id, kept.location, sha256);
    expect(ended.res.status, await ended.res.clone().text()).toBe(201);
    expect(ended.readBack).not.toContain(`${SESSION_PREFIX}${kept.id}`);

    // A session whose record predates the hash (an object written before it existed) has none.
    const older = bytesOf(6 * MiB + 2, 70);
    const olderSha = await sha256Of(older);
    const old = await patched("sb-inline-restart", older, [older.byteLength]);
    await runInDurableObject(modelStub("sb-inline-restart"), (_instance, state) => {
      state.storage.sql.exec("UPDATE blob_sessions SET record = json_remove(record, '$.hashed') WHERE id = ?", old.id);
    });
    const read = await finishedReading(old.id, old.location, olderSha);
    expect(read.res.status, await read.res.clone().text()).toBe(201);
    expect(read.readBack).toContain(`${SESSION_PREFIX}${old.id}`);
  });
});

describe("a session's end that dies between its steps", () => {
  it("after R2 assembled the parts, before the row: a repeated end registers them; an end never repeated leaves them to the cleanup", async () => {
    await createModel("sb-crash");
    const bytes = bytesOf(6 * MiB + 77, 12);
    const sha256 = await sha256Of(bytes);
    const { id, location } = await patched("sb-crash", bytes, [6 * MiB + 77]);
    const assembled = await assembleAsACrashedEnd("sb-crash", id);
    expect(await rowOf(sha256)).toBeNull();
    expect((await finish(location, `sha256:${sha256}`)).status).toBe(201);
    expect((await rowOf(sha256))?.r2_key).toBe(assembled);
    expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([assembled]);
    expect(new Uint8Array(await (await call("GET", `/v2/sb-crash/blobs/sha256:${sha256}`)).arrayBuffer())).toEqual(
      bytes,
    );
    await versionOf("sb-crash", "kept.bin", bytes);

    // Another session whose end died the same way and was never repeated: no row names its bytes.
    const lost = bytesOf(5 * MiB + 1, 13);
    const abandoned = await patched("sb-crash", lost, [5 * MiB + 1]);
    const orphan = await assembleAsACrashedEnd("sb-crash", abandoned.id);
    // Within its session's life the cleanup leaves it alone (an end may still come).
    await cleanup(env, new Date(Date.now() + 3600 * 1000));
    expect(await env.ARTIFACTS.head(orphan)).not.toBeNull();
    // Past it, the object goes; the registered session blob a version holds stays.
    const report = await cleanup(env, new Date(Date.now() + 2 * DAY + 3600 * 1000));
    expect(report.deletedSessionObjects).toBeGreaterThanOrEqual(1);
    expect(await env.ARTIFACTS.head(orphan)).toBeNull();
    expect(await keysUnder(`${SESSION_PREFIX}${abandoned.id}`)).toEqual([]);
    expect(await env.ARTIFACTS.head(assembled)).not.toBeNull();
    expect(new Uint8Array(await (await call("GET", `/v2/sb-crash/blobs/sha256:${sha256}`)).arrayBuffer())).toEqual(
      bytes,
    );
  });

  it("after the row was written: a repeated end answers the blob, and one naming another digest takes nothing away", async () => {
    await createModel("sb-late");
    for (const [seed, honest] of [
      [14, true],
      [15, false],
    ] as const) {
      const bytes = bytesOf(5 * MiB + seed, seed);
      const sha256 = await sha256Of(bytes);
      const { id, location } = await patched("sb-late", bytes, [5 * MiB + seed]);
      const key = await assembleAsACrashedEnd("sb-late", id);
      await new BlobStore(env.DB, "sb-late").register(sha256, bytes.byteLength, new Date().toISOString(), key);
      const digest = honest ? sha256 : await sha256Of("something else");
      const res = await finish(location, `sha256:${digest}`);
      if (honest) {
        expect(res.status, await res.clone().text()).toBe(201);
        await versionOf("sb-late", "late.bin", bytes);
      } else {
        expect(await codeOf(res)).toBe("DIGEST_INVALID");
      }
      expect((await rowOf(sha256))?.r2_key).toBe(key);
      expect(await env.ARTIFACTS.head(key)).not.toBeNull();
    }
  });
});

describe("the cleanup and the scrub", () => {
  it("collect an unreferenced session blob's bytes where they lie", async () => {
    await createModel("sb-collect");
    const bytes = bytesOf(6 * MiB, 16);
    const sha256 = await sha256Of(bytes);
    const { location } = await patched("sb-collect", bytes, [6 * MiB]);
    expect((await finish(location, `sha256:${sha256}`)).status).toBe(201);
    const key = (await rowOf(sha256))!.r2_key!;
    // Past the model's hold (UPLOAD_TTL_S) and the grace period: no manifest named it.
    const later = Date.now() + DAY + 3600 * 1000;
    await cleanup(env, new Date(later));
    const report = await cleanup(env, new Date(later + 2 * 3600 * 1000));
    expect(report.deletedBlobs).toBeGreaterThanOrEqual(1);
    expect(await rowOf(sha256)).toBeNull();
    expect(await env.ARTIFACTS.head(key)).toBeNull();
  });

  it("scrub finds such a blob corrupt, it is not served, and a new session of its bytes heals it (the old object goes)", async () => {
    await createModel("sb-scrub");
    const bytes = bytesOf(6 * MiB + 5, 17);
    const sha256 = await sha256Of(bytes);
    const first = await patched("sb-scrub", bytes, [6 * MiB + 5]);
    expect((await finish(first.location, `sha256:${sha256}`)).status).toBe(201);
    const v = await versionOf("sb-scrub", "w.bin", bytes);
    const key = (await rowOf(sha256))!.r2_key!;
    const rotten = bytes.slice();
    rotten[12345] = rotten[12345]! ^ 0x40;
    await env.ARTIFACTS.put(key, rotten);
    for (let run = 0; run < 30 && !(await rowOf(sha256))?.corrupt_at; run++)
      await scrub(env, new Date(Date.now() + 40 * DAY + run * 60_000));
    expect((await rowOf(sha256))?.corrupt_at).toBeTruthy();
    for (const route of [`/v2/sb-scrub/blobs/sha256:${sha256}`, `/v1/models/sb-scrub/versions/${v}/files/w.bin`])
      expect((await call("GET", route)).status, route).toBe(503);

    const again = await patched("sb-scrub", bytes, [3 * MiB, 3 * MiB + 5]);
    expect((await finish(again.location, `sha256:${sha256}`)).status).toBe(201);
    const healed = await rowOf(sha256);
    expect(healed?.corrupt_at).toBeNull();
    expect(healed?.r2_key).toMatch(new RegExp(`^${SESSION_PREFIX}${again.id}`));
    expect(await env.ARTIFACTS.head(key)).toBeNull();
    const got = await call("GET", `/v1/models/sb-scrub/versions/${v}/files/w.bin`);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
  });
});
