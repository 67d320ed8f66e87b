/**
 * The Python client, `huggingface_hub` (1.29, src/huggingface_hub), publishing to mreg with
 * `HF_ENDPOINT=<mreg>` and `HF_HUB_DISABLE_XET=1`: no PyPI here, so its requests are replayed
 * from its source, each function below sending what the function it names sends (method,
 * URL, headers, body, and what it reads of the answer, with the checks it makes), in the order
 * `create_repo` + `upload_folder` + `create_commit` make them. Then the registry is killed
 * between two parts of a multipart upload and started again on its data: the client's retry
 * of the same part URL (`http_backoff`) finds the upload where it was.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base, call, hfToken, randomBytes, readBackEverywhere, type Bytes } from "./hf";
import { freePort, startServer, token, type Server } from "./server";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MiB = 1024 * 1024;

/** `json.dumps` as Python writes it (separators `", "` and `": "`, `ensure_ascii`): what `_send_commit` puts on each line. */
function pyJson(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string")
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  if (typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${pyJson(k)}: ${pyJson(v)}`)
    .join(", ")}}`;
}

/** The exceptions `utils/_http.py` `hf_raise_for_status` raises, by name, from `X-Error-Code` and the status. */
class HfError extends Error {
  constructor(
    readonly kind: string,
    readonly status: number,
    message: string,
  ) {
    super(`${kind} (${status}): ${message}`);
  }
}

async function hfRaiseForStatus(res: Response): Promise<void> {
  if (res.ok || Math.floor(res.status / 100) === 3) return;
  const code = res.headers.get("x-error-code");
  const message = res.headers.get("x-error-message") ?? (await res.clone().text());
  const kind =
    code === "RevisionNotFound"
      ? "RevisionNotFoundError"
      : code === "EntryNotFound"
        ? "RemoteEntryNotFoundError"
        : code === "GatedRepo"
          ? "GatedRepoError"
          : code === "RepoNotFound" || res.status === 401
            ? "RepositoryNotFoundError"
            : res.status === 400
              ? "BadRequestError"
              : "HfHubHTTPError";
  throw new HfError(kind, res.status, message);
}

/** `utils/_http.py` `http_backoff`: retried on 408, 429 and 5xx and on a connection that fails, waiting 1, 2, 4, 8, 8 s. */
async function httpBackoff(url: string, init: RequestInit, maxRetries = 5): Promise<Response> {
  let wait = 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url, init);
      if (![408, 429, 500, 502, 503, 504].includes(res.status) || attempt >= maxRetries) return res;
    } catch (err) {
      if (attempt >= maxRetries) throw err;
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 8000);
  }
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A `CommitOperationAdd` (`_commit_api.py`): its `upload_info` (`lfs.py` `UploadInfo`) and the fields the commit fills in. */
interface Add {
  kind: "add";
  path: string;
  bytes: Bytes;
  uploadMode?: "lfs" | "regular";
  shouldIgnore?: boolean;
  remoteOid?: string | null;
}
type Delete = { kind: "delete"; path: string; isFolder: boolean };
type Copy = { kind: "copy"; src: string; path: string; srcRevision?: string };
type Operation = Add | Delete | Copy;

/** `HfApi` with a token, against one endpoint, as `huggingface_hub` talks to it. */
class PythonHub {
  constructor(
    readonly endpoint: string,
    readonly token: string,
  ) {}

  /** `hf_api.py` `_build_hf_headers` (`utils/_headers.py` `build_hf_headers`): the token and a user agent. */
  headers(): Record<string, string> {
    return {
      authorization: `Bearer ${this.token}`,
      "user-agent": "huggingface_hub/1.29.0.dev0; python/3.12.3; torch/N/A; session_id/replay",
    };
  }

  /** `hf_api.py` `create_repo`: `{name, organization}`; with `exist_ok`, a 409 is fine. */
  async createRepo(repoId: string, existOk: boolean): Promise<string> {
    const [organization, name] = repoId.includes("/") ? repoId.split("/") : [null, repoId];
    const res = await fetch(`${this.endpoint}/api/repos/create`, {
      method: "POST",
      headers: { ...this.headers(), "content-type": "application/json" },
      body: pyJson({ name, organization }),
    });
    if (existOk && res.status === 409) return `${this.endpoint}/${repoId}`;
    await hfRaiseForStatus(res);
    return ((await res.json()) as { url: string }).url;
  }

