/**
 * The OCI bridge driven by Debian's skopeo (installed by ./global-setup.ts when missing)
 * against the real `npm start`: copies to `oci:` and `dir:` by tag and by digest, checked
 * blob by blob with `sha256sum`; `inspect --raw` byte for byte; `list-tags`; a wrong password
 * and a token for other models; a promotion moving `:production` while the old digest still
 * copies the old files; and HEAD on a manifest keeping its length through the runtime.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, token, type Server } from "./server";

const MODEL = "oci-e2e";
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

let server: Server;
let host: string;
let admin: string;
let reader: string;
let work: string;

type Files = Record<string, Buffer>;

/** Publishes a ready version through /v1, as a training job does. */
async function publish(files: Files): Promise<number> {
  const auth = { authorization: `Bearer ${admin}` };
  const created = await fetch(`${server.base}/v1/models/${MODEL}/versions`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: "{}",
  });
  const { version } = (await created.json()) as { version: number };
  for (const [path, bytes] of Object.entries(files)) {
    const put = await fetch(`${server.base}/v1/models/${MODEL}/versions/${version}/files/${path}`, {
      method: "PUT",
      headers: auth,
      body: new Uint8Array(bytes),
    });
    expect(put.status, path).toBe(201);
  }
  expect(
    (await fetch(`${server.base}/v1/models/${MODEL}/versions/${version}/finalize`, { method: "POST", headers: auth }))
      .status,
  ).toBe(200);
  return version;
}

async function promote(version: number): Promise<void> {
  const res = await fetch(`${server.base}/v1/models/${MODEL}/aliases/production`, {
    method: "PUT",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ version }),
  });
  expect(res.status).toBe(200);
}

/** Runs skopeo; resolves with its output, or rejects with its stderr. */
function skopeo(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "skopeo",
      ["--insecure-policy", ...args],
      { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`skopeo ${args[0]} failed: ${stderr}`)) : resolve(stdout)),
    );
  });
}

const src = (credentials = `x:${reader}`) => ["--src-tls-verify=false", "--src-creds", credentials];
const ref = (tagOrDigest: string) =>
  `docker://${host}/${MODEL}${tagOrDigest.startsWith("sha256:") ? "@" : ":"}${tagOrDigest}`;

/** The manifest as mreg serves it, and its digest. */
async function served(tag: string): Promise<{ bytes: Buffer; digest: string }> {
  const res = await fetch(`${server.base}/v2/${MODEL}/manifests/${tag}`, {
    headers: { authorization: `Bearer ${reader}` },
  });
  expect(res.status).toBe(200);
  return { bytes: Buffer.from(await res.arrayBuffer()), digest: res.headers.get("docker-content-digest")! };
}

/** Every layer of a copied manifest: its blob file passes `sha256sum -c`, and it is the version's file of that path. */
function checkBlobs(manifestBytes: Buffer, blobPath: (hex: string) => string, files: Files): void {
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as {
    layers: { digest: string; annotations: Record<string, string> }[];
  };
  const byPath = Object.fromEntries(
    manifest.layers.map((l) => [l.annotations["org.opencontainers.image.title"]!, l.digest]),
  );
  expect(Object.keys(byPath).sort()).toEqual(Object.keys(files).sort());
  const checks = manifest.layers.map((l) => `${l.digest.slice(7)}  ${blobPath(l.digest.slice(7))}\n`).join("");
  execFileSync("sha256sum", ["--check", "--strict", "--quiet"], { input: checks });
  for (const [path, bytes] of Object.entries(files)) expect(byPath[path], path).toBe(`sha256:${sha256(bytes)}`);
}

/** Copies `tagOrDigest` into a fresh `oci:` layout; answers the manifest digest its index names and the manifest's bytes. */
async function copyToLayout(tagOrDigest: string): Promise<{ digest: string; bytes: Buffer; dir: string }> {
  const dir = mkdtempSync(join(work, "oci-"));
  await skopeo("copy", ...src(), ref(tagOrDigest), `oci:${dir}:copied`);
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const digest = index.manifests[0]!.digest;
  return { digest, bytes: readFileSync(join(dir, "blobs", "sha256", digest.slice(7))), dir };
}

