/// <reference types="vite/client" />
/**
 * The model-signing fixtures (test/fixtures/model-signing, README there) for tests in workerd
 * and in Node alike: read at build time by Vite (no file system in workerd), with the
 * trust each folder verifies against and the version each one signs.
 */
import { hexOf, sha256, utf8 } from "../src/domain/oms/bytes";

const texts = import.meta.glob("./fixtures/model-signing/**/*", {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

function text(path: string): string {
  const found = texts[`./fixtures/model-signing/${path}`];
  if (found === undefined) throw new Error(`no fixture ${path}`);
  return found;
}

export const FOLDERS = [
  "v1.0.1-elliptic-key",
  "v1.1.0-elliptic-key",
  "v1.0.1-certificate",
  "v1.1.0-certificate",
  "v1.0.1-sigstore",
  "v1.1.0-sigstore",
] as const;
export type Folder = (typeof FOLDERS)[number];

export const kindOf = (folder: Folder): "key" | "certificate" | "sigstore" =>
  folder.endsWith("elliptic-key") ? "key" : folder.endsWith("certificate") ? "certificate" : "sigstore";

/** A bundle's or statement's protobuf JSON, which tests read and edit at any depth. */
// reason: tests reach into fields the verifier's own types do not describe (that is what they tamper with)
export type EditableJson = any;

/** The folder's `model.sig`, as its signer wrote it. */
export const bundleText = (folder: Folder): string => text(`${folder}/model.sig`);
export const bundleJson = (folder: Folder): EditableJson => JSON.parse(bundleText(folder));
export const fileText = (folder: Folder, name: string): string => text(`${folder}/${name}`);

export const signingKeyPem = text("keys/signing-key-pub.pem");
export const caCertificatePem = text("keys/ca-cert.pem");
export const intermediateCertificatePem = text("keys/int-ca-cert.pem");
export const leafCertificatePem = text("keys/signing-key-cert.pem");
export const trustedRootJson = (): unknown => JSON.parse(text("sigstore-public-good-trusted-root.json"));
/** The identity both keyless fixtures were signed as. */
export const IDENTITY = { issuer: "https://sigstore.verify.ibm.com/oauth2", subject: "stefanb@us.ibm.com" } as const;

export const sha256Hex = async (bytes: Uint8Array): Promise<string> => hexOf(await sha256(bytes));

/**
 * The version a folder signs: `signme-1` and `signme-2` with their sha256 (`ignore-me` too
 * with `withIgnoreMe`); `change` replaces a file's bytes first.
 */
export async function versionFiles(
  folder: Folder,
  options: { withIgnoreMe?: boolean; change?: { name: string; bytes: Uint8Array } } = {},
): Promise<Map<string, string>> {
  const names = ["signme-1", "signme-2", ...(options.withIgnoreMe ? ["ignore-me"] : [])];
  const files = new Map<string, string>();
  for (const name of names) {
    const bytes = options.change?.name === name ? options.change.bytes : utf8.encode(fileText(folder, name));
    files.set(name, await sha256Hex(bytes));
  }
  return files;
}

/** `signme-1` of a folder with one byte changed. */
export function oneByteChanged(folder: Folder): Uint8Array {
  const bytes = utf8.encode(fileText(folder, "signme-1"));
  bytes[0] = bytes[0]! ^ 0x01;
  return bytes;
}