  /** `hf_api.py` `_validate_yaml`: asked when a commit adds README.md; reads `warnings`, raises on 400. */
  async validateYaml(content: string): Promise<void> {
    const res = await fetch(`${this.endpoint}/api/validate-yaml`, {
      method: "POST",
      headers: { ...this.headers(), "content-type": "application/json" },
      body: pyJson({ content, repoType: "model" }),
    });
    const body = (await res.json()) as { warnings?: unknown[] };
    expect(Array.isArray(body.warnings ?? [])).toBe(true);
    await hfRaiseForStatus(res);
  }

  /**
   * `_commit_api.py` `_fetch_upload_modes`: 256 files a request, `{files: [{path, sample, size}]}`;
   * reads `uploadMode`, `shouldIgnore` (a KeyError without it) and `oid`; empty files go `regular`.
   */
  async fetchUploadModes(repoId: string, additions: Add[], revision: string): Promise<void> {
    for (let i = 0; i < additions.length; i += 256) {
      const chunk = additions.slice(i, i + 256);
      const res = await httpBackoff(`${this.endpoint}/api/models/${repoId}/preupload/${encodeURIComponent(revision)}`, {
        method: "POST",
        headers: { ...this.headers(), "content-type": "application/json" },
        body: pyJson({
          files: chunk.map((op) => ({
            path: op.path,
            sample: Buffer.from(op.bytes.slice(0, 512)).toString("base64"),
            size: op.bytes.byteLength,
          })),
        }),
      });
      await hfRaiseForStatus(res);
      // `_validate_preupload_info`.
      const { files } = (await res.json()) as {
        files: { path: string; uploadMode: string; shouldIgnore: boolean; oid?: string }[];
      };
      for (const f of files) {
        expect(["lfs", "regular"]).toContain(f.uploadMode);
        expect(typeof f.shouldIgnore).toBe("boolean");
        const op = chunk.find((a) => a.path === f.path)!;
        op.uploadMode = f.uploadMode as Add["uploadMode"];
        op.shouldIgnore = f.shouldIgnore;
        op.remoteOid = f.oid ?? null;
      }
    }
    for (const op of additions) if (op.bytes.byteLength === 0) op.uploadMode = "regular";
  }

  /**
   * `lfs.py` `post_lfs_batch_info`: `{operation, transfers: ["basic", "multipart"], objects,
   * hash_algo: "sha256", ref}` with LFS_HEADERS; `_validate_batch_actions` on each object.
   */
  async postLfsBatchInfo(repoId: string, ops: Add[], revision: string) {
    const res = await httpBackoff(`${this.endpoint}/${repoId}.git/info/lfs/objects/batch`, {
      method: "POST",
      headers: {
        accept: "application/vnd.git-lfs+json",
        "content-type": "application/vnd.git-lfs+json",
        ...this.headers(),
      },
      body: pyJson({
        operation: "upload",
        transfers: ["basic", "multipart"],
        objects: ops.map((op) => ({ oid: sha256(op.bytes), size: op.bytes.byteLength })),
        hash_algo: "sha256",
        ref: { name: revision },
      }),
    });
    await hfRaiseForStatus(res);
    const { objects } = (await res.json()) as {
      objects: {
        oid: string;
        size: number;
        actions?: { upload?: { href: string; header?: Record<string, string> }; verify?: unknown };
        error?: { code: number; message: string };
      }[];
    };
    expect(Array.isArray(objects)).toBe(true);
    for (const obj of objects) {
      expect(typeof obj.oid).toBe("string");
      expect(Number.isInteger(obj.size)).toBe(true);
      if (obj.actions?.upload) expect(typeof obj.actions.upload.href).toBe("string");
    }
    const errors = objects.filter((o) => o.error);
    if (errors.length > 0) throw new Error(`LFS batch API returned errors: ${JSON.stringify(errors)}`);
    return objects;
  }

