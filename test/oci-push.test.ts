/**
 * The OCI bridge's push side (src/bridges/oci/push.ts), inside workerd: blob uploads whole,
 * in chunks of any size (re-cut into parts of UPLOAD_PART_SIZE, 5 MiB here), resumed,
 * abandoned, mounted; every failure path in the distribution's words; manifests that make
 * versions (paths from the title or ModelPack's annotation), answered byte for byte by pulls;
 * tags that move aliases through their gates; attachments and the referrers index; and the
 * cleanup of what an abandoned push leaves. test/e2e/oci-push.test.ts drives it with skopeo.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanup } from "../src/artifacts/cleanup";
import { EMPTY_DIGEST } from "../src/domain/oci";
import { chunkRange, cutChunk, MAX_MANIFEST_BYTES } from "../src/domain/oci-push";
import { bundleFacts, signatureReferrer } from "../src/domain/oci-referrers";
import { filePathProblem } from "../src/domain/file-path-rule";
import { bytesOf, call, createModel, hsToken, json, modelStub, sha256Of } from "./helpers";
import { bundleJson, bundleText, caCertificatePem, fileText, signingKeyPem } from "./oms-fixtures";
import { BUNDLE_TYPE, deleteKey, fixtureVersion, registerKey, uploadSignature } from "./signing-helpers";

const MiB = 1024 * 1024;
const enc = (s: string) => new TextEncoder().encode(s);
const digestOf = async (bytes: Uint8Array | string) => `sha256:${await sha256Of(bytes)}`;
type Errors = { errors: { code: string; message: string; detail: unknown }[] };
const codeOf = async (res: Response) => ((await res.json()) as Errors).errors[0]!.code;

/** Uploads `bytes` whole (POST ?digest=); answers the digest. */
async function pushBlob(model: string, bytes: Uint8Array, token?: string): Promise<string> {
  const digest = await digestOf(bytes);
  const res = await call("POST", `/v2/${model}/blobs/uploads/?digest=${digest}`, {
    rawBody: bytes,
    token,
    headers: { "content-length": String(bytes.byteLength) },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  expect(res.headers.get("docker-content-digest")).toBe(digest);
  return digest;
}

/** Uploads `bytes` in chunks of the given sizes (POST, PATCH…, PUT ?digest=); answers the final PUT. */
async function pushChunked(model: string, bytes: Uint8Array, sizes: number[], opts: { ranges?: boolean } = {}) {
  const start = await call("POST", `/v2/${model}/blobs/uploads/`);
  expect(start.status).toBe(202);
  expect(start.headers.get("range")).toBe("0-0");
  let location = start.headers.get("location")!;
  let offset = 0;
  for (const size of sizes) {
    const chunk = bytes.subarray(offset, offset + size);
    const headers: Record<string, string> = { "content-length": String(chunk.byteLength) };
    if (opts.ranges) headers["content-range"] = `${offset}-${offset + chunk.byteLength - 1}`;
    const patched = await call("PATCH", location, { rawBody: chunk, headers });
    expect(patched.status, await patched.clone().text()).toBe(202);
    offset += chunk.byteLength;
    expect(patched.headers.get("range")).toBe(`0-${offset - 1}`);
    location = patched.headers.get("location")!;
  }
  const rest = bytes.subarray(offset);
  return call("PUT", `${location}?digest=${await digestOf(bytes)}`, {
    rawBody: rest.byteLength > 0 ? rest : undefined,
    headers: rest.byteLength > 0 ? { "content-length": String(rest.byteLength) } : {},
  });
}

async function blobBytes(model: string, digest: string): Promise<Uint8Array | null> {
  const res = await call("GET", `/v2/${model}/blobs/${digest}`);
  if (res.status !== 200) return null;
  return new Uint8Array(await res.arrayBuffer());
}

interface Layer {
  path: string;
  bytes: Uint8Array;
  annotation?: string;
}

/** A manifest of `layers` (each already uploaded, or not) with the empty config. */
async function manifestOf(layers: Layer[], extra: Record<string, unknown> = {}): Promise<string> {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.example.model.v1",
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 },
    layers: await Promise.all(
      layers.map(async (l) => ({
        mediaType: "application/octet-stream",
        digest: await digestOf(l.bytes),
        size: l.bytes.byteLength,
        annotations: { [l.annotation ?? "org.opencontainers.image.title"]: l.path },
      })),
    ),
    ...extra,
  });
}

const putManifest = (model: string, reference: string, body: string, token?: string) =>
  call("PUT", `/v2/${model}/manifests/${reference}`, {
    rawBody: body,
    token,
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
  });

describe("the pure rules", () => {
  it("cut any chunk after any tail into full parts and a remainder under one part", () => {
    fc.assert(
      fc.property(fc.nat(10 * MiB), fc.nat(200 * MiB), fc.integer({ min: 1, max: 100 * MiB }), (tail, length, part) => {
        const t = tail % part;
        const { fullParts, remainder } = cutChunk(t, length, part);
        expect(fullParts * part + remainder).toBe(t + length);
        expect(remainder).toBeGreaterThanOrEqual(0);
        expect(remainder).toBeLessThan(part);
      }),
    );
  });

  it("read Content-Range as <start>-<end>, refusing what is malformed or backwards", () => {
    expect(chunkRange(null)).toBeNull();
    expect(chunkRange("0-99")).toEqual({ start: 0, length: 100 });
    expect(chunkRange("bytes 5-5")).toEqual({ start: 5, length: 1 });
    for (const bad of ["5-2", "a-b", "-1-3", "0-", "1e3-2e3", `0-${"9".repeat(17)}`])
      expect(chunkRange(bad)).toBe("invalid");
  });
});

