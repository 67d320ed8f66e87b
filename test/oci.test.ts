/**
 * The OCI distribution bridge (src/bridges/oci/), inside workerd: the Bearer challenge and the
 * token endpoint, manifests by tag and by digest (bytes fixed for a version, digest stored in
 * D1 and backfilled for versions older than the column), blobs with ranges, tags and the
 * catalog, and the distribution error format. test/e2e/oci-skopeo.test.ts drives it with skopeo.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readAhead } from "../src/artifacts/read-ahead";
import { isRepositoryName, manifestReference, ociManifest, tagsList, tagsPage, EMPTY_DIGEST } from "../src/domain/oci";
import { bytesOf, call, createModel, hsToken, json, modelStub, readyVersion, sha256Of } from "./helpers";
import { costAgainstScan, LINEAR_BOUND } from "./linear-cost";
import { until } from "./until";

const enc = (s: string) => new TextEncoder().encode(s);
const basic = (password: string, user = "x") => `Basic ${btoa(`${user}:${password}`)}`;

const promote = async (model: string, alias: string, version: number) =>
  expect((await json("PUT", `/v1/models/${model}/aliases/${alias}`, { body: { version } })).status).toBe(200);

async function storedDigest(model: string, version: number): Promise<string | null> {
  const row = await env.DB.prepare("SELECT oci_digest FROM versions WHERE model = ? AND version = ?")
    .bind(model, version)
    .first<{ oci_digest: string | null }>();
  return row?.oci_digest ?? null;
}

describe("the manifest's bytes", () => {
  it("are fixed by model, version, digest, ready_at and files: a golden string, layers sorted by UTF-8 bytes", () => {
    const body = ociManifest({
      model: "m",
      version: 3,
      digest: "sha256:" + "d".repeat(64),
      readyAt: "2026-11-27T04:05:06.789Z",
      files: [
        { path: "b.bin", size: 5, sha256: "b".repeat(64) },
        { path: "a/\u{10000}.txt", size: 0, sha256: "e".repeat(64) },
        { path: "a/\uffff.txt", size: 1, sha256: "a".repeat(64) },
      ],
    });
    expect(body).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.mreg.model.v1",' +
        '"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},' +
        `"layers":[{"mediaType":"application/octet-stream","digest":"sha256:${"a".repeat(64)}","size":1,"annotations":{"org.opencontainers.image.title":"a/\uffff.txt"}},` +
        `{"mediaType":"application/octet-stream","digest":"sha256:${"e".repeat(64)}","size":0,"annotations":{"org.opencontainers.image.title":"a/\u{10000}.txt"}},` +
        `{"mediaType":"application/octet-stream","digest":"sha256:${"b".repeat(64)}","size":5,"annotations":{"org.opencontainers.image.title":"b.bin"}}],` +
        `"annotations":{"dev.mreg.digest":"sha256:${"d".repeat(64)}","dev.mreg.model":"m","dev.mreg.uri":"registry://m/3","org.opencontainers.image.created":"2026-11-27T04:05:06.789Z","org.opencontainers.image.version":"3"}}`,
    );
  });

  it("has the empty config the image spec fixes", async () => {
    expect(`sha256:${await sha256Of("{}")}`).toBe(EMPTY_DIGEST);
  });

  it("reads repository names and references at a cost bounded by their length", () => {
    expect(["a", "team/model", "a__b", "a.b-c_d", "a---b"].map(isRepositoryName)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(["A", "a..b", "a_", "-a", "a//b", "a".repeat(256)].map(isRepositoryName)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(manifestReference("production")).toEqual({ kind: "tag", reference: { kind: "alias", alias: "production" } });
    expect(manifestReference("v3")).toEqual({ kind: "tag", reference: { kind: "version", version: 3 } });
    expect(manifestReference("1.0").kind).toBe("unknown_tag");
    expect(manifestReference(`sha256:${"a".repeat(64)}`).kind).toBe("digest");
    expect(manifestReference(`sha256:${"a".repeat(63)}`).kind).toBe("invalid");
    // 100 KB of near-matches: rejected in time linear in their length (test/linear-cost.ts).
    const nearMatches = [
      "a_".repeat(50_000),
      "a-".repeat(50_000) + "!",
      "sha256:" + "a".repeat(100_000),
      "a".repeat(100_000),
    ];
    for (const text of nearMatches) {
      expect(isRepositoryName(text)).toBe(false);
      expect(manifestReference(text).kind).not.toBe("tag");
    }
    const ratio = costAgainstScan(
      () => nearMatches.forEach((text) => [isRepositoryName(text), manifestReference(text)]),
      nearMatches,
    );
    expect(ratio).toBeLessThan(LINEAR_BOUND);
  });

  it("lists tags as names then v<n> by number, and pages after `last`", () => {
    const tags = tagsList(["production", "canary", "v2"], [10, 2, 1]);
    expect(tags).toEqual(["canary", "production", "v1", "v2", "v10"]);
    expect(tagsPage(tags, 2, null)).toEqual({ tags: ["canary", "production"], more: true });
    expect(tagsPage(tags, 2, "production")).toEqual({ tags: ["v1", "v2"], more: true });
    expect(tagsPage(tags, 2, "v2")).toEqual({ tags: ["v10"], more: false });
    // A `last` that vanished between pages starts where it would sort.
    expect(tagsPage(tags, 10, "v5")).toEqual({ tags: ["v10"], more: false });
    expect(tagsPage(tags, 10, "d")).toEqual({ tags: ["production", "v1", "v2", "v10"], more: false });
  });
});

describe("authentication", () => {
  it("challenges /v2/ without credentials and answers {} with a Bearer or Basic token", async () => {
    const none = await call("GET", "/v2/", { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="http://mreg.test/v2/token",service="mreg"');
    expect(none.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect((await none.json<{ errors: { code: string }[] }>()).errors[0]!.code).toBe("UNAUTHORIZED");
    const token = await hsToken({ scope: "read" });
    expect((await json("GET", "/v2/", { token })).body).toEqual({});
    expect((await json("GET", "/v2/", { token: null, headers: { authorization: basic(token) } })).status).toBe(200);
    expect((await json("GET", "/v2/", { token: null, headers: { authorization: basic("wrong") } })).status).toBe(401);
  });

  it("hands out the caller's own token at /v2/token for Basic or Bearer, and refuses a wrong password", async () => {
    const token = await hsToken({ scope: "read", expiresIn: 600 });
    const res = await json("GET", "/v2/token?account=x&scope=repository:m:pull&service=mreg", {
      token: null,
      headers: { authorization: basic(token) },
    });
    expect(res.status).toBe(200);
    expect(res.body.token).toBe(token);
    expect(res.body.access_token).toBe(token);
    expect(res.body.expires_in).toBeGreaterThan(590);
    expect(res.body.expires_in).toBeLessThanOrEqual(600);
    expect(Date.parse(res.body.issued_at)).not.toBeNaN();
    expect((await json("GET", "/v2/token?service=mreg", { token })).body.token).toBe(token);
    for (const authorization of [basic("not-a-token"), basic(`${token}x`), null]) {
      const bad = await json("GET", "/v2/token?service=mreg", {
        token: null,
        headers: authorization ? { authorization } : {},
      });
      expect(bad.status).toBe(401);
      expect(bad.headers.get("www-authenticate")).toBe('Basic realm="mreg"');
      expect(bad.body.errors[0].code).toBe("UNAUTHORIZED");
    }
  });

  it("names the repository in a route's challenge", async () => {
    const res = await call("GET", "/v2/some-model/manifests/production", { token: null });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="http://mreg.test/v2/token",service="mreg",scope="repository:some-model:pull"',
    );
  });
});

describe("manifests and blobs", () => {
  it("serves a version as an artifact: the manifest by tag and by digest, the same bytes, its digest stored in D1", async () => {
    await createModel("oci-m");
    const v1 = await readyVersion("oci-m", { "model.onnx": "weights-1", "config.json": '{"a":1}', "empty.txt": "" });
    await promote("oci-m", "production", v1.version);
    const res = await call("GET", "/v2/oci-m/manifests/production", {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const digest = `sha256:${await sha256Of(text)}`;
    expect(res.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(res.headers.get("docker-content-digest")).toBe(digest);
    expect(res.headers.get("content-length")).toBe(String(enc(text).byteLength));
    expect(res.headers.get("cache-control")).toBe("private, no-cache");
    const manifest = JSON.parse(text);
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(manifest.artifactType).toBe("application/vnd.mreg.model.v1");
    expect(manifest.config).toEqual({ mediaType: "application/vnd.oci.empty.v1+json", digest: EMPTY_DIGEST, size: 2 });
    expect(
      manifest.layers.map(
        (l: { annotations: Record<string, string> }) => l.annotations["org.opencontainers.image.title"],
      ),
    ).toEqual(["config.json", "empty.txt", "model.onnx"]);
    expect(manifest.layers[2]).toEqual({
      mediaType: "application/octet-stream",
      digest: `sha256:${await sha256Of("weights-1")}`,
      size: 9,
      annotations: { "org.opencontainers.image.title": "model.onnx" },
    });
    expect(manifest.annotations["org.opencontainers.image.created"]).toBe(v1.ready_at);
    expect(manifest.annotations["dev.mreg.model"]).toBe("oci-m");
    expect(manifest.annotations["org.opencontainers.image.version"]).toBe(String(v1.version));
    // Computed as the version became ready, stored for the by-digest lookup.
    expect(await storedDigest("oci-m", v1.version)).toBe(digest);
    for (const tag of ["latest", `v${v1.version}`, digest]) {
      const again = await call("GET", `/v2/oci-m/manifests/${tag}`);
      expect([again.status, await again.text(), again.headers.get("docker-content-digest")], tag).toEqual([
        200,
        text,
        digest,
      ]);
    }
    expect((await call("GET", `/v2/oci-m/manifests/${digest}`)).headers.get("cache-control")).toBe(
      "private, max-age=31536000, immutable",
    );
    // HEAD (ORAS resolves tags with it): the same headers, the length kept, no body.
    const head = await call("HEAD", "/v2/oci-m/manifests/production");
    expect(head.status).toBe(200);
    expect([
      head.headers.get("docker-content-digest"),
      head.headers.get("content-length"),
      head.headers.get("content-type"),
    ]).toEqual([digest, String(enc(text).byteLength), "application/vnd.oci.image.manifest.v1+json"]);
    expect(await head.text()).toBe("");
    // Conditional: the digest as ETag.
    expect(
      (await call("GET", "/v2/oci-m/manifests/production", { headers: { "if-none-match": `"${digest}"` } })).status,
    ).toBe(304);
    // A later snapshot of the version (a tag patch) keeps the stored digest and the bytes.
    expect(
      (await json("PATCH", `/v1/models/oci-m/versions/${v1.version}`, { body: { tags: { k: "v" } } })).status,
    ).toBe(200);
    expect(await storedDigest("oci-m", v1.version)).toBe(digest);
    expect(await (await call("GET", `/v2/oci-m/manifests/${digest}`)).text()).toBe(text);
  });

  it("streams blobs a ready version holds, with HEAD and ranges, and the empty config", async () => {
    await createModel("oci-b");
    await readyVersion("oci-b", { "w.bin": "0123456789" });
    const digest = `sha256:${await sha256Of("0123456789")}`;
    const res = await call("GET", `/v2/oci-b/blobs/${digest}`);
    expect([
      res.status,
      await res.text(),
      res.headers.get("docker-content-digest"),
      res.headers.get("content-length"),
    ]).toEqual([200, "0123456789", digest, "10"]);
    const head = await call("HEAD", `/v2/oci-b/blobs/${digest}`);
    expect([
      head.status,
      head.headers.get("content-length"),
      head.headers.get("docker-content-digest"),
      await head.text(),
    ]).toEqual([200, "10", digest, ""]);
    const range = await call("GET", `/v2/oci-b/blobs/${digest}`, { headers: { range: "bytes=2-4" } });
    expect([range.status, await range.text(), range.headers.get("content-range")]).toEqual([
      206,
      "234",
      "bytes 2-4/10",
    ]);
    const past = await json("GET", `/v2/oci-b/blobs/${digest}`, { headers: { range: "bytes=20-" } });
    expect([past.status, past.body.errors[0].code, past.headers.get("content-range")]).toEqual([
      416,
      "RANGE_INVALID",
      "bytes */10",
    ]);
    const config = await call("GET", `/v2/oci-b/blobs/${EMPTY_DIGEST}`);
    expect([config.status, await config.text(), config.headers.get("content-length")]).toEqual([200, "{}", "2"]);
    // Bytes another model holds are not this model's blob; a malformed digest is invalid.
    await createModel("oci-b2");
    await readyVersion("oci-b2", { "other.bin": "other-bytes" });
    const foreign = await json("GET", `/v2/oci-b/blobs/sha256:${await sha256Of("other-bytes")}`);
    expect([foreign.status, foreign.body.errors[0].code]).toEqual([404, "BLOB_UNKNOWN"]);
    const invalid = await json("GET", "/v2/oci-b/blobs/sha256:xyz");
    expect([invalid.status, invalid.body.errors[0].code]).toEqual([400, "DIGEST_INVALID"]);
  });

  it("follows a promotion on the tag while the old digest still serves the old version", async () => {
    await createModel("oci-p");
    const v1 = await readyVersion("oci-p", { "w.bin": "one" });
    const v2 = await readyVersion("oci-p", { "w.bin": "two" });
    await promote("oci-p", "production", v1.version);
    const first = await call("GET", "/v2/oci-p/manifests/production");
    const d1 = first.headers.get("docker-content-digest")!;
    await first.text();
    await promote("oci-p", "production", v2.version);
    const second = await call("GET", "/v2/oci-p/manifests/production");
    const d2 = second.headers.get("docker-content-digest")!;
    expect(JSON.parse(await second.text()).layers[0].digest).toBe(`sha256:${await sha256Of("two")}`);
    expect(d2).not.toBe(d1);
    const old = await call("GET", `/v2/oci-p/manifests/${d1}`);
    expect(JSON.parse(await old.text()).layers[0].digest).toBe(`sha256:${await sha256Of("one")}`);
    // Two versions with the very same files still have different manifests (version, ready_at).
    const v3 = await readyVersion("oci-p", { "w.bin": "two" });
    expect(await storedDigest("oci-p", v3.version)).not.toBe(d2);
  });

  it("backfills the digests of versions made ready before the column, on the first by-digest miss", async () => {
    await createModel("oci-old");
    const v1 = await readyVersion("oci-old", { "w.bin": "legacy" });
    const v2 = await readyVersion("oci-old", { "w.bin": "legacy-2" });
    const d1 = (await storedDigest("oci-old", v1.version))!;
    const d2 = (await storedDigest("oci-old", v2.version))!;
    await env.DB.prepare("UPDATE versions SET oci_digest = NULL WHERE model = 'oci-old'").run();
    const res = await call("GET", `/v2/oci-old/manifests/${d1}`);
    expect([res.status, res.headers.get("docker-content-digest")]).toEqual([200, d1]);
    await res.text();
    expect([await storedDigest("oci-old", v1.version), await storedDigest("oci-old", v2.version)]).toEqual([d1, d2]);
  });

  it("has the model's object record a digest D1 lacks, through its outbox like every version fact (the bridge writes none)", async () => {
    await createModel("oci-rec");
    const v1 = await readyVersion("oci-rec", { "w.bin": "rec-1" });
    const v2 = await readyVersion("oci-rec", { "w.bin": "rec-2", "z/y.txt": "" });
    const pending = await json("POST", "/v1/models/oci-rec/versions", { body: {} });
    const recorded = [(await storedDigest("oci-rec", v1.version))!, (await storedDigest("oci-rec", v2.version))!];
    await env.DB.prepare("UPDATE versions SET oci_digest = NULL WHERE model = 'oci-rec'").run();
    // A pending version and one that never existed have no manifest: left out, not refused.
    const outcome = await modelStub("oci-rec").recordOciDigests({
      model: "oci-rec",
      versions: [v2.version, pending.body.version, 99, v1.version],
    });
    // A write: it declares what it touched (no resolution moved, so no name).
    expect(outcome).toEqual({
      ok: true,
      touched: { names: [] },
      value: [
        { version: v2.version, digest: recorded[1] },
        { version: v1.version, digest: recorded[0] },
      ],
    });
    expect([
      await storedDigest("oci-rec", v1.version),
      await storedDigest("oci-rec", v2.version),
      await storedDigest("oci-rec", pending.body.version),
    ]).toEqual([...recorded, null]);
    expect(await modelStub("oci-rec").outboxDepth()).toBe(0);
    // A tag pull of a version whose digest D1 lacks has the object record it too, after answering.
    await env.DB.prepare("UPDATE versions SET oci_digest = NULL WHERE model = 'oci-rec'").run();
    const res = await call("GET", `/v2/oci-rec/manifests/v${v1.version}`);
    expect([res.status, res.headers.get("docker-content-digest")]).toEqual([200, recorded[0]]);
    await res.text();
    await until(async () => (await storedDigest("oci-rec", v1.version)) !== null, "the object to record the digest");
    expect(await storedDigest("oci-rec", v1.version)).toBe(recorded[0]);
  });
});

