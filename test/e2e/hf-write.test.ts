/**
 * The official `@huggingface/hub` npm client publishing to mreg (`hubUrl` / `HF_ENDPOINT`),
 * as a training job would: `whoAmI`, `createRepo`, `uploadFiles` (a file above
 * MAX_SINGLE_PUT, so HF's multipart LFS transfer runs), `commit` with deletes, branches,
 * `listModels`, `listCommits`, and the `hfjs upload` and `hfjs models list` commands. Every
 * push is read back byte for byte through the Hub, `/v1`, OCI and MLflow, one version per
 * commit with its lineage parent; a commit to `production` that its gate refuses leaves a
 * ready, unpromoted version and an error naming the failed checks.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  commit,
  createBranch,
  createRepo,
  deleteBranch,
  downloadFile,
  downloadFileToCacheDir,
  HubApiError,
  listCommits,
  listModels,
  uploadFiles,
  whoAmI,
} from "@huggingface/hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root } from "./server";
import { base, call, hfToken, randomBytes, readBackEverywhere, sha256, type Bytes } from "./hf";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const HFJS = join(root, "node_modules", "@huggingface", "hub", "dist", "cli.js");

let accessToken: string;
let hubUrl: string;
const work = mkdtempSync(join(tmpdir(), "mreg-hf-write-"));

beforeAll(() => {
  hubUrl = base();
  accessToken = hfToken("read write promote");
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const blob = (bytes: Bytes) => new Blob([bytes]);

/** The version a commit made, by its commit id (a version's commit: the first 40 hex digits of its digest). */
async function versionOf(model: string, commitOid: string): Promise<number> {
  const { items } = (await call("GET", `/v1/models/${model}/versions?limit=200`)) as {
    items: { version: number; digest: string | null }[];
  };
  return items.find((v) => v.digest?.slice(7, 47) === commitOid)!.version;
}

