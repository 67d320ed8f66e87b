/**
 * Public keys and signature algorithms: what a SubjectPublicKeyInfo says (EC curve, RSA,
 * Ed25519), the hash each OMS curve signs with, the key hint and fingerprint, and the
 * small encodings signing needs (an EC SPKI from its point, PKCS#8 around a SEC1 key).
 */
import { hexOf, sha256, utf8 } from "./bytes";
import {
  DerError,
  Tag,
  bitStringOf,
  bytesOf,
  contentOf,
  encodeOid,
  encodeTlv,
  expectTag,
  oidOf,
  readWhole,
  sequenceOf,
  smallIntegerOf,
  type Tlv,
} from "./der";
import { pemEncode } from "./pem";

export type Curve = "P-256" | "P-384" | "P-521";
export type HashName = "SHA-256" | "SHA-384" | "SHA-512";

export type PublicKeyInfo =
  | { readonly kind: "ec"; readonly der: Uint8Array; readonly curve: Curve }
  | { readonly kind: "rsa"; readonly der: Uint8Array; readonly bits: number }
  | { readonly kind: "ed25519"; readonly der: Uint8Array };

export type SignatureAlgorithm =
  | { readonly kind: "ecdsa"; readonly hash: HashName }
  | { readonly kind: "rsa-pkcs1"; readonly hash: HashName }
  | { readonly kind: "ed25519" };

const Oid = {
  ecPublicKey: "1.2.840.10045.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ed25519: "1.3.101.112",
} as const;

const CURVES: Record<string, Curve> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
};
const CURVE_OID: Record<Curve, string> = {
  "P-256": "1.2.840.10045.3.1.7",
  "P-384": "1.3.132.0.34",
  "P-521": "1.3.132.0.35",
};
const COORDINATE_BYTES: Record<Curve, number> = { "P-256": 32, "P-384": 48, "P-521": 66 };

/** The hash an EC key signs with in OMS (the reference's `get_ec_key_hash`): never a default. */
export function curveHash(curve: Curve): HashName {
  return curve === "P-256" ? "SHA-256" : curve === "P-384" ? "SHA-384" : "SHA-512";
}

/** Bytes of one coordinate, and of each half of an `r‖s` signature. */
export const coordinateBytes = (curve: Curve): number => COORDINATE_BYTES[curve];