describe("tags, catalog and errors", () => {
  it("lists aliases and stages that resolve to a ready version, then v<n>, paged with Link", async () => {
    await createModel("oci-t");
    const v1 = await readyVersion("oci-t", { "a.txt": "a" });
    const v2 = await readyVersion("oci-t", { "a.txt": "b" });
    await json("POST", "/v1/models/oci-t/versions", { body: {} }); // pending: no tag
    await promote("oci-t", "production", v1.version);
    await promote("oci-t", "canary", v2.version);
    expect(
      (await json("POST", `/v1/models/oci-t/versions/${v2.version}/stage`, { body: { stage: "staging" } })).status,
    ).toBe(200);
    const all = await json("GET", "/v2/oci-t/tags/list");
    expect(all.body).toEqual({ name: "oci-t", tags: ["canary", "production", "staging", "v1", "v2"] });
    const page = await json("GET", "/v2/oci-t/tags/list?n=2");
    expect(page.body.tags).toEqual(["canary", "production"]);
    expect(page.headers.get("link")).toBe('</v2/oci-t/tags/list?n=2&last=production>; rel="next"');
    expect((await json("GET", "/v2/oci-t/tags/list?n=2&last=production")).body.tags).toEqual(["staging", "v1"]);
    expect((await json("GET", "/v2/oci-t/tags/list?n=-1")).body.errors[0].code).toBe("PAGINATION_NUMBER_INVALID");
  });

  it("answers NAME_UNKNOWN alike for a missing model and one the token may not see, and the spec's other codes", async () => {
    await createModel("oci-hidden");
    const v = await readyVersion("oci-hidden", { "w.bin": "secret" });
    await promote("oci-hidden", "production", v.version);
    const digest = (await storedDigest("oci-hidden", v.version))!;
    const other = await hsToken({ scope: "read", models: ["someone-else-*"] });
    for (const path of [
      "/v2/oci-hidden/manifests/production",
      `/v2/oci-hidden/manifests/${digest}`,
      `/v2/oci-hidden/blobs/${EMPTY_DIGEST}`,
      "/v2/oci-hidden/tags/list",
      "/v2/no-such-model/manifests/production",
      "/v2/team/model/manifests/production",
    ]) {
      const res = await json("GET", path, {
        token: path.includes("no-such") || path.includes("team/") ? undefined : other,
      });
      expect([res.status, res.body.errors[0].code], path).toEqual([404, "NAME_UNKNOWN"]);
    }
    const catalog = await json("GET", "/v2/_catalog", { token: other });
    expect(catalog.body).toEqual({ repositories: [] });
    expect((await json("GET", "/v2/_catalog?n=1000")).body.repositories).toContain("oci-hidden");
    const cases: [string, number, string][] = [
      ["/v2/oci-hidden/manifests/nope", 404, "MANIFEST_UNKNOWN"],
      ["/v2/oci-hidden/manifests/1.0", 404, "MANIFEST_UNKNOWN"],
      [`/v2/oci-hidden/manifests/sha256:${"0".repeat(64)}`, 404, "MANIFEST_UNKNOWN"],
      ["/v2/oci-hidden/manifests/-bad", 400, "TAG_INVALID"],
      ["/v2/oci-hidden/manifests/sha512:abc", 400, "DIGEST_INVALID"],
      ["/v2/Upper/manifests/production", 400, "NAME_INVALID"],
      [`/v2/oci-hidden/blobs/sha256:${"0".repeat(64)}`, 404, "BLOB_UNKNOWN"],
      // Paths under /v2/ that are no distribution route still answer in its format (found by the fuzzer).
      ["/v2/nothing", 404, "NAME_UNKNOWN"],
      ["/v2/_catalog/x", 404, "NAME_UNKNOWN"],
      ["/v2/token/", 404, "NAME_UNKNOWN"],
      ["/v2/*/blobs/x", 400, "NAME_INVALID"],
    ];
    for (const [path, status, code] of cases) {
      const res = await json("GET", path);
      expect([res.status, res.body.errors[0].code], path).toEqual([status, code]);
    }
    const noRead = await json("GET", "/v2/oci-hidden/manifests/production", {
      token: await hsToken({ scope: "write" }),
    });
    expect([noRead.status, noRead.body.errors[0].code]).toEqual([403, "DENIED"]);
    // Writes a registry takes (test/oci-push.test.ts) answer in their own words; the rest are 405.
    for (const [method, path, status, code] of [
      ["PUT", "/v2/oci-hidden/manifests/x", 400, "MANIFEST_INVALID"],
      ["PATCH", "/v2/oci-hidden/blobs/uploads/u", 400, "BLOB_UPLOAD_UNKNOWN"],
      ["DELETE", `/v2/oci-hidden/manifests/${digest}`, 405, "UNSUPPORTED"],
      ["DELETE", `/v2/oci-hidden/blobs/${digest}`, 405, "UNSUPPORTED"],
      ["PUT", "/v2/oci-hidden/tags/list", 405, "UNSUPPORTED"],
      ["POST", "/v2/", 405, "UNSUPPORTED"],
    ] as const) {
      const res = await json(method, path);
      expect([res.status, res.body.errors[0].code], `${method} ${path}`).toEqual([status, code]);
    }
  });

  it("leaves a model named v2 its Hub file routes", async () => {
    await createModel("v2");
    const v = await readyVersion("v2", { "config.json": "{}" });
    await promote("v2", "production", v.version);
    const res = await call("GET", "/v2/resolve/production/config.json");
    expect([res.status, await res.text()]).toEqual([200, "{}"]);
    expect((await json("GET", "/v2/v2/tags/list")).body.tags).toEqual(["production", `v${v.version}`]);
  });

  it("lists the bridge in the OpenAPI document", async () => {
    const doc = await json("GET", "/openapi.json", { token: null });
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        "/v2/",
        "/v2/token",
        "/v2/{name}/manifests/{reference}",
        "/v2/{name}/blobs/{digest}",
        "/v2/{name}/tags/list",
        "/v2/{name}/blobs/uploads/",
        "/v2/{name}/blobs/uploads/{uuid}",
        "/v2/{name}/referrers/{digest}",
      ]),
    );
  });
});

