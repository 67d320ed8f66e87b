/**
 * The Hub's read protocol by raw HTTP, as the Python `huggingface_hub` speaks it (its package
 * cannot be installed here): the HEAD `hf_hub_download` sends, revision info, the tree with
 * its `Link` paging, paths-info in both body forms, the errors, and the revision rules
 * (alias, `v<n>`, `latest`, `main`/`HEAD`, a 40-hex commit, a split alias by `x-mreg-key`).
 * Expected values are computed here (sha256, LFS pointer SHA-1), never read from the server.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { base, createModel, hfToken, lfsPointer, publish, resolveV1, setAlias, sha256, type Published } from "./hf";

const MODEL = "proto";
let v1: Published;
let v2: Published;
let v3: Published;
let auth: Record<string, string>;

interface TreeEntry {
  type: "file" | "directory";
  path: string;
  size: number;
  oid: string;
  lfs?: { oid: string; size: number; pointerSize: number };
}

const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
  fetch(`${base()}${path}`, { method, headers: { ...auth, ...headers } });

/** The commit a revision names, from the header every resolve answer carries. */
async function commitOf(revision: string, headers: Record<string, string> = {}, repo = MODEL): Promise<string | null> {
  const res = await get(
    `/${repo}/resolve/${encodeURIComponent(revision)}/config.json`,
    { "accept-encoding": "identity", ...headers },
    "HEAD",
  );
  expect(res.status, `HEAD at ${revision}`).toBe(200);
  return res.headers.get("x-repo-commit");
}

async function hfError(res: Response): Promise<{ status: number; code: string | null; error: unknown }> {
  const body = res.status === 404 || res.status === 401 ? ((await res.json()) as { error?: unknown }) : {};
  return { status: res.status, code: res.headers.get("x-error-code"), error: typeof body.error };
}

/** Every entry of a tree listing, following `Link: <…>; rel="next"`, which must be absolute. */
async function tree(path: string): Promise<{ entries: TreeEntry[]; pages: number }> {
  let url: string | undefined = `${base()}${path}`;
  const entries: TreeEntry[] = [];
  let pages = 0;
  while (url) {
    const res = await fetch(url, { headers: auth });
    expect(res.status, url).toBe(200);
    entries.push(...((await res.json()) as TreeEntry[]));
    pages++;
    const link = res.headers.get("link");
    if (!link) break;
    const next = /^<(https?:\/\/[^>]+)>;\s*rel="next"$/.exec(link);
    expect(next, `an absolute next link: ${link}`).not.toBeNull();
    url = next![1];
  }
  return { entries, pages };
}

const fileEntry = (path: string, bytes: Uint8Array): TreeEntry => {
  const pointer = lfsPointer(bytes);
  return {
    type: "file",
    path,
    size: bytes.byteLength,
    oid: pointer.oid,
    lfs: { oid: sha256(bytes), size: bytes.byteLength, pointerSize: pointer.size },
  };
};

beforeAll(async () => {
  auth = { authorization: `Bearer ${hfToken("read")}` };
  await createModel(MODEL);
  const files = {
    "config.json": '{"model_type": "bert"}\n',
    "model.safetensors": new Uint8Array(randomBytes(200_000)),
    "empty.txt": "",
    "dir/a.txt": "a\n",
    "dir/sub/b.txt": "b\n",
  };
  v1 = await publish(MODEL, files);
  v2 = await publish(MODEL, { ...files, "config.json": '{"model_type": "bert", "v": 2}\n' });
  v3 = await publish(MODEL, {
    ...files,
    "config.json": '{"model_type": "bert", "v": 3}\n',
    "dir/a.txt": "a changed\n",
  });
  await setAlias(MODEL, "production", v1.version);
  await setAlias(MODEL, "staging", v2.version);
  await setAlias(MODEL, "canary", [
    { version: v1.version, weight: 30 },
    { version: v2.version, weight: 70 },
  ]);
  await setAlias(MODEL, "even", [
    { version: v3.version, weight: 50 },
    { version: v2.version, weight: 50 },
  ]);
});

