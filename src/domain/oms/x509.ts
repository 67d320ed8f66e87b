/**
 * X.509 certificates (RFC 5280), read only as far as verification needs: the signed TBS
 * bytes and their signature, names as raw bytes (for chaining) and as text (for people),
 * validity, the public key, and the extensions a path check or a Sigstore identity uses.
 * Every field is either under a signature the verifier checks, or that signature.
 */
import { bytesEqual, utf8Decode } from "./bytes";
import {
  DerError,
  Tag,
  bitStringOf,
  booleanOf,
  bytesOf,
  childrenOf,
  contentOf,
  encodeTlv,
  expectTag,
  oidOf,
  readWhole,
  sequenceOf,
  smallIntegerOf,
  timeOf,
  type Tlv,
} from "./der";
import { signatureAlgorithmOf, spkiOf, type PublicKeyInfo, type SignatureAlgorithm } from "./keys";

export const ExtensionOid = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  /** RFC 6962 embedded SCT list. */
  sctList: "1.3.6.1.4.1.11129.2.4.2",
  /** Fulcio's OIDC issuer: v1 (raw string) and v2 (DER UTF8String). */
  fulcioIssuerV1: "1.3.6.1.4.1.57264.1.1",
  fulcioIssuerV2: "1.3.6.1.4.1.57264.1.8",
} as const;

export const CODE_SIGNING = "1.3.6.1.5.5.7.3.3";

/** Extensions this code enforces or reads; any other marked critical refuses the certificate. */
const UNDERSTOOD = new Set<string>([
  ExtensionOid.basicConstraints,
  ExtensionOid.keyUsage,
  ExtensionOid.extKeyUsage,
  ExtensionOid.subjectAltName,
  ExtensionOid.subjectKeyId,
  ExtensionOid.authorityKeyId,
]);

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** The extnValue's content (the DER the extension defines). */
  readonly value: Uint8Array;
  /** The whole Extension element, for re-encoding a TBS without it. */
  readonly element: Tlv;
}

export interface Certificate {
  readonly der: Uint8Array;
  /** The TBSCertificate element as signed. */
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  /** Raw Name elements, compared byte for byte when chaining. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly issuerText: string;
  readonly subjectText: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: PublicKeyInfo;
  readonly extensions: readonly Extension[];
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | null } | null;
  readonly keyUsage: { readonly digitalSignature: boolean; readonly keyCertSign: boolean } | null;
  readonly extKeyUsage: readonly string[] | null;
  readonly subjectKeyId: Uint8Array | null;
  readonly authorityKeyId: Uint8Array | null;
  /** rfc822Name, URI and dNSName entries of the SAN, in order. */
  readonly subjectAltNames: readonly string[];
  /** Fulcio's OIDC issuer (v2 extension, else v1), or null. */
  readonly fulcioIssuer: string | null;
  /** OIDs of critical extensions this code does not enforce. */
  readonly unknownCritical: readonly string[];
  /** The TBS's elements, for re-encoding it without an extension (the precertificate of an SCT). */
  readonly tbsParts: readonly Tlv[];
}