  /**
   * `lfs.py` `lfs_upload`: nothing without `actions`; with `header.chunk_size`, `_upload_multi_part`
   * (`_get_sorted_parts_urls`: numeric keys, ceil(size / chunk) of them; each slice PUT with no
   * headers; `_get_completion_payload` from each answer's `etag`; the completion POSTed with
   * LFS_HEADERS only); else `_upload_single_part` (one PUT of the file, no headers).
   * `onPart` runs after each part (the crash test kills the registry there).
   */
  async lfsUpload(
    op: Add,
    action: { href: string; header?: Record<string, string> } | undefined,
    onPart?: (n: number) => Promise<void>,
  ): Promise<void> {
    if (!action) return;
    const chunkSize = action.header?.chunk_size;
    if (chunkSize === undefined) {
      await hfRaiseForStatus(await httpBackoff(action.href, { method: "PUT", body: op.bytes }));
      return;
    }
    const size = Number.parseInt(chunkSize, 10);
    expect(Number.isInteger(size)).toBe(true);
    const urls = Object.entries(action.header!)
      .filter(([k]) => /^\d+$/.test(k))
      .map(([k, v]) => [Number.parseInt(k, 10), v] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, v]) => v);
    if (urls.length !== Math.ceil(op.bytes.byteLength / size))
      throw new Error("Invalid server response to upload large LFS file");
    const etags: string[] = [];
    for (const [i, url] of urls.entries()) {
      const res = await httpBackoff(url, { method: "PUT", body: op.bytes.slice(i * size, (i + 1) * size) });
      await hfRaiseForStatus(res);
      const etag = res.headers.get("etag");
      if (!etag) throw new Error(`Invalid etag (\`${etag}\`) returned for part ${i + 1}`);
      etags.push(etag);
      await onPart?.(i + 1);
    }
    const completion = await httpBackoff(action.href, {
      method: "POST",
      headers: { accept: "application/vnd.git-lfs+json", "content-type": "application/vnd.git-lfs+json" },
      body: pyJson({ oid: sha256(op.bytes), parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }),
    });
    await hfRaiseForStatus(completion);
  }

  /** `hf_api.py` `get_paths_info`: form-encoded `paths` (repeated) and `expand`; each entry a `RepoFile` or `RepoFolder`. */
  async getPathsInfo(repoId: string, paths: string[], revision: string) {
    const form = new URLSearchParams();
    for (const p of paths) form.append("paths", p);
    form.append("expand", "False");
    const res = await fetch(`${this.endpoint}/api/models/${repoId}/paths-info/${encodeURIComponent(revision)}`, {
      method: "POST",
      headers: { ...this.headers(), "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    await hfRaiseForStatus(res);
    return (await res.json()) as {
      type: string;
      path: string;
      size: number;
      oid: string;
      lfs?: { oid: string; size: number; pointerSize: number };
    }[];
  }

  /**
   * `_commit_api.py` `_fetch_files_to_copy`: the destinations' oids, then the sources at the
   * revision; an LFS source is kept as its `RepoFile` (its `lfs.sha256` goes in the commit).
   */
  async fetchFilesToCopy(repoId: string, copies: Copy[], revision: string) {
    const found = new Map<string, { lfs: { oid: string } }>();
    if (copies.length === 0) return found;
    await this.getPathsInfo(
      repoId,
      copies.map((c) => c.path),
      revision,
    );
    for (const copy of copies) {
      const [src] = await this.getPathsInfo(repoId, [copy.src], copy.srcRevision ?? revision);
      if (!src) throw new Error(`Cannot copy ${copy.src} at revision ${revision}: file is missing on repo.`);
      expect(src.type).toBe("file");
      expect(src.lfs).toBeDefined();
      found.set(copy.src, { lfs: src.lfs! });
    }
    return found;
  }

  /** `_commit_api.py` `_prepare_commit_payload` and `_send_commit`: NDJSON, each line `json.dumps` + `\n`. */
  async sendCommit(
    repoId: string,
    ops: Operation[],
    copied: Map<string, { lfs: { oid: string } }>,
    message: string,
    description: string,
    revision: string,
    parentCommit?: string,
  ): Promise<{ commitUrl: string; commitOid: string }> {
    const header: Record<string, string> = { summary: message, description };
    if (parentCommit !== undefined) header.parentCommit = parentCommit;
    const lines: unknown[] = [{ key: "header", value: header }];
    for (const op of ops) {
      if (op.kind === "add" && op.shouldIgnore) continue;
      if (op.kind === "add" && op.uploadMode === "regular")
        lines.push({
          key: "file",
          value: { content: Buffer.from(op.bytes).toString("base64"), path: op.path, encoding: "base64" },
        });
      else if (op.kind === "add")
        lines.push({
          key: "lfsFile",
          value: { path: op.path, algo: "sha256", oid: sha256(op.bytes), size: op.bytes.byteLength },
        });
      else if (op.kind === "delete")
        lines.push({ key: op.isFolder ? "deletedFolder" : "deletedFile", value: { path: op.path } });
      else lines.push({ key: "lfsFile", value: { path: op.path, algo: "sha256", oid: copied.get(op.src)!.lfs.oid } });
    }
    const res = await fetch(`${this.endpoint}/api/models/${repoId}/commit/${encodeURIComponent(revision)}`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", ...this.headers() },
      body: lines.map((l) => `${pyJson(l)}\n`).join(""),
    });
    await hfRaiseForStatus(res);
    const data = (await res.json()) as { commitUrl: string; commitOid: string; pullRequestUrl: unknown };
    // `CommitInfo.__post_init__` parses the repo out of `commit_url.split("/commit/")[0]` (`RepoUrl`).
    expect(data.commitUrl.split("/commit/")[0]).toBe(
      `${this.endpoint}/${repoId.includes("/") ? repoId : `mreg/${repoId}`}`,
    );
    expect(data.commitOid).toMatch(/^[0-9a-f]{40}$/);
    return data;
  }

  /**
   * `hf_api.py` `create_commit`: README.md's YAML checked first (`_validate_yaml`), then
   * `preupload_lfs_files` (`_fetch_upload_modes`, then `_upload_files` on the legacy LFS path:
   * `post_lfs_batch_info` in chunks of 256, `lfs_upload` for each action), `_fetch_files_to_copy`,
   * and `_send_commit`.
   */
  async createCommit(
    repoId: string,
    ops: Operation[],
    opts: {
      message: string;
      description?: string;
      revision?: string;
      parentCommit?: string;
      onPart?: (n: number) => Promise<void>;
    },
  ) {
    const revision = opts.revision ?? "main";
    const additions = ops.filter((o): o is Add => o.kind === "add");
    const readme = additions.find((a) => a.path === "README.md");
    if (readme) await this.validateYaml(new TextDecoder().decode(readme.bytes));
    await this.fetchUploadModes(repoId, additions, revision);
    const lfs = additions.filter((a) => a.uploadMode === "lfs" && !a.shouldIgnore);
    for (let i = 0; i < lfs.length; i += 256) {
      const chunk = lfs.slice(i, i + 256);
      const actions = await this.postLfsBatchInfo(repoId, chunk, revision);
      for (const action of actions) {
        const op = chunk.find((a) => sha256(a.bytes) === action.oid)!;
        await this.lfsUpload(op, action.actions?.upload, opts.onPart);
      }
    }
    const copied = await this.fetchFilesToCopy(
      repoId,
      ops.filter((o): o is Copy => o.kind === "copy"),
      revision,
    );
    return this.sendCommit(repoId, ops, copied, opts.message, opts.description ?? "", revision, opts.parentCommit);
  }

  /** `hf_api.py` `upload_folder` with `HF_HUB_DISABLE_XET=1` (no delete patterns): every file an addition, one `create_commit`. */
  uploadFolder(repoId: string, files: Record<string, Bytes>, opts: { message?: string; revision?: string } = {}) {
    const ops: Add[] = Object.entries(files).map(([path, bytes]) => ({ kind: "add", path, bytes }));
    return this.createCommit(repoId, ops, {
      message: opts.message ?? "Upload folder using huggingface_hub",
      ...(opts.revision ? { revision: opts.revision } : {}),
    });
  }

  /** `hf_api.py` `list_repo_commits`: every page (`utils/_pagination.py` `paginate` follows `Link`). */
  async listRepoCommits(repoId: string, revision = "main") {
    const out: { id: string; title: string; message: string; authors: { user: string }[]; date: string }[] = [];
    let url: string | null = `${this.endpoint}/api/models/${repoId}/commits/${revision}`;
    while (url) {
      const res: Response = await fetch(url, { headers: this.headers() });
      await hfRaiseForStatus(res);
      out.push(...((await res.json()) as typeof out));
      url = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1] ?? null;
    }
    return out;
  }

  /** `hf_api.py` `list_repo_refs`: `branches`, `converts`, `tags` (and `pullRequests` when asked). */
  async listRepoRefs(repoId: string) {
    const res = await fetch(`${this.endpoint}/api/models/${repoId}/refs`, { headers: this.headers() });
    await hfRaiseForStatus(res);
    return (await res.json()) as {
      branches: { name: string; ref: string; targetCommit: string }[];
      converts: unknown[];
      tags: unknown[];
    };
  }
}