describe("blob uploads", () => {
  it("take a whole blob with ?digest= (201) and refuse one whose bytes hash to something else, keeping nothing", async () => {
    await createModel("op-mono");
    const bytes = bytesOf(1000, 3);
    const digest = await pushBlob("op-mono", bytes);
    expect(await blobBytes("op-mono", digest)).toEqual(bytes);
    const other = bytesOf(1000, 4);
    const wrong = await call("POST", `/v2/op-mono/blobs/uploads/?digest=${await digestOf(bytesOf(1000, 5))}`, {
      rawBody: other,
      headers: { "content-length": "1000" },
    });
    expect(wrong.status).toBe(400);
    expect(await codeOf(wrong)).toBe("DIGEST_INVALID");
    expect(await blobBytes("op-mono", await digestOf(other))).toBeNull();
    const malformed = await call("POST", `/v2/op-mono/blobs/uploads/?digest=sha256:abc`, { rawBody: other });
    expect(await codeOf(malformed)).toBe("DIGEST_INVALID");
  });

  it("re-cut chunks of any size, with and without Content-Range, into parts, and verify the whole at the end", async () => {
    await createModel("op-chunks");
    const bytes = bytesOf(12 * MiB + 12345, 7);
    // Chunks smaller than a part, straddling part boundaries, and larger than one part.
    const put = await pushChunked("op-chunks", bytes, [1, 3 * MiB, 2 * MiB + 7, 6 * MiB], { ranges: true });
    expect(put.status, await put.clone().text()).toBe(201);
    const digest = put.headers.get("docker-content-digest")!;
    expect(digest).toBe(await digestOf(bytes));
    expect(put.headers.get("location")).toBe(`/v2/op-chunks/blobs/${digest}`);
    expect(await sha256Of((await blobBytes("op-chunks", digest))!)).toBe(digest.slice(7));
    // Every chunk in one PATCH (what skopeo sends), nothing in the PUT.
    const other = bytesOf(6 * MiB, 8);
    expect((await pushChunked("op-chunks", other, [other.byteLength])).status).toBe(201);
    // Under one part, all in scratch bytes; and the whole blob in the PUT.
    const small = bytesOf(777, 9);
    expect((await pushChunked("op-chunks", small, [100, 200])).status).toBe(201);
    expect((await pushChunked("op-chunks", bytesOf(555, 10), [])).status).toBe(201);
    expect(await blobBytes("op-chunks", await digestOf(small))).toEqual(small);
  });

  it("answer any random cut of the same bytes with the same verified blob", async () => {
    await createModel("op-random");
    const bytes = bytesOf(11 * MiB + 3, 11);
    const digest = await digestOf(bytes);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 7 * MiB }), { minLength: 0, maxLength: 4 }),
        async (sizes) => {
          const cut: number[] = [];
          let left = bytes.byteLength;
          for (const s of sizes) if (left > 0) (cut.push(Math.min(s, left)), (left -= Math.min(s, left)));
          const put = await pushChunked("op-random", bytes, cut);
          expect(put.status, await put.clone().text()).toBe(201);
          expect(put.headers.get("docker-content-digest")).toBe(digest);
        },
      ),
      { numRuns: 4 },
    );
  });

  it("say how far an upload got (204 Range), refuse a chunk out of order with 416, and end with the right bytes", async () => {
    await createModel("op-resume");
    const bytes = bytesOf(2000, 12);
    const start = await call("POST", "/v2/op-resume/blobs/uploads/");
    const location = start.headers.get("location")!;
    const first = await call("PATCH", location, {
      rawBody: bytes.subarray(0, 700),
      headers: { "content-length": "700", "content-range": "0-699" },
    });
    expect(first.status).toBe(202);
    const status = await call("GET", location);
    expect(status.status).toBe(204);
    expect(status.headers.get("range")).toBe("0-699");
    expect(status.headers.get("docker-upload-uuid")).toBe(location.split("/").pop());
    // A chunk that skips ahead, or goes back: 416 with where the upload stands.
    for (const range of ["800-899", "0-99"]) {
      const wrong = await call("PATCH", location, {
        rawBody: bytes.subarray(0, 100),
        headers: { "content-length": "100", "content-range": range },
      });
      expect(wrong.status, range).toBe(416);
      expect(wrong.headers.get("range")).toBe("0-699");
      expect(await codeOf(wrong)).toBe("BLOB_UPLOAD_INVALID");
    }
    // A Content-Range that disagrees with the body's length, or is no range at all: 400.
    for (const range of ["700-799", "x"]) {
      const lying = await call("PATCH", location, {
        rawBody: bytes.subarray(700, 750),
        headers: { "content-length": "50", "content-range": range },
      });
      expect(lying.status, range).toBe(400);
      expect(await codeOf(lying)).toBe("BLOB_UPLOAD_INVALID");
    }
    expect((await call("GET", location)).headers.get("range")).toBe("0-699");
    const end = await call("PUT", `${location}?digest=${await digestOf(bytes)}`, {
      rawBody: bytes.subarray(700),
      headers: { "content-length": "1300" },
    });
    expect(end.status).toBe(201);
    expect(await blobBytes("op-resume", await digestOf(bytes))).toEqual(bytes);
  });

  it("fail an upload whose bytes do not hash to the digest named at the end, and know no such upload after", async () => {
    await createModel("op-lie");
    const bytes = bytesOf(6 * MiB, 13);
    const start = await call("POST", "/v2/op-lie/blobs/uploads/");
    const location = start.headers.get("location")!;
    await call("PATCH", location, { rawBody: bytes, headers: { "content-length": String(bytes.byteLength) } });
    const claimed = await digestOf(bytesOf(6 * MiB, 14));
    const end = await call("PUT", `${location}?digest=${claimed}`);
    expect(end.status).toBe(400);
    expect(await codeOf(end)).toBe("DIGEST_INVALID");
    expect(await blobBytes("op-lie", claimed)).toBeNull();
    expect(await blobBytes("op-lie", await digestOf(bytes))).toBeNull();
    const again = await call("PATCH", location, {
      rawBody: bytes.subarray(0, 10),
      headers: { "content-length": "10" },
    });
    expect(again.status).toBe(400);
    expect(await codeOf(again)).toBe("BLOB_UPLOAD_INVALID");
    expect(await codeOf(await call("GET", location))).toBe("BLOB_UPLOAD_UNKNOWN");
  });

  it("refuse a chunk or a whole blob whose body is not the length it declares, and keep the upload where it was", async () => {
    await createModel("op-sizes");
    const location = (await call("POST", "/v2/op-sizes/blobs/uploads/")).headers.get("location")!;
    const short = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytesOf(3, 40));
        controller.close();
      },
    });
    for (const [length, body] of [
      ["10", short],
      ["3", bytesOf(10, 41)],
    ] as const) {
      const res = await call("PATCH", location, { rawBody: body, headers: { "content-length": length } });
      expect(res.status, `declared ${length}`).toBe(400);
      expect(["BLOB_UPLOAD_INVALID", "SIZE_INVALID"]).toContain(await codeOf(res));
    }
    expect((await call("GET", location)).headers.get("range")).toBe("0-0");
    const missing = await call("PATCH", location, { rawBody: bytesOf(5, 42), headers: { "content-length": "x" } });
    expect(await codeOf(missing)).toBe("SIZE_INVALID");
    const whole = await call("POST", `/v2/op-sizes/blobs/uploads/?digest=${await digestOf(bytesOf(10, 43))}`, {
      rawBody: bytesOf(10, 43),
      headers: { "content-length": "12" },
    });
    expect(whole.status).toBe(400);
  });

  it("refuse a whole blob, a PATCH or a last chunk over the zone's body limit (SIZE_INVALID, naming it and chunks); chunks under it push the same bytes", async () => {
    await createModel("op-zone");
    // The smallest limit the test settings allow (MAX_SINGLE_PUT is 6 MiB here, and may not be over it).
    const limit = 6 * MiB;
    const settings = { ZONE_BODY_LIMIT: String(limit) };
    const bytes = bytesOf(limit + MiB + 3, 44);
    const digest = await digestOf(bytes);
    const sized = (body: Uint8Array, headers: Record<string, string> = {}) => ({
      rawBody: body,
      headers: { "content-length": String(body.byteLength), ...headers },
      settings,
    });
    const expectRefused = async (res: Response) => {
      expect(res.status).toBe(400);
      const error = ((await res.json()) as Errors).errors[0]!;
      expect(error.code).toBe("SIZE_INVALID");
      expect(error.message).toContain(`limit of ${limit} bytes`);
      expect(error.message).toContain("PATCH");
      expect(error.message).toContain("Content-Range");
      expect(error.detail).toEqual({ limit, length: bytes.byteLength });
    };
    await expectRefused(await call("POST", `/v2/op-zone/blobs/uploads/?digest=${digest}`, sized(bytes)));
    const location = (await call("POST", "/v2/op-zone/blobs/uploads/", { settings })).headers.get("location")!;
    await expectRefused(await call("PATCH", location, sized(bytes)));
    await expectRefused(await call("PATCH", location, sized(bytes, { "content-range": `0-${bytes.byteLength - 1}` })));
    await expectRefused(await call("PUT", `${location}?digest=${digest}`, sized(bytes)));
    // Nothing was taken: the upload is where it was, and no blob is held.
    expect((await call("GET", location, { settings })).headers.get("range")).toBe("0-0");
    expect(await blobBytes("op-zone", digest)).toBeNull();
    // The same upload, in chunks under the limit: two PATCHes with Content-Range, the rest with the PUT.
    const cut = 3 * MiB;
    let at = location;
    for (const start of [0, cut]) {
      const chunk = bytes.subarray(start, start + cut);
      const res = await call("PATCH", at, sized(chunk, { "content-range": `${start}-${start + cut - 1}` }));
      expect(res.status, await res.clone().text()).toBe(202);
      at = res.headers.get("location")!;
    }
    const done = await call("PUT", `${at}?digest=${digest}`, sized(bytes.subarray(2 * cut)));
    expect(done.status, await done.clone().text()).toBe(201);
    expect(await blobBytes("op-zone", digest)).toEqual(bytes);
  });

  it("answer BLOB_UPLOAD_UNKNOWN for ids it never gave or another model's, and abandon an upload with DELETE", async () => {
    await createModel("op-ids");
    await createModel("op-ids-2");
    for (const id of ["nope", "00000000-0000-4000-8000-000000000000"]) {
      const res = await call("PATCH", `/v2/op-ids/blobs/uploads/${id}`, {
        rawBody: "x",
        headers: { "content-length": "1" },
      });
      expect(res.status, id).toBe(400);
      expect(await codeOf(res)).toBe("BLOB_UPLOAD_UNKNOWN");
    }
    const start = await call("POST", "/v2/op-ids/blobs/uploads/");
    const id = start.headers.get("location")!.split("/").pop()!;
    expect(await codeOf(await call("GET", `/v2/op-ids-2/blobs/uploads/${id}`))).toBe("BLOB_UPLOAD_UNKNOWN");
    expect((await call("DELETE", `/v2/op-ids/blobs/uploads/${id}`)).status).toBe(204);
    expect(await codeOf(await call("GET", `/v2/op-ids/blobs/uploads/${id}`))).toBe("BLOB_UPLOAD_UNKNOWN");
    expect(await codeOf(await call("DELETE", `/v2/op-ids/blobs/uploads/${id}`))).toBe("BLOB_UPLOAD_UNKNOWN");
  });

  it("let one of two racing chunks at the same offset land, and still end with verified bytes", async () => {
    await createModel("op-race");
    const bytes = bytesOf(3000, 15);
    const location = (await call("POST", "/v2/op-race/blobs/uploads/")).headers.get("location")!;
    const chunk = { rawBody: bytes.subarray(0, 1000), headers: { "content-length": "1000", "content-range": "0-999" } };
    const [a, b] = await Promise.all([call("PATCH", location, chunk), call("PATCH", location, chunk)]);
    // The loser met the winner's claim (400) or came after it landed (416: the upload moved on).
    expect([a.status, b.status].filter((s) => s === 202)).toHaveLength(1);
    expect([400, 416]).toContain(a.status === 202 ? b.status : a.status);
    const end = await call("PUT", `${location}?digest=${await digestOf(bytes)}`, {
      rawBody: bytes.subarray(1000),
      headers: { "content-length": "2000" },
    });
    expect(end.status).toBe(201);
  });

  it("refuse a push to a model the token may not see as NAME_UNKNOWN, and one without write as DENIED", async () => {
    await createModel("team-b-model");
    const teamA = await hsToken({ models: ["team-a-*"] });
    const res = await call("POST", "/v2/team-b-model/blobs/uploads/", { token: teamA });
    expect(res.status).toBe(404);
    expect(await codeOf(res)).toBe("NAME_UNKNOWN");
    const readOnly = await hsToken({ scope: "read" });
    const denied = await call("POST", "/v2/team-b-model/blobs/uploads/", { token: readOnly });
    expect(denied.status).toBe(403);
    expect(await codeOf(denied)).toBe("DENIED");
    const anonymous = await call("POST", "/v2/team-b-model/blobs/uploads/", { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain('scope="repository:team-b-model:pull,push"');
  });

  it("mount bytes from a model the token may read (201, no bytes), and start an upload (202) from one it may not", async () => {
    await createModel("op-src");
    await createModel("op-dst");
    await createModel("op-secret");
    const bytes = bytesOf(4096, 16);
    const digest = await pushBlob("op-src", bytes);
    expect((await putManifest("op-src", "staging", await manifestOf([{ path: "w.bin", bytes }]))).status).toBe(201);
    const secretBytes = bytesOf(4096, 17);
    const secret = await pushBlob("op-secret", secretBytes);
    expect(
      (await putManifest("op-secret", "staging", await manifestOf([{ path: "s.bin", bytes: secretBytes }]))).status,
    ).toBe(201);
    const token = await hsToken({ models: ["op-src", "op-dst"] });
    const mounted = await call("POST", `/v2/op-dst/blobs/uploads/?mount=${digest}&from=op-src`, { token });
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get("location")).toBe(`/v2/op-dst/blobs/${digest}`);
    expect(await blobBytes("op-dst", digest)).toEqual(bytes);
    const refused = await call("POST", `/v2/op-dst/blobs/uploads/?mount=${secret}&from=op-secret`, { token });
    expect(refused.status).toBe(202);
    expect(refused.headers.get("location")).toMatch(/^\/v2\/op-dst\/blobs\/uploads\//);
    expect(await blobBytes("op-dst", secret)).toBeNull();
    // Seeing the source is not enough: a mount reads it, so it needs the `read` scope too.
    const writeOnly = await hsToken({ scope: "write", models: ["op-src", "op-dst"] });
    const unread = await call("POST", `/v2/op-dst/blobs/uploads/?mount=${digest}&from=op-src`, { token: writeOnly });
    expect(unread.status).toBe(202);
    expect(unread.headers.get("location")).toMatch(/^\/v2\/op-dst\/blobs\/uploads\//);
    // A source that lacks the bytes: an upload too.
    const lacking = await call("POST", `/v2/op-dst/blobs/uploads/?mount=${await digestOf("zz")}&from=op-src`, {
      token,
    });
    expect(lacking.status).toBe(202);
  });

  it("are collected once abandoned past UPLOAD_TTL_S, parts and all; loose blobs no manifest claimed are no longer held", async () => {
    await createModel("op-ttl");
    const bytes = bytesOf(6 * MiB, 18);
    const location = (await call("POST", "/v2/op-ttl/blobs/uploads/")).headers.get("location")!;
    await call("PATCH", location, { rawBody: bytes, headers: { "content-length": String(bytes.byteLength) } });
    const loose = await pushBlob("op-ttl", bytesOf(100, 19));
    const open = () =>
      env.DB.prepare("SELECT count(*) AS n FROM open_uploads WHERE model = 'op-ttl'").first<{ n: number }>();
    expect((await open())!.n).toBe(1);
    const later = new Date(Date.now() + 25 * 3600 * 1000);
    const stub = modelStub("op-ttl");
    expect(await stub.heldBlobSize({ sha256: loose.slice(7), now: new Date().toISOString() })).toBe(100);
    expect(await stub.heldBlobSize({ sha256: loose.slice(7), now: later.toISOString() })).toBeNull();
    const report = await cleanup(env, later);
    expect(report.expiredUploads).toBeGreaterThanOrEqual(1);
    // The object projects its change before it answers: D1 forgot the open session already.
    expect((await open())!.n).toBe(0);
    expect(await codeOf(await call("GET", location))).toBe("BLOB_UPLOAD_UNKNOWN");
    // Pruned with the expired session: the collector no longer finds the bytes held.
    expect(await stub.holdsBlob(loose.slice(7), later.toISOString())).toBe(false);
  });
});

describe("manifest pushes", () => {
  it("make one ready version whose files are the layers, pulled back byte for byte by tag and by digest", async () => {
    await createModel("op-version");
    const layers: Layer[] = [
      { path: "model.safetensors", bytes: bytesOf(3000, 20) },
      { path: "tokenizer/vocab.txt", bytes: enc("a\nb\n") },
    ];
    for (const l of layers) await pushBlob("op-version", l.bytes);
    const body = await manifestOf(layers);
    const digest = await digestOf(body);
    const put = await putManifest("op-version", "staging", body);
    expect(put.status, await put.clone().text()).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(digest);
    expect(put.headers.get("location")).toBe(`/v2/op-version/manifests/${digest}`);
    const versions = (await json("GET", "/v1/models/op-version/versions")).body.items;
    expect(versions).toHaveLength(1);
    const v = versions[0];
    expect(v.status).toBe("ready");
    expect(v.lineage.source).toBe("oci");
    expect(v.files.map((f: { path: string }) => f.path).sort()).toEqual(["model.safetensors", "tokenizer/vocab.txt"]);
    expect((await json("GET", "/v1/models/op-version/aliases/staging")).body.version).toBe(v.version);
    for (const reference of ["staging", digest, `v${v.version}`, "latest"]) {
      const pulled = await call("GET", `/v2/op-version/manifests/${reference}`);
      expect(pulled.status, reference).toBe(200);
      expect(pulled.headers.get("docker-content-digest")).toBe(digest);
      expect(pulled.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
      expect(await pulled.text()).toBe(body);
    }
    // The same manifest again names the same version; by digest, no alias moves.
    expect((await putManifest("op-version", digest, body)).status).toBe(201);
    expect((await json("GET", "/v1/models/op-version/versions")).body.items).toHaveLength(1);
  });

  it("take ModelPack's filepath annotation and keep its config blob, served at its digest", async () => {
    await createModel("op-modelpack");
    const weight = bytesOf(2048, 21);
    const config = enc(JSON.stringify({ descriptor: { name: "m" }, modelfs: { type: "layers", diffIds: [] } }));
    await pushBlob("op-modelpack", weight);
    const configDigest = await pushBlob("op-modelpack", config);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: { mediaType: "application/vnd.cncf.model.config.v1+json", digest: configDigest, size: config.byteLength },
      layers: [
        {
          mediaType: "application/vnd.cncf.model.weight.v1.raw",
          digest: await digestOf(weight),
          size: weight.byteLength,
          annotations: { "org.cncf.model.filepath": "weights/model.bin" },
        },
      ],
    });
    expect((await putManifest("op-modelpack", "candidate", body)).status).toBe(201);
    const v = (await json("GET", "/v1/models/op-modelpack/versions")).body.items[0];
    expect(v.files.map((f: { path: string }) => f.path)).toEqual(["weights/model.bin"]);
    expect(await blobBytes("op-modelpack", configDigest)).toEqual(config);
    expect(await (await call("GET", "/v2/op-modelpack/manifests/candidate")).text()).toBe(body);
  });

  it("refuse layers the model does not hold (MANIFEST_BLOB_UNKNOWN), sizes that lie, and make no version", async () => {
    await createModel("op-unknown");
    const held = bytesOf(100, 22);
    await pushBlob("op-unknown", held);
    const missing = await putManifest(
      "op-unknown",
      "staging",
      await manifestOf([{ path: "a.bin", bytes: bytesOf(100, 23) }]),
    );
    expect(missing.status).toBe(400);
    expect(await codeOf(missing)).toBe("MANIFEST_BLOB_UNKNOWN");
    const lying = JSON.parse(await manifestOf([{ path: "a.bin", bytes: held }]));
    lying.layers[0].size = 99;
    const liar = await putManifest("op-unknown", "staging", JSON.stringify(lying));
    expect(await codeOf(liar)).toBe("MANIFEST_BLOB_UNKNOWN");
    // Another model's bytes are not this one's.
    await createModel("op-unknown-other");
    const theirs = bytesOf(100, 24);
    await pushBlob("op-unknown-other", theirs);
    expect(
      await codeOf(await putManifest("op-unknown", "staging", await manifestOf([{ path: "t.bin", bytes: theirs }]))),
    ).toBe("MANIFEST_BLOB_UNKNOWN");
    expect((await json("GET", "/v1/models/op-unknown/versions")).body.items).toHaveLength(0);
  });

  it("refuse hostile, missing and colliding paths as MANIFEST_INVALID, whatever the annotation holds", async () => {
    await createModel("op-paths");
    const bytes = bytesOf(50, 25);
    await pushBlob("op-paths", bytes);
    for (const path of ["../etc/passwd", "/abs", "a/../../b", "a\\b", "a//b", "ok/\u0000", ".", "x/"]) {
      const res = await putManifest("op-paths", "staging", await manifestOf([{ path, bytes }]));
      expect(res.status, path).toBe(400);
      expect(await codeOf(res)).toBe("MANIFEST_INVALID");
    }
    const none = JSON.parse(await manifestOf([{ path: "a", bytes }]));
    delete none.layers[0].annotations;
    expect(await codeOf(await putManifest("op-paths", "staging", JSON.stringify(none)))).toBe("MANIFEST_INVALID");
    const twins = await manifestOf([
      { path: "A.bin", bytes },
      { path: "a.bin", bytes },
    ]);
    expect(await codeOf(await putManifest("op-paths", "staging", twins))).toBe("MANIFEST_INVALID");
    // Any string: a version exactly when it is a valid file path.
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 12 }), async (path) => {
        const res = await putManifest(
          "op-paths",
          `p${Math.floor(Math.random() * 1e9)}`,
          await manifestOf([{ path, bytes }]),
        );
        if (filePathProblem(path) === null) expect(res.status, JSON.stringify(path)).toBe(201);
        else expect(await codeOf(res), JSON.stringify(path)).toBe("MANIFEST_INVALID");
      }),
      { numRuns: 25 },
    );
  });

  it("refuse oversize manifests, non-manifests and digests that do not match the bytes", async () => {
    await createModel("op-bad");
    const huge = "x".repeat(MAX_MANIFEST_BYTES + 1);
    const big = await putManifest("op-bad", "staging", huge);
    expect(big.status).toBe(400);
    expect(await codeOf(big)).toBe("SIZE_INVALID");
    for (const body of [
      "{",
      "[]",
      JSON.stringify({ schemaVersion: 1 }),
      JSON.stringify({ schemaVersion: 2, manifests: [] }),
    ])
      expect(await codeOf(await putManifest("op-bad", "staging", body)), body).toBe("MANIFEST_INVALID");
    const bytes = bytesOf(10, 26);
    await pushBlob("op-bad", bytes);
    const body = await manifestOf([{ path: "a", bytes }]);
    const wrongDigest = await putManifest("op-bad", await digestOf("other"), body);
    expect(await codeOf(wrongDigest)).toBe("DIGEST_INVALID");
    const index = await call("PUT", "/v2/op-bad/manifests/staging", {
      rawBody: body,
      headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
    });
    expect(await codeOf(index)).toBe("MANIFEST_INVALID");
  });

  it("refuse latest and v<n> as TAG_INVALID, and answer 405 for deleting a version's manifest or a tag", async () => {
    await createModel("op-tags");
    const bytes = bytesOf(10, 27);
    await pushBlob("op-tags", bytes);
    const body = await manifestOf([{ path: "a", bytes }]);
    for (const tag of ["latest", "v3", "1.0", "V12"]) {
      const res = await putManifest("op-tags", tag, body);
      expect(res.status, tag).toBe(400);
      expect(await codeOf(res), tag).toBe("TAG_INVALID");
    }
    const digest = (await putManifest("op-tags", "staging", body)).headers.get("docker-content-digest")!;
    for (const reference of [digest, "staging"]) {
      const res = await call("DELETE", `/v2/op-tags/manifests/${reference}`);
      expect(res.status, reference).toBe(405);
      expect(await codeOf(res)).toBe("UNSUPPORTED");
    }
  });

  it("move a tag only through its gate: a failing gate is DENIED with the checks; no promote scope pushes nothing", async () => {
    await createModel("op-gated");
    expect(
      (await json("PUT", "/v1/models/op-gated/gates/production", { body: { required_tags: { validation: "passed" } } }))
        .status,
    ).toBe(200);
    const bytes = bytesOf(10, 28);
    await pushBlob("op-gated", bytes);
    const body = await manifestOf([{ path: "a", bytes }]);
    const refused = await putManifest("op-gated", "production", body);
    expect(refused.status).toBe(403);
    const error = ((await refused.json()) as Errors).errors[0]!;
    expect(error.code).toBe("DENIED");
    const checks = (error.detail as { checks: { check: string; passed: boolean }[] }).checks;
    expect(checks.filter((c) => !c.passed).map((c) => c.check)).toEqual([checks[0]!.check]);
    expect(checks[0]!.check).toContain("validation");
    expect((await call("GET", "/v1/models/op-gated/aliases/production")).status).toBe(404);
    const writer = await hsToken({ scope: "read write" });
    const noPromote = await putManifest("op-gated", "staging", await manifestOf([{ path: "b", bytes }]), writer);
    expect(noPromote.status).toBe(403);
    expect((await json("GET", "/v1/models/op-gated/versions")).body.items).toHaveLength(1);
    // By digest, write alone pushes.
    const digest = await digestOf(await manifestOf([{ path: "b", bytes }]));
    expect((await putManifest("op-gated", digest, await manifestOf([{ path: "b", bytes }]), writer)).status).toBe(201);
  });

  it("move a tag only with the alias's grant: promote for staging alone is DENIED production, and pushes staging", async () => {
    await createModel("op-granted");
    const bytes = bytesOf(10, 32);
    await pushBlob("op-granted", bytes);
    const stagingOnly = await hsToken({ scope: "read write promote", aliases: ["staging"] });
    const body = await manifestOf([{ path: "a", bytes }]);
    const refused = await putManifest("op-granted", "production", body, stagingOnly);
    expect(refused.status).toBe(403);
    const error = ((await refused.json()) as Errors).errors[0]!;
    expect(error.code).toBe("DENIED");
    expect((error.detail as { reason: string }).reason).toContain("'production'");
    expect((await json("GET", "/v1/models/op-granted/versions")).body.items).toHaveLength(0);
    expect((await call("GET", "/v1/models/op-granted/aliases/production")).status).toBe(404);
    expect((await putManifest("op-granted", "staging", body, stagingOnly)).status).toBe(201);
    expect((await json("GET", "/v1/models/op-granted/aliases/staging")).body.version).toBe(1);
  });
});