/** Reads a certificate (the whole of `der`); throws DerError when it is not one. */
export function parseCertificate(der: Uint8Array): Certificate {
  const [tbsTlv, outerAlgorithm, signatureTlv] = sequenceOf(readWhole(der), "certificate", 3, 3);
  const parts = sequenceOf(tbsTlv, "TBSCertificate", 6, 10);
  let i = 0;
  let version = 0;
  if (parts[0]!.tag === 0xa0) {
    version = smallIntegerOf(sequenceOf(parts[0], "version", 1, 1, 0xa0)[0], "version");
    if (version > 2) throw new DerError(`certificate version ${version + 1} is not defined`);
    i++;
  }
  expectTag(parts[i++], Tag.integer, "serial number");
  const innerAlgorithm = parts[i++]!;
  const signatureAlgorithm = signatureAlgorithmOf(outerAlgorithm, "signature algorithm");
  if (!bytesEqual(bytesOf(innerAlgorithm), bytesOf(outerAlgorithm!))) {
    throw new DerError("the TBS and the certificate name different signature algorithms");
  }
  const issuer = expectTag(parts[i++], Tag.sequence, "issuer");
  const [notBefore, notAfter] = sequenceOf(parts[i++], "validity", 2, 2);
  const subject = expectTag(parts[i++], Tag.sequence, "subject");
  const publicKey = spkiOf(expectTag(parts[i++], Tag.sequence, "subject public key"));
  let extensionsTlv: Tlv | undefined;
  for (; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.tag === 0xa3) extensionsTlv = part;
    else if (part.tag !== 0x81 && part.tag !== 0x82)
      throw new DerError(`unexpected TBS field 0x${part.tag.toString(16)}`);
  }
  if (extensionsTlv && version !== 2) throw new DerError("extensions in a certificate that is not version 3");
  const extensions = extensionsTlv ? readExtensions(extensionsTlv) : [];
  const find = (oid: string) => extensions.find((e) => e.oid === oid);

  const cert: Certificate = {
    der,
    tbs: bytesOf(tbsTlv!),
    signatureAlgorithm,
    signature: bitStringOf(signatureTlv, "signature", true),
    issuer: bytesOf(issuer),
    subject: bytesOf(subject),
    issuerText: nameText(issuer),
    subjectText: nameText(subject),
    notBefore: timeOf(notBefore, "notBefore"),
    notAfter: timeOf(notAfter, "notAfter"),
    publicKey,
    extensions,
    basicConstraints: readBasicConstraints(find(ExtensionOid.basicConstraints)),
    keyUsage: readKeyUsage(find(ExtensionOid.keyUsage)),
    extKeyUsage: readExtKeyUsage(find(ExtensionOid.extKeyUsage)),
    subjectKeyId: readSubjectKeyId(find(ExtensionOid.subjectKeyId)),
    authorityKeyId: readAuthorityKeyId(find(ExtensionOid.authorityKeyId)),
    subjectAltNames: readSubjectAltNames(find(ExtensionOid.subjectAltName)),
    fulcioIssuer: readFulcioIssuer(find(ExtensionOid.fulcioIssuerV2), find(ExtensionOid.fulcioIssuerV1)),
    unknownCritical: extensions.filter((e) => e.critical && !UNDERSTOOD.has(e.oid)).map((e) => e.oid),
    tbsParts: parts,
  };
  return cert;
}

