/**
 * The shape of an OMS `model.sig`: a Sigstore bundle v0.3 in protobuf JSON, read by hand
 * rather than with `@sigstore/bundle` (which refuses the `x509CertificateChain` OMS writes).
 * Everything a later check uses is decoded here (base64, PEM, integers), so those checks
 * work on bytes and never meet a malformed field.
 */
import { base64Decode, concatBytes, utf8, utf8Decode } from "./bytes";
import { fail, attempt, type Refusal } from "./problem";
import { pemBlocks } from "./pem";

export const BUNDLE_MEDIA_TYPES: readonly string[] = [
  "application/vnd.dev.sigstore.bundle.v0.3+json",
  "application/vnd.dev.sigstore.bundle+json;version=0.3",
];
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
/** The contract's size limit of a bundle, which nodes apply too. */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;
/** Bounds on repeated fields: more than any signer writes, few enough to keep a check's work small. */
const MAX_SIGNATURES = 8;
const MAX_CERTIFICATES = 10;
const MAX_TLOG_ENTRIES = 8;
const MAX_PROOF_HASHES = 64;

export interface Envelope {
  readonly payloadType: string;
  readonly payload: Uint8Array;
  /** DER signatures, in the envelope's order. */
  readonly signatures: readonly Uint8Array[];
}

/** What the bundle offers to verify its envelope with, which decides how it is checked. */
export type Material =
  /** `publicKey`: a hint (v1.1), the key itself (v1.0.1's `rawBytes`, PEM text or DER), or both. */
  | { readonly kind: "key"; readonly hint: string | null; readonly spkiDer: Uint8Array | null }
  /** `x509CertificateChain`: leaf first, then whatever intermediates the signer added. */
  | { readonly kind: "certificate"; readonly chain: readonly Uint8Array[] }
  /** `certificate`: a Fulcio leaf, with Rekor entries (keyless Sigstore). */
  | { readonly kind: "sigstore"; readonly certificate: Uint8Array };

export interface InclusionProof {
  /** The entry's index in the tree the proof is for (not the entry's global `logIndex`). */
  readonly logIndex: bigint;
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  readonly hashes: readonly Uint8Array[];
  /** The signed note text. */
  readonly checkpoint: string;
}

export interface TlogEntry {
  /** Decimal digits, as the SET's canonical JSON writes them. */
  readonly logIndex: string;
  readonly logId: Uint8Array;
  readonly kind: string;
  readonly version: string;
  /** Seconds since the epoch, decimal digits; "0" or absent in Rekor v2 entries. */
  readonly integratedTime: string | null;
  readonly signedEntryTimestamp: Uint8Array | null;
  readonly inclusionProof: InclusionProof | null;
  readonly canonicalizedBody: Uint8Array;
}

