/**
 * A Rekor v1 entry, checked offline against the trusted root: the log's signed entry
 * timestamp (SET) over the entry's canonical JSON, the RFC 6962 inclusion proof up to the
 * root of a checkpoint the log signed, and the logged body (`dsse` 0.0.1) bound to this
 * envelope and certificate. Rekor v2 entries (no SET, time from RFC 3161 timestamps) and
 * other entry kinds are refused as not supported rather than accepted unchecked.
 */
import type { Envelope, InclusionProof, TlogEntry } from "../domain/oms/bundle";
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  concatBytes,
  hexOf,
  sha256,
  utf8,
  utf8Decode,
} from "../domain/oms/bytes";
import { curveHash, type PublicKeyInfo, type SignatureAlgorithm } from "../domain/oms/keys";
import { pemBlocks } from "../domain/oms/pem";
import { fail } from "../domain/oms/problem";
import { within, type TransparencyLog, type TrustedRoot } from "../domain/oms/trusted-root";
import { verifySignature } from "./crypto";

const algorithmOf = (key: PublicKeyInfo): SignatureAlgorithm =>
  key.kind === "ec"
    ? { kind: "ecdsa", hash: curveHash(key.curve) }
    : key.kind === "rsa"
      ? { kind: "rsa-pkcs1", hash: "SHA-256" }
      : { kind: "ed25519" };

const NOT_SUPPORTED_V2 =
  "Rekor v2 entries are not supported: they carry no signed entry timestamp, and their time comes from RFC 3161 timestamps, which this verifier does not check";

/** Verifies one entry; answers the time the log integrated it. */
export async function verifyTlogEntry(
  entry: TlogEntry,
  index: number,
  root: TrustedRoot,
  envelope: Envelope,
  leafDer: Uint8Array,
): Promise<Date> {
  const where = `Rekor entry ${index}`;
  if (entry.kind !== "dsse" || entry.version !== "0.0.1") {
    fail(
      "tlog",
      entry.kind === "dsse" && entry.version === "0.0.2"
        ? NOT_SUPPORTED_V2
        : `${where}: ${entry.kind} ${entry.version} entries are not supported (OMS logs dsse 0.0.1)`,
    );
  }
  if (entry.signedEntryTimestamp === null || entry.integratedTime === null || entry.integratedTime === "0")
    fail("tlog", NOT_SUPPORTED_V2);
  const integratedTime = new Date(Number(entry.integratedTime) * 1000);
  if (Number.isNaN(integratedTime.getTime())) fail("tlog", `${where}: integratedTime is out of range`);
  const log = root.tlogs.find((l) => bytesEqual(l.logId, entry.logId) && within(l.validFor, integratedTime));
  if (!log) fail("tlog", `${where} is from no log of the trusted root valid at ${integratedTime.toISOString()}`);
  if (log.key === null || log.key.kind === "ed25519") fail("tlog", NOT_SUPPORTED_V2);

  // 1. The log's promise: its signature over the entry's canonical JSON (keys sorted, integers bare).
  const set = `{"body":"${base64Encode(entry.canonicalizedBody)}","integratedTime":${entry.integratedTime},"logID":"${hexOf(entry.logId)}","logIndex":${entry.logIndex}}`;
  if (!(await verifySignature(log.key, algorithmOf(log.key), entry.signedEntryTimestamp, utf8.encode(set)))) {
    fail("tlog", `${where}: the signed entry timestamp does not verify with the log's key`);
  }

  // 2. The inclusion proof, to a root the log signed in a checkpoint.
  if (entry.inclusionProof === null) fail("tlog", `${where} has no inclusion proof`);
  await verifyInclusion(entry.inclusionProof, entry.canonicalizedBody, log, where);

  // 3. The logged body is this envelope, signed by this certificate.
  await verifyBody(entry.canonicalizedBody, envelope, leafDer, where);
  return integratedTime;
}

const hashChildren = (left: Uint8Array, right: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), left, right));

