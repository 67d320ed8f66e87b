/**
 * The official `@huggingface/hub` npm client pointed at mreg (`hubUrl`), as a serving team
 * would point it: downloads, listings, model info, snapshots and the errors it turns into
 * exceptions. Versions are published through `/v1`; a version's Hub commit is the first 40
 * hex digits of its `digest`. Where the client hides a response header the contract fixes
 * (`X-Error-Code`), a `fetch` passed to the client records the responses it saw, unchanged.
 */
import { readFileSync, readdirSync, mkdtempSync, rmSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import {
  downloadFile,
  fileDownloadInfo,
  fileExists,
  HubApiError,
  listFiles,
  modelInfo,
  snapshotDownload,
  type ListFileEntry,
} from "@huggingface/hub";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { base, createModel, hfToken, lfsPointer, onnxBytes, publish, setAlias, sha256, type Published } from "./hf";

const TINY = "hub-tiny";
const MANY = "hub-many";
const OTHER = "hub-other";
/** More entries than one tree page holds (1,000, the Hub's own page); the listFiles test checks it took several. */
const MANY_FILES = 1_100;

const CARD = `---
library_name: onnx
pipeline_tag: voice-activity-detection
tags:
  - vad
  - mreg-e2e
---
# A tiny voice activity detector

Silero VAD v5, for the bridge tests.
`;

let v1: Published;
let v2: Published;
let many: Published;
let accessToken: string;
let hubUrl: string;
const cacheDirs: string[] = [];

/** A `fetch` for the client that keeps every request it sent and response it got. */
function observed(): { fetch: typeof fetch; seen: { url: string; headers: Headers; res: Response }[] } {
  const seen: { url: string; headers: Headers; res: Response }[] = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    seen.push({ url: String(input instanceof Request ? input.url : input), headers: new Headers(init?.headers), res });
    return res;
  };
  return { fetch: recording, seen };
}

/** Runs a client call expected to throw HubApiError; returns it with the X-Error-Code of the answer. */
async function apiError(
  call: (fetch: typeof globalThis.fetch) => Promise<unknown>,
): Promise<{ status: number; code: string | null }> {
  const { fetch, seen } = observed();
  const error = await call(fetch).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubApiError);
  return { status: (error as HubApiError).statusCode, code: seen.at(-1)!.res.headers.get("x-error-code") };
}

function tempCache(): string {
  const dir = mkdtempSync(join(tmpdir(), "mreg-hf-cache-"));
  cacheDirs.push(dir);
  return dir;
}

/** Every file under `dir` (following the client's symlinks into blobs/), by path relative to it. */
function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (lstatSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  hubUrl = base();
  accessToken = hfToken("read");
  await Promise.all([createModel(TINY), createModel(MANY), createModel(OTHER)]);
  const tinyFiles = {
    "config.json": '{"model_type": "silero-vad", "sampling_rate": 16000}\n',
    "README.md": CARD,
    "onnx/model.onnx": onnxBytes(),
    "empty.txt": "",
    "nested/deeper/notes.txt": "notes\n",
  };
  // Ten distinct contents, one per directory: the rest are deduplicated uploads, which keeps this quick.
  const manyFiles = Object.fromEntries(
    Array.from({ length: MANY_FILES }, (_, i) => [
      `shard-${i % 10}/part-${String(i).padStart(5, "0")}.txt`,
      `shard ${i % 10}\n`,
    ]),
  );
  [v1, many] = await Promise.all([
    publish(TINY, tinyFiles),
    publish(MANY, manyFiles, 16),
    publish(OTHER, { "config.json": "{}\n" }),
  ]);
  v2 = await publish(TINY, { ...tinyFiles, "config.json": '{"model_type": "silero-vad", "sampling_rate": 8000}\n' });
  await Promise.all([
    setAlias(TINY, "production", v1.version),
    setAlias(TINY, "staging", v2.version),
    setAlias(MANY, "production", many.version),
  ]);
});