export interface Bundle {
  readonly mediaType: string;
  readonly material: Material;
  readonly envelope: Envelope;
  /** Read only for keyless bundles; others' entries (OMS writes none) are not checked. */
  readonly tlogEntries: readonly TlogEntry[];
  /** RFC 3161 timestamps (DER), which this verifier does not check. */
  readonly rfc3161Timestamps: readonly Uint8Array[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function object(value: unknown, where: string): Json {
  if (!isObject(value)) fail("envelope", `${where} is not an object`);
  return value;
}

function string(value: unknown, where: string): string {
  if (typeof value !== "string") fail("envelope", `${where} is not a string`);
  return value;
}

function array(value: unknown, where: string, min: number, max: number): unknown[] {
  if (!Array.isArray(value)) fail("envelope", `${where} is not a list`);
  if (value.length < min || value.length > max)
    fail("envelope", `${where} holds ${value.length} items, not ${min}..${max}`);
  return value;
}

function base64(value: unknown, where: string): Uint8Array {
  const bytes = base64Decode(string(value, where));
  if (bytes === null) fail("envelope", `${where} is not base64`);
  return bytes;
}

/** A protobuf JSON int64: decimal digits in a string, or a safe integer; canonical (no leading zero). */
function int64(value: unknown, where: string): string {
  const text = typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? String(value) : value;
  if (typeof text !== "string" || !/^(0|[1-9][0-9]{0,18})$/.test(text))
    fail("envelope", `${where} is not a non-negative integer`);
  return text;
}

/**
 * A public key's bytes as bundles carry them: DER, or (OMS v1.0.1) base64 of the PEM text.
 */
function spkiFromRawBytes(bytes: Uint8Array, where: string): Uint8Array {
  const text = bytes[0] === 0x2d ? utf8Decode(bytes) : null;
  if (text === null) return bytes;
  const blocks = pemBlocks(text, "PUBLIC KEY");
  if (blocks.length !== 1) fail("envelope", `${where} is PEM text without exactly one PUBLIC KEY`);
  return blocks[0]!;
}

function readMaterial(material: Json): Material {
  const present = ["publicKey", "x509CertificateChain", "certificate"].filter((k) => material[k] !== undefined);
  if (present.length !== 1) {
    fail(
      "envelope",
      `verificationMaterial must hold one of publicKey, x509CertificateChain, certificate (has ${present.join(", ") || "none"})`,
    );
  }
  if (material.publicKey !== undefined) {
    const key = object(material.publicKey, "publicKey");
    const hint =
      key.hint === undefined || key.hint === null || key.hint === "" ? null : string(key.hint, "publicKey.hint");
    const spkiDer =
      key.rawBytes === undefined
        ? null
        : spkiFromRawBytes(base64(key.rawBytes, "publicKey.rawBytes"), "publicKey.rawBytes");
    return { kind: "key", hint, spkiDer };
  }
  if (material.x509CertificateChain !== undefined) {
    const chain = object(material.x509CertificateChain, "x509CertificateChain");
    const certificates = array(chain.certificates, "x509CertificateChain.certificates", 1, MAX_CERTIFICATES);
    return {
      kind: "certificate",
      chain: certificates.map((c, i) => base64(object(c, `certificate ${i}`).rawBytes, `certificate ${i}.rawBytes`)),
    };
  }
  const certificate = object(material.certificate, "certificate");
  return { kind: "sigstore", certificate: base64(certificate.rawBytes, "certificate.rawBytes") };
}

function readTlogEntry(value: unknown, i: number): TlogEntry {
  const where = `tlogEntries[${i}]`;
  const entry = object(value, where);
  const kindVersion = object(entry.kindVersion, `${where}.kindVersion`);
  const promise =
    entry.inclusionPromise === undefined ? null : object(entry.inclusionPromise, `${where}.inclusionPromise`);
  const proof = entry.inclusionProof === undefined ? null : object(entry.inclusionProof, `${where}.inclusionProof`);
  return {
    logIndex: int64(entry.logIndex, `${where}.logIndex`),
    logId: base64(object(entry.logId, `${where}.logId`).keyId, `${where}.logId.keyId`),
    kind: string(kindVersion.kind, `${where}.kindVersion.kind`),
    version: string(kindVersion.version, `${where}.kindVersion.version`),
    integratedTime: entry.integratedTime === undefined ? null : int64(entry.integratedTime, `${where}.integratedTime`),
    signedEntryTimestamp: promise
      ? base64(promise.signedEntryTimestamp, `${where}.inclusionPromise.signedEntryTimestamp`)
      : null,
    inclusionProof: proof ? readInclusionProof(proof, `${where}.inclusionProof`) : null,
    canonicalizedBody: base64(entry.canonicalizedBody, `${where}.canonicalizedBody`),
  };
}

function readInclusionProof(proof: Json, where: string): InclusionProof {
  return {
    logIndex: BigInt(int64(proof.logIndex, `${where}.logIndex`)),
    treeSize: BigInt(int64(proof.treeSize, `${where}.treeSize`)),
    rootHash: base64(proof.rootHash, `${where}.rootHash`),
    hashes: array(proof.hashes ?? [], `${where}.hashes`, 0, MAX_PROOF_HASHES).map((h, j) =>
      base64(h, `${where}.hashes[${j}]`),
    ),
    checkpoint: string(object(proof.checkpoint, `${where}.checkpoint`).envelope, `${where}.checkpoint.envelope`),
  };
}

/** Checks a parsed `model.sig`'s shape; `{problem}` (check `envelope`) when it is not an OMS bundle. */
export function parseBundle(json: unknown): Bundle | Refusal {
  return attempt(() => readBundle(json));
}

function readBundle(json: unknown): Bundle {
  const bundle = object(json, "the bundle");
  const mediaType = string(bundle.mediaType, "mediaType");
  if (!BUNDLE_MEDIA_TYPES.includes(mediaType))
    fail("envelope", `mediaType ${JSON.stringify(mediaType)} is not a Sigstore bundle v0.3`);
  if (bundle.messageSignature !== undefined)
    fail("envelope", "a messageSignature bundle signs one blob, not a model: OMS bundles carry a dsseEnvelope");
  const dsse = object(bundle.dsseEnvelope, "dsseEnvelope");
  const payloadType = string(dsse.payloadType, "dsseEnvelope.payloadType");
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE)
    fail("envelope", `payloadType ${JSON.stringify(payloadType)} is not ${IN_TOTO_PAYLOAD_TYPE}`);
  const signatures = array(dsse.signatures, "dsseEnvelope.signatures", 1, MAX_SIGNATURES).map((s, i) => {
    const signature = object(s, `dsseEnvelope.signatures[${i}]`);
    // keyid is null (OMS v1.0.1), "" (v1.1) or absent (Sigstore); a value is only a hint, never trusted.
    if (signature.keyid !== undefined && signature.keyid !== null)
      string(signature.keyid, `dsseEnvelope.signatures[${i}].keyid`);
    const sig = base64(signature.sig, `dsseEnvelope.signatures[${i}].sig`);
    if (sig.length === 0) fail("envelope", `dsseEnvelope.signatures[${i}].sig is empty`);
    return sig;
  });
  const envelope: Envelope = { payloadType, payload: base64(dsse.payload, "dsseEnvelope.payload"), signatures };

  const material = object(bundle.verificationMaterial, "verificationMaterial");
  const read = readMaterial(material);
  const rawEntries =
    material.tlogEntries === undefined ? [] : array(material.tlogEntries, "tlogEntries", 0, MAX_TLOG_ENTRIES);
  const tlogEntries = read.kind === "sigstore" ? rawEntries.map(readTlogEntry) : [];
  const timestamps =
    material.timestampVerificationData === undefined
      ? {}
      : object(material.timestampVerificationData, "timestampVerificationData");
  const rfc3161Timestamps =
    timestamps.rfc3161Timestamps === undefined
      ? []
      : array(timestamps.rfc3161Timestamps, "rfc3161Timestamps", 0, MAX_TLOG_ENTRIES).map((t, i) =>
          base64(object(t, `rfc3161Timestamps[${i}]`).signedTimestamp, `rfc3161Timestamps[${i}].signedTimestamp`),
        );
  return { mediaType, material: read, envelope, tlogEntries, rfc3161Timestamps };
}

/**
 * DSSE's pre-authentication encoding, what the envelope's signatures sign:
 * `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in decimal bytes.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8.encode(payloadType);
  return concatBytes(utf8.encode(`DSSEv1 ${type.length} `), type, utf8.encode(` ${payload.length} `), payload);
}
