/**
 * Certificates and bundles made in the test, signed on Web Crypto (ECDSA P-256), to try what
 * the fixtures cannot show: issuers that are not CAs, pathLen, key usages, unknown critical
 * extensions, validity windows; statements that break a rule; keys carried as PEM or DER.
 */
import { IN_TOTO_PAYLOAD_TYPE, pae } from "../src/domain/oms/bundle";
import { base64Encode, bufferView, utf8 } from "../src/domain/oms/bytes";
import { pemEncode } from "../src/domain/oms/pem";
import { Tag, ecdsaRawToDer, encodeOid, encodeTlv } from "../src/domain/oms/der";
import { buildStatement, type Resource } from "../src/domain/oms/statement";
import { CODE_SIGNING, ExtensionOid } from "../src/domain/oms/x509";
import type { EditableJson } from "./oms-fixtures";

export interface Issued {
  readonly der: Uint8Array;
  readonly keyPair: CryptoKeyPair;
  readonly name: Uint8Array;
  readonly spki: Uint8Array;
}

export interface CertificateOptions {
  readonly subject: string;
  /** Absent: self-signed. */
  readonly issuer?: Issued;
  readonly ca?: boolean;
  readonly pathLen?: number;
  /** null: no keyUsage extension. */
  readonly keyUsage?: { digitalSignature?: boolean; keyCertSign?: boolean } | null;
  readonly extKeyUsage?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly extra?: readonly { oid: string; critical: boolean; value: Uint8Array }[];
  /** Reuse a key pair (a second certificate for the same key). */
  readonly keyPair?: CryptoKeyPair;
}

const ECDSA_SHA256 = encodeTlv(Tag.sequence, encodeOid("1.2.840.10045.4.3.2"));

export const generateP256 = () =>
  crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;

export async function signDer(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  const raw = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, bufferView(data));
  return ecdsaRawToDer(new Uint8Array(raw));
}

const nameOf = (cn: string) =>
  encodeTlv(
    Tag.sequence,
    encodeTlv(Tag.set, encodeTlv(Tag.sequence, encodeOid("2.5.4.3"), encodeTlv(Tag.utf8String, utf8.encode(cn)))),
  );

function time(at: Date): Uint8Array {
  const iso = at.toISOString();
  const text = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return encodeTlv(Tag.utcTime, utf8.encode(text));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  const flag = critical ? [encodeTlv(Tag.boolean, new Uint8Array([0xff]))] : [];
  return encodeTlv(Tag.sequence, encodeOid(oid), ...flag, encodeTlv(Tag.octetString, value));
}

function keyUsageBits(usage: { digitalSignature?: boolean; keyCertSign?: boolean }): Uint8Array {
  const byte = (usage.digitalSignature ? 0x80 : 0) | (usage.keyCertSign ? 0x04 : 0);
  let unused = 0;
  while (unused < 7 && byte !== 0 && (byte & (1 << unused)) === 0) unused++;
  return encodeTlv(Tag.bitString, new Uint8Array(byte === 0 ? [0] : [unused, byte]));
}

let serial = 1;

