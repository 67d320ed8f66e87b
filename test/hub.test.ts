/**
 * The Hugging Face Hub read bridge (src/bridges/hf/), route by route inside workerd: repo ids,
 * revisions, the file route's headers and ranges, model info, the tree and its paging,
 * paths-info, and the Hub's errors. test/e2e/hf-*.test.ts drives it with the real clients.
 */
import { describe, expect, it } from "vitest";
import { call, createModel, hsToken, json, sha256Of } from "./helpers";

const enc = (s: string) => new TextEncoder().encode(s);

/** A ready version of `model` holding `files` (path → text); returns its number and commit. */
async function ready(model: string, files: Record<string, string>, body: Record<string, unknown> = {}) {
  const v = await json("POST", `/v1/models/${model}/versions`, { body });
  for (const [path, content] of Object.entries(files)) {
    const put = await call("PUT", `/v1/models/${model}/versions/${v.body.version}/files/${path}`, { rawBody: content });
    expect(put.status, path).toBe(201);
  }
  const fin = await json("POST", `/v1/models/${model}/versions/${v.body.version}/finalize`);
  expect(fin.status).toBe(200);
  return { version: v.body.version as number, commit: (fin.body.digest as string).slice(7, 47) };
}

const CARD = `---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
tags: [fraud, tabular]
datasets:
  - acme/transactions
---
# Fraud scorer
`;

