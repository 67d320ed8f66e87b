/**
 * The Hugging Face Hub's write protocol (docs/reference.md "Hugging Face Hub (write)"): whoami, repo
 * creation, preupload, the LFS batch API and its signed URLs (basic and HF's multipart), the
 * NDJSON commit, branches, tags, refs, commit logs and the model listing, inside workerd. The
 * real clients drive the same routes in test/e2e/hf-write.test.ts; here are the paths a
 * client never takes: lies about bytes and sizes, hostile paths and bodies, forged and
 * expired URLs, other teams' models, and what a crash or an abandoned upload leaves.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cleanup } from "../src/artifacts/cleanup";
import { blobKey } from "../src/artifacts/keys";
import { bytesOf, call, createModel, hsToken, json, readyVersion, sha256Of, type CallOptions } from "./helpers";

const MiB = 1024 * 1024;

const hfToken = async (opts: Parameters<typeof hsToken>[0] = {}) => `hf_${await hsToken(opts)}`;
let adminHf: Promise<string> | undefined;
const admin = () => (adminHf ??= hfToken({ sub: "trainer" }));

/** A request to an absolute URL the registry handed out (no token: the URL carries its own). */
const fetchUrl = (url: string, init: RequestInit = {}) => exports.default.fetch(new Request(url, init));

async function batch(
  model: string,
  objects: { oid: string; size: number }[],
  token?: string,
  extra = {},
  settings?: CallOptions["settings"],
) {
  return json("POST", `/${model}.git/info/lfs/objects/batch`, {
    token: token ?? (await admin()),
    settings,
    headers: { "content-type": "application/vnd.git-lfs+json", accept: "application/vnd.git-lfs+json" },
    body: { operation: "upload", transfers: ["basic", "multipart"], hash_algo: "sha256", objects, ...extra },
  });
}

type Action = { href: string; header?: Record<string, string> };