const v1Files: Files = {
  "model.onnx": Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 9)) & 0xff)),
  "config.json": Buffer.from('{"threshold":0.7}'),
  "tokenizer/vocab.txt": Buffer.from("a\nb\nc\n"),
};
const v2Files: Files = {
  ...v1Files,
  "model.onnx": Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 17) & 0xff)),
  "config.json": Buffer.from('{"threshold":0.8}'),
};
let v1: number;
let v2: number;

beforeAll(async () => {
  server = await startServer(["--var", "RESOLVE_TTL_S:0"]);
  host = server.base.slice("http://".length);
  admin = token("oci-admin", "admin");
  reader = token("oci-puller", "read");
  work = mkdtempSync(join(tmpdir(), "mreg-oci-"));
  const created = await fetch(`${server.base}/v1/models`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ name: MODEL }),
  });
  expect(created.status).toBe(201);
  v1 = await publish(v1Files);
  v2 = await publish(v2Files);
  await promote(v1);
});

afterAll(() => {
  server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("skopeo against mreg", () => {
  it("copies :production to an oci: layout whose manifest digest is mreg's and whose blobs are the version's files", async () => {
    const copied = await copyToLayout("production");
    const mine = await served("production");
    expect(copied.digest).toBe(mine.digest);
    expect(copied.bytes.equals(mine.bytes)).toBe(true);
    checkBlobs(copied.bytes, (hex) => join(copied.dir, "blobs", "sha256", hex), v1Files);
  });

  it("copies by @sha256 into dir:, byte for byte", async () => {
    const mine = await served("production");
    const dir = mkdtempSync(join(work, "dir-"));
    await skopeo("copy", ...src(), ref(mine.digest), `dir:${dir}`);
    const manifest = readFileSync(join(dir, "manifest.json"));
    expect(manifest.equals(mine.bytes)).toBe(true);
    checkBlobs(manifest, (hex) => join(dir, hex), v1Files);
    expect(readFileSync(join(dir, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"), "utf8")).toBe(
      "{}",
    );
  });

  it("inspects the manifest raw byte for byte, and lists aliases and v<n>", async () => {
    const mine = await served("production");
    const raw = await skopeo("inspect", "--raw", ...src().map((a) => a.replace("--src-", "--")), ref("production"));
    expect(Buffer.from(raw).equals(mine.bytes)).toBe(true);
    const listed = JSON.parse(
      await skopeo("list-tags", "--tls-verify=false", "--creds", `x:${reader}`, `docker://${host}/${MODEL}`),
    ) as { Tags: string[] };
    expect(listed.Tags).toEqual(["production", `v${v1}`, `v${v2}`]);
  });

  it("fails with a wrong password, and a token for other models sees NAME_UNKNOWN", async () => {
    await expect(
      skopeo("inspect", "--raw", "--tls-verify=false", "--creds", "x:not-the-token", ref("production")),
    ).rejects.toThrow(/unauthorized|authentication required/i);
    const other = token("oci-other", "read", "someone-else-*");
    await expect(
      skopeo("inspect", "--raw", "--tls-verify=false", "--creds", `x:${other}`, ref("production")),
    ).rejects.toThrow(/name unknown/i);
  });

  it("after a promotion copies the new version at :production, while the old digest still copies the old files", async () => {
    const old = await served("production");
    await promote(v2);
    const now = await copyToLayout("production");
    expect(now.digest).not.toBe(old.digest);
    checkBlobs(now.bytes, (hex) => join(now.dir, "blobs", "sha256", hex), v2Files);
    const before = await copyToLayout(old.digest);
    expect(before.digest).toBe(old.digest);
    checkBlobs(before.bytes, (hex) => join(before.dir, "blobs", "sha256", hex), v1Files);
  });

  it("answers HEAD on a manifest with Docker-Content-Digest and Content-Length (what ORAS resolves tags with)", async () => {
    const mine = await served("production");
    const head = await fetch(`${server.base}/v2/${MODEL}/manifests/production`, {
      method: "HEAD",
      headers: { authorization: `Basic ${btoa(`x:${reader}`)}` },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get("docker-content-digest")).toBe(mine.digest);
    expect(head.headers.get("content-length")).toBe(String(mine.bytes.byteLength));
    expect(head.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
  });
});
