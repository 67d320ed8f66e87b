/**
 * OCI pushes driven by real clients against the real `npm start`: Debian's skopeo copying an
 * `oci:` layout and a `dir:` directory into a model (a version whose files are the layers),
 * one model into another on the same registry (the blobs mounted, not sent), and one registry
 * into another (`npm start` twice, on two ports and data directories: the manifest digest
 * equal on both sides, every blob's sha256 checked); a ModelPack-shaped manifest built by
 * hand from its spec; `@sigstore/oci`'s `attachArtifactToImage` attaching model_signing's
 * `model.sig` that the referrers index then lists and that becomes the version's signature (and
 * one over other files refused), and a signature uploaded through `/v1` listed beside it, whose
 * listed manifest skopeo copies by digest; and a push to a gated alias refused with the failed
 * checks.
 */
import { attachArtifactToImage } from "@sigstore/oci";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, token, type Server } from "./server";

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");
const EMPTY = { mediaType: "application/vnd.oci.empty.v1+json", digest: `sha256:${sha256("{}")}`, size: 2 };

let first: Server;
let second: Server;
let admin: string;
let work: string;

const hostOf = (server: Server) => server.base.slice("http://".length);

/** Runs skopeo; resolves with stdout and stderr, or rejects with its stderr. */
function skopeo(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "skopeo",
      ["--insecure-policy", ...args],
      { maxBuffer: 256 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`skopeo ${args.join(" ")} failed: ${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

const dest = (credentials = `x:${admin}`) => ["--dest-tls-verify=false", "--dest-creds", credentials];
const src = (credentials = `x:${admin}`) => ["--src-tls-verify=false", "--src-creds", credentials];

async function api(server: Server, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function createModel(server: Server, name: string) {
  expect((await api(server, "POST", "/v1/models", { name })).status).toBe(201);
}

type Files = Record<string, Buffer>;

/**
 * Writes an OCI image layout holding one artifact manifest whose layers are `files` (the
 * title annotation naming each path, or ModelPack's when `modelpack`), tagged `tag`; answers
 * the manifest's bytes and digest.
 */
function writeLayout(
  dir: string,
  files: Files,
  opts: {
    tag: string;
    config?: { mediaType: string; bytes: Buffer };
    artifactType: string;
    layerType: string;
    pathKey: string;
  },
) {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  const put = (bytes: Buffer | string) => {
    const hex = sha256(bytes);
    writeFileSync(join(dir, "blobs", "sha256", hex), bytes);
    return `sha256:${hex}`;
  };
  const config = opts.config
    ? { mediaType: opts.config.mediaType, digest: put(opts.config.bytes), size: opts.config.bytes.byteLength }
    : (put("{}"), EMPTY);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: opts.artifactType,
      config,
      layers: Object.entries(files).map(([path, bytes]) => ({
        mediaType: opts.layerType,
        digest: put(bytes),
        size: bytes.byteLength,
        annotations: { [opts.pathKey]: path },
      })),
    }),
  );
  const digest = put(manifest);
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest,
          size: manifest.byteLength,
          annotations: { "org.opencontainers.image.ref.name": opts.tag },
        },
      ],
    }),
  );
  return { manifest, digest };
}

/** The version a tag names on `server`, with its files. */
async function versionAt(server: Server, model: string, alias: string) {
  const resolved = await api(server, "GET", `/v1/models/${model}/aliases/${alias}`);
  expect(resolved.status).toBe(200);
  return (await api(server, "GET", `/v1/models/${model}/versions/${resolved.body.version}`)).body as {
    version: number;
    lineage: { source?: string };
    files: { path: string; size: number; sha256: string }[];
  };
}

/** The manifest `server` answers for `model:reference`, and its digest. */
async function pulled(server: Server, model: string, reference: string) {
  const res = await fetch(`${server.base}/v2/${model}/manifests/${reference}`, {
    headers: { authorization: `Bearer ${admin}` },
  });
  expect(res.status).toBe(200);
  return { bytes: Buffer.from(await res.arrayBuffer()), digest: res.headers.get("docker-content-digest")! };
}

/** Copies `model:reference` (or `model@sha256:…`) from `server` into a fresh `oci:` layout and checks every blob with `sha256sum -c`. */
async function checkedCopy(server: Server, model: string, reference: string): Promise<string> {
  const dir = mkdtempSync(join(work, "check-"));
  const named = reference.startsWith("sha256:") ? `@${reference}` : `:${reference}`;
  await skopeo("copy", ...src(), `docker://${hostOf(server)}/${model}${named}`, `oci:${dir}:x`);
  const blobs = readdirSync(join(dir, "blobs", "sha256"));
  execFileSync("sha256sum", ["--check", "--strict", "--quiet"], {
    input: blobs.map((hex) => `${hex}  ${join(dir, "blobs", "sha256", hex)}\n`).join(""),
  });
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  return index.manifests[0]!.digest;
}

const files: Files = {
  "model.safetensors": Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 13 + (i >> 11)) & 0xff)),
  "config.json": Buffer.from('{"hidden":64}'),
  "tokenizer/vocab.txt": Buffer.from("a\nb\nc\n"),
};
let layoutDigest: string;