export async function issue(options: CertificateOptions): Promise<Issued> {
  const keyPair = options.keyPair ?? (await generateP256());
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", keyPair.publicKey)) as ArrayBuffer);
  const name = nameOf(options.subject);
  const ca = options.ca ?? false;
  const extensions: Uint8Array[] = [];
  const bc = ca
    ? [
        encodeTlv(Tag.boolean, new Uint8Array([0xff])),
        ...(options.pathLen === undefined ? [] : [encodeTlv(Tag.integer, new Uint8Array([options.pathLen]))]),
      ]
    : [];
  extensions.push(extension(ExtensionOid.basicConstraints, true, encodeTlv(Tag.sequence, ...bc)));
  const keyUsage =
    options.keyUsage === undefined ? (ca ? { keyCertSign: true } : { digitalSignature: true }) : options.keyUsage;
  if (keyUsage !== null) extensions.push(extension(ExtensionOid.keyUsage, true, keyUsageBits(keyUsage)));
  if (options.extKeyUsage) {
    extensions.push(
      extension(ExtensionOid.extKeyUsage, false, encodeTlv(Tag.sequence, ...options.extKeyUsage.map(encodeOid))),
    );
  }
  for (const extra of options.extra ?? []) extensions.push(extension(extra.oid, extra.critical, extra.value));
  const tbs = encodeTlv(
    Tag.sequence,
    encodeTlv(0xa0, encodeTlv(Tag.integer, new Uint8Array([2]))),
    encodeTlv(Tag.integer, new Uint8Array([0x10, serial++ & 0x7f])),
    ECDSA_SHA256,
    options.issuer?.name ?? name,
    encodeTlv(
      Tag.sequence,
      time(options.notBefore ?? new Date("2025-01-01T00:00:00Z")),
      time(options.notAfter ?? new Date("2035-01-01T00:00:00Z")),
    ),
    name,
    spki,
    encodeTlv(0xa3, encodeTlv(Tag.sequence, ...extensions)),
  );
  const signer = options.issuer?.keyPair.privateKey ?? keyPair.privateKey;
  const signature = await signDer(signer, tbs);
  const der = encodeTlv(Tag.sequence, tbs, ECDSA_SHA256, encodeTlv(Tag.bitString, new Uint8Array([0]), signature));
  return { der, keyPair, name, spki };
}

/** A root, an intermediate and a code-signing leaf, the shape of the OMS certificate fixtures. */
export async function pki(leafOptions: Partial<CertificateOptions> = {}) {
  const root = await issue({ subject: "test-root", ca: true });
  const intermediate = await issue({ subject: "test-intermediate", issuer: root, ca: true });
  const leaf = await issue({ subject: "test-leaf", issuer: intermediate, extKeyUsage: [CODE_SIGNING], ...leafOptions });
  return { root, intermediate, leaf };
}

/** A certificate bundle over a statement of these files, its envelope signed with `signer` (the leaf's key, unless a test says otherwise). */
export async function certificateBundle(
  chain: readonly Uint8Array[],
  signer: CryptoKey,
  files: readonly Resource[],
): Promise<string> {
  const payload = await statementPayload(files);
  return JSON.stringify({
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: {
      x509CertificateChain: { certificates: chain.map((der) => ({ rawBytes: base64Encode(der) })) },
      tlogEntries: [],
    },
    dsseEnvelope: await envelopeOver(payload, signer),
  });
}

/** A DSSE envelope over `payload` (a statement's JSON text, or any bytes), signed with `signer` (P-256). */
export async function envelopeOver(payload: Uint8Array, signer: CryptoKey) {
  const signature = await signDer(signer, pae(IN_TOTO_PAYLOAD_TYPE, payload));
  return {
    payload: base64Encode(payload),
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [{ sig: base64Encode(signature), keyid: null }],
  };
}

/**
 * A key bundle over `payload`: carrying the key as v1.0.1 does (`rawBytes`, base64 of the PEM
 * text), as DER (the Sigstore spec's `rawBytes`), or only its hint (v1.1).
 */
export async function keyBundle(
  payload: Uint8Array,
  keyPair: CryptoKeyPair,
  carry: { pem: true } | { der: true } | { hint: string },
): Promise<string> {
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", keyPair.publicKey)) as ArrayBuffer);
  const publicKey =
    "hint" in carry
      ? { hint: carry.hint }
      : { rawBytes: base64Encode("pem" in carry ? utf8.encode(pemEncode(spki, "PUBLIC KEY")) : spki) };
  return JSON.stringify({
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey },
    dsseEnvelope: await envelopeOver(payload, keyPair.privateKey),
  });
}

/** A statement's JSON text as bytes (for `keyBundle`), after `edit` changes it. */
export async function statementPayload(
  files: readonly Resource[],
  edit: (statement: EditableJson) => void = () => {},
): Promise<Uint8Array> {
  const statement = await buildStatement("test-model", files);
  edit(statement);
  return utf8.encode(JSON.stringify(statement, null, 2));
}