/** Sends `bytes` as the batch answer says: nothing, one PUT, or the parts and the completion. */
async function send(action: Action | undefined, bytes: Uint8Array, oid: string): Promise<void> {
  if (!action) return;
  const chunk = action.header?.chunk_size;
  if (!chunk) {
    const res = await fetchUrl(action.href, { method: "PUT", body: bytes });
    expect(res.status, await res.clone().text()).toBe(200);
    return;
  }
  const size = Number(chunk);
  const parts = Object.keys(action.header!).filter((k) => /^\d+$/.test(k));
  expect(parts.length).toBe(Math.ceil(bytes.byteLength / size));
  const etags = [];
  for (const key of parts.sort()) {
    const n = Number(key);
    const res = await fetchUrl(action.header![key]!, {
      method: "PUT",
      body: bytes.slice((n - 1) * size, n * size),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    etags.push({ partNumber: n, etag: res.headers.get("etag")! });
  }
  const done = await fetchUrl(action.href, {
    method: "POST",
    headers: { "content-type": "application/vnd.git-lfs+json" },
    body: JSON.stringify({ oid, parts: etags }),
  });
  expect(done.status, await done.clone().text()).toBe(200);
}

/** Uploads files through the batch API (what `preupload_lfs_files` does); answers their oids. */
async function upload(model: string, files: Record<string, Uint8Array>, token?: string) {
  const entries = await Promise.all(
    Object.entries(files).map(async ([path, bytes]) => ({ path, bytes, oid: await sha256Of(bytes) })),
  );
  const res = await batch(
    model,
    entries.map((e) => ({ oid: e.oid, size: e.bytes.byteLength })),
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  for (const [i, e] of entries.entries()) await send(res.body.objects[i].actions?.upload, e.bytes, e.oid);
  return entries;
}

const ndjson = (lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join("\n");

async function commit(model: string, revision: string, lines: unknown[] | string, token?: string) {
  return json("POST", `/api/models/${model}/commit/${revision}`, {
    token: token ?? (await admin()),
    headers: { "content-type": "application/x-ndjson" },
    rawBody: typeof lines === "string" ? lines : ndjson(lines),
  });
}

const header = (summary: string, extra: Record<string, unknown> = {}) => ({
  key: "header",
  value: { summary, description: "", ...extra },
});
const lfsFile = (path: string, oid: string, size?: number) => ({
  key: "lfsFile",
  value: { path, algo: "sha256", oid, ...(size === undefined ? {} : { size }) },
});

/** Uploads and commits `files` to main in one go: the new version. */
async function push(model: string, files: Record<string, Uint8Array>, summary = "push") {
  const entries = await upload(model, files);
  const res = await commit(model, "main", [
    header(summary),
    ...entries.map((e) => lfsFile(e.path, e.oid, e.bytes.byteLength)),
  ]);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { commitOid: string; commitUrl: string; pullRequestUrl: null };
}

async function latest(model: string) {
  return (await json("GET", `/v1/models/${model}/versions?limit=1`)).body.items[0];
}

describe("whoami and repos", () => {
  it("says who the token is, with role write only when it may write", async () => {
    const writer = await json("GET", "/api/whoami-v2", { token: await hfToken({ sub: "ci", scope: "read write" }) });
    expect(writer.status).toBe(200);
    expect(writer.body).toMatchObject({ type: "user", name: "ci", auth: { accessToken: { role: "write" } } });
    expect(writer.body.orgs[0].name).toBe("mreg");
    const reader = await json("GET", "/api/whoami-v2", { token: await hfToken({ scope: "read" }) });
    expect(reader.body.auth.accessToken.role).toBe("read");
    const anonymous = await call("GET", "/api/whoami-v2", { token: null });
    expect([anonymous.status, anonymous.headers.get("x-error-code")]).toEqual([401, "RepoNotFound"]);
  });

  it("creates a model, 409 when it exists; refuses other types, namespaces and names; a read-only token is told so", async () => {
    const created = await json("POST", "/api/repos/create", {
      token: await admin(),
      body: { name: "hw-create", organization: "mreg", type: "model", private: true },
    });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({
      url: "http://mreg.test/mreg/hw-create",
      name: "mreg/hw-create",
      id: "mreg/hw-create",
    });
    expect((await json("GET", "/v1/models/hw-create")).body.kind).toBe("model");
    const again = await call("POST", "/api/repos/create", { token: await admin(), body: { name: "hw-create" } });
    expect(again.status).toBe(409);
    for (const body of [
      { name: "hw-x", type: "dataset" },
      { name: "hw-x", organization: "someone-else" },
      { name: "HW-Upper" },
      { name: "../etc" },
    ]) {
      const res = await call("POST", "/api/repos/create", { token: await admin(), body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const readOnly = await call("POST", "/api/repos/create", {
      token: await hfToken({ scope: "read" }),
      body: { name: "hw-ro" },
    });
    expect(readOnly.status).toBe(403);
    expect(readOnly.headers.get("x-error-code")).toBe("ReadOnlyToken");
    expect(((await readOnly.json()) as { error: string }).error).toContain("read-only");
    const outside = await call("POST", "/api/repos/create", {
      token: await hfToken({ models: ["team-a-*"] }),
      body: { name: "team-b-new" },
    });
    expect(outside.status).toBe(403);
    expect((await json("GET", "/v1/models/team-b-new")).status).toBe(404);
  });

  it("lists the models the token sees, by name, searched, paged with an absolute Link", async () => {
    for (const name of ["team-a-one", "team-a-two", "team-a-three", "team-b-one"]) await createModel(name);
    const teamA = await hfToken({ scope: "read", models: ["team-a-*"] });
    const listed = await json("GET", "/api/models?search=team-&limit=500&expand=pipeline_tag&expand=likes", {
      token: teamA,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.map((m: { id: string }) => m.id)).toEqual([
      "mreg/team-a-one",
      "mreg/team-a-three",
      "mreg/team-a-two",
    ]);
    expect(listed.body[0]).toMatchObject({ modelId: "mreg/team-a-one", private: true, likes: 0, downloads: 0 });
    expect(typeof listed.body[0]._id).toBe("string");
    const first = await json("GET", "/api/models?search=team-a&limit=2", { token: teamA });
    expect(first.body).toHaveLength(2);
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.get("link") ?? "")![1]!;
    expect(next.startsWith("http://mreg.test/api/models?")).toBe(true);
    const second = await json("GET", next.slice("http://mreg.test".length), { token: teamA });
    expect(second.body.map((m: { id: string }) => m.id)).toEqual(["mreg/team-a-two"]);
    expect((await json("GET", "/api/models?author=someone-else", { token: teamA })).body).toEqual([]);
  });
});

describe("a model card's front matter", () => {
  it("is checked before a commit adds a README.md, as huggingface_hub asks", async () => {
    const good = await json("POST", "/api/validate-yaml", {
      token: await admin(),
      body: { content: "---\nlibrary_name: onnx\ntags: [a]\n---\n# card\n", repoType: "model" },
    });
    expect([good.status, good.body]).toEqual([200, { errors: [], warnings: [] }]);
    const bad = await json("POST", "/api/validate-yaml", {
      token: await admin(),
      body: { content: "---\ntags: [unclosed\n---\n", repoType: "model" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].message).toBeTruthy();
    expect((await call("POST", "/api/validate-yaml", { token: null, body: { content: "" } })).status).toBe(401);
  });
});

describe("the LFS batch API and its URLs", () => {
  it("sends small objects in one PUT, large ones in parts, and nothing the caller holds", async () => {
    await createModel("hw-lfs");
    const small = bytesOf(1000, 3);
    const large = bytesOf(11 * MiB + 17, 4);
    const [s, l] = [await sha256Of(small), await sha256Of(large)];
    const res = await batch("hw-lfs", [
      { oid: s, size: small.byteLength },
      { oid: l, size: large.byteLength },
    ]);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.git-lfs+json");
    expect(res.body.transfer).toBe("multipart");
    const [basic, multi] = res.body.objects;
    expect(basic.actions.upload.header).toBeUndefined();
    expect(multi.actions.upload.header.chunk_size).toBe(String(5 * MiB));
    expect(Object.keys(multi.actions.upload.header).filter((k) => /^\d+$/.test(k))).toEqual([
      "00001",
      "00002",
      "00003",
    ]);
    await send(basic.actions.upload, small, s);
    await send(multi.actions.upload, large, l);
    // Asked again: both are held by the model now, so nothing is sent.
    const again = await batch("hw-lfs", [
      { oid: s, size: small.byteLength },
      { oid: l, size: large.byteLength },
    ]);
    expect(again.body.objects.map((o: { actions?: unknown }) => o.actions)).toEqual([undefined, undefined]);
    // Committed, they read back byte for byte.
    const done = await commit("hw-lfs", "main", [
      header("weights"),
      lfsFile("small.bin", s, small.byteLength),
      lfsFile("large.bin", l),
    ]);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const v = await latest("hw-lfs");
    expect(v.files.map((f: { path: string; size: number }) => [f.path, f.size])).toEqual([
      ["large.bin", large.byteLength],
      ["small.bin", small.byteLength],
    ]);
    const back = await call("GET", `/hw-lfs/resolve/${done.body.commitOid}/large.bin`);
    expect(new Uint8Array(await back.arrayBuffer())).toEqual(large);
  });

  it("takes a part again after a lost answer, and answers a repeated completion", async () => {
    await createModel("hw-retry");
    const bytes = bytesOf(6 * MiB + 1, 9);
    const oid = await sha256Of(bytes);
    const action = (await batch("hw-retry", [{ oid, size: bytes.byteLength }])).body.objects[0].actions.upload;
    const part1 = action.header["00001"];
    for (let i = 0; i < 2; i++)
      expect((await fetchUrl(part1, { method: "PUT", body: bytes.slice(0, 5 * MiB) })).status).toBe(200);
    // A batch asked again (a client starting over) continues the same upload.
    const again = (await batch("hw-retry", [{ oid, size: bytes.byteLength }])).body.objects[0].actions.upload;
    expect(new URL(again.href).pathname).toBe(new URL(action.href).pathname);
    expect((await fetchUrl(again.header["00002"], { method: "PUT", body: bytes.slice(5 * MiB) })).status).toBe(200);
    const completion = { method: "POST", body: JSON.stringify({ oid, parts: [] }) };
    expect((await fetchUrl(action.href, completion)).status).toBe(200);
    expect((await fetchUrl(action.href, completion)).status).toBe(200);
  });

  it("refuses bytes that are not the object, a size that lies, parts of the wrong size", async () => {
    await createModel("hw-lies");
    const bytes = bytesOf(2000, 5);
    const oid = await sha256Of(bytes);
    const href = (await batch("hw-lies", [{ oid, size: 2000 }])).body.objects[0].actions.upload.href;
    const wrong = await fetchUrl(href, { method: "PUT", body: bytesOf(2000, 6) });
    expect(wrong.status).toBe(422);
    const short = await fetchUrl(href, { method: "PUT", body: bytes.slice(0, 1999) });
    expect(short.status).toBe(400);
    // Nothing was claimed: a commit naming the object is refused, and the batch still asks for it.
    expect((await commit("hw-lies", "main", [header("x"), lfsFile("a.bin", oid, 2000)])).status).toBe(400);
    expect((await batch("hw-lies", [{ oid, size: 2000 }])).body.objects[0].actions).toBeDefined();
    // A multipart object whose parts are not the bytes declared: refused at completion, nothing kept.
    const big = bytesOf(6 * MiB + 1, 7);
    const bigOid = await sha256Of(big);
    const action = (await batch("hw-lies", [{ oid: bigOid, size: big.byteLength }])).body.objects[0].actions.upload;
    const badPart = await fetchUrl(action.header["00002"], { method: "PUT", body: bytesOf(10, 1) });
    expect(badPart.status).toBe(400);
    await fetchUrl(action.header["00001"], { method: "PUT", body: bytesOf(5 * MiB, 8) });
    await fetchUrl(action.header["00002"], { method: "PUT", body: big.slice(5 * MiB) });
    const done = await fetchUrl(action.href, { method: "POST", body: JSON.stringify({ oid: bigOid, parts: [] }) });
    expect(done.status).toBe(422);
    expect((await commit("hw-lies", "main", [header("x"), lfsFile("big.bin", bigOid)])).status).toBe(400);
    // A declared size other than the held bytes': refused per object.
    await push("hw-lies", { "ok.bin": bytes });
    const other = await batch("hw-lies", [{ oid, size: 1999 }]);
    expect(other.body.objects[0].error.code).toBe(422);
    // Not an oid, not a size.
    const junk = await batch("hw-lies", [
      { oid: "../../etc", size: 1 },
      { oid, size: -1 },
    ]);
    expect(junk.body.objects.map((o: { error?: { code: number } }) => o.error?.code)).toEqual([422, 422]);
  });

  it("offers basic only up to the zone's body limit, multipart above it, and refuses a basic PUT over it", async () => {
    await createModel("hw-zone");
    // The smallest limit the test settings allow (MAX_SINGLE_PUT is 6 MiB here, and may not be over it).
    const limit = 6 * MiB;
    const settings = { ZONE_BODY_LIMIT: String(limit) };
    const below = bytesOf(limit, 21);
    const above = bytesOf(limit + 1, 22);
    const [b, a] = [await sha256Of(below), await sha256Of(above)];
    const offered = await batch(
      "hw-zone",
      [
        { oid: b, size: below.byteLength },
        { oid: a, size: above.byteLength },
      ],
      undefined,
      {},
      settings,
    );
    expect(offered.status).toBe(200);
    const [basic, multi] = offered.body.objects;
    expect(basic.actions.upload.header).toBeUndefined();
    expect(multi.actions.upload.header.chunk_size).toBe(String(5 * MiB));
    // A client that offers only basic is told the limit and the way around it, per object.
    const basicOnly = await batch(
      "hw-zone",
      [{ oid: a, size: above.byteLength }],
      undefined,
      { transfers: ["basic"] },
      settings,
    );
    expect(basicOnly.status).toBe(200);
    const refused = basicOnly.body.objects[0];
    expect(refused.actions).toBeUndefined();
    expect(refused.error.code).toBe(422);
    expect(refused.error.message).toContain(`limit of ${limit} bytes`);
    expect(refused.error.message).toContain("ZONE_BODY_LIMIT");
    expect(refused.error.message).toContain("'multipart' transfer");
    // A basic PUT whose Content-Length is over the limit is refused before a byte is stored, in the Hub's words.
    const href = new URL(basic.actions.upload.href);
    const put = await call("PUT", href.pathname + href.search, {
      token: null,
      rawBody: above,
      headers: { "content-length": String(above.byteLength) },
      settings,
    });
    expect(put.status).toBe(413);
    expect(put.headers.get("x-error-message")).toContain(`limit of ${limit} bytes`);
    expect(put.headers.get("x-error-message")).toContain("'multipart' transfer");
    expect(((await put.json()) as { error: string }).error).toContain("ZONE_BODY_LIMIT");
    expect(await env.ARTIFACTS.head(blobKey(b))).toBeNull();
    // Both still go through: the one at the limit in one PUT, the one above in parts.
    await send(basic.actions.upload, below, b);
    await send(multi.actions.upload, above, a);
  });

  it("refuses forged, altered and expired URLs, and those of a revoked token", async () => {
    await createModel("hw-forge");
    await createModel("hw-forge-other");
    const bytes = bytesOf(500, 11);
    const oid = await sha256Of(bytes);
    const href = new URL((await batch("hw-forge", [{ oid, size: 500 }])).body.objects[0].actions.upload.href);
    const variants: [string, (u: URL) => void][] = [
      ["another model", (u) => (u.pathname = u.pathname.replace("/hw-forge.git", "/hw-forge-other.git"))],
      ["another size", (u) => u.searchParams.set("size", "400")],
      ["another actor", (u) => u.searchParams.set("actor", "mallory")],
      ["a later expiry", (u) => u.searchParams.set("exp", String(Number(u.searchParams.get("exp")) + 3600))],
      ["a forged signature", (u) => u.searchParams.set("sig", "A".repeat(43))],
      ["no signature", (u) => u.searchParams.delete("sig")],
    ];
    for (const [what, change] of variants) {
      const url = new URL(href);
      change(url);
      const res = await fetchUrl(url.toString(), {
        method: "PUT",
        body: what === "another size" ? bytes.slice(0, 400) : bytes,
      });
      expect(res.status, what).toBe(403);
    }
    // An expired token's URLs expire with it.
    const brief = await hfToken({ expiresIn: 2 });
    const short = (await batch("hw-forge", [{ oid, size: 500 }], brief)).body.objects[0].actions.upload;
    expect(Number(new URL(short.href).searchParams.get("exp"))).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 2);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await fetchUrl(short.href, { method: "PUT", body: bytes })).status).toBe(403);
    // A minted token, revoked: its URLs stop working.
    const minted = await json("POST", "/v1/tokens", { body: { sub: "ci", scope: "read write", ttl_s: 3600 } });
    const mintedHf = `hf_${minted.body.token}`;
    const revokedHref = (await batch("hw-forge", [{ oid, size: 500 }], mintedHf)).body.objects[0].actions.upload.href;
    expect(new URL(revokedHref).searchParams.get("tid")).toBe(minted.body.id);
    // Its id cannot be dropped from the URL to dodge the revocation check.
    const untied = new URL(revokedHref);
    untied.searchParams.delete("tid");
    expect((await fetchUrl(untied.toString(), { method: "PUT", body: bytes })).status).toBe(403);
    expect((await call("DELETE", `/v1/tokens/${minted.body.id}`)).status).toBe(204);
    expect((await fetchUrl(revokedHref, { method: "PUT", body: bytes })).status).toBe(403);
    // The untouched URL still works.
    expect((await fetchUrl(href.toString(), { method: "PUT", body: bytes })).status).toBe(200);
  });

  it("answers another team's model as a missing one, and never offers its bytes", async () => {
    await createModel("team-b-secret");
    const secret = bytesOf(800, 21);
    const oid = await sha256Of(secret);
    await readyVersion("team-b-secret", { "w.bin": secret });
    const teamA = await hfToken({ models: ["team-a-*"] });
    const hidden = await batch("team-b-secret", [{ oid, size: 800 }], teamA);
    const missing = await batch("team-b-nothing", [{ oid, size: 800 }], teamA);
    expect([hidden.status, hidden.headers.get("x-error-code"), hidden.body]).toEqual([
      missing.status,
      missing.headers.get("x-error-code"),
      missing.body,
    ]);
    expect(hidden.headers.get("x-error-code")).toBe("RepoNotFound");
    for (const path of ["/api/models/team-b-secret/preupload/main", "/api/models/team-b-secret/commit/main"]) {
      const res = await call("POST", path, { token: teamA, body: { files: [] } });
      expect([res.status, res.headers.get("x-error-code")], path).toEqual([404, "RepoNotFound"]);
    }
    // In its own model, the other team's bytes are not held: they must be sent (and verified).
    await createModel("team-a-mine");
    const own = await batch("team-a-mine", [{ oid, size: 800 }], teamA);
    expect(own.body.objects[0].actions.upload.href).toBeDefined();
    const named = await commit("team-a-mine", "main", [header("steal"), lfsFile("w.bin", oid, 800)], teamA);
    expect(named.status).toBe(400);
    expect(await latest("team-a-mine")).toBeUndefined();
  });
});

describe("the NDJSON commit", () => {
  it("makes one ready version per commit from the revision's files, its lineage parent the start", async () => {
    await createModel("hw-commit");
    const a = bytesOf(300, 1);
    const first = await push("hw-commit", { "config.json": a, "weights/a.bin": bytesOf(400, 2) }, "first");
    const v1 = await latest("hw-commit");
    expect(v1).toMatchObject({ status: "ready", description: "first", stage: "none", aliases: [] });
    expect(first.commitOid).toBe(v1.digest.slice(7, 47));
    expect(first.commitUrl).toBe(`http://mreg.test/mreg/hw-commit/commit/${first.commitOid}`);
    const b = bytesOf(500, 3);
    const [bEntry] = await upload("hw-commit", { "b.bin": b });
    const second = await commit("hw-commit", "main", [
      header("second", { description: "adds b, moves a, drops config" }),
      lfsFile("weights/b.bin", bEntry!.oid, 500),
      { key: "lfsFile", value: { path: "weights/moved.bin", oldPath: "weights/a.bin" } },
      { key: "deletedFile", value: { path: "config.json" } },
      { key: "file", value: { path: "notes.txt", content: btoa("hello"), encoding: "base64" } },
      { key: "copyFile", value: { path: "copy.bin", srcPath: "weights/b.bin" } },
      { key: "copyFile", value: { path: "old-config.json", srcPath: "config.json", srcRevision: first.commitOid } },
    ]);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    const v2 = await latest("hw-commit");
    expect(v2.version).toBe(v1.version + 1);
    expect(v2.description).toBe("second\n\nadds b, moves a, drops config");
    expect(v2.lineage.parents).toEqual([{ model: "hw-commit", version: v1.version }]);
    expect(v2.files.map((f: { path: string }) => f.path)).toEqual([
      "copy.bin",
      "notes.txt",
      "old-config.json",
      "weights/b.bin",
      "weights/moved.bin",
    ]);
    const notes = await call("GET", `/v1/models/hw-commit/versions/${v2.version}/files/notes.txt`);
    expect(await notes.text()).toBe("hello");
    // Deleting a folder, and nothing else.
    const third = await commit("hw-commit", "main", [
      header("drop weights"),
      { key: "deletedFolder", value: { path: "weights/" } },
    ]);
    expect(third.status).toBe(200);
    expect((await latest("hw-commit")).files.map((f: { path: string }) => f.path)).toEqual([
      "copy.bin",
      "notes.txt",
      "old-config.json",
    ]);
    // A commit that changes nothing makes no version and answers the current commit.
    const count = (await latest("hw-commit")).version;
    const same = await commit("hw-commit", "main", [
      header("again"),
      { key: "file", value: { path: "notes.txt", content: "hello" } },
    ]);
    expect(same.body.commitOid).toBe(third.body.commitOid);
    expect((await latest("hw-commit")).version).toBe(count);
    // The audit log has the /v1 equivalents.
    const audit = await json("GET", `/v1/audit?model=hw-commit&limit=200`);
    const ofV2 = audit.body.items.filter((e: { version: number | null }) => e.version === v2.version);
    const actions = ofV2.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["version.create", "file.add", "file.delete", "version.finalize"]));
    expect(ofV2.every((e: { actor: string }) => e.actor === "trainer")).toBe(true);
  });

  it("answers 412 when parentCommit is no longer the revision's commit, 404 EntryNotFound for a missing file", async () => {
    await createModel("hw-parent");
    const first = await push("hw-parent", { "a.bin": bytesOf(10, 1) });
    await push("hw-parent", { "b.bin": bytesOf(10, 2) });
    const stale = await commit("hw-parent", "main", [
      header("late", { parentCommit: first.commitOid }),
      { key: "deletedFile", value: { path: "a.bin" } },
    ]);
    expect(stale.status).toBe(412);
    const current = (await latest("hw-parent")).digest.slice(7, 47);
    const fresh = await commit("hw-parent", "main", [
      header("on time", { parentCommit: current.slice(0, 7).toUpperCase() }),
      { key: "deletedFile", value: { path: "a.bin" } },
    ]);
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    const missing = await call("POST", "/api/models/hw-parent/commit/main", {
      token: await admin(),
      headers: { "content-type": "application/x-ndjson" },
      rawBody: ndjson([header("gone"), { key: "deletedFile", value: { path: "nope.bin" } }]),
    });
    expect([missing.status, missing.headers.get("x-error-code")]).toEqual([404, "EntryNotFound"]);
  });

  it("refuses malformed bodies, hostile paths, oversize lines and revisions that cannot move, making nothing", async () => {
    await createModel("hw-hostile");
    await push("hw-hostile", { "a.bin": bytesOf(10, 1) });
    const before = (await latest("hw-hostile")).version;
    const cases: [string, string, number][] = [
      ["not JSON", `${JSON.stringify(header("x"))}\n{nope`, 400],
      ["no header", ndjson([{ key: "deletedFile", value: { path: "a.bin" } }]), 400],
      ["two headers", ndjson([header("x"), header("y")]), 400],
      ["an unknown key", ndjson([header("x"), { key: "rm -rf", value: { path: "a.bin" } }]), 400],
      ["no summary", ndjson([{ key: "header", value: { summary: "" } }]), 400],
      [
        "bad base64",
        ndjson([header("x"), { key: "file", value: { path: "f", content: "%%%", encoding: "base64" } }]),
        400,
      ],
    ];
    for (const path of ["../escape", "/abs", "a//b", "a\\b", "a/./b", "ctl\u0001", "x".repeat(1025), "dir/"]) {
      cases.push([
        `path ${JSON.stringify(path).slice(0, 20)}`,
        ndjson([header("x"), { key: "file", value: { path, content: "x" } }]),
        400,
      ]);
    }
    cases.push([
      "a colliding path",
      ndjson([header("x"), { key: "file", value: { path: "A.BIN", content: "x" } }]),
      400,
    ]);
    cases.push(["a bad parentCommit", ndjson([header("x", { parentCommit: "xyz" })]), 400]);
    for (const [what, body, status] of cases) {
      const res = await commit("hw-hostile", "main", body);
      expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(status);
    }
    const oversize = await commit("hw-hostile", "main", `${JSON.stringify(header("x"))}\n${"x".repeat(8 * MiB + 10)}`);
    expect(oversize.status).toBe(413);
    for (const revision of ["v1", "latest", "0123456789012345678901234567890123456789", "Bad!Name"]) {
      const res = await commit("hw-hostile", revision, [header("x")]);
      expect(res.status, revision).toBe(400);
    }
    expect((await commit("hw-hostile", "main?create_pr=1", [header("x")])).status).toBe(400);
    const asJson = await call("POST", "/api/models/hw-hostile/commit/main", {
      token: await admin(),
      body: { summary: "x" },
    });
    expect(asJson.status).toBe(415);
    expect((await latest("hw-hostile")).version).toBe(before);
  });

  it("tells a read-only token it is read-only, on every write", async () => {
    await createModel("hw-ro");
    const readOnly = await hfToken({ scope: "read" });
    const writes: [string, string, RequestInit["body"], string][] = [
      ["POST", "/api/models/hw-ro/preupload/main", JSON.stringify({ files: [] }), "application/json"],
      ["POST", "/api/models/hw-ro/commit/main", ndjson([header("x")]), "application/x-ndjson"],
      [
        "POST",
        "/hw-ro.git/info/lfs/objects/batch",
        JSON.stringify({ operation: "upload", objects: [{ oid: "0".repeat(64), size: 1 }] }),
        "application/vnd.git-lfs+json",
      ],
    ];
    for (const [method, path, body, type] of writes) {
      const res = await call(method, path, {
        token: readOnly,
        rawBody: body as string,
        headers: { "content-type": type },
      });
      expect(res.status, path).toBe(403);
      expect(res.headers.get("x-error-code"), path).toBe("ReadOnlyToken");
      expect(res.headers.get("x-error-message"), path).toContain("read-only");
    }
  });
});

describe("revisions on write", () => {
  it("moves an alias through its gate: a refusal leaves the version ready and unpromoted, naming the failed checks", async () => {
    await createModel("hw-gate");
    const v1 = await push("hw-gate", { "a.bin": bytesOf(10, 1) });
    const v1Version = (await latest("hw-gate")).version;
    expect((await json("PUT", "/v1/models/hw-gate/aliases/production", { body: { version: v1Version } })).status).toBe(
      200,
    );
    await json("PUT", "/v1/models/hw-gate/gates/production", { body: { approvals: 1 } });
    const [b] = await upload("hw-gate", { "b.bin": bytesOf(20, 2) });
    const refused = await call("POST", "/api/models/hw-gate/commit/production", {
      token: await admin(),
      headers: { "content-type": "application/x-ndjson" },
      rawBody: ndjson([header("to production"), lfsFile("b.bin", b!.oid, 20)]),
    });
    expect(refused.status).toBe(409);
    expect(refused.headers.get("x-error-code")).toBe("GateFailed");
    const message = ((await refused.json()) as { error: string }).error;
    expect(message).toContain("approvals");
    const made = await latest("hw-gate");
    expect(made).toMatchObject({ status: "ready", version: v1Version + 1, aliases: [] });
    expect(made.lineage.parents).toEqual([{ model: "hw-gate", version: v1Version }]);
    expect(message).toContain(`Version ${made.version}`);
    expect((await json("GET", "/v1/models/hw-gate/aliases/production")).body.version).toBe(v1Version);
    // main never moves an alias: a push to main makes a version, production stays.
    await push("hw-gate", { "c.bin": bytesOf(30, 3) });
    expect((await json("GET", "/v1/models/hw-gate/aliases/production")).body.version).toBe(v1Version);
    expect((await call("GET", `/hw-gate/resolve/main/a.bin`)).headers.get("x-repo-commit")).toBe(v1.commitOid);
    // Without a gate the alias moves; without promote (or the alias grant) nothing is made at all.
    await json("PUT", "/v1/models/hw-gate/aliases/staging", { body: { version: v1Version } });
    const [d] = await upload("hw-gate", { "d.bin": bytesOf(40, 4) });
    const staged = await commit("hw-gate", "staging", [header("to staging"), lfsFile("d.bin", d!.oid)]);
    expect(staged.status, JSON.stringify(staged.body)).toBe(200);
    const stagedVersion = (await latest("hw-gate")).version;
    expect((await json("GET", "/v1/models/hw-gate/aliases/staging")).body.version).toBe(stagedVersion);
    expect((await latest("hw-gate")).files.map((f: { path: string }) => f.path)).toEqual(["a.bin", "d.bin"]);
    for (const token of [await hfToken({ scope: "read write" }), await hfToken({ aliases: ["staging"] })]) {
      const res = await commit("hw-gate", "production", [header("sneak"), lfsFile("d.bin", d!.oid)], token);
      expect([res.status, res.headers.get("x-error-code")]).toEqual([403, "AccessDenied"]);
    }
    expect((await latest("hw-gate")).version).toBe(stagedVersion);
    // An alias that is not set is not a branch yet.
    const unset = await commit("hw-gate", "canary", [header("x"), lfsFile("d.bin", d!.oid)]);
    expect([unset.status, unset.headers.get("x-error-code")]).toEqual([404, "RevisionNotFound"]);
  });

  it("treats branches and tags as aliases, lists refs, and logs each revision's versions", async () => {
    await createModel("hw-refs");
    const one = await push("hw-refs", { "a.bin": bytesOf(10, 1) }, "one");
    const two = await push("hw-refs", { "b.bin": bytesOf(10, 2) }, "two");
    const branch = await json("POST", "/api/models/hw-refs/branch/dev", { token: await admin(), body: {} });
    expect(branch.status, JSON.stringify(branch.body)).toBe(200);
    expect(branch.body.targetCommit).toBe(two.commitOid);
    expect((await call("POST", "/api/models/hw-refs/branch/dev", { token: await admin(), body: {} })).status).toBe(409);
    expect((await call("POST", "/api/models/hw-refs/branch/main", { token: await admin(), body: {} })).status).toBe(
      409,
    );
    const tag = await json("POST", `/api/models/hw-refs/tag/${one.commitOid}`, {
      token: await admin(),
      body: { tag: "release", message: "first release" },
    });
    expect(tag.status, JSON.stringify(tag.body)).toBe(200);
    expect(
      (await call("POST", "/api/models/hw-refs/tag/main", { token: await admin(), body: { tag: "release" } })).status,
    ).toBe(409);
    expect(
      (await call("POST", "/api/models/hw-refs/tag/main", { token: await admin(), body: { tag: "v1.0" } })).status,
    ).toBe(400);
    await json("PUT", "/v1/models/hw-refs/aliases/production", {
      body: { version: (await latest("hw-refs")).version - 1 },
    });
    const refs = await json("GET", "/api/models/hw-refs/refs", { token: await admin() });
    expect(refs.body).toEqual({
      branches: [
        { name: "main", ref: "refs/heads/main", targetCommit: one.commitOid },
        { name: "dev", ref: "refs/heads/dev", targetCommit: two.commitOid },
        { name: "production", ref: "refs/heads/production", targetCommit: one.commitOid },
        { name: "release", ref: "refs/heads/release", targetCommit: one.commitOid },
      ],
      converts: [],
      tags: [],
      pullRequests: [],
    });
    // A commit to the branch moves it; the log of main is every version, of dev what dev was set to.
    const three = await commit("hw-refs", "dev", [header("three"), { key: "deletedFile", value: { path: "a.bin" } }]);
    expect(three.status).toBe(200);
    const mainLog = await json("GET", "/api/models/hw-refs/commits/main", { token: await admin() });
    expect(mainLog.body.map((c: { id: string; title: string }) => [c.id, c.title])).toEqual([
      [three.body.commitOid, "three"],
      [two.commitOid, "two"],
      [one.commitOid, "one"],
    ]);
    expect(mainLog.body[0].authors).toEqual([{ user: "trainer", avatar: "" }]);
    const devLog = await json("GET", "/api/models/hw-refs/commits/dev?limit=1", { token: await admin() });
    expect(devLog.body.map((c: { id: string }) => c.id)).toEqual([three.body.commitOid]);
    const next = /<([^>]+)>; rel="next"/.exec(devLog.headers.get("link")!)![1]!;
    const devRest = await json("GET", next.slice("http://mreg.test".length), { token: await admin() });
    expect(devRest.body.map((c: { id: string }) => c.id)).toEqual([two.commitOid]);
    const chain = await json("GET", `/api/models/hw-refs/commits/${three.body.commitOid}`, { token: await admin() });
    expect(chain.body.map((c: { id: string }) => c.id)).toEqual([three.body.commitOid, two.commitOid, one.commitOid]);
    // Deleting a branch deletes the alias; main and missing branches cannot be deleted.
    expect((await call("DELETE", "/api/models/hw-refs/branch/dev", { token: await admin() })).status).toBe(204);
    expect((await json("GET", "/v1/models/hw-refs/aliases/dev")).status).toBe(404);
    expect(
      (await call("DELETE", "/api/models/hw-refs/branch/dev", { token: await admin() })).headers.get("x-error-code"),
    ).toBe("RevisionNotFound");
    expect((await call("DELETE", "/api/models/hw-refs/branch/main", { token: await admin() })).status).toBe(403);
  });

  it("gives paths-info and the tree lastCommit with expand, and a repo with nothing at main its info", async () => {
    await createModel("hw-expand");
    const bare = await json("GET", "/api/models/hw-expand", { token: await admin() });
    expect(bare.status).toBe(200);
    expect(bare.body).toMatchObject({ id: "hw-expand", sha: null, siblings: [] });
    expect((await call("GET", "/api/models/hw-expand/revision/main", { token: await admin() })).status).toBe(404);
    const pushed = await push("hw-expand", { "d/a.bin": bytesOf(10, 1) }, "expand me");
    const info = await json("POST", `/api/models/hw-expand/paths-info/${pushed.commitOid}`, {
      token: await admin(),
      body: { paths: ["d/a.bin"], expand: true },
    });
    expect(info.body[0].lastCommit).toMatchObject({ id: pushed.commitOid, title: "expand me" });
    const form = await json("POST", `/api/models/hw-expand/paths-info/${pushed.commitOid}`, {
      token: await admin(),
      rawBody: "paths=d%2Fa.bin&expand=True",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.body[0].lastCommit.id).toBe(pushed.commitOid);
    const tree = await json("GET", `/api/models/hw-expand/tree/${pushed.commitOid}?recursive=true&expand=true`, {
      token: await admin(),
    });
    expect(tree.body.every((e: { lastCommit?: { id: string } }) => e.lastCommit?.id === pushed.commitOid)).toBe(true);
    const plain = await json("GET", `/api/models/hw-expand/tree/${pushed.commitOid}`, { token: await admin() });
    expect(plain.body[0].lastCommit).toBeUndefined();
  });
});

describe("what abandoned uploads leave", () => {
  it("aborts an upload never completed, and collects bytes never committed once their claim expires", async () => {
    await createModel("hw-abandon");
    const big = bytesOf(6 * MiB + 1, 31);
    const bigOid = await sha256Of(big);
    const action = (await batch("hw-abandon", [{ oid: bigOid, size: big.byteLength }])).body.objects[0].actions.upload;
    await fetchUrl(action.header["00001"], { method: "PUT", body: big.slice(0, 5 * MiB) });
    const small = bytesOf(1234, 32);
    const [sent] = await upload("hw-abandon", { "s.bin": small });
    const held = await env.ARTIFACTS.head(`blobs/sha256/${sent!.oid}`);
    expect(held?.size).toBe(1234);
    // Within the claim (UPLOAD_TTL_S, a day) and the grace period the bytes stay.
    const soon = await cleanup(env, new Date(Date.now() + 2 * 3600 * 1000));
    expect(soon.expiredUploads).toBe(0);
    expect(await env.ARTIFACTS.head(`blobs/sha256/${sent!.oid}`)).not.toBeNull();
    // Past the upload's expiry: the open upload is aborted, its URLs refused; past the claim and
    // the grace period, the bytes no version names go.
    const later = Date.now() + 25 * 3600 * 1000;
    const expired = await cleanup(env, new Date(later));
    expect(expired.expiredUploads).toBeGreaterThanOrEqual(1);
    const events = await json("GET", "/v1/audit?model=hw-abandon&action=upload.abort");
    expect(events.body.items[0]).toMatchObject({ reason: "expired", detail: { sha256: bigOid } });
    expect(events.body.items[0].version ?? null).toBeNull();
    await cleanup(env, new Date(later + 2 * 3600 * 1000));
    expect(await env.ARTIFACTS.head(`blobs/sha256/${sent!.oid}`)).toBeNull();
    expect((await commit("hw-abandon", "main", [header("late"), lfsFile("s.bin", sent!.oid)])).status).toBe(400);
  });
});

describe("the write side in the OpenAPI document", () => {
  it("lists every write route", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/whoami-v2",
        "/api/repos/create",
        "/api/validate-yaml",
        "/api/models",
        "/api/models/{repo}/preupload/{revision}",
        "/{repo}.git/info/lfs/objects/batch",
        "/{model}.git/info/lfs/objects/{oid}",
        "/{model}.git/info/lfs/uploads/{upload_id}/{part}",
        "/{model}.git/info/lfs/uploads/{upload_id}",
        "/api/models/{repo}/commit/{revision}",
        "/api/models/{repo}/branch/{branch}",
        "/api/models/{repo}/tag/{revision}",
        "/api/models/{repo}/refs",
        "/api/models/{repo}/commits/{revision}",
      ]),
    );
  });
});