const text = (s: string): Bytes => new TextEncoder().encode(s) as Bytes;

describe("huggingface_hub's upload_folder and create_commit, replayed", () => {
  let hub: PythonHub;
  beforeAll(() => {
    hub = new PythonHub(base(), hfToken("read write promote"));
  });

  it("create_repo, upload_folder (README checked, an empty file inline, a multipart LFS file), read back everywhere", async () => {
    const repoId = "mreg/hfp-folder";
    expect(await hub.createRepo(repoId, true)).toBe(`${base()}/${repoId}`);
    expect(await hub.createRepo(repoId, true)).toBe(`${base()}/${repoId}`);
    const files: Record<string, Bytes> = {
      "README.md": text("---\nlibrary_name: transformers\ntags:\n  - mreg\n---\n# hfp-folder\n"),
      "config.json": text('{"architectures": ["BertModel"]}'),
      "model.safetensors": randomBytes(11 * MiB + 3),
      "empty.txt": new Uint8Array(0) as Bytes,
      "tokenizer/vocab.txt": text("[PAD]\n[UNK]\n"),
    };
    const first = await hub.uploadFolder(repoId, files, { message: "Upload folder using huggingface_hub" });
    const { items } = (await call("GET", "/v1/models/hfp-folder/versions")) as {
      items: { version: number; digest: string }[];
    };
    expect(items).toHaveLength(1);
    expect(items[0]!.digest.slice(7, 47)).toBe(first.commitOid);
    const record = await readBackEverywhere("hfp-folder", items[0]!.version, new Map(Object.entries(files)));
    expect(record.description).toBe("Upload folder using huggingface_hub");

    // The team promotes it; then a commit that copies a file (read at main, as Python reads it),
    // deletes a folder and adds a file, on top of the newest version.
    await call("PUT", "/v1/models/hfp-folder/aliases/production", { version: items[0]!.version });
    const added = randomBytes(3000);
    const second = await hub.createCommit(
      repoId,
      [
        { kind: "copy", src: "config.json", path: "config.backup.json" },
        { kind: "delete", path: "tokenizer/", isFolder: true },
        { kind: "add", path: "notes/added.bin", bytes: added },
      ],
      { message: "copy, delete, add", description: "second commit", parentCommit: first.commitOid.slice(0, 7) },
    );
    const v2 = items[0]!.version + 1;
    const files2 = new Map<string, Uint8Array>(Object.entries(files).filter(([p]) => !p.startsWith("tokenizer/")));
    files2.set("config.backup.json", files["config.json"]!);
    files2.set("notes/added.bin", added);
    const record2 = await readBackEverywhere("hfp-folder", v2, files2);
    expect(record2.digest.slice(7, 47)).toBe(second.commitOid);
    expect(record2.lineage.parents).toEqual([{ model: "hfp-folder", version: items[0]!.version }]);
    expect(record2.description).toBe("copy, delete, add\n\nsecond commit");
    // main still reads as production, the first version: a commit to main never deploys.
    const refs = await hub.listRepoRefs(repoId);
    expect(refs.branches).toEqual([
      { name: "main", ref: "refs/heads/main", targetCommit: first.commitOid },
      { name: "production", ref: "refs/heads/production", targetCommit: first.commitOid },
    ]);
    const log = await hub.listRepoCommits(repoId);
    expect(log.map((c) => c.id)).toEqual([second.commitOid, first.commitOid]);
    expect(log[0]!.authors).toEqual([{ user: "hf-reader", avatar: "" }]);

    // A stale parent_commit: 412, nothing made.
    await expect(
      hub.createCommit(repoId, [{ kind: "delete", path: "empty.txt", isFolder: false }], {
        message: "late",
        parentCommit: first.commitOid,
      }),
    ).rejects.toMatchObject({ kind: "HfHubHTTPError", status: 412 });
    // A file that is not there: RemoteEntryNotFoundError, as the client words "A file with this name doesn't exist".
    await expect(
      hub.createCommit(repoId, [{ kind: "delete", path: "nope.txt", isFolder: false }], { message: "nope" }),
    ).rejects.toMatchObject({ kind: "RemoteEntryNotFoundError" });
    // A repo the token may not see, and a read-only token.
    await expect(
      new PythonHub(base(), hfToken("read write", "team-x-*")).uploadFolder(repoId, { "a.txt": text("a") }),
    ).rejects.toMatchObject({ kind: "RepositoryNotFoundError", status: 404 });
    await expect(
      new PythonHub(base(), hfToken("read")).uploadFolder(repoId, { "a.txt": text("a") }),
    ).rejects.toMatchObject({
      kind: "HfHubHTTPError",
      status: 403,
    });
  });
});

