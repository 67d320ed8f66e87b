/** What tests of signatures share: fresh keys, registering trust, versions holding a fixture's files, uploads. */
import { call, json, readyVersion } from "./helpers";
import { fileText, oneByteChanged, type Folder } from "./oms-fixtures";

export const BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

async function fingerprintOf(der: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return `sha256:${[...digest].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export const pemOf = (der: Uint8Array, label: string) =>
  `-----BEGIN ${label}-----\n${btoa(String.fromCharCode(...der)).replace(/(.{64})/g, "$1\n")}\n-----END ${label}-----\n`;

/** A fresh EC key's public half as PEM, and its SPKI's sha256 (`sha256:<hex>`). */
export async function freshKey(curve: "P-256" | "P-384" = "P-384"): Promise<{ pem: string; fingerprint: string }> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  return { pem: pemOf(spki, "PUBLIC KEY"), fingerprint: await fingerprintOf(spki) };
}

export { fingerprintOf };

/** Registers a signing key; throws unless it was created. */
export async function registerKey(body: Record<string, unknown>): Promise<{ id: string; name: string }> {
  const res = await json("POST", "/v1/signing-keys", { body });
  if (res.status !== 201)
    throw new Error(`register ${JSON.stringify(body.name)}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; name: string };
}

export async function deleteKey(id: string): Promise<number> {
  return (await call("DELETE", `/v1/signing-keys/${id}`)).status;
}

/** A ready version holding exactly `signme-1` and `signme-2` of `folder` (`changed`: one byte of `signme-1` flipped). */
export async function fixtureVersion(model: string, folder: Folder, changed = false): Promise<number> {
  const enc = new TextEncoder();
  const v = await readyVersion(model, {
    "signme-1": changed ? oneByteChanged(folder) : enc.encode(fileText(folder, "signme-1")),
    "signme-2": enc.encode(fileText(folder, "signme-2")),
  });
  return v.version as number;
}

/** Uploads a bundle (its text, as sent) to a version. */
export function uploadSignature(
  model: string,
  version: number,
  bundle: BodyInit,
  opts: { token?: string; contentType?: string } = {},
) {
  return json("POST", `/v1/models/${model}/versions/${version}/signatures`, {
    rawBody: bundle,
    headers: { "content-type": opts.contentType ?? BUNDLE_TYPE },
    ...(opts.token !== undefined ? { token: opts.token } : {}),
  });
}