describe("the file route", () => {
  it("streams a file at an alias with the headers the clients need, HEAD and ranges included", async () => {
    await createModel("hub-files");
    const v1 = await ready("hub-files", { "config.json": '{"a":1}', "onnx/model.onnx": "weights-1", "empty.txt": "" });
    await json("PUT", "/v1/models/hub-files/aliases/production", { body: { version: v1.version } });
    const sha = await sha256Of(enc("weights-1"));
    for (const path of [
      "/hub-files/resolve/production/onnx/model.onnx",
      "/mreg/hub-files/resolve/main/onnx/model.onnx",
      "/hub-files/raw/HEAD/onnx/model.onnx",
    ]) {
      const res = await call("GET", path);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe("weights-1");
      expect(res.headers.get("x-repo-commit")).toBe(v1.commit);
      expect(res.headers.get("etag")).toBe(`"${sha}"`);
      expect(res.headers.get("x-linked-etag")).toBe(`"${sha}"`);
      expect(res.headers.get("x-linked-size")).toBe("9");
      expect(res.headers.get("cache-control")).toBe("private, no-cache");
    }
    const head = await call("HEAD", "/hub-files/resolve/main/onnx/model.onnx", {
      headers: { "accept-encoding": "identity" },
    });
    expect(head.status).toBe(200);
    expect([
      head.headers.get("x-repo-commit"),
      head.headers.get("x-linked-size"),
      head.headers.get("content-length"),
    ]).toEqual([v1.commit, "9", "9"]);
    // fileDownloadInfo's probe: bytes=0-0 answers the size in Content-Range.
    const probe = await call("GET", "/hub-files/resolve/main/onnx/model.onnx", {
      headers: { range: "bytes=0-0", accept: "application/vnd.xet-fileinfo+json, */*" },
    });
    expect(probe.status).toBe(206);
    expect(probe.headers.get("content-range")).toBe("bytes 0-0/9");
    expect(probe.headers.get("content-type")).toBe("application/octet-stream");
    expect(await probe.text()).toBe("w");
    const slice = await call("GET", "/hub-files/resolve/main/onnx/model.onnx", { headers: { range: "bytes=2-4" } });
    expect([slice.status, await slice.text()]).toEqual([206, "igh"]);
    // An empty file: 200 with bytes */0, never 416.
    const empty = await call("GET", "/hub-files/resolve/main/empty.txt", { headers: { range: "bytes=0-0" } });
    expect([empty.status, empty.headers.get("content-range"), await empty.text()]).toEqual([200, "bytes */0", ""]);
    const past = await call("GET", "/hub-files/resolve/main/config.json", { headers: { range: "bytes=100-" } });
    expect([past.status, past.headers.get("content-range")]).toEqual([416, "bytes */7"]);
    // By commit and by v<n>: pinned, cacheable for ever; If-None-Match answers 304.
    const pinned = await call("GET", `/hub-files/resolve/${v1.commit}/config.json`);
    expect([pinned.status, pinned.headers.get("cache-control")]).toEqual([200, "private, max-age=31536000, immutable"]);
    const again = await call("GET", `/hub-files/resolve/v${v1.version}/config.json`, {
      headers: { "if-none-match": pinned.headers.get("etag")! },
    });
    expect(again.status).toBe(304);
  });

  it("follows the alias: a promotion is the next download's new commit, while the old commit still serves its bytes", async () => {
    await createModel("hub-move");
    const v1 = await ready("hub-move", { "w.bin": "one" });
    const v2 = await ready("hub-move", { "w.bin": "two" });
    await json("PUT", "/v1/models/hub-move/aliases/production", { body: { version: v1.version } });
    expect(await (await call("GET", "/hub-move/resolve/main/w.bin")).text()).toBe("one");
    await json("PUT", "/v1/models/hub-move/aliases/production", { body: { version: v2.version } });
    const moved = await call("GET", "/hub-move/resolve/main/w.bin");
    expect([await moved.text(), moved.headers.get("x-repo-commit")]).toEqual(["two", v2.commit]);
    expect(await (await call("GET", `/hub-move/resolve/${v1.commit}/w.bin`)).text()).toBe("one");
    expect(await (await call("GET", `/hub-move/resolve/${v1.commit.toUpperCase()}/w.bin`)).text()).toBe("one");
    expect(await (await call("GET", "/hub-move/resolve/latest/w.bin")).text()).toBe("two");
  });

  it("resolves a split by x-mreg-key, and without one to its heaviest member (the lowest version on a tie)", async () => {
    await createModel("hub-split");
    const a = await ready("hub-split", { "w.bin": "a" });
    const b = await ready("hub-split", { "w.bin": "b" });
    await json("PUT", "/v1/models/hub-split/aliases/canary", {
      body: {
        split: [
          { version: a.version, weight: 10 },
          { version: b.version, weight: 90 },
        ],
      },
    });
    for (let i = 0; i < 5; i++)
      expect((await call("GET", "/hub-split/resolve/canary/w.bin")).headers.get("x-repo-commit")).toBe(b.commit);
    const byKey = new Set<string>();
    for (let i = 0; i < 60; i++)
      byKey.add(
        await (await call("GET", "/hub-split/resolve/canary/w.bin", { headers: { "x-mreg-key": `node-${i}` } })).text(),
      );
    expect(byKey).toEqual(new Set(["a", "b"]));
    const node = async () =>
      (await call("GET", "/hub-split/resolve/canary/w.bin", { headers: { "x-mreg-key": "node-7" } })).text();
    expect(await node()).toBe(await node());
    await json("PUT", "/v1/models/hub-split/aliases/even", {
      body: {
        split: [
          { version: b.version, weight: 50 },
          { version: a.version, weight: 50 },
        ],
      },
    });
    expect((await call("GET", "/hub-split/resolve/even/w.bin")).headers.get("x-repo-commit")).toBe(a.commit);
  });
});

