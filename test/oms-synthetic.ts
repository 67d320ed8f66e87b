/**
 * A synthetic model of many files and a bundle signed for it, for the benchmarks
 * (bench/signatures.mjs, and the server's upload bench through bench/oms.mjs) and for tests
 * that need a large statement: files small and distinct, paths nested so the reference
 * order (component by component) differs from plain string order.
 */
import { hexOf, sha256, utf8 } from "../src/domain/oms/bytes";
import { pemEncode } from "../src/domain/oms/pem";
import { signStatement } from "../src/signatures/sign";

export interface SyntheticFile {
  readonly path: string;
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

/** `count` files: `layers/<i / 100>/part-<i>.bin` beside `layers-<i>.json` every tenth, each a line of text. */
export async function syntheticFiles(count: number): Promise<SyntheticFile[]> {
  const files: SyntheticFile[] = [];
  for (let i = 0; i < count; i++) {
    const path =
      i % 10 === 9 ? `layers-${i}.json` : `layers/${String(Math.floor(i / 100)).padStart(3, "0")}/part-${i}.bin`;
    const bytes = utf8.encode(`synthetic file ${i}\n`);
    files.push({ path, bytes, sha256: hexOf(await sha256(bytes)) });
  }
  return files;
}

export interface SigningKeyMaterial {
  readonly keyPair: CryptoKeyPair;
  /** PKCS#8, what `mreg sign --key` and `python -m model_signing sign key` read. */
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  readonly spkiDer: Uint8Array;
}

/** A fresh ECDSA P-256 key, as PEM too. */
export async function generateSigningKey(): Promise<SigningKeyMaterial> {
  const keyPair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", keyPair.privateKey)) as ArrayBuffer);
  const spkiDer = new Uint8Array((await crypto.subtle.exportKey("spki", keyPair.publicKey)) as ArrayBuffer);
  return {
    keyPair,
    privateKeyPem: pemEncode(pkcs8, "PRIVATE KEY"),
    publicKeyPem: pemEncode(spkiDer, "PUBLIC KEY"),
    spkiDer,
  };
}

/** `count` synthetic files, a key, and the bundle that key signs over them; `files` as verifyBundle takes them. */
export async function signedSyntheticModel(count: number, key?: SigningKeyMaterial) {
  const files = await syntheticFiles(count);
  const signingKey = key ?? (await generateSigningKey());
  const bundle = await signStatement(
    files.map((f) => ({ path: f.path, sha256: f.sha256 })),
    { keyPair: signingKey.keyPair },
    `synthetic-${count}`,
  );
  return { files, fileMap: new Map(files.map((f) => [f.path, f.sha256])), key: signingKey, bundle };
}