/** RFC 9162 §2.1.3.2: the root an audit path leads to from a leaf at `index` of a tree of `size`. */
export async function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: bigint,
  size: bigint,
  path: readonly Uint8Array[],
) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1n;
  let hash = leafHash;
  for (const sibling of path) {
    if (sibling.length !== 32 || sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      hash = await hashChildren(sibling, hash);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      hash = await hashChildren(hash, sibling);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? hash : null;
}

async function verifyInclusion(
  proof: InclusionProof,
  body: Uint8Array,
  log: TransparencyLog,
  where: string,
): Promise<void> {
  const leafHash = await sha256(concatBytes(new Uint8Array([0]), body));
  const root = await rootFromInclusionProof(leafHash, proof.logIndex, proof.treeSize, proof.hashes);
  if (root === null || !bytesEqual(root, proof.rootHash))
    fail("tlog", `${where}: the inclusion proof does not lead to its root hash`);

  // The checkpoint (a signed note): origin, tree size, root hash, then a blank line and signature lines.
  const text = proof.checkpoint;
  const split = text.indexOf("\n\n");
  if (split < 0) fail("tlog", `${where}: the checkpoint is not a signed note`);
  const note = text.slice(0, split + 1);
  const [, size, rootHash] = note.split("\n");
  const noteRoot = base64Decode(rootHash ?? "");
  if (size !== proof.treeSize.toString() || noteRoot === null || !bytesEqual(noteRoot, proof.rootHash)) {
    fail("tlog", `${where}: the checkpoint is for another tree than the inclusion proof`);
  }
  const key = log.key!;
  for (const line of text.slice(split + 2).split("\n")) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    const signature = match ? base64Decode(match[2]!) : null;
    // Each signature starts with the first 4 bytes of its key's id, which for Rekor v1 is the log id.
    if (signature === null || signature.length <= 4 || !bytesEqual(signature.subarray(0, 4), log.logId.subarray(0, 4)))
      continue;
    if (await verifySignature(key, algorithmOf(key), signature.subarray(4), utf8.encode(note))) return;
  }
  fail("tlog", `${where}: no checkpoint signature verifies with the log's key`);
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

async function verifyBody(body: Uint8Array, envelope: Envelope, leafDer: Uint8Array, where: string): Promise<void> {
  const text = utf8Decode(body);
  let json: unknown = null;
  try {
    json = text === null ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!isObject(json) || json.kind !== "dsse" || json.apiVersion !== "0.0.1" || !isObject(json.spec)) {
    fail("tlog", `${where}: the logged body is not a dsse 0.0.1 entry`);
  }
  const payloadHash = json.spec.payloadHash;
  if (
    !isObject(payloadHash) ||
    payloadHash.algorithm !== "sha256" ||
    payloadHash.value !== hexOf(await sha256(envelope.payload))
  ) {
    fail("tlog", `${where}: the payload's hash differs from the logged one`);
  }
  const logged = json.spec.signatures;
  if (!Array.isArray(logged) || logged.length !== envelope.signatures.length) {
    fail("tlog", `${where}: the envelope's signatures differ from the logged ones`);
  }
  for (const signature of envelope.signatures) {
    const entry: unknown = logged.find((l: unknown) => {
      const sig = isObject(l) && typeof l.signature === "string" ? base64Decode(l.signature) : null;
      return sig !== null && bytesEqual(sig, signature);
    });
    if (!isObject(entry)) fail("tlog", `${where}: the envelope's signatures differ from the logged ones`);
    const verifier = typeof entry.verifier === "string" ? base64Decode(entry.verifier) : null;
    const pem = verifier === null ? null : utf8Decode(verifier);
    const certificates = pem === null ? [] : pemBlocks(pem, "CERTIFICATE");
    if (certificates.length !== 1 || !bytesEqual(certificates[0]!, leafDer)) {
      fail("tlog", `${where}: the logged verifier is not the bundle's certificate`);
    }
  }
}