describe("what hf_hub_download needs", () => {
  it("HEAD with Accept-Encoding: identity answers X-Repo-Commit, X-Linked-Etag, X-Linked-Size and Content-Length", async () => {
    const weights = v1.files.get("model.safetensors")!;
    for (const kind of ["resolve", "raw"]) {
      for (const repo of [MODEL, `mreg/${MODEL}`]) {
        const res = await get(
          `/${repo}/${kind}/production/model.safetensors`,
          { "accept-encoding": "identity" },
          "HEAD",
        );
        expect(res.status).toBe(200);
        expect(res.headers.get("x-repo-commit")).toBe(v1.commit);
        expect(res.headers.get("x-linked-etag")).toBe(`"${sha256(weights)}"`);
        expect(res.headers.get("etag")).toBe(`"${sha256(weights)}"`);
        expect(res.headers.get("x-linked-size")).toBe(String(weights.byteLength));
        expect(res.headers.get("content-length")).toBe(String(weights.byteLength));
        expect(res.headers.get("accept-ranges")).toBe("bytes");
        expect((await res.arrayBuffer()).byteLength).toBe(0);
      }
    }
  });

  it("GET streams the bytes (no redirect), with ranges; an empty file answers 200 with bytes */0", async () => {
    const weights = v1.files.get("model.safetensors")!;
    const whole = await get(`/${MODEL}/resolve/production/model.safetensors`, {}, "GET");
    expect(whole.status).toBe(200);
    expect(whole.redirected).toBe(false);
    expect(Buffer.from(await whole.arrayBuffer()).equals(Buffer.from(weights))).toBe(true);

    const first = await get(`/${MODEL}/resolve/production/model.safetensors`, { range: "bytes=0-0" });
    expect(first.status).toBe(206);
    expect(first.headers.get("content-range")).toBe(`bytes 0-0/${weights.byteLength}`);
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(weights.subarray(0, 1));

    const middle = await get(`/${MODEL}/raw/${v1.commit}/model.safetensors`, { range: "bytes=1000-1999" });
    expect(middle.status).toBe(206);
    expect(middle.headers.get("content-range")).toBe(`bytes 1000-1999/${weights.byteLength}`);
    expect(Buffer.from(await middle.arrayBuffer()).equals(Buffer.from(weights.subarray(1000, 2000)))).toBe(true);

    const empty = await get(`/${MODEL}/resolve/production/empty.txt`, { range: "bytes=0-0" });
    expect(empty.status).toBe(200);
    expect(empty.headers.get("content-range")).toBe("bytes */0");
    expect(empty.headers.get("x-linked-size")).toBe("0");
    expect((await empty.arrayBuffer()).byteLength).toBe(0);
  });

  it("revision info carries id, sha and siblings (LFS for every file); repeated expand= is accepted", async () => {
    for (const path of [
      `/api/models/${MODEL}`,
      `/api/models/mreg/${MODEL}/revision/main`,
      `/api/models/${MODEL}/revision/production?expand=sha&expand=siblings`,
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      const info = (await res.json()) as Record<string, unknown> & { siblings: { rfilename: string }[] };
      // `private`: this registry needs a token to read (PUBLIC_READ=false).
      expect(info).toMatchObject({ sha: v1.commit, private: true, gated: false, disabled: false, likes: 0 });
      expect(String(info.id).split("/").at(-1)).toBe(MODEL);
      expect(info.modelId).toBe(info.id);
      expect(typeof info._id).toBe("string");
      expect(typeof info.downloads).toBe("number");
      expect(Array.isArray(info.tags)).toBe(true);
      for (const at of ["lastModified", "createdAt"])
        expect(Number.isNaN(Date.parse(String(info[at]))), at).toBe(false);
      const expected = [...v1.files].map(([rfilename, bytes]) => {
        const pointer = lfsPointer(bytes);
        return {
          rfilename,
          size: bytes.byteLength,
          blobId: pointer.oid,
          lfs: { sha256: sha256(bytes), size: bytes.byteLength, pointerSize: pointer.size },
        };
      });
      expect([...info.siblings].sort((a, b) => a.rfilename.localeCompare(b.rfilename))).toMatchObject(
        expected.sort((a, b) => a.rfilename.localeCompare(b.rfilename)),
      );
    }
  });

  it("tree entries carry oid, directories too; the Link header is absolute and paging loses nothing", async () => {
    const all = await tree(`/api/models/${MODEL}/tree/production?recursive=true`);
    const byPath = new Map(all.entries.map((e) => [e.path, e]));
    expect([...byPath.keys()].sort()).toEqual([
      "config.json",
      "dir",
      "dir/a.txt",
      "dir/sub",
      "dir/sub/b.txt",
      "empty.txt",
      "model.safetensors",
    ]);
    for (const [path, bytes] of v1.files) expect(byPath.get(path)).toMatchObject(fileEntry(path, bytes));
    for (const dir of ["dir", "dir/sub"])
      expect(byPath.get(dir)).toMatchObject({
        type: "directory",
        path: dir,
        size: 0,
        oid: expect.stringMatching(/^[0-9a-f]{40}$/),
      });

    const paged = await tree(`/api/models/${MODEL}/tree/production?recursive=true&limit=2`);
    expect(paged.pages).toBeGreaterThanOrEqual(4);
    expect(paged.entries).toEqual(all.entries);

    const top = await tree(`/api/models/${MODEL}/tree/production`);
    expect(top.entries.map((e) => e.path).sort()).toEqual(["config.json", "dir", "empty.txt", "model.safetensors"]);
    const under = await tree(`/api/models/mreg/${MODEL}/tree/${v1.commit}/dir`);
    expect(under.entries.map((e) => [e.type, e.path]).sort()).toEqual([
      ["directory", "dir/sub"],
      ["file", "dir/a.txt"],
    ]);

    // A directory's oid is a digest of its entries: the same entries, the same oid.
    const dirOid = async (revision: string, dir: string) =>
      (await tree(`/api/models/${MODEL}/tree/${revision}?recursive=true`)).entries.find((e) => e.path === dir)!.oid;
    expect(await dirOid("v1", "dir")).toBe(byPath.get("dir")!.oid);
    expect(await dirOid("v2", "dir")).toBe(byPath.get("dir")!.oid);
    expect(await dirOid("v3", "dir")).not.toBe(byPath.get("dir")!.oid);
    expect(await dirOid("v3", "dir/sub")).toBe(byPath.get("dir/sub")!.oid);
  });

  it("paths-info takes JSON and form-encoded repeated paths, and answers the entries that exist", async () => {
    const expected = [
      fileEntry("config.json", v2.files.get("config.json")!),
      { type: "directory", path: "dir/sub", size: 0, oid: expect.stringMatching(/^[0-9a-f]{40}$/) },
    ];
    const sorted = (list: TreeEntry[]) => [...list].sort((a, b) => a.path.localeCompare(b.path));

    const json = await fetch(`${base()}/api/models/${MODEL}/paths-info/staging`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ paths: ["config.json", "dir/sub", "missing.bin"], expand: true }),
    });
    expect(json.status).toBe(200);
    expect(sorted((await json.json()) as TreeEntry[])).toMatchObject(expected);

    const form = new URLSearchParams([
      ["paths", "config.json"],
      ["paths", "dir/sub"],
      ["paths", "missing.bin"],
      ["expand", "True"],
    ]);
    const python = await fetch(`${base()}/api/models/mreg/${MODEL}/paths-info/${v2.commit}`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    expect(python.status).toBe(200);
    expect(sorted((await python.json()) as TreeEntry[])).toMatchObject(expected);
  });

  it("errors name themselves in X-Error-Code with a JSON body; EntryNotFound carries the commit", async () => {
    const missing = await get(`/${MODEL}/resolve/staging/missing.bin`, { "accept-encoding": "identity" }, "HEAD");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-error-code")).toBe("EntryNotFound");
    expect(missing.headers.get("x-repo-commit")).toBe(v2.commit);

    expect(await hfError(await get(`/${MODEL}/resolve/staging/missing.bin`))).toEqual({
      status: 404,
      code: "EntryNotFound",
      error: "string",
    });
    expect(await hfError(await get(`/no-such-model/resolve/main/config.json`))).toEqual({
      status: 404,
      code: "RepoNotFound",
      error: "string",
    });
    expect(await hfError(await get(`/elsewhere/${MODEL}/resolve/main/config.json`))).toEqual({
      status: 404,
      code: "RepoNotFound",
      error: "string",
    });
    expect(await hfError(await get(`/${MODEL}/resolve/v42/config.json`))).toEqual({
      status: 404,
      code: "RevisionNotFound",
      error: "string",
    });
    expect(await hfError(await get(`/api/models/${MODEL}/revision/nope`))).toEqual({
      status: 404,
      code: "RevisionNotFound",
      error: "string",
    });
    expect(await hfError(await get(`/api/models/${MODEL}/tree/nope`))).toEqual({
      status: 404,
      code: "RevisionNotFound",
      error: "string",
    });
    expect(await hfError(await get(`/api/models/no-such-model/tree/main`))).toEqual({
      status: 404,
      code: "RepoNotFound",
      error: "string",
    });

    const anonymous = await fetch(`${base()}/${MODEL}/resolve/main/config.json`, {
      method: "HEAD",
      headers: { "accept-encoding": "identity" },
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("x-error-code")).toBe("RepoNotFound");
    expect(await hfError(await fetch(`${base()}/api/models/${MODEL}`))).toEqual({
      status: 401,
      code: "RepoNotFound",
      error: "string",
    });
  });

  it("takes the token as the clients send it: Bearer hf_<token> and Bearer <token>", async () => {
    const jwt = auth.authorization!.slice("Bearer hf_".length);
    for (const authorization of [`Bearer hf_${jwt}`, `Bearer ${jwt}`]) {
      const res = await fetch(`${base()}/${MODEL}/resolve/main/config.json`, { headers: { authorization } });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('{"model_type": "bert"}\n');
    }
  });
});

