/**
 * Signing a version's file list as the reference tool signs a model folder
 * (`python -m model_signing sign key`): the OMS statement over the sha256s given (never
 * re-hashed), a DSSE envelope signed with an EC key on Web Crypto (the curve's hash, the
 * signature in DER), in a v0.3 bundle that names the key by its hint.
 */
import { BUNDLE_MEDIA_TYPES, IN_TOTO_PAYLOAD_TYPE, pae } from "../domain/oms/bundle";
import { base64Decode, base64Encode, utf8 } from "../domain/oms/bytes";
import { DerError, ecdsaRawToDer } from "../domain/oms/der";
import { curveHash, ecSpkiFromPoint, keyHint, pkcs8Curve, pkcs8FromSec1, type Curve } from "../domain/oms/keys";
import { pemBlocks, pemLabels } from "../domain/oms/pem";
import { buildStatement, type Resource } from "../domain/oms/statement";

/** A PEM private key (PKCS#8 `PRIVATE KEY`, or SEC1 `EC PRIVATE KEY`), or a Web Crypto ECDSA key pair. */
export type SigningKey = { readonly privateKeyPem: string } | { readonly keyPair: CryptoKeyPair };

/** A file of the version being signed: its path and the sha256 the registry verified. */
export interface SignedFile {
  readonly path: string;
  readonly sha256: string;
}

export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SigningError";
  }
}

const CURVES: readonly string[] = ["P-256", "P-384", "P-521"];

interface ReadyKey {
  readonly privateKey: CryptoKey;
  readonly spkiDer: Uint8Array;
  readonly curve: Curve;
}

async function importPem(pem: string): Promise<ReadyKey> {
  const labels = pemLabels(pem);
  if (labels.includes("ENCRYPTED PRIVATE KEY")) {
    throw new SigningError("the key is encrypted: decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)");
  }
  let pkcs8: Uint8Array;
  let curve: Curve;
  try {
    const plain = pemBlocks(pem, "PRIVATE KEY")[0];
    const sec1 = pemBlocks(pem, "EC PRIVATE KEY")[0];
    if (plain) {
      pkcs8 = plain;
      curve = pkcs8Curve(plain);
    } else if (sec1) {
      ({ pkcs8, curve } = pkcs8FromSec1(sec1));
    } else {
      throw new SigningError(
        `no PRIVATE KEY or EC PRIVATE KEY block in the PEM (found ${labels.join(", ") || "none"})`,
      );
    }
  } catch (error) {
    if (error instanceof DerError) throw new SigningError(`the private key cannot be read: ${error.message}`);
    throw error;
  }
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey(
      "pkcs8",
      new Uint8Array(pkcs8),
      { name: "ECDSA", namedCurve: curve },
      true,
      ["sign"],
    );
  } catch (error) {
    throw new SigningError(`the private key cannot be imported: ${(error as Error).message}`);
  }
  // The public point, from the private key's JWK: PKCS#8 need not carry the public key.
  const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
  const x = base64Decode(jwk.x ?? "");
  const y = base64Decode(jwk.y ?? "");
  if (x === null || y === null) throw new SigningError("the private key's public point cannot be derived");
  // Not kept extractable longer than needed: sign with a copy that cannot be exported.
  const signing = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: curve }, false, ["sign"]);
  return { privateKey: signing, spkiDer: ecSpkiFromPoint(curve, x, y), curve };
}

async function readyKey(key: SigningKey): Promise<ReadyKey> {
  if ("privateKeyPem" in key) return importPem(key.privateKeyPem);
  const algorithm = key.keyPair.privateKey.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name !== "ECDSA" || !CURVES.includes(algorithm.namedCurve ?? "")) {
    throw new SigningError("the key pair is not an ECDSA key on P-256, P-384 or P-521");
  }
  const spkiDer = new Uint8Array((await crypto.subtle.exportKey("spki", key.keyPair.publicKey)) as ArrayBuffer);
  return { privateKey: key.keyPair.privateKey, spkiDer, curve: algorithm.namedCurve as Curve };
}

/**
 * Reads a PEM private key once, so a bad key is refused (a SigningError) before anything is
 * sent, and the key is imported once however many versions it signs.
 */
export async function readSigningKey(pem: string): Promise<SigningKey> {
  const { privateKey, spkiDer, curve } = await importPem(pem);
  const publicKey = await crypto.subtle.importKey(
    "spki",
    new Uint8Array(spkiDer),
    { name: "ECDSA", namedCurve: curve },
    true,
    ["verify"],
  );
  return { keyPair: { privateKey, publicKey } };
}

/**
 * The `model.sig` for these files: the bundle's JSON text, compact, in the layout the
 * reference tool writes (`mediaType`, `verificationMaterial.publicKey.hint`, `tlogEntries: []`,
 * the DSSE envelope with a DER signature and `keyid: ""`). P-256 keys make bundles that
 * `@sigstore/verify` accepts too; P-384 and P-521 sign with SHA-384 and SHA-512, as OMS does.
 */
export async function signStatement(files: readonly SignedFile[], key: SigningKey, name: string): Promise<string> {
  const { privateKey, spkiDer, curve } = await readyKey(key);
  let statement: unknown;
  try {
    statement = await buildStatement(
      name,
      files.map((f): Resource => ({ name: f.path, sha256: f.sha256 })),
    );
  } catch (error) {
    throw new SigningError((error as Error).message);
  }
  // Indented like the protobuf JSON (`MessageToJson`) the reference signs.
  const payload = utf8.encode(JSON.stringify(statement, null, 2));
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: curveHash(curve) },
      privateKey,
      new Uint8Array(pae(IN_TOTO_PAYLOAD_TYPE, payload)),
    ),
  );
  return JSON.stringify({
    mediaType: BUNDLE_MEDIA_TYPES[0],
    verificationMaterial: { publicKey: { hint: await keyHint(spkiDer) }, tlogEntries: [] },
    dsseEnvelope: {
      payload: base64Encode(payload),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: base64Encode(ecdsaRawToDer(raw)), keyid: "" }],
    },
  });
}