describe("errors, in the Hub's words", () => {
  it("answers RepoNotFound, RevisionNotFound and EntryNotFound, and the same RepoNotFound for a model the token may not see", async () => {
    await createModel("hub-err");
    const v = await ready("hub-err", { "w.bin": "x" });
    await json("PUT", "/v1/models/hub-err/aliases/production", { body: { version: v.version } });
    const expectError = async (path: string, status: number, code: string | null, token?: string | null) => {
      const res = await call("GET", path, token === undefined ? {} : { token });
      expect(res.status, path).toBe(status);
      expect(res.headers.get("x-error-code"), path).toBe(code);
      expect(Object.keys((await res.json()) as object)).toEqual(["error"]);
      return res;
    };
    await expectError("/no-such-model/resolve/main/w.bin", 404, "RepoNotFound");
    await expectError("/other-ns/hub-err/resolve/main/w.bin", 404, "RepoNotFound");
    await expectError("/hub-err/resolve/nope/w.bin", 404, "RevisionNotFound");
    await expectError(`/hub-err/resolve/${"0".repeat(40)}/w.bin`, 404, "RevisionNotFound");
    await expectError("/hub-err/resolve/Not!A!Rev/w.bin", 404, "RevisionNotFound");
    const missing = await expectError("/hub-err/resolve/main/missing.bin", 404, "EntryNotFound");
    expect(missing.headers.get("x-repo-commit")).toBe(v.commit);
    await expectError("/api/models/no-such-model", 404, "RepoNotFound");
    await expectError("/api/models/hub-err/revision/nope", 404, "RevisionNotFound");
    await expectError("/api/models/hub-err/tree/main/no-dir", 404, "EntryNotFound");
    const anonymous = await expectError("/hub-err/resolve/main/w.bin", 401, "RepoNotFound", null);
    expect(anonymous.headers.get("www-authenticate")).toContain("Bearer");
    const other = await hsToken({ scope: "read", models: ["team-b-*"] });
    const hidden = await call("GET", "/hub-err/resolve/main/w.bin", { token: other });
    const absent = await call("GET", "/team-b-nothing/resolve/main/w.bin", { token: other });
    expect([hidden.status, hidden.headers.get("x-error-code"), await hidden.text()]).toEqual([
      absent.status,
      absent.headers.get("x-error-code"),
      await absent.text(),
    ]);
    expect(hidden.status).toBe(404);
    // A token whose scopes exclude read.
    expect(
      (await call("GET", "/hub-err/resolve/main/w.bin", { token: await hsToken({ scope: "report" }) })).status,
    ).toBe(403);
    // hf_-prefixed tokens, as the JS client insists on.
    expect(
      (
        await call("GET", "/hub-err/resolve/main/w.bin", {
          token: null,
          headers: { authorization: `Bearer hf_${await hsToken({ scope: "read" })}` },
        })
      ).status,
    ).toBe(200);
    // Writes are not served.
    expect((await call("POST", "/api/models/hub-err/revision/main")).status).toBe(405);
  });
});