describe("the served OpenAPI document", () => {
  it("lists the bridge's routes", async () => {
    const doc = (await (await fetch(`${base()}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    const paths = Object.keys(doc.paths);
    for (const route of ["/resolve/", "/raw/", "/api/models/", "/revision/", "/tree/", "/paths-info/"]) {
      expect(
        paths.some((p) => p.includes(route)),
        route,
      ).toBe(true);
    }
  });
});

describe("revision rules", () => {
  it("an alias, v<n>, latest, and main/HEAD = the alias production", async () => {
    expect(await commitOf("production")).toBe(v1.commit);
    expect(await commitOf("staging")).toBe(v2.commit);
    expect(await commitOf("v2")).toBe(v2.commit);
    expect(await commitOf("v3")).toBe(v3.commit);
    expect(await commitOf("latest")).toBe(v3.commit);
    expect(await commitOf("main")).toBe(v1.commit);
    expect(await commitOf("HEAD")).toBe(v1.commit);
    expect(await commitOf("STAGING")).toBe(v2.commit); // aliases fold to lower case
  });

  it("a 40-hex commit names one version, even after the alias moves on", async () => {
    const pinned = await get(`/${MODEL}/resolve/${v1.commit}/config.json`);
    expect(await pinned.text()).toBe('{"model_type": "bert"}\n');
    await setAlias(MODEL, "production", v3.version);
    try {
      expect(await commitOf("main")).toBe(v3.commit);
      expect(await commitOf(v1.commit)).toBe(v1.commit);
      expect(await (await get(`/${MODEL}/resolve/${v1.commit}/config.json`)).text()).toBe('{"model_type": "bert"}\n');
      expect(await (await get(`/${MODEL}/resolve/main/config.json`)).text()).toBe('{"model_type": "bert", "v": 3}\n');
    } finally {
      await setAlias(MODEL, "production", v1.version);
    }
    // A commit of another model's version is not a revision of this one.
    await createModel("proto-elsewhere");
    const foreign = await publish("proto-elsewhere", { "config.json": "{}\n" });
    expect(await hfError(await get(`/${MODEL}/resolve/${foreign.commit}/config.json`))).toEqual({
      status: 404,
      code: "RevisionNotFound",
      error: "string",
    });
  });

  it("a split alias: x-mreg-key picks the member /v1 picks for that key; without it, the largest weight (ties: the lowest version)", async () => {
    const commits = new Map([v1, v2, v3].map((v) => [v.version, v.commit]));
    const seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const key = `user-${i}`;
      const version = await resolveV1(MODEL, "canary", key);
      seen.add(version);
      expect(await commitOf("canary", { "x-mreg-key": key }), key).toBe(commits.get(version));
      expect(await commitOf("canary", { "x-mreg-key": key }), `${key} again`).toBe(commits.get(version));
    }
    expect(seen).toEqual(new Set([v1.version, v2.version]));
    expect(await commitOf("canary")).toBe(v2.commit);
    expect(await commitOf("even")).toBe(v2.commit);

    const info = (await (await get(`/api/models/${MODEL}/revision/canary`)).json()) as { sha: string };
    expect(info.sha).toBe(v2.commit);
  });
});