function readExtensions(tlv: Tlv): Extension[] {
  const list = sequenceOf(sequenceOf(tlv, "extensions", 1, 1, 0xa3)[0], "extensions", 1, 64);
  const seen = new Set<string>();
  return list.map((element) => {
    const fields = sequenceOf(element, "extension", 2, 3);
    const oid = oidOf(fields[0], "extension id");
    if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`);
    seen.add(oid);
    const critical = fields.length === 3 ? booleanOf(fields[1], `extension ${oid} critical flag`) : false;
    const value = contentOf(expectTag(fields[fields.length - 1], Tag.octetString, `extension ${oid} value`));
    return { oid, critical, value, element };
  });
}

function readBasicConstraints(extension: Extension | undefined): Certificate["basicConstraints"] {
  if (!extension) return null;
  const fields = sequenceOf(readWhole(extension.value), "basicConstraints", 0, 2);
  let ca = false;
  let pathLen: number | null = null;
  for (const field of fields) {
    if (field.tag === Tag.boolean) ca = booleanOf(field, "basicConstraints cA");
    else pathLen = smallIntegerOf(field, "basicConstraints pathLen");
  }
  return { ca, pathLen };
}

function readKeyUsage(extension: Extension | undefined): Certificate["keyUsage"] {
  if (!extension) return null;
  const bits = bitStringOf(readWhole(extension.value), "keyUsage", false);
  const first = bits[0] ?? 0;
  return { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0 };
}

function readExtKeyUsage(extension: Extension | undefined): string[] | null {
  if (!extension) return null;
  return sequenceOf(readWhole(extension.value), "extKeyUsage", 1, 64).map((t) => oidOf(t, "extKeyUsage purpose"));
}

function readSubjectKeyId(extension: Extension | undefined): Uint8Array | null {
  if (!extension) return null;
  return contentOf(expectTag(readWhole(extension.value), Tag.octetString, "subjectKeyIdentifier"));
}

function readAuthorityKeyId(extension: Extension | undefined): Uint8Array | null {
  if (!extension) return null;
  const keyId = sequenceOf(readWhole(extension.value), "authorityKeyIdentifier", 0, 3).find((f) => f.tag === 0x80);
  return keyId ? contentOf(keyId) : null;
}

/** Bytes as one character each (no spread: a long string would overflow the argument list). */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

const ascii = (bytes: Uint8Array, what: string): string => {
  for (const byte of bytes) if (byte < 0x20 || byte > 0x7e) throw new DerError(`${what} is not printable ASCII`);
  return latin1(bytes);
};

function readSubjectAltNames(extension: Extension | undefined): string[] {
  if (!extension) return [];
  const names: string[] = [];
  for (const name of sequenceOf(readWhole(extension.value), "subjectAltName", 1, 64)) {
    // [1] rfc822Name, [2] dNSName, [6] URI: IA5String, implicitly tagged.
    if (name.tag === 0x81 || name.tag === 0x82 || name.tag === 0x86)
      names.push(ascii(contentOf(name), "subjectAltName"));
  }
  return names;
}

function readFulcioIssuer(v2: Extension | undefined, v1: Extension | undefined): string | null {
  if (v2) {
    const text = utf8Decode(contentOf(expectTag(readWhole(v2.value), Tag.utf8String, "Fulcio issuer")));
    if (text === null) throw new DerError("Fulcio issuer is not UTF-8");
    return text;
  }
  if (v1) {
    // The v1 extension holds the string's bytes without a DER wrapper.
    const text = utf8Decode(v1.value);
    if (text === null) throw new DerError("Fulcio issuer (v1) is not UTF-8");
    return text;
  }
  return null;
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** A Name for people, as `CN=root-ca, O=Example` in the certificate's order. */
function nameText(name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of childrenOf(name)) {
    for (const attribute of sequenceOf(rdn, "name component", 1, 16, Tag.set)) {
      const [type, value] = sequenceOf(attribute, "name attribute", 2, 2);
      const oid = oidOf(type, "name attribute type");
      const content = contentOf(value!);
      const text =
        value!.tag === Tag.bmpString ? null : value!.tag === Tag.t61String ? latin1(content) : utf8Decode(content);
      parts.push(`${ATTRIBUTE_NAMES[oid] ?? oid}=${text ?? "#"}`);
    }
  }
  return parts.join(", ");
}

/**
 * The TBS of the precertificate a CT log signed (RFC 6962 §3.2): this certificate's TBS with
 * the SCT list extension removed, lengths re-encoded.
 */
export function precertificateTbs(cert: Certificate): Uint8Array {
  const out: Uint8Array[] = [];
  for (const part of cert.tbsParts) {
    if (part.tag !== 0xa3) {
      out.push(bytesOf(part));
      continue;
    }
    const kept = cert.extensions.filter((e) => e.oid !== ExtensionOid.sctList).map((e) => bytesOf(e.element));
    if (kept.length > 0) out.push(encodeTlv(0xa3, encodeTlv(Tag.sequence, ...kept)));
  }
  return encodeTlv(Tag.sequence, ...out);
}

export const validAt = (cert: Certificate, at: Date): boolean =>
  cert.notBefore.getTime() <= at.getTime() && at.getTime() <= cert.notAfter.getTime();
