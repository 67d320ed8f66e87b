/**
 * Shared pieces of the Hugging Face bridge tests: the registry the global setup started,
 * publishing versions through the `/v1` API (as a training job does), and the digests the
 * Hub protocol names files and versions by, computed here independently of the server.
 */
import { createHash, randomFillSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, inject } from "vitest";
import { root, token } from "./server";

export const base = (): string => inject("hfUrl");
const admin = (): Record<string, string> => ({ authorization: `Bearer ${inject("hfAdminToken")}` });

/** A development token in the form the Hugging Face clients insist on. */
export function hfToken(scope = "read", models?: string): string {
  return `hf_${token("hf-reader", scope, models)}`;
}

/** The small ONNX model `@ricky0123/vad-web` ships (Silero VAD v5: inputs input, state, sr). */
export const ONNX_PATH = join(root, "node_modules", "@ricky0123", "vad-web", "dist", "silero_vad_v5.onnx");
export const onnxBytes = (): Bytes => new Uint8Array(readFileSync(ONNX_PATH));

export const sha256 = (bytes: Uint8Array | string): string => createHash("sha256").update(bytes).digest("hex");

/** The git blob SHA-1 of a file's LFS pointer text: the `oid` the Hub gives an LFS file. */
export function lfsPointer(bytes: Uint8Array): { oid: string; size: number } {
  const text = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.byteLength}\n`;
  const pointer = Buffer.from(text, "utf8");
  const oid = createHash("sha1").update(`blob ${pointer.byteLength}\0`).update(pointer).digest("hex");
  return { oid, size: pointer.byteLength };
}

export type Bytes = Uint8Array<ArrayBuffer>;
export type Files = Record<string, Bytes | string>;

export interface Published {
  model: string;
  version: number;
  /** The first 40 hex digits of the version's digest: its Hub commit. */
  commit: string;
  files: Map<string, Bytes>;
}

/** A `/v1` call with the admin token; answers the JSON body (`expected`: the statuses that are no error). */
export async function call(
  method: string,
  path: string,
  body?: unknown,
  expected = [200, 201],
): Promise<Record<string, unknown>> {
  const res = await fetch(`${base()}${path}`, {
    method,
    headers: { ...admin(), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!expected.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export async function createModel(name: string): Promise<void> {
  await call("POST", "/v1/models", { name });
}

/**
 * A new version of `model` holding `files`, then finalized. The first file with given bytes
 * is a single PUT; every other file with the same bytes is a `POST .../uploads` that the
 * registry answers as deduplicated, sending no bytes (what a client that hashed first does).
 * `parallel` requests at a time.
 */
export async function publish(model: string, files: Files, parallel = 8): Promise<Published> {
  const { version } = (await call("POST", `/v1/models/${model}/versions`, {})) as { version: number };
  const at = `/v1/models/${model}/versions/${version}`;
  const entries = Object.entries(files).map(
    ([path, content]) => [path, typeof content === "string" ? new TextEncoder().encode(content) : content] as const,
  );
  const firsts = new Map<string, readonly [string, Bytes]>();
  const repeats: (readonly [string, Bytes])[] = [];
  for (const entry of entries) {
    const digest = sha256(entry[1]);
    if (firsts.has(digest)) repeats.push(entry);
    else firsts.set(digest, entry);
  }
  const inParallel = async (
    list: (readonly [string, Bytes])[],
    send: (path: string, bytes: Bytes) => Promise<void>,
  ) => {
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const [path, bytes] = list[next++]!;
        await send(path, bytes);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  };
  await inParallel([...firsts.values()], async (path, bytes) => {
    const res = await fetch(`${base()}${at}/files/${path}`, {
      method: "PUT",
      headers: { ...admin(), "x-mreg-sha256": sha256(bytes) },
      body: bytes,
    });
    if (res.status !== 201) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  });
  await inParallel(repeats, async (path, bytes) => {
    const file = await call("POST", `${at}/uploads`, { path, size: bytes.byteLength, sha256: sha256(bytes) }, [200]);
    if (file.deduplicated !== true)
      throw new Error(`POST uploads ${path} was not deduplicated: ${JSON.stringify(file)}`);
  });
  const ready = (await call("POST", `${at}/finalize`)) as { status: string; digest: string };
  if (ready.status !== "ready") throw new Error(`version ${version} of ${model} is ${ready.status}`);
  return {
    model,
    version,
    commit: ready.digest.slice("sha256:".length, "sha256:".length + 40),
    files: new Map(entries),
  };
}

/** Sets an alias to a version, or to a split `[{version, weight}]`. */
export async function setAlias(
  model: string,
  alias: string,
  to: number | { version: number; weight: number }[],
): Promise<void> {
  await call("PUT", `/v1/models/${model}/aliases/${alias}`, typeof to === "number" ? { version: to } : { split: to });
}

/** The version `/v1` resolves an alias to, for a routing key. */
export async function resolveV1(model: string, alias: string, key?: string): Promise<number> {
  const query = key === undefined ? "" : `?key=${encodeURIComponent(key)}`;
  return ((await call("GET", `/v1/models/${model}/aliases/${alias}${query}`)) as { version: number }).version;
}

/** Random bytes of `size` (a file above MAX_SINGLE_PUT makes the Hub's multipart transfer run). */
export const randomBytes = (size: number): Bytes => new Uint8Array(randomFillSync(Buffer.alloc(size)));

/** The bytes at `url`, read with the admin token (as `Bearer`, or `Basic` with it as password for OCI). */
async function bytesAt(url: string, scheme: "Bearer" | "Basic" = "Bearer", accept?: string): Promise<Bytes> {
  const credential =
    scheme === "Bearer" ? inject("hfAdminToken") : Buffer.from(`x:${inject("hfAdminToken")}`).toString("base64");
  const res = await fetch(url, {
    headers: { authorization: `${scheme} ${credential}`, ...(accept ? { accept } : {}) },
  });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Reads a version back through every protocol mreg speaks and compares each file byte for
 * byte: the Hub (`/resolve/` at the version's commit), `/v1`, OCI (the manifest of `v<n>`, its
 * layers by digest) and MLflow (the artifact proxy). Answers the version's record.
 */
export async function readBackEverywhere(
  model: string,
  version: number,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<{ digest: string; lineage: { parents?: { model: string; version: number }[] }; description: string }> {
  const record = (await call("GET", `/v1/models/${model}/versions/${version}`)) as {
    digest: string;
    files: { path: string; size: number; sha256: string }[];
    lineage: { parents?: { model: string; version: number }[] };
    description: string;
  };
  expect(record.files.map((f) => f.path).sort()).toEqual([...files.keys()].sort());
  const commit = record.digest.slice("sha256:".length, "sha256:".length + 40);
  const manifest = JSON.parse(
    new TextDecoder().decode(
      await bytesAt(
        `${base()}/v2/${model}/manifests/v${version}`,
        "Basic",
        "application/vnd.oci.image.manifest.v1+json",
      ),
    ),
  ) as { layers: { digest: string; size: number; annotations: Record<string, string> }[] };
  const layers = new Map(manifest.layers.map((l) => [l.annotations["org.opencontainers.image.title"]!, l]));
  for (const [path, bytes] of files) {
    const expected = sha256(bytes);
    const reads = {
      hub: await bytesAt(`${base()}/${model}/resolve/${commit}/${path}`),
      v1: await bytesAt(`${base()}/v1/models/${model}/versions/${version}/files/${path}`),
      oci: await bytesAt(`${base()}/v2/${model}/blobs/${layers.get(path)!.digest}`, "Basic"),
      mlflow: await bytesAt(`${base()}/api/2.0/mlflow-artifacts/artifacts/models/${model}/versions/${version}/${path}`),
    };
    for (const [protocol, read] of Object.entries(reads)) {
      expect([protocol, path, read.byteLength, sha256(read)]).toEqual([protocol, path, bytes.byteLength, expected]);
    }
  }
  return record;
}