afterAll(() => {
  for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
});

describe("@huggingface/hub against mreg", () => {
  it("fileDownloadInfo: the size, and the sha256 as the etag", async () => {
    const onnx = v1.files.get("onnx/model.onnx")!;
    for (const raw of [false, true]) {
      const info = await fileDownloadInfo({
        repo: TINY,
        path: "onnx/model.onnx",
        revision: "production",
        hubUrl,
        accessToken,
        raw,
      });
      expect(info).toMatchObject({ size: onnx.byteLength, etag: `"${sha256(onnx)}"` });
    }
    // An empty file has a size too (200 with `Content-Range: bytes */0`, not 416).
    const empty = await fileDownloadInfo({
      repo: TINY,
      path: "empty.txt",
      revision: "production",
      hubUrl,
      accessToken,
    });
    expect(empty).toMatchObject({ size: 0, etag: `"${sha256("")}"` });
    // Revision defaults to `main`: the alias `production`.
    const config = await fileDownloadInfo({ repo: TINY, path: "config.json", hubUrl, accessToken });
    expect(config?.etag).toBe(`"${sha256(v1.files.get("config.json")!)}"`);
  });

  it("downloadFile: the bytes, and a slice is exactly those bytes (a Range request)", async () => {
    const onnx = v1.files.get("onnx/model.onnx")!;
    const { fetch, seen } = observed();
    const blob = await downloadFile({
      repo: TINY,
      path: "onnx/model.onnx",
      revision: "production",
      hubUrl,
      accessToken,
      fetch,
    });
    expect(blob).not.toBeNull();
    expect(blob!.size).toBe(onnx.byteLength);
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(onnx));

    const slice = blob!.slice(1_000, 70_000);
    expect(Buffer.from(await slice.arrayBuffer()).equals(Buffer.from(onnx.subarray(1_000, 70_000)))).toBe(true);
    const ranged = seen.at(-1)!;
    expect(ranged.headers.get("range")).toBe("bytes=1000-69999");
    expect(ranged.res.status).toBe(206);
    expect(ranged.res.headers.get("content-range")).toBe(`bytes 1000-69999/${onnx.byteLength}`);

    const card = await downloadFile({
      repo: `mreg/${TINY}`,
      path: "README.md",
      revision: "staging",
      hubUrl,
      accessToken,
    });
    expect(await card!.text()).toBe(CARD);
    expect(await downloadFile({ repo: TINY, path: "no-such-file.bin", hubUrl, accessToken })).toBeNull();
  });

  it("listFiles: follows the tree's Link header over more than one page", async () => {
    const { fetch, seen } = observed();
    const entries: ListFileEntry[] = [];
    for await (const entry of listFiles({
      repo: MANY,
      recursive: true,
      revision: "production",
      hubUrl,
      accessToken,
      fetch,
    }))
      entries.push(entry);

    const treePages = seen.filter((s) => new URL(s.url).pathname.startsWith(`/api/models/${MANY}/tree/`));
    expect(treePages.length).toBeGreaterThan(1);
    const files = entries.filter((e) => e.type === "file");
    expect(files.map((f) => f.path).sort()).toEqual([...many.files.keys()].sort());
    expect(new Set(entries.map((e) => e.path)).size).toBe(entries.length); // no entry twice across pages
    expect(
      entries
        .filter((e) => e.type === "directory")
        .map((e) => e.path)
        .sort(),
    ).toEqual(Array.from({ length: 10 }, (_, i) => `shard-${i}`));
    const one = files.find((f) => f.path === "shard-3/part-00013.txt")!;
    expect(one).toMatchObject({
      size: 8,
      oid: lfsPointer(Buffer.from("shard 3\n")).oid,
      lfs: { oid: sha256("shard 3\n"), size: 8 },
    });

    // Not recursive, under a path: that directory's entries only.
    const shard = [];
    for await (const entry of listFiles({ repo: TINY, path: "nested", revision: "production", hubUrl, accessToken }))
      shard.push(entry);
    expect(shard.map((e) => [e.type, e.path])).toEqual([["directory", "nested/deeper"]]);
  });

  it("modelInfo: the commit as sha, the files as siblings, the card's front matter", async () => {
    for (const [repo, revision, version] of [
      [TINY, undefined, v1],
      [`mreg/${TINY}`, "production", v1],
      [TINY, "staging", v2],
      [TINY, v2.commit, v2],
    ] as const) {
      const info = await modelInfo({
        name: repo,
        revision,
        hubUrl,
        accessToken,
        additionalFields: ["sha", "filePaths", "cardData", "tags", "library_name"],
      });
      expect(info.sha).toBe(version.commit);
      expect([...info.filePaths].sort()).toEqual([...version.files.keys()].sort());
      // `private`: this registry needs a token to read (PUBLIC_READ=false).
      expect(info).toMatchObject({
        private: true,
        gated: false,
        likes: 0,
        task: "voice-activity-detection",
        library_name: "onnx",
      });
      expect(info.tags).toEqual(expect.arrayContaining(["vad", "mreg-e2e"]));
      expect(info.cardData).toMatchObject({ library_name: "onnx", tags: ["vad", "mreg-e2e"] });
      expect(info.name.split("/").at(-1)).toBe(TINY);
      expect(info.updatedAt.getTime()).not.toBeNaN();
    }
  });

  it("fileExists: true for a file, false for a missing one (and at a revision without it)", async () => {
    expect(await fileExists({ repo: TINY, path: "onnx/model.onnx", hubUrl, accessToken })).toBe(true);
    expect(
      await fileExists({
        repo: `mreg/${TINY}`,
        path: "nested/deeper/notes.txt",
        revision: v2.commit,
        hubUrl,
        accessToken,
      }),
    ).toBe(true);
    expect(await fileExists({ repo: TINY, path: "onnx/model_quantized.onnx", hubUrl, accessToken })).toBe(false);
    expect(await fileExists({ repo: OTHER, path: "config.json", revision: "v1", hubUrl, accessToken })).toBe(true);
  });

  it("snapshotDownload: byte-identical files under the commit; after a promotion the next snapshot has the new commit", async () => {
    const model = "hub-snapshot";
    await createModel(model);
    const files = {
      "config.json": '{"a": 1}\n',
      "onnx/model.onnx": onnxBytes(),
      "tokenizer/vocab.txt": "a\nb\n",
      "empty.txt": "",
    };
    const first = await publish(model, files);
    const second = await publish(model, { ...files, "config.json": '{"a": 2}\n', "extra.txt": "new\n" });
    await setAlias(model, "production", first.version);
    vi.spyOn(console, "debug").mockImplementation(() => undefined); // the client narrates every download

    for (const repo of [model, `mreg/${model}`]) {
      const cacheDir = tempCache();
      const folder = await snapshotDownload({ repo, revision: "production", cacheDir, hubUrl, accessToken });
      const storage = join(cacheDir, `models--${repo.replace("/", "--")}`);
      expect(folder).toBe(join(storage, "snapshots", first.commit));
      expect(readFileSync(join(storage, "refs", "production"), "utf8")).toBe(first.commit);
      const got = filesUnder(folder);
      expect([...got.keys()].sort()).toEqual([...first.files.keys()].sort());
      for (const [path, bytes] of first.files) expect(got.get(path)!.equals(Buffer.from(bytes)), path).toBe(true);

      await setAlias(model, "production", second.version);
      const next = await snapshotDownload({ repo, revision: "production", cacheDir, hubUrl, accessToken });
      expect(next).toBe(join(storage, "snapshots", second.commit));
      expect(readFileSync(join(storage, "refs", "production"), "utf8")).toBe(second.commit);
      const now = filesUnder(next);
      expect([...now.keys()].sort()).toEqual([...second.files.keys()].sort());
      for (const [path, bytes] of second.files) expect(now.get(path)!.equals(Buffer.from(bytes)), path).toBe(true);
      // The pinned snapshot of the first commit is still there, unchanged.
      expect(filesUnder(folder).get("config.json")!.toString()).toBe('{"a": 1}\n');
      await setAlias(model, "production", first.version);
    }
    vi.restoreAllMocks();
  });

  it("errors: unknown repo, foreign namespace, unknown revision, missing file, no token, a token for other models", async () => {
    // `token` null: the call sends none.
    const info =
      (repo: string, revision?: string, token: string | null = accessToken) =>
      (fetch: typeof globalThis.fetch) =>
        modelInfo({ name: repo, revision, hubUrl, accessToken: token ?? undefined, fetch });
    expect(await apiError(info("no-such-model"))).toEqual({ status: 404, code: "RepoNotFound" });
    expect(await apiError(info(`someone-else/${TINY}`))).toEqual({ status: 404, code: "RepoNotFound" });
    expect(await apiError(info(TINY, "no-such-alias"))).toEqual({ status: 404, code: "RevisionNotFound" });
    expect(await apiError(info(TINY, "v99"))).toEqual({ status: 404, code: "RevisionNotFound" });
    expect(await apiError(info(TINY, "0123456789abcdef0123456789abcdef01234567"))).toEqual({
      status: 404,
      code: "RevisionNotFound",
    });
    expect(
      await apiError((fetch) =>
        downloadFile({ repo: TINY, path: "config.json", revision: "no-such-alias", hubUrl, accessToken, fetch }),
      ),
    ).toEqual({
      status: 404,
      code: "RevisionNotFound",
    });

    // A missing file: null from the client, EntryNotFound on the wire, with the commit.
    const { fetch, seen } = observed();
    expect(
      await fileDownloadInfo({ repo: TINY, path: "missing.bin", revision: "staging", hubUrl, accessToken, fetch }),
    ).toBeNull();
    expect(seen.at(-1)!.res.status).toBe(404);
    expect(seen.at(-1)!.res.headers.get("x-error-code")).toBe("EntryNotFound");
    expect(seen.at(-1)!.res.headers.get("x-repo-commit")).toBe(v2.commit);

    // No token on a registry that is not public: 401, and still no word on whether the repo exists.
    expect(await apiError(info(TINY, undefined, null))).toEqual({ status: 401, code: "RepoNotFound" });
    expect(await apiError(info("no-such-model", undefined, null))).toEqual({ status: 401, code: "RepoNotFound" });
    expect(await apiError((fetch) => fileDownloadInfo({ repo: TINY, path: "config.json", hubUrl, fetch }))).toEqual({
      status: 401,
      code: "RepoNotFound",
    });
    expect(await apiError(info(TINY, undefined, "hf_not-a-token"))).toEqual({ status: 401, code: "RepoNotFound" });

    // A token limited to other models sees this one exactly as a model that does not exist.
    const foreign = hfToken("read", "hub-other*");
    expect(await apiError(info(TINY, undefined, foreign))).toEqual({ status: 404, code: "RepoNotFound" });
    expect(
      await apiError((fetch) =>
        fileDownloadInfo({ repo: TINY, path: "config.json", hubUrl, accessToken: foreign, fetch }),
      ),
    ).toEqual({
      status: 404,
      code: "RepoNotFound",
    });
    expect(await fileExists({ repo: TINY, path: "config.json", hubUrl, accessToken: foreign })).toBe(false);
    expect(
      (await modelInfo({ name: OTHER, hubUrl, accessToken: foreign, revision: "v1", additionalFields: ["sha"] })).sha,
    ).toMatch(/^[0-9a-f]{40}$/);
  });
});