describe("referrers", () => {
  it("keep an attachment of a version's manifest (OCI-Subject), list it filtered or not, serve it, and delete it with admin", async () => {
    await createModel("op-refs");
    const bytes = bytesOf(64, 29);
    await pushBlob("op-refs", bytes);
    const subject = await manifestOf([{ path: "model.bin", bytes }]);
    const subjectDigest = (await putManifest("op-refs", "staging", subject)).headers.get("docker-content-digest")!;
    const sbom = enc(JSON.stringify({ spdxVersion: "SPDX-2.3" }));
    const sbomDigest = await pushBlob("op-refs", sbom);
    await pushBlob("op-refs", enc("{}"));
    const attachment = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/spdx+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 },
      layers: [{ mediaType: "application/spdx+json", digest: sbomDigest, size: sbom.byteLength }],
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subjectDigest, size: subject.length },
      annotations: { "org.opencontainers.image.created": "2026-12-07T00:00:00Z" },
    });
    const attachmentDigest = await digestOf(attachment);
    const put = await putManifest("op-refs", attachmentDigest, attachment);
    expect(put.status, await put.clone().text()).toBe(201);
    expect(put.headers.get("oci-subject")).toBe(subjectDigest);
    expect((await json("GET", "/v1/models/op-refs/versions")).body.items).toHaveLength(1);
    const index = await call("GET", `/v2/op-refs/referrers/${subjectDigest}`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.headers.get("oci-filters-applied")).toBeNull();
    expect(await index.json()).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: attachmentDigest,
          size: attachment.length,
          artifactType: "application/spdx+json",
          annotations: { "org.opencontainers.image.created": "2026-12-07T00:00:00Z" },
        },
      ],
    });
    const filtered = await call("GET", `/v2/op-refs/referrers/${subjectDigest}?artifactType=application/x-other`);
    expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType");
    expect(((await filtered.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    const unknown = await call("GET", `/v2/op-refs/referrers/${await digestOf("nothing")}`);
    expect(unknown.status).toBe(200);
    expect(((await unknown.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    expect(await (await call("GET", `/v2/op-refs/manifests/${attachmentDigest}`)).text()).toBe(attachment);
    expect(await blobBytes("op-refs", sbomDigest)).toEqual(sbom);
    const writer = await hsToken({ scope: "read write promote" });
    expect((await call("DELETE", `/v2/op-refs/manifests/${attachmentDigest}`, { token: writer })).status).toBe(403);
    expect((await call("DELETE", `/v2/op-refs/manifests/${attachmentDigest}`)).status).toBe(202);
    const after = await call("GET", `/v2/op-refs/referrers/${subjectDigest}`);
    expect(((await after.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });

  it("accept an attachment before its subject exists, and list it once it does", async () => {
    await createModel("op-early");
    const bytes = bytesOf(64, 30);
    await pushBlob("op-early", bytes);
    const subject = await manifestOf([{ path: "late.bin", bytes }]);
    const subjectDigest = await digestOf(subject);
    const note = enc("a note");
    const noteDigest = await pushBlob("op-early", note);
    const attachment = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.example.note",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 },
      layers: [{ mediaType: "text/plain", digest: noteDigest, size: note.byteLength }],
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subjectDigest, size: subject.length },
    });
    const put = await putManifest("op-early", await digestOf(attachment), attachment);
    expect(put.status).toBe(201);
    expect(put.headers.get("oci-subject")).toBe(subjectDigest);
    expect((await putManifest("op-early", "staging", subject)).status).toBe(201);
    const listed = (await (await call("GET", `/v2/op-early/referrers/${subjectDigest}`)).json()) as {
      manifests: { digest: string; artifactType: string }[];
    };
    expect(listed.manifests.map((m) => [m.digest, m.artifactType])).toEqual([
      [await digestOf(attachment), "application/vnd.example.note"],
    ]);
  });
});

describe("a Sigstore bundle attached as a referrer", () => {
  /** The attachment `@sigstore/oci` pushes: the empty config, the bundle as its one layer, the version's manifest as subject. */
  async function attachBundle(
    model: string,
    subjectDigest: string,
    bundle: Uint8Array,
    extraLayers: Uint8Array[] = [],
  ) {
    const layers = [bundle, ...extraLayers];
    for (const layer of layers) await pushBlob(model, layer);
    const attachment = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: BUNDLE_TYPE,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 },
      layers: await Promise.all(
        layers.map(async (l) => ({ mediaType: BUNDLE_TYPE, digest: await digestOf(l), size: l.byteLength })),
      ),
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subjectDigest, size: 1 },
    });
    const digest = await digestOf(attachment);
    return { res: await putManifest(model, digest, attachment), digest };
  }

  const manifestDigest = async (model: string, version: number) =>
    (await call("HEAD", `/v2/${model}/manifests/v${version}`)).headers.get("docker-content-digest")!;
  const signaturesOf = async (model: string, version: number) =>
    (await json("GET", `/v1/models/${model}/versions/${version}/signatures`)).body.items as {
      id: string;
      trusted_by: string[];
      bundle_sha256: string;
    }[];
  const referrersOf = async (model: string, digest: string) =>
    ((await (await call("GET", `/v2/${model}/referrers/${digest}`)).json()) as { manifests: { digest: string }[] })
      .manifests;
  const errorOf = async (res: Response) => ((await res.json()) as Errors).errors[0]!;

  it("becomes a signature of the version, verified and trusted by the registered key, listed by /v1 and the referrers index", async () => {
    const model = "op-sig";
    await createModel(model);
    const key = await registerKey({ name: "op-sig-key", public_key: signingKeyPem });
    for (const folder of ["v1.0.1-elliptic-key", "v1.0.1-certificate"] as const) {
      const version = await fixtureVersion(model, folder);
      const subject = await manifestDigest(model, version);
      const bundle = enc(bundleText(folder));
      const { res, digest } = await attachBundle(model, subject, bundle);
      expect(res.status, await res.clone().text()).toBe(201);
      expect(res.headers.get("oci-subject")).toBe(subject);
      const signatures = await signaturesOf(model, version);
      expect(signatures).toHaveLength(1);
      expect(signatures[0]!.bundle_sha256).toBe(await sha256Of(bundle));
      // The key vouches for its own fixture; the certificate fixture is valid but untrusted (no CA registered).
      expect(signatures[0]!.trusted_by).toEqual(folder === "v1.0.1-elliptic-key" ? [key.id] : []);
      const fetched = await call("GET", `/v1/models/${model}/versions/${version}/signatures/${signatures[0]!.id}`);
      expect(new Uint8Array(await fetched.arrayBuffer())).toEqual(bundle);
      expect((await referrersOf(model, subject)).map((m) => m.digest)).toEqual([digest]);
      // The same attachment again is the one kept: still one signature.
      expect((await attachBundle(model, subject, bundle)).res.status).toBe(201);
      expect(await signaturesOf(model, version)).toHaveLength(1);
    }
  });

  it("is refused with the failed check named when tampered with, or made over another version's files, and nothing is kept", async () => {
    const model = "op-sig-bad";
    await createModel(model);
    const folder = "v1.0.1-elliptic-key" as const;
    const changed = await fixtureVersion(model, folder, true);
    // Another version, pushed over OCI, whose files are not the bundle's.
    await pushBlob(model, bytesOf(32, 41));
    const otherManifest = await manifestOf([{ path: "other.bin", bytes: bytesOf(32, 41) }]);
    expect((await putManifest(model, await digestOf(otherManifest), otherManifest)).status).toBe(201);
    const otherVersion = changed + 1;
    const exact = await fixtureVersion(model, folder);
    const tampered = bundleJson(folder);
    const sig: string = tampered.dsseEnvelope.signatures[0].sig;
    tampered.dsseEnvelope.signatures[0].sig = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
    const cases: { version: number; bundle: Uint8Array; check: string }[] = [
      { version: exact, bundle: enc(JSON.stringify(tampered)), check: "signature" },
      { version: changed, bundle: enc(bundleText(folder)), check: "files" },
      { version: otherVersion, bundle: enc(bundleText(folder)), check: "files" },
    ];
    for (const { version, bundle, check } of cases) {
      const subject = await manifestDigest(model, version);
      const { res, digest } = await attachBundle(model, subject, bundle);
      expect(res.status, `v${version}`).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe("MANIFEST_INVALID");
      expect(error.detail).toMatchObject({ check });
      expect(await signaturesOf(model, version)).toEqual([]);
      expect(await referrersOf(model, subject)).toEqual([]);
      expect((await call("GET", `/v2/${model}/manifests/${digest}`)).status).toBe(404);
    }
  });

  it("is refused before its subject's version exists, and when it holds more than the bundle", async () => {
    const model = "op-sig-early";
    await createModel(model);
    const folder = "v1.0.1-elliptic-key" as const;
    const early = await attachBundle(model, await digestOf("a manifest not pushed yet"), enc(bundleText(folder)));
    expect(early.res.status).toBe(400);
    const error = await errorOf(early.res);
    expect(error.code).toBe("MANIFEST_INVALID");
    expect(JSON.stringify(error.detail)).toMatch(/push the version first/);
    const version = await fixtureVersion(model, folder);
    const subject = await manifestDigest(model, version);
    const two = await attachBundle(model, subject, enc(bundleText(folder)), [enc("{}\n")]);
    expect(two.res.status).toBe(400);
    expect(await codeOf(two.res)).toBe("MANIFEST_INVALID");
    expect(await signaturesOf(model, version)).toEqual([]);
    expect(await referrersOf(model, subject)).toEqual([]);
  });

  describe("uploaded through /v1 instead", () => {
    const folder = "v1.0.1-elliptic-key" as const;
    /** The v0.3 bundle media type's other spelling, which the verifier accepts too. */
    const BUNDLE_TYPE_PARAMETER = "application/vnd.dev.sigstore.bundle+json;version=0.3";
    type Descriptor = { mediaType: string; digest: string; size: number; artifactType?: string };
    type Index = { schemaVersion: number; mediaType: string; manifests: (Descriptor & { annotations?: object })[] };
    const indexOf = async (model: string, subject: string, query = "") => {
      const res = await call("GET", `/v2/${model}/referrers/${subject}${query}`);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/vnd.oci.image.index.v1+json");
      return { res, text: await res.text() };
    };
    const manifestsOf = async (model: string, subject: string, query = "") =>
      (JSON.parse((await indexOf(model, subject, query)).text) as Index).manifests;
    /** The same bundle in the other spelling of its media type: a different bundle over the same files, still valid. */
    const otherSpelling = () => enc(JSON.stringify({ ...bundleJson(folder), mediaType: BUNDLE_TYPE_PARAMETER }));
    const upload = async (model: string, version: number, bundle: Uint8Array) => {
      const res = await uploadSignature(model, version, bundle);
      expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
      return res.body as { id: string; created_at: string; bundle_sha256: string };
    };

    /**
     * What `@sigstore/oci`'s `attachArtifactToImage` pushes for `bundle` over `subject`, called as
     * GitHub's `attest` calls it, at the signature's time: written here from the client's source,
     * not from mreg's.
     */
    const clientManifest = async (bundle: Uint8Array, mediaType: string, subject: Descriptor, created: string) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: mediaType,
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 },
        layers: [{ mediaType, digest: await digestOf(bundle), size: bundle.byteLength }],
        subject,
        annotations: {
          "org.opencontainers.image.created": created,
          "dev.sigstore.bundle.content": "dsse-envelope",
          "dev.sigstore.bundle.predicateType": "https://model_signing/signature/v1.0",
        },
      });

    it("are made (pure) with their bytes' digest and size, the same for the same signature, another for any other", async () => {
      const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
      const source = fc.record({
        bundle: fc.record({
          sha256: hex,
          size: fc.nat(),
          mediaType: fc.constantFrom(BUNDLE_TYPE, BUNDLE_TYPE_PARAMETER),
          predicateType: fc.option(fc.webUrl(), { nil: null }),
        }),
        createdAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        subject: fc.record({
          mediaType: fc.constant("application/vnd.oci.image.manifest.v1+json"),
          digest: hex.map((h) => `sha256:${h}`),
          size: fc.nat(),
        }),
      });
      await fc.assert(
        fc.asyncProperty(source, source, async (a, b) => {
          const made = await signatureReferrer(a);
          expect(await signatureReferrer(structuredClone(a))).toEqual(made);
          expect(made.digest).toBe(await digestOf(made.body));
          expect(made.size).toBe(enc(made.body).byteLength);
          const body = JSON.parse(made.body);
          expect(body.artifactType).toBe(a.bundle.mediaType);
          expect(body.layers).toEqual([
            { mediaType: a.bundle.mediaType, digest: `sha256:${a.bundle.sha256}`, size: a.bundle.size },
          ]);
          expect(body.subject).toEqual(a.subject);
          expect(body.annotations).toEqual(made.annotations);
          expect(made.annotations["dev.sigstore.bundle.predicateType"]).toBe(a.bundle.predicateType ?? undefined);
          if (JSON.stringify(a) !== JSON.stringify(b))
            expect((await signatureReferrer(b)).digest).not.toBe(made.digest);
        }),
        { numRuns: 60 },
      );
      // What a stored bundle says of itself: its media type and the OMS predicate; defaults for what names neither.
      expect(bundleFacts(bundleText(folder))).toEqual({
        mediaType: BUNDLE_TYPE,
        predicateType: "https://model_signing/signature/v1.0",
      });
      expect(bundleFacts(new TextDecoder().decode(otherSpelling())).mediaType).toBe(BUNDLE_TYPE_PARAMETER);
      expect(bundleFacts("not json")).toEqual({ mediaType: BUNDLE_TYPE, predicateType: null });
    });

    it("are listed as the manifest @sigstore/oci would push, the same bytes every time, fetchable by digest with the bundle and config", async () => {
      const model = "op-v1-sig";
      await createModel(model);
      const version = await fixtureVersion(model, folder);
      const subject = await manifestDigest(model, version);
      const subjectBytes = new Uint8Array(await (await call("GET", `/v2/${model}/manifests/${subject}`)).arrayBuffer());
      const bundle = enc(bundleText(folder));
      const signature = await upload(model, version, bundle);
      const expected = await clientManifest(
        bundle,
        BUNDLE_TYPE,
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject, size: subjectBytes.byteLength },
        signature.created_at,
      );
      const digest = await digestOf(expected);
      // Fetched by the digest a client computes, before any index listed it: found among the model's signatures.
      expect(await (await call("GET", `/v2/${model}/manifests/${digest}`)).text()).toBe(expected);
      const nobodys = await call("GET", `/v2/${model}/manifests/${await digestOf(`${expected} `)}`);
      expect([nobodys.status, await codeOf(nobodys)]).toEqual([404, "MANIFEST_UNKNOWN"]);
      const first = await indexOf(model, subject);
      expect(first.res.headers.get("oci-filters-applied")).toBeNull();
      expect(JSON.parse(first.text)).toEqual({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            digest,
            size: enc(expected).byteLength,
            artifactType: BUNDLE_TYPE,
            annotations: JSON.parse(expected).annotations,
          },
        ],
      });
      // Computed on each read, and always the same bytes.
      expect((await indexOf(model, subject)).text).toBe(first.text);
      for (const method of ["GET", "HEAD"]) {
        const res = await call(method, `/v2/${model}/manifests/${digest}`);
        expect(res.status, `${method} ${await res.clone().text()}`).toBe(200);
        expect(res.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
        expect(res.headers.get("docker-content-digest")).toBe(digest);
        expect(res.headers.get("content-length")).toBe(String(enc(expected).byteLength));
        if (method === "GET") {
          const bytes = new Uint8Array(await res.arrayBuffer());
          expect(await digestOf(bytes)).toBe(digest);
          expect(new TextDecoder().decode(bytes)).toBe(expected);
        }
      }
      // Its layer is the bundle, byte for byte; its config the empty one.
      const layer = await call("GET", `/v2/${model}/blobs/sha256:${signature.bundle_sha256}`);
      expect(layer.status).toBe(200);
      expect(layer.headers.get("content-length")).toBe(String(bundle.byteLength));
      expect(layer.headers.get("docker-content-digest")).toBe(`sha256:${signature.bundle_sha256}`);
      const served = new Uint8Array(await layer.arrayBuffer());
      expect(served).toEqual(bundle);
      expect(await sha256Of(served)).toBe(signature.bundle_sha256);
      const head = await call("HEAD", `/v2/${model}/blobs/sha256:${signature.bundle_sha256}`);
      expect([head.status, head.headers.get("content-length")]).toEqual([200, String(bundle.byteLength)]);
      expect(new TextDecoder().decode((await blobBytes(model, EMPTY_DIGEST))!)).toBe("{}");
      // Filtered by artifactType, and saying so.
      const wanted = await indexOf(model, subject, `?artifactType=${encodeURIComponent(BUNDLE_TYPE)}`);
      expect(wanted.res.headers.get("oci-filters-applied")).toBe("artifactType");
      expect((JSON.parse(wanted.text) as Index).manifests.map((m) => m.digest)).toEqual([digest]);
      const other = await indexOf(model, subject, "?artifactType=application/spdx%2Bjson");
      expect(other.res.headers.get("oci-filters-applied")).toBe("artifactType");
      expect((JSON.parse(other.text) as Index).manifests).toEqual([]);
    });

    it("take the pushed manifest as subject for a version made by a push", async () => {
      const model = "op-v1-sig-pushed";
      await createModel(model);
      const layers = (["signme-1", "signme-2"] as const).map((path) => ({ path, bytes: enc(fileText(folder, path)) }));
      for (const l of layers) await pushBlob(model, l.bytes);
      const pushed = await manifestOf(layers);
      const subject = (await putManifest(model, "staging", pushed)).headers.get("docker-content-digest")!;
      const bundle = enc(bundleText(folder));
      const signature = await upload(model, 1, bundle);
      const [entry] = await manifestsOf(model, subject);
      const fetched = await (await call("GET", `/v2/${model}/manifests/${entry!.digest}`)).text();
      expect(fetched).toBe(
        await clientManifest(
          bundle,
          BUNDLE_TYPE,
          { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject, size: enc(pushed).byteLength },
          signature.created_at,
        ),
      );
    });

    it("are listed once each: one attached over OCI as its pushed manifest, others computed, each bundle with its own media type", async () => {
      const model = "op-v1-sig-both";
      await createModel(model);
      const version = await fixtureVersion(model, folder);
      const subject = await manifestDigest(model, version);
      const bundle = enc(bundleText(folder));
      const attached = await attachBundle(model, subject, bundle);
      expect(attached.res.status).toBe(201);
      // The same bundle through /v1 is the same signature: still only the pushed manifest.
      const original = await upload(model, version, bundle);
      expect((await manifestsOf(model, subject)).map((m) => m.digest)).toEqual([attached.digest]);
      // Nor is its computed manifest answered by digest while the attachment carries it.
      const subjectSize = (await call("GET", `/v2/${model}/manifests/${subject}`)).headers.get("content-length");
      const computedOriginal = await digestOf(
        await clientManifest(
          bundle,
          BUNDLE_TYPE,
          { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject, size: Number(subjectSize) },
          original.created_at,
        ),
      );
      expect((await call("GET", `/v2/${model}/manifests/${computedOriginal}`)).status).toBe(404);
      const spelled = otherSpelling();
      await upload(model, version, spelled);
      expect(await signaturesOf(model, version)).toHaveLength(2);
      const listed = await manifestsOf(model, subject);
      expect(listed).toHaveLength(2);
      const computed = listed.find((m) => m.digest !== attached.digest)!;
      expect(listed.find((m) => m.digest === attached.digest)!.artifactType).toBe(BUNDLE_TYPE);
      expect(computed.artifactType).toBe(BUNDLE_TYPE_PARAMETER);
      const manifest = JSON.parse(await (await call("GET", `/v2/${model}/manifests/${computed.digest}`)).text()) as {
        layers: Descriptor[];
      };
      expect(manifest.layers).toEqual([
        { mediaType: BUNDLE_TYPE_PARAMETER, digest: await digestOf(spelled), size: spelled.byteLength },
      ]);
      expect(await blobBytes(model, await digestOf(spelled))).toEqual(spelled);
      const byType = async (type: string) =>
        (await manifestsOf(model, subject, `?artifactType=${encodeURIComponent(type)}`)).map((m) => m.digest);
      expect(await byType(BUNDLE_TYPE_PARAMETER)).toEqual([computed.digest]);
      expect(await byType(BUNDLE_TYPE)).toEqual([attached.digest]);
      // The attachment deleted, its signature stays, and is listed as computed: still once.
      expect((await call("DELETE", `/v2/${model}/manifests/${attached.digest}`)).status).toBe(202);
      expect(await signaturesOf(model, version)).toHaveLength(2);
      const after = await manifestsOf(model, subject);
      expect(after.map((m) => m.artifactType).sort()).toEqual([BUNDLE_TYPE, BUNDLE_TYPE_PARAMETER].sort());
      expect(after.map((m) => m.digest)).not.toContain(attached.digest);
      expect(after.map((m) => m.digest)).toContain(computedOriginal);
      for (const m of after) expect((await call("GET", `/v2/${model}/manifests/${m.digest}`)).status).toBe(200);
    });

    it("keep their digest while the signature's trust changes: a CA registered, then deleted", async () => {
      const model = "op-v1-sig-trust";
      await createModel(model);
      const certificate = "v1.0.1-certificate" as const;
      const version = await fixtureVersion(model, certificate);
      const subject = await manifestDigest(model, version);
      const bundle = enc(bundleText(certificate));
      const digests = async () => (await manifestsOf(model, subject)).map((m) => m.digest);
      const trust = async () => (await signaturesOf(model, version)).map((s) => s.trusted_by);
      await upload(model, version, bundle);
      expect(await trust()).toEqual([[]]);
      const before = await digests();
      expect(before).toHaveLength(1);
      const ca = await registerKey({ name: "op-v1-sig-ca", ca_certificate: caCertificatePem });
      // Uploading it again adds the CA that now vouches: the same signature, trusted, the same manifest.
      await upload(model, version, bundle);
      expect(await trust()).toEqual([[ca.id]]);
      expect(await digests()).toEqual(before);
      expect(await deleteKey(ca.id)).toBe(204);
      expect(await trust()).toEqual([[]]);
      expect(await digests()).toEqual(before);
      expect((await call("GET", `/v2/${model}/manifests/${before[0]}`)).status).toBe(200);
    });

    it("leave the index with their signature, and are never shown to a token that may not see the model", async () => {
      const model = "op-v1-sig-gone";
      await createModel(model);
      await createModel("op-v1-sig-other");
      const version = await fixtureVersion(model, folder);
      const subject = await manifestDigest(model, version);
      const signature = await upload(model, version, enc(bundleText(folder)));
      const [entry] = await manifestsOf(model, subject);
      const bundleDigest = `sha256:${signature.bundle_sha256}`;
      const hidden = await hsToken({ models: ["team-a-*"] });
      for (const path of [
        `/v2/${model}/referrers/${subject}`,
        `/v2/${model}/manifests/${entry!.digest}`,
        `/v2/${model}/blobs/${bundleDigest}`,
      ]) {
        const res = await call("GET", path, { token: hidden });
        expect([path, res.status, await codeOf(res)]).toEqual([path, 404, "NAME_UNKNOWN"]);
      }
      // Another model holds no signature with this bundle: not its blob.
      const elsewhere = await call("GET", `/v2/op-v1-sig-other/blobs/${bundleDigest}`);
      expect([elsewhere.status, await codeOf(elsewhere)]).toEqual([404, "BLOB_UNKNOWN"]);
      expect((await call("DELETE", `/v1/models/${model}/versions/${version}/signatures/${signature.id}`)).status).toBe(
        204,
      );
      expect(await manifestsOf(model, subject)).toEqual([]);
      const manifest = await call("GET", `/v2/${model}/manifests/${entry!.digest}`);
      expect([manifest.status, await codeOf(manifest)]).toEqual([404, "MANIFEST_UNKNOWN"]);
      const blob = await call("GET", `/v2/${model}/blobs/${bundleDigest}`);
      expect([blob.status, await codeOf(blob)]).toEqual([404, "BLOB_UNKNOWN"]);
    });
  });
});

describe("the token endpoint", () => {
  it("answers a push scope with a token that pushes", async () => {
    await createModel("op-token");
    const token = await hsToken({ scope: "read write" });
    const res = await json("GET", "/v2/token?service=mreg&scope=repository:op-token:pull,push", {
      token: null,
      headers: { authorization: `Basic ${btoa(`x:${token}`)}` },
    });
    expect(res.status).toBe(200);
    await pushBlob("op-token", bytesOf(10, 31), res.body.token);
    // A read-only token asking for push gets its own token back, and its push is DENIED, not lost.
    const reader = await hsToken({ scope: "read" });
    const answered = await json("GET", "/v2/token?service=mreg&scope=repository:op-token:pull,push", {
      token: null,
      headers: { authorization: `Basic ${btoa(`x:${reader}`)}` },
    });
    expect(answered.status).toBe(200);
    const denied = await call("POST", "/v2/op-token/blobs/uploads/", { token: answered.body.token });
    expect(denied.status).toBe(403);
    expect(await codeOf(denied)).toBe("DENIED");
  });
});