const SIGNATURE_ALGORITHMS: Record<string, SignatureAlgorithm> = {
  "1.2.840.10045.4.3.2": { kind: "ecdsa", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { kind: "ecdsa", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { kind: "ecdsa", hash: "SHA-512" },
  "1.2.840.113549.1.1.11": { kind: "rsa-pkcs1", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { kind: "rsa-pkcs1", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { kind: "rsa-pkcs1", hash: "SHA-512" },
  "1.3.101.112": { kind: "ed25519" },
};

/** An AlgorithmIdentifier of a certificate's signature; RSA's takes NULL parameters, the others none. */
export function signatureAlgorithmOf(tlv: Tlv | undefined, what: string): SignatureAlgorithm {
  const [id, parameters] = sequenceOf(tlv, what, 1, 2);
  const oid = oidOf(id, what);
  const algorithm = SIGNATURE_ALGORITHMS[oid];
  if (!algorithm) throw new DerError(`${what}: signature algorithm ${oid} is not supported`);
  if (
    parameters !== undefined &&
    !(algorithm.kind === "rsa-pkcs1" && parameters.tag === Tag.null && parameters.end === parameters.contentStart)
  ) {
    throw new DerError(`${what}: unexpected algorithm parameters`);
  }
  return algorithm;
}

/** Reads a SubjectPublicKeyInfo (the whole of `der`). */
export function parseSpki(der: Uint8Array): PublicKeyInfo {
  return spkiOf(readWhole(der));
}

/** Reads a SubjectPublicKeyInfo element (inside a certificate, or alone). */
export function spkiOf(tlv: Tlv): PublicKeyInfo {
  const [algorithm, key] = sequenceOf(tlv, "public key", 2, 2);
  const [id, parameters] = sequenceOf(algorithm, "public key algorithm", 1, 2);
  const oid = oidOf(id, "public key algorithm");
  const bits = bitStringOf(key, "public key", true);
  const der = bytesOf(tlv);
  if (oid === Oid.ecPublicKey) {
    const curveOid = oidOf(parameters, "EC curve");
    const curve = CURVES[curveOid];
    if (!curve) throw new DerError(`EC curve ${curveOid} is not supported (P-256, P-384, P-521 are)`);
    const size = COORDINATE_BYTES[curve];
    // Uncompressed points only: what Web Crypto imports everywhere.
    if (bits.length !== 1 + 2 * size || bits[0] !== 0x04)
      throw new DerError(`EC point is not an uncompressed ${curve} point`);
    return { kind: "ec", der, curve };
  }
  if (oid === Oid.rsaEncryption) {
    if (parameters === undefined || parameters.tag !== Tag.null || parameters.end !== parameters.contentStart) {
      throw new DerError("RSA key without NULL parameters");
    }
    const [modulus, exponent] = sequenceOf(readWhole(bits), "RSA key", 2, 2);
    const n = contentOf(expectTag(modulus, Tag.integer, "RSA modulus"));
    contentOf(expectTag(exponent, Tag.integer, "RSA exponent"));
    const length = n[0] === 0 ? n.length - 1 : n.length;
    if (length < 256) throw new DerError(`RSA key of ${length * 8} bits is too short (2048 at least)`);
    return { kind: "rsa", der, bits: length * 8 };
  }
  if (oid === Oid.ed25519) {
    if (parameters !== undefined) throw new DerError("Ed25519 key with parameters");
    if (bits.length !== 32) throw new DerError("Ed25519 key is not 32 bytes");
    return { kind: "ed25519", der };
  }
  throw new DerError(`public key algorithm ${oid} is not supported`);
}

export const describeKey = (key: PublicKeyInfo): string =>
  key.kind === "ec" ? `EC ${key.curve}` : key.kind === "rsa" ? `RSA-${key.bits}` : "Ed25519";

/** The SPKI PEM text Python's `cryptography` writes for a key: what the OMS key hint hashes. */
export const spkiPem = (spkiDer: Uint8Array): string => pemEncode(spkiDer, "PUBLIC KEY");

/**
 * The OMS key hint (`publicKey.hint`): sha256 hex of the key's SPKI PEM text as Python writes
 * it. Recomputed from the DER, never taken from a PEM someone uploaded (its line ends,
 * headers or width may differ).
 */
export async function keyHint(spkiDer: Uint8Array): Promise<string> {
  return hexOf(await sha256(utf8.encode(spkiPem(spkiDer))));
}

/** `sha256:<hex of the SPKI DER>`: a key's name in the registry's answers. */
export async function keyFingerprint(spkiDer: Uint8Array): Promise<string> {
  return `sha256:${hexOf(await sha256(spkiDer))}`;
}

/** The SPKI of an EC public key from its coordinates (what a Web Crypto JWK gives). */
export function ecSpkiFromPoint(curve: Curve, x: Uint8Array, y: Uint8Array): Uint8Array {
  const point = new Uint8Array(1 + x.length + y.length);
  point[0] = 0x04;
  point.set(x, 1);
  point.set(y, 1 + x.length);
  return encodeTlv(
    Tag.sequence,
    encodeTlv(Tag.sequence, encodeOid(Oid.ecPublicKey), encodeOid(CURVE_OID[curve])),
    encodeTlv(Tag.bitString, new Uint8Array([0]), point),
  );
}

/** The curve of an EC private key in PKCS#8 (`PRIVATE KEY`), which Web Crypto must be told. */
export function pkcs8Curve(der: Uint8Array): Curve {
  const [version, algorithm] = sequenceOf(readWhole(der), "PKCS#8 key", 3, 5);
  if (smallIntegerOf(version, "PKCS#8 version") > 1) throw new DerError("PKCS#8 version is not 0 or 1");
  const [id, parameters] = sequenceOf(algorithm, "PKCS#8 algorithm", 1, 2);
  if (oidOf(id, "PKCS#8 algorithm") !== Oid.ecPublicKey) throw new DerError("not an EC private key");
  const curve = CURVES[oidOf(parameters, "EC curve")];
  if (!curve) throw new DerError("EC curve is not P-256, P-384 or P-521");
  return curve;
}

/**
 * A SEC1 `EC PRIVATE KEY` (what `openssl ecparam -genkey` writes) wrapped as the PKCS#8 Web
 * Crypto imports: `SEQUENCE {0, {ecPublicKey, curve}, OCTET STRING <the SEC1 key>}`.
 */
export function pkcs8FromSec1(sec1: Uint8Array): { pkcs8: Uint8Array; curve: Curve } {
  const fields = sequenceOf(readWhole(sec1), "EC private key", 2, 4);
  if (smallIntegerOf(fields[0], "EC private key version") !== 1) throw new DerError("EC private key version is not 1");
  expectTag(fields[1], Tag.octetString, "EC private key");
  const parameters = fields.find((f) => f.tag === 0xa0);
  if (!parameters) throw new DerError("EC private key does not name its curve");
  const curveOid = oidOf(sequenceOf(parameters, "EC curve", 1, 1, 0xa0)[0], "EC curve");
  const curve = CURVES[curveOid];
  if (!curve) throw new DerError(`EC curve ${curveOid} is not supported`);
  const pkcs8 = encodeTlv(
    Tag.sequence,
    new Uint8Array([Tag.integer, 1, 0]),
    encodeTlv(Tag.sequence, encodeOid(Oid.ecPublicKey), encodeOid(CURVE_OID[curve])),
    encodeTlv(Tag.octetString, sec1),
  );
  return { pkcs8, curve };
}
