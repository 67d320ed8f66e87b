/**
 * RFC 6962 signed certificate timestamps embedded in a certificate: the TLS-encoded list
 * read with every length checked, and the bytes a CT log signed for a precertificate.
 */
import { concatBytes } from "./bytes";
import { DerError, Tag, contentOf, expectTag, readWhole } from "./der";
import type { HashName } from "./keys";

export interface Sct {
  readonly logId: Uint8Array;
  /** Milliseconds since the epoch, as the log wrote it. */
  readonly timestamp: number;
  readonly timestampBytes: Uint8Array;
  readonly extensions: Uint8Array;
  readonly hash: HashName | null;
  /** TLS SignatureAlgorithm: 1 RSA, 3 ECDSA. */
  readonly signatureKind: number;
  readonly signature: Uint8Array;
}

const HASHES: Record<number, HashName> = { 4: "SHA-256", 5: "SHA-384", 6: "SHA-512" };
/** More than any CA embeds; bounds the work one certificate can ask for. */
const MAX_SCTS = 16;

/** Reads the SCT list extension's value (an OCTET STRING around the TLS list). */
export function parseSctList(extensionValue: Uint8Array): Sct[] {
  const list = contentOf(expectTag(readWhole(extensionValue), Tag.octetString, "SCT list"));
  const view = new Reader(list);
  const total = view.u16();
  if (total !== list.length - 2) throw new DerError("SCT list length disagrees with its extension");
  const out: Sct[] = [];
  while (view.offset < list.length) {
    if (out.length === MAX_SCTS) throw new DerError(`more than ${MAX_SCTS} SCTs`);
    const sct = new Reader(view.bytes(view.u16()));
    const version = sct.u8();
    if (version !== 0) throw new DerError(`SCT version ${version} is not v1`);
    const logId = sct.bytes(32);
    const timestampBytes = sct.bytes(8);
    const extensions = sct.bytes(sct.u16());
    const hash = HASHES[sct.u8()] ?? null;
    const signatureKind = sct.u8();
    const signature = sct.bytes(sct.u16());
    sct.end();
    let timestamp = 0;
    for (const byte of timestampBytes) timestamp = timestamp * 256 + byte;
    out.push({ logId, timestamp, timestampBytes, extensions, hash, signatureKind, signature });
  }
  return out;
}

/**
 * The `digitally-signed` struct of RFC 6962 §3.2 for a precertificate entry: version 0,
 * certificate_timestamp, the timestamp, precert_entry, the issuer's key hash, the
 * precertificate TBS (24-bit length), the extensions (16-bit length).
 */
export function sctSignedData(sct: Sct, issuerKeyHash: Uint8Array, precertTbs: Uint8Array): Uint8Array {
  const n = precertTbs.length;
  return concatBytes(
    new Uint8Array([0, 0]),
    sct.timestampBytes,
    new Uint8Array([0, 1]),
    issuerKeyHash,
    new Uint8Array([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]),
    precertTbs,
    new Uint8Array([(sct.extensions.length >> 8) & 0xff, sct.extensions.length & 0xff]),
    sct.extensions,
  );
}

/** A bounds-checked reader of TLS encodings. */
class Reader {
  offset = 0;
  constructor(private readonly data: Uint8Array) {}
  u8(): number {
    return this.bytes(1)[0]!;
  }
  u16(): number {
    const b = this.bytes(2);
    return (b[0]! << 8) | b[1]!;
  }
  bytes(length: number): Uint8Array {
    if (this.offset + length > this.data.length) throw new DerError("SCT truncated");
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  end(): void {
    if (this.offset !== this.data.length) throw new DerError("trailing bytes in an SCT");
  }
}