describe("@huggingface/hub publishing to mreg", () => {
  it("whoAmI names the token's subject and says it may write", async () => {
    const me = await whoAmI({ accessToken, hubUrl });
    expect(me).toMatchObject({ type: "user", name: "hf-reader" });
    expect(me.auth.accessToken?.role).toBe("write");
    const reader = await whoAmI({ accessToken: hfToken("read"), hubUrl });
    expect(reader.auth.accessToken?.role).toBe("read");
  });

  it("uploadFiles of a file over VERIFY_BYTES_PER_STEP: the completion waits for the steps on the queue, the commit names it", async () => {
    const repo = "mreg/hfw-steps";
    await createRepo({ repo, accessToken, hubUrl });
    // 40 MiB + 3 over 16 MiB steps (hf-global-setup.ts): three steps of the mreg-verify consumer.
    const weights = randomBytes(40 * MiB + 3);
    const answers: number[] = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (/\.git\/info\/lfs\/uploads\/[^/]+$/.test(new URL(String(input)).pathname)) answers.push(res.status);
      return res;
    };
    const done = await uploadFiles({
      repo,
      accessToken,
      hubUrl,
      fetch: recording,
      commitTitle: "stepped weights",
      files: [{ path: "model.safetensors", content: blob(weights) }],
    });
    // One completion, answered 200 once the object was verified: the client committed right after.
    expect(answers).toEqual([200]);
    const version = await versionOf("hfw-steps", done!.commit.oid);
    await readBackEverywhere("hfw-steps", version, new Map([["model.safetensors", weights]]));
  });

  it("createRepo, uploadFiles with a multipart file, commit with deletes: one version per commit, read back everywhere", async () => {
    const repo = "mreg/hfw-upload";
    const created = await createRepo({ repo, accessToken, hubUrl });
    expect(created.repoUrl).toBe(`${hubUrl}/mreg/hfw-upload`);
    await expect(createRepo({ repo, accessToken, hubUrl })).rejects.toMatchObject({ statusCode: 409 });

    const weights = randomBytes(13 * MiB + 5);
    const config = new TextEncoder().encode('{"model_type": "bert"}');
    const readme = new TextEncoder().encode("# hfw-upload\n");
    const sent: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      sent.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname}`);
      return fetch(input, init);
    };
    const first = await uploadFiles({
      repo,
      accessToken,
      hubUrl,
      fetch: recording,
      commitTitle: "first weights",
      files: [
        { path: "model.safetensors", content: blob(weights) },
        { path: "config.json", content: blob(config) },
        { path: "README.md", content: blob(readme) },
      ],
    });
    // The weights (13 MiB, above MAX_SINGLE_PUT) went in HF's multipart transfer: 3 parts of 5 MiB, then
    // the completion; the two small files in one PUT each.
    const parts = sent.filter((s) => /^PUT \/hfw-upload\.git\/info\/lfs\/uploads\/[^/]+\/\d$/.test(s));
    expect(parts).toHaveLength(3);
    expect(sent.filter((s) => /^POST \/hfw-upload\.git\/info\/lfs\/uploads\/[^/]+$/.test(s))).toHaveLength(1);
    expect(sent.filter((s) => /^PUT \/hfw-upload\.git\/info\/lfs\/objects\//.test(s))).toHaveLength(2);
    const v1 = await versionOf("hfw-upload", first!.commit.oid);
    const v1Files = new Map<string, Uint8Array>([
      ["model.safetensors", weights],
      ["config.json", config],
      ["README.md", readme],
    ]);
    const r1 = await readBackEverywhere("hfw-upload", v1, v1Files);
    expect(r1.description).toBe("first weights");
    expect(r1.lineage.parents ?? []).toEqual([]);
    // The client reads it back through the Hub too.
    const downloaded = await downloadFile({
      repo,
      path: "model.safetensors",
      revision: first!.commit.oid,
      accessToken,
      hubUrl,
    });
    expect(sha256(new Uint8Array(await downloaded!.arrayBuffer()))).toBe(sha256(weights));

    // A second commit: one file deleted, one changed, one added; the weights are not sent again.
    const tokenizer = new TextEncoder().encode('{"vocab": {}}');
    const config2 = new TextEncoder().encode('{"model_type": "bert", "layers": 2}');
    sent.length = 0;
    const second = await commit({
      repo,
      accessToken,
      hubUrl,
      title: "tokenizer, no readme",
      description: "second push",
      fetch: recording,
      operations: [
        { operation: "delete", path: "README.md" },
        { operation: "addOrUpdate", path: "config.json", content: blob(config2) },
        { operation: "addOrUpdate", path: "tokenizer.json", content: blob(tokenizer) },
        { operation: "addOrUpdate", path: "model.safetensors", content: blob(weights) },
      ],
    });
    expect(sent.filter((s) => s.startsWith("PUT"))).toHaveLength(2);
    const v2 = await versionOf("hfw-upload", second!.commit.oid);
    expect(v2).toBe(v1 + 1);
    const r2 = await readBackEverywhere(
      "hfw-upload",
      v2,
      new Map<string, Uint8Array>([
        ["model.safetensors", weights],
        ["config.json", config2],
        ["tokenizer.json", tokenizer],
      ]),
    );
    expect(r2.lineage.parents).toEqual([{ model: "hfw-upload", version: v1 }]);
    expect(r2.description).toBe("tokenizer, no readme\n\nsecond push");
    // A push never deploys: production is not set, so `main` still reads as nothing.
    const main = await fetch(`${hubUrl}/hfw-upload/resolve/main/config.json`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect([main.status, main.headers.get("x-error-code")]).toEqual([404, "RevisionNotFound"]);

    // listCommits: main's log is every version, newest first.
    const log = [];
    for await (const c of listCommits({ repo, accessToken, hubUrl })) log.push(c);
    expect(log.map((c) => [c.oid, c.title])).toEqual([
      [second!.commit.oid, "tokenizer, no readme"],
      [first!.commit.oid, "first weights"],
    ]);
    expect(log[0]!.authors[0]!.username).toBe("hf-reader");
  });

  it("createBranch and deleteBranch move an alias; a commit to production that its gate refuses leaves a ready, unpromoted version", async () => {
    const repo = "mreg/hfw-gate";
    await createRepo({ repo, accessToken, hubUrl });
    const one = await uploadFiles({
      repo,
      accessToken,
      hubUrl,
      files: [{ path: "w.bin", content: blob(randomBytes(1000)) }],
    });
    const v1 = await versionOf("hfw-gate", one!.commit.oid);
    await createBranch({ repo, branch: "staging", accessToken, hubUrl });
    expect(((await call("GET", "/v1/models/hfw-gate/aliases/staging")) as { version: number }).version).toBe(v1);
    await call("PUT", "/v1/models/hfw-gate/aliases/production", { version: v1 });
    await call("PUT", "/v1/models/hfw-gate/gates/production", { metrics: [{ name: "accuracy", min: 0.9 }] });

    const refused = await uploadFiles({
      repo,
      accessToken,
      hubUrl,
      branch: "production",
      files: [{ path: "w.bin", content: blob(randomBytes(2000)) }],
    }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(HubApiError);
    expect((refused as HubApiError).statusCode).toBe(409);
    expect((refused as HubApiError).message).toContain("metrics.accuracy");
    const { items } = (await call("GET", "/v1/models/hfw-gate/versions?limit=1")) as {
      items: { version: number; status: string; aliases: string[]; lineage: { parents: unknown[] } }[];
    };
    expect(items[0]).toMatchObject({ version: v1 + 1, status: "ready", aliases: [] });
    expect(items[0]!.lineage.parents).toEqual([{ model: "hfw-gate", version: v1 }]);
    expect(((await call("GET", "/v1/models/hfw-gate/aliases/production")) as { version: number }).version).toBe(v1);

    // A commit to the branch moves it (no gate there).
    const staged = await uploadFiles({
      repo,
      accessToken,
      hubUrl,
      branch: "staging",
      files: [{ path: "extra.txt", content: blob(new TextEncoder().encode("x")) }],
    });
    const v3 = await versionOf("hfw-gate", staged!.commit.oid);
    expect(((await call("GET", "/v1/models/hfw-gate/aliases/staging")) as { version: number }).version).toBe(v3);
    await deleteBranch({ repo, branch: "staging", accessToken, hubUrl });
    await expect(call("GET", "/v1/models/hfw-gate/aliases/staging")).rejects.toThrow(/404/);
  });

  it("downloadFileToCacheDir files an alias's file under the version's commit, not under the file's sha256", async () => {
    const repo = "mreg/hfw-cache";
    await createRepo({ repo, accessToken, hubUrl });
    const config = new TextEncoder().encode('{"model_type": "cache"}');
    const pushed = await uploadFiles({
      repo,
      accessToken,
      hubUrl,
      files: [{ path: "config.json", content: blob(config) }],
    });
    const commitOid = pushed!.commit.oid;
    await call("PUT", "/v1/models/hfw-cache/aliases/production", { version: await versionOf("hfw-cache", commitOid) });
    const cacheDir = join(work, "cache");
    // It asks paths-info with expand and names the snapshot after `lastCommit.id`.
    const path = await downloadFileToCacheDir({
      repo,
      path: "config.json",
      revision: "production",
      cacheDir,
      accessToken,
      hubUrl,
    });
    expect(path).toBe(join(cacheDir, "models--mreg--hfw-cache", "snapshots", commitOid, "config.json"));
    expect(sha256(new Uint8Array(readFileSync(path)))).toBe(sha256(config));
  });

  it("a read-only token is told it is read-only, not that the repo is missing", async () => {
    const err = await uploadFiles({
      repo: "mreg/hfw-upload",
      accessToken: hfToken("read"),
      hubUrl,
      files: [{ path: "x.txt", content: blob(new TextEncoder().encode("x")) }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubApiError);
    expect((err as HubApiError).statusCode).toBe(403);
    expect((err as HubApiError).message).toContain("read-only");
  });

  it("listModels and `hfjs models list` list what the token sees", async () => {
    await createRepo({ repo: "mreg/hfw-list-a", accessToken, hubUrl });
    const seen = [];
    for await (const m of listModels({ search: { query: "hfw-list" }, accessToken, hubUrl })) seen.push(m.name);
    expect(seen).toEqual(["mreg/hfw-list-a"]);
    const narrow = hfToken("read", "nothing-*");
    const none = [];
    for await (const m of listModels({ search: { query: "hfw-list" }, accessToken: narrow, hubUrl })) none.push(m);
    expect(none).toEqual([]);
    const { stdout } = await run(process.execPath, [HFJS, "models", "list", "hfw-list", "--token", accessToken], {
      env: { ...process.env, HF_ENDPOINT: hubUrl },
    });
    expect(stdout).toContain("mreg/hfw-list-a");
  });

  it("`hfjs upload` creates the repo and pushes a folder as one version", async () => {
    const folder = join(work, "upload");
    mkdirSync(join(folder, "onnx"), { recursive: true });
    const model = randomBytes(7 * MiB);
    writeFileSync(join(folder, "onnx", "model.onnx"), model);
    writeFileSync(join(folder, "config.json"), '{"model_type": "vad"}');
    const { stdout } = await run(
      process.execPath,
      [HFJS, "upload", "mreg/hfw-cli", folder, "--token", accessToken, "--commit-message", "from the CLI", "--quiet"],
      { env: { ...process.env, HF_ENDPOINT: hubUrl } },
    );
    expect(stdout).not.toContain("rror");
    const { items } = (await call("GET", "/v1/models/hfw-cli/versions")) as {
      items: { version: number; description: string }[];
    };
    expect(items).toHaveLength(1);
    expect(items[0]!.description).toBe("from the CLI");
    await readBackEverywhere(
      "hfw-cli",
      items[0]!.version,
      new Map<string, Uint8Array>([
        ["onnx/model.onnx", model],
        ["config.json", new TextEncoder().encode('{"model_type": "vad"}')],
      ]),
    );
    // Run again on an existing repo: no change, no version.
    await run(process.execPath, [HFJS, "upload", "mreg/hfw-cli", folder, "--token", accessToken, "--quiet"], {
      env: { ...process.env, HF_ENDPOINT: hubUrl },
    });
    expect(((await call("GET", "/v1/models/hfw-cli/versions")) as { items: unknown[] }).items).toHaveLength(1);
  });
});