describe("model info, the tree, paths-info", () => {
  it("describes the model at a revision with its commit, siblings as LFS files, and the card's front matter", async () => {
    await createModel("hub-info");
    const v = await ready("hub-info", { "README.md": CARD, "config.json": "{}", "onnx/model.onnx": "m" });
    await json("PUT", "/v1/models/hub-info/aliases/production", { body: { version: v.version } });
    for (const path of [
      "/api/models/hub-info",
      "/api/models/mreg/hub-info/revision/main",
      `/api/models/hub-info/revision/${v.commit}`,
      "/api/models/hub-info/revision/HEAD?expand=sha&expand=siblings",
    ]) {
      const info = await json("GET", path);
      expect(info.status, path).toBe(200);
      expect(info.body).toMatchObject({
        sha: v.commit,
        private: true,
        gated: false,
        library_name: "transformers",
        pipeline_tag: "text-classification",
        tags: ["fraud", "tabular"],
      });
      expect(info.body.cardData).toMatchObject({ license: "apache-2.0", datasets: ["acme/transactions"] });
      expect(info.body.siblings.map((s: { rfilename: string }) => s.rfilename)).toEqual([
        "README.md",
        "config.json",
        "onnx/model.onnx",
      ]);
    }
    const info = (await json("GET", "/api/models/hub-info")).body;
    const onnx = info.siblings.find((s: { rfilename: string }) => s.rfilename === "onnx/model.onnx");
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${await sha256Of(enc("m"))}\nsize 1\n`;
    expect(onnx).toMatchObject({
      size: 1,
      lfs: { sha256: await sha256Of(enc("m")), size: 1, pointerSize: pointer.length },
    });
    // git's blob id of the pointer: SHA-1 of "blob <n>\0<pointer>".
    const sha1 = [...new Uint8Array(await crypto.subtle.digest("SHA-1", enc(`blob ${pointer.length}\0${pointer}`)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    expect(onnx.blobId).toBe(sha1);
    expect(info.id).toBe("hub-info");
    expect((await json("GET", "/api/models/mreg/hub-info")).body.id).toBe("mreg/hub-info");
  });

  it("lists the tree (directories with oids), pages it with an absolute Link, and answers paths-info as JSON or a form", async () => {
    await createModel("hub-tree");
    const files: Record<string, string> = { "a.txt": "a", "d/b.txt": "b", "d/e/c.txt": "c" };
    for (let i = 0; i < 5; i++) files[`many/f${i}.txt`] = `f${i}`;
    const v = await ready("hub-tree", files);
    await json("PUT", "/v1/models/hub-tree/aliases/production", { body: { version: v.version } });
    const top = await json("GET", "/api/models/hub-tree/tree/main");
    expect(top.body.map((e: { type: string; path: string }) => `${e.type}:${e.path}`)).toEqual([
      "file:a.txt",
      "directory:d",
      "directory:many",
    ]);
    for (const e of top.body as { oid: string }[]) expect(e.oid).toMatch(/^[0-9a-f]{40}$/);
    const recursive = await json("GET", "/api/models/hub-tree/tree/main/d?recursive=true");
    expect(recursive.body.map((e: { path: string }) => e.path)).toEqual(["d/b.txt", "d/e", "d/e/c.txt"]);
    expect(recursive.body[0]).toMatchObject({ type: "file", size: 1, lfs: { oid: await sha256Of(enc("b")), size: 1 } });
    // The same directory oid whichever listing shows it; another version's differs where its content does.
    const d = top.body.find((e: { path: string }) => e.path === "d");
    expect(
      (await json("GET", "/api/models/hub-tree/tree/main?recursive=1")).body.find(
        (e: { path: string }) => e.path === "d",
      ).oid,
    ).toBe(d.oid);

    // Paging: limit 3 over 11 entries, following absolute Links.
    const seen: string[] = [];
    let url: string | null = `/api/models/hub-tree/tree/main?recursive=true&limit=3`;
    for (let pages = 0; url && pages < 10; pages++) {
      const res = await call("GET", url);
      seen.push(...((await res.json()) as { path: string }[]).map((e) => e.path));
      const link = res.headers.get("link");
      if (link) expect(link).toMatch(/^<http:\/\/mreg\.test\/api\/models\/hub-tree\/tree\/main\?[^>]+>; rel="next"$/);
      url = link
        ? new URL(link.slice(1, link.indexOf(">"))).pathname + new URL(link.slice(1, link.indexOf(">"))).search
        : null;
    }
    expect(seen).toEqual([
      "a.txt",
      "d",
      "d/b.txt",
      "d/e",
      "d/e/c.txt",
      "many",
      ...[0, 1, 2, 3, 4].map((i) => `many/f${i}.txt`),
    ]);

    const asJson = await json("POST", `/api/models/hub-tree/paths-info/${v.commit}`, {
      body: { paths: ["a.txt", "d", "nope"], expand: true },
    });
    expect(asJson.body.map((e: { type: string; path: string }) => `${e.type}:${e.path}`)).toEqual([
      "file:a.txt",
      "directory:d",
    ]);
    const asForm = await json("POST", "/api/models/hub-tree/paths-info/main", {
      rawBody: "paths=a.txt&paths=d%2Fe%2Fc.txt&expand=True",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(asForm.body.map((e: { path: string }) => e.path)).toEqual(["a.txt", "d/e/c.txt"]);
    // A read-only POST: a read token is enough.
    const reader = await hsToken({ scope: "read" });
    expect(
      (await json("POST", "/api/models/hub-tree/paths-info/main", { body: { paths: ["a.txt"] }, token: reader }))
        .status,
    ).toBe(200);
    expect(
      (
        await json("POST", "/api/models/hub-tree/paths-info/main", {
          rawBody: "{not json",
          headers: { "content-type": "application/json" },
        })
      ).status,
    ).toBe(400);
  });
});

describe("the bridge in the OpenAPI document", () => {
  it("lists the Hub's routes, and the docs page renders them", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/{repo}/resolve/{revision}/{path}",
        "/{repo}/raw/{revision}/{path}",
        "/api/models/{repo}",
        "/api/models/{repo}/revision/{revision}",
        "/api/models/{repo}/tree/{revision}/{path}",
        "/api/models/{repo}/paths-info/{revision}",
      ]),
    );
    const docs = await call("GET", "/docs", { token: null });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("Hugging Face Hub: the entries that exist among some paths");
  });
});