beforeAll(async () => {
  [first, second] = await Promise.all([startServer(), startServer()]);
  admin = token("oci-pusher", "admin");
  work = mkdtempSync(join(tmpdir(), "mreg-oci-push-"));
  for (const name of [
    "push-layout",
    "push-dir",
    "push-mounted",
    "push-modelpack",
    "push-gated",
    "push-signed",
    "push-signed-v1",
    "push-unsigned",
  ])
    await createModel(first, name);
  await createModel(second, "push-layout");
});

afterAll(() => {
  first?.stop();
  second?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("skopeo pushing into mreg", () => {
  it("copies an oci: layout to :staging as one ready version whose files are the layers, pulled back with the same digest", async () => {
    const dir = join(work, "layout");
    const layout = writeLayout(dir, files, {
      tag: "v",
      artifactType: "application/vnd.example.model.v1",
      layerType: "application/octet-stream",
      pathKey: "org.opencontainers.image.title",
    });
    layoutDigest = layout.digest;
    await skopeo("copy", ...dest(), `oci:${dir}:v`, `docker://${hostOf(first)}/push-layout:staging`);
    const version = await versionAt(first, "push-layout", "staging");
    expect(version.lineage.source).toBe("oci");
    expect(Object.fromEntries(version.files.map((f) => [f.path, f.sha256]))).toEqual(
      Object.fromEntries(Object.entries(files).map(([p, b]) => [p, sha256(b)])),
    );
    const back = await pulled(first, "push-layout", "staging");
    expect(back.digest).toBe(layout.digest);
    expect(back.bytes.equals(layout.manifest)).toBe(true);
    expect(await checkedCopy(first, "push-layout", "staging")).toBe(layout.digest);
  });

  it("copies a dir: directory in, and the same push again names the same version", async () => {
    const dir = mkdtempSync(join(work, "dir-"));
    await skopeo("copy", ...src(), `docker://${hostOf(first)}/push-layout:staging`, `dir:${dir}`);
    await skopeo("copy", ...dest(), `dir:${dir}`, `docker://${hostOf(first)}/push-dir:staging`);
    const version = await versionAt(first, "push-dir", "staging");
    expect(version.files.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
    expect((await pulled(first, "push-dir", "staging")).digest).toBe(layoutDigest);
    await skopeo("copy", ...dest(), `dir:${dir}`, `docker://${hostOf(first)}/push-dir:staging`);
    expect((await api(first, "GET", "/v1/models/push-dir/versions")).body.items).toHaveLength(1);
  });

  it("copies one model into another on the same registry by mounting its blobs, not sending them", async () => {
    const { stderr } = await skopeo(
      "--debug",
      "copy",
      ...src(),
      ...dest(),
      `docker://${hostOf(first)}/push-layout:staging`,
      `docker://${hostOf(first)}/push-mounted:staging`,
    );
    expect(stderr).toMatch(/mount OK/);
    expect(stderr).not.toMatch(/PATCH /);
    expect((await pulled(first, "push-mounted", "staging")).digest).toBe(layoutDigest);
    const version = await versionAt(first, "push-mounted", "staging");
    expect(version.files.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
  });

  it("copies a model from one registry to another: the same manifest digest on both sides, every blob checked", async () => {
    await skopeo(
      "copy",
      ...src(),
      ...dest(),
      `docker://${hostOf(first)}/push-layout:staging`,
      `docker://${hostOf(second)}/push-layout:production`,
    );
    const there = await pulled(second, "push-layout", "production");
    const here = await pulled(first, "push-layout", "staging");
    expect(there.digest).toBe(here.digest);
    expect(there.bytes.equals(here.bytes)).toBe(true);
    expect(await checkedCopy(second, "push-layout", "production")).toBe(here.digest);
    // Promotion across registries by digest: the digest pins the same bytes on the other side.
    const byDigest = await fetch(`${second.base}/v2/push-layout/manifests/${here.digest}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(byDigest.status).toBe(200);
  });

  it("makes a version of a ModelPack-shaped artifact with the paths its filepath annotations name", async () => {
    const dir = join(work, "modelpack");
    const config = Buffer.from(
      JSON.stringify({
        descriptor: { name: "tiny", version: "1" },
        config: { format: "safetensors" },
        modelfs: { type: "layers", diffIds: Object.values(files).map((b) => `sha256:${sha256(b)}`) },
      }),
    );
    const layout = writeLayout(dir, files, {
      tag: "mp",
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: { mediaType: "application/vnd.cncf.model.config.v1+json", bytes: config },
      layerType: "application/vnd.cncf.model.weight.v1.raw",
      pathKey: "org.cncf.model.filepath",
    });
    await skopeo("copy", ...dest(), `oci:${dir}:mp`, `docker://${hostOf(first)}/push-modelpack:candidate`);
    const version = await versionAt(first, "push-modelpack", "candidate");
    expect(version.files.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
    expect((await pulled(first, "push-modelpack", "candidate")).digest).toBe(layout.digest);
    expect(await checkedCopy(first, "push-modelpack", "candidate")).toBe(layout.digest);
  });

  it("refuses a push to an alias whose gate fails, with the failed checks, and moves nothing", async () => {
    expect(
      (await api(first, "PUT", "/v1/models/push-gated/gates/production", { required_tags: { validation: "passed" } }))
        .status,
    ).toBe(200);
    const dir = join(work, "layout");
    await expect(
      skopeo("copy", ...dest(), `oci:${dir}:v`, `docker://${hostOf(first)}/push-gated:production`),
    ).rejects.toThrow(/denied/i);
    const refused = await fetch(`${first.base}/v2/push-gated/manifests/production`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: readFileSync(join(dir, "blobs", "sha256", layoutDigest.slice(7))),
    });
    expect(refused.status).toBe(403);
    const error = ((await refused.json()) as { errors: { code: string; detail: { checks: { passed: boolean }[] } }[] })
      .errors[0]!;
    expect(error.code).toBe("DENIED");
    expect(error.detail.checks.some((c) => !c.passed)).toBe(true);
    expect((await api(first, "GET", "/v1/models/push-gated/aliases/production")).status).toBe(404);
  });
});

describe("@sigstore/oci attaching a bundle", () => {
  const fixture = join(import.meta.dirname, "..", "fixtures", "model-signing", "v1.0.1-elliptic-key");
  const signed: Files = {
    "signme-1": readFileSync(join(fixture, "signme-1")),
    "signme-2": readFileSync(join(fixture, "signme-2")),
  };
  const attach = (model: string, imageDigest: string, artifact: Buffer) =>
    attachArtifactToImage({
      imageName: `${hostOf(first)}/${model}`,
      imageDigest,
      artifact,
      mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      annotations: { "dev.sigstore.bundle.content": "dsse-envelope" },
      credentials: { username: "x", password: admin },
    });

  it("attaches model_signing's model.sig as a referrer of the version's manifest, which becomes its trusted signature", async () => {
    const key = await api(first, "POST", "/v1/signing-keys", {
      name: "oci-e2e-key",
      public_key: readFileSync(join(fixture, "..", "keys", "signing-key-pub.pem"), "utf8"),
    });
    expect(key.status).toBe(201);
    const dir = join(work, "signed");
    const layout = writeLayout(dir, signed, {
      tag: "v",
      artifactType: "application/vnd.example.model.v1",
      layerType: "application/octet-stream",
      pathKey: "org.opencontainers.image.title",
    });
    await skopeo("copy", ...dest(), `oci:${dir}:v`, `docker://${hostOf(first)}/push-signed:staging`);
    const version = await versionAt(first, "push-signed", "staging");
    const bundle = readFileSync(join(fixture, "model.sig"));
    const attached = await attach("push-signed", layout.digest, bundle);
    // The client read mreg's OCI-Subject (its typings leave the field out): it used the referrers API, no fallback tag.
    expect((attached as { subjectDigest?: string }).subjectDigest).toBe(layout.digest);
    const index = await fetch(`${first.base}/v2/push-signed/referrers/${layout.digest}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(index.status).toBe(200);
    const listed = (await index.json()) as { manifests: { digest: string; artifactType: string }[] };
    expect(listed.manifests).toEqual([
      expect.objectContaining({
        digest: attached.digest,
        artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      }),
    ]);
    // No new version: an attachment is not one; it is the version's signature, trusted by the registered key.
    expect((await api(first, "GET", "/v1/models/push-signed/versions")).body.items).toHaveLength(1);
    const signatures = await api(first, "GET", `/v1/models/push-signed/versions/${version.version}/signatures`);
    expect(signatures.body.items).toEqual([
      expect.objectContaining({ bundle_sha256: sha256(bundle), trusted_by: [key.body.id] }),
    ]);
    const fetched = await fetch(
      `${first.base}/v1/models/push-signed/versions/${version.version}/signatures/${signatures.body.items[0].id}`,
      { headers: { authorization: `Bearer ${admin}` } },
    );
    expect(Buffer.from(await fetched.arrayBuffer()).equals(bundle)).toBe(true);
  });

  it("lists a signature uploaded through /v1 beside one it attached, once each; skopeo copies the listed manifest by digest, every blob checked", async () => {
    const dir = join(work, "signed-v1");
    const layout = writeLayout(dir, signed, {
      tag: "v",
      artifactType: "application/vnd.example.model.v1",
      layerType: "application/octet-stream",
      pathKey: "org.opencontainers.image.title",
    });
    await skopeo("copy", ...dest(), `oci:${dir}:v`, `docker://${hostOf(first)}/push-signed-v1:staging`);
    const version = await versionAt(first, "push-signed-v1", "staging");
    const bundle = readFileSync(join(fixture, "model.sig"));
    // The same bundle in the other spelling of its media type (a different bundle, as valid), attached by the client.
    const spelling = "application/vnd.dev.sigstore.bundle+json;version=0.3";
    const respelled = Buffer.from(JSON.stringify({ ...JSON.parse(bundle.toString("utf8")), mediaType: spelling }));
    const attached = await attachArtifactToImage({
      imageName: `${hostOf(first)}/push-signed-v1`,
      imageDigest: layout.digest,
      artifact: respelled,
      mediaType: spelling,
      credentials: { username: "x", password: admin },
    });
    const uploaded = await fetch(`${first.base}/v1/models/push-signed-v1/versions/${version.version}/signatures`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/vnd.dev.sigstore.bundle.v0.3+json" },
      body: bundle,
    });
    expect(uploaded.status).toBe(201);
    const signature = (await uploaded.json()) as { created_at: string };
    const index = await fetch(`${first.base}/v2/push-signed-v1/referrers/${layout.digest}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const listed = ((await index.json()) as { manifests: { digest: string; artifactType: string }[] }).manifests;
    expect(listed.map((m) => m.artifactType).sort()).toEqual(
      ["application/vnd.dev.sigstore.bundle.v0.3+json", spelling].sort(),
    );
    expect(listed.find((m) => m.artifactType === spelling)!.digest).toBe(attached.digest);
    const computed = listed.find((m) => m.artifactType !== spelling)!;
    // The listed manifest, copied by digest: skopeo checks the manifest against its digest, sha256sum every blob.
    expect(await checkedCopy(first, "push-signed-v1", computed.digest)).toBe(computed.digest);
    const manifest = (await pulled(first, "push-signed-v1", computed.digest)).bytes;
    expect(JSON.parse(manifest.toString("utf8"))).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      config: EMPTY,
      layers: [
        {
          mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
          digest: `sha256:${sha256(bundle)}`,
          size: bundle.byteLength,
        },
      ],
      subject: {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: layout.digest,
        size: layout.manifest.byteLength,
      },
      annotations: {
        "org.opencontainers.image.created": signature.created_at,
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://model_signing/signature/v1.0",
      },
    });
    const blob = await fetch(`${first.base}/v2/push-signed-v1/blobs/sha256:${sha256(bundle)}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(Buffer.from(await blob.arrayBuffer()).equals(bundle)).toBe(true);
  });

  it("refuses a bundle that is not a signature of the version's files, keeping nothing", async () => {
    // A version whose files are not the fixture's: the bundle's resources do not match them.
    const dir = join(work, "unsigned");
    const other = writeLayout(
      dir,
      { "signme-1": Buffer.from("other bytes") },
      {
        tag: "v",
        artifactType: "application/vnd.example.model.v1",
        layerType: "application/octet-stream",
        pathKey: "org.opencontainers.image.title",
      },
    );
    await skopeo("copy", ...dest(), `oci:${dir}:v`, `docker://${hostOf(first)}/push-unsigned:staging`);
    const version = await versionAt(first, "push-unsigned", "staging");
    const bundle = readFileSync(join(fixture, "model.sig"));
    const refused = await attach("push-unsigned", other.digest, bundle).catch((err: unknown) => err);
    // The client's manifest PUT was answered 400 (the bundle's layer was uploaded before it).
    expect(refused).toMatchObject({ cause: { statusCode: 400 } });
    // The same attachment sent by hand shows the answer's words: the failed check is named.
    const attachment = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      config: EMPTY,
      layers: [
        {
          mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
          digest: `sha256:${sha256(bundle)}`,
          size: bundle.byteLength,
        },
      ],
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: other.digest, size: 1 },
    });
    const put = await fetch(`${first.base}/v2/push-unsigned/manifests/sha256:${sha256(attachment)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: attachment,
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { errors: { code: string; detail: unknown }[] }).errors[0]).toMatchObject({
      code: "MANIFEST_INVALID",
      detail: { check: "files" },
    });
    const index = await fetch(`${first.base}/v2/push-unsigned/referrers/${other.digest}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(((await index.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    expect(
      (await api(first, "GET", `/v1/models/push-unsigned/versions/${version.version}/signatures`)).body.items,
    ).toEqual([]);
  });
});