describe("a crash of the registry between two parts", () => {
  const state = mkdtempSync(join(tmpdir(), "mreg-hf-crash-"));
  const vars = ["--var", `MAX_SINGLE_PUT:${6 * MiB}`, "--var", `UPLOAD_PART_SIZE:${5 * MiB}`];
  let port: number;
  let server: Server | undefined;

  beforeAll(async () => {
    port = await freePort();
    server = await startServer(vars, { port, state });
  });
  afterAll(() => {
    server?.stop();
    rmSync(state, { recursive: true, force: true });
  });

  it("finds the upload where it was: the client's retry of the same part URL lands, and the commit makes the version", async () => {
    const hub = new PythonHub(server!.base, `hf_${token("trainer", "read write")}`);
    await hub.createRepo("mreg/hfp-crash", false);
    const weights = randomBytes(11 * MiB + 7);
    let crashed = false;
    const committed = await hub.createCommit(
      "hfp-crash",
      [{ kind: "add", path: "model.safetensors", bytes: weights }],
      {
        message: "through a crash",
        onPart: async (n) => {
          if (n !== 1 || crashed) return;
          crashed = true;
          // SIGKILL to npm, wrangler and workerd after the first part's answer: nothing shuts down cleanly.
          server!.kill();
          for (;;) {
            const down = await fetch(`${server!.base}/healthz`).then(
              () => false,
              () => true,
            );
            if (down) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          // The next part's PUT fails while it is down, as the client would see it...
          await expect(fetch(`${server!.base}/healthz`)).rejects.toThrow();
          // ...and is retried once it is back, on the same data and port.
          server = await startServer(vars, { port, state });
        },
      },
    );
    expect(crashed).toBe(true);
    const res = await fetch(`${server!.base}/v1/models/hfp-crash/versions`, {
      headers: { authorization: `Bearer ${token("checker", "read")}` },
    });
    const { items } = (await res.json()) as { items: { version: number; digest: string; status: string }[] };
    expect(items).toHaveLength(1);
    expect(items[0]!).toMatchObject({ status: "ready" });
    expect(items[0]!.digest.slice(7, 47)).toBe(committed.commitOid);
    const bytes = await fetch(
      `${server!.base}/v1/models/hfp-crash/versions/${items[0]!.version}/files/model.safetensors`,
      {
        headers: { authorization: `Bearer ${token("checker", "read")}` },
      },
    );
    expect(sha256(new Uint8Array(await bytes.arrayBuffer()))).toBe(sha256(weights));
  });
});