describe("read-ahead (src/artifacts/read-ahead.ts)", () => {
  it("streams any span of an object as consecutive ranges, in order, with its length fixed", async () => {
    const data = bytesOf(1000, 7);
    await env.ARTIFACTS.put("test/read-ahead", data);
    for (const [offset, length, chunk, ahead] of [
      [0, 1000, 64, 3],
      [1, 998, 100, 1],
      [990, 10, 3, 4],
      [0, 1000, 1000, 2],
      [500, 1, 7, 3],
    ] as const) {
      const body = readAhead((o) => env.ARTIFACTS.get("test/read-ahead", o), "test/read-ahead", offset, length, {
        chunk,
        ahead,
      });
      const got = new Uint8Array(await new Response(body).arrayBuffer());
      expect(
        Buffer.from(got).equals(Buffer.from(data.subarray(offset, offset + length))),
        `${offset}+${length} by ${chunk}x${ahead}`,
      ).toBe(true);
    }
  });

  it("errors the stream, never ends it short silently, when the object is missing", async () => {
    const body = readAhead((o) => env.ARTIFACTS.get("test/no-such-object", o), "test/no-such-object", 0, 100, {
      chunk: 10,
      ahead: 2,
    });
    await expect(new Response(body).arrayBuffer()).rejects.toThrow();
  });
});
