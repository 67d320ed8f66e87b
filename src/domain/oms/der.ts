/**
 * A DER reader for what signature checks read (X.509 certificates, public keys, ECDSA
 * signatures): one TLV at a time, definite lengths only, minimal length encodings, every
 * read checked against the end of the element that holds it. It never recurses on its own,
 * so nesting costs the caller's code, not the input. Malformed input throws `DerError`; the
 * readers above turn it into a problem of their check.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One element: its tag, and where its header, content and end lie in `source`. */
export interface Tlv {
  readonly source: Uint8Array;
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export const contentOf = (tlv: Tlv): Uint8Array => tlv.source.subarray(tlv.contentStart, tlv.end);
export const bytesOf = (tlv: Tlv): Uint8Array => tlv.source.subarray(tlv.start, tlv.end);

/** The element at `offset`, which must end at or before `limit`. */
export function readTlv(source: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new DerError("truncated element header");
  const tag = source[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not used here");
  const first = source[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError("indefinite length (not DER)");
    if (count > 4) throw new DerError("length field longer than 4 bytes");
    if (offset + 2 + count > limit) throw new DerError("truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + source[offset + 2 + i]!;
    if (length < 0x80 || (count > 1 && source[offset + 2]! === 0)) throw new DerError("length not minimally encoded");
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`element of ${length} bytes runs past its container`);
  return { source, tag, start: offset, contentStart, end };
}

/** `bytes` must be exactly one element. */
export function readWhole(bytes: Uint8Array): Tlv {
  const tlv = readTlv(bytes, 0, bytes.length);
  if (tlv.end !== bytes.length) throw new DerError("trailing bytes after the element");
  return tlv;
}

/** The elements a constructed element holds, which must fill its content exactly. */
export function childrenOf(tlv: Tlv): Tlv[] {
  if ((tlv.tag & 0x20) === 0) throw new DerError(`element 0x${tlv.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  let offset = tlv.contentStart;
  while (offset < tlv.end) {
    const child = readTlv(tlv.source, offset, tlv.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

export function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv === undefined) throw new DerError(`${what} is missing`);
  if (tlv.tag !== tag) throw new DerError(`${what} has tag 0x${tlv.tag.toString(16)}, not 0x${tag.toString(16)}`);
  return tlv;
}

/** The children of a SEQUENCE (or another constructed tag), checked for count. */
export function sequenceOf(tlv: Tlv | undefined, what: string, min: number, max: number, tag: number = Tag.sequence) {
  const children = childrenOf(expectTag(tlv, tag, what));
  if (children.length < min || children.length > max) {
    throw new DerError(`${what} holds ${children.length} elements, not ${min}..${max}`);
  }
  return children;
}

/** An OBJECT IDENTIFIER in dotted form. */
export function oidOf(tlv: Tlv | undefined, what: string): string {
  const content = contentOf(expectTag(tlv, Tag.oid, what));
  if (content.length === 0 || content.length > 64) throw new DerError(`${what}: bad object identifier length`);
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) throw new DerError(`${what}: object identifier arc not minimally encoded`);
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: object identifier arc too large`);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new DerError(`${what}: object identifier ends inside an arc`);
  const head = arcs[0]!;
  const top = head < 40 ? 0 : head < 80 ? 1 : 2;
  return [top, head - top * 40, ...arcs.slice(1)].join(".");
}

/** A BOOLEAN: one byte, 0x00 or 0xFF. */
export function booleanOf(tlv: Tlv | undefined, what: string): boolean {
  const content = contentOf(expectTag(tlv, Tag.boolean, what));
  if (content.length !== 1 || (content[0] !== 0 && content[0] !== 0xff)) throw new DerError(`${what}: bad BOOLEAN`);
  return content[0] === 0xff;
}

/** A small non-negative INTEGER (a version, a pathLen): at most 4 content bytes. */
export function smallIntegerOf(tlv: Tlv | undefined, what: string): number {
  const content = contentOf(expectTag(tlv, Tag.integer, what));
  if (content.length === 0 || content.length > 4) throw new DerError(`${what}: INTEGER out of range`);
  if (content[0]! & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) {
    throw new DerError(`${what}: INTEGER not minimally encoded`);
  }
  let value = 0;
  for (const byte of content) value = value * 256 + byte;
  return value;
}

/** The bits of a BIT STRING; `wholeBytes` refuses unused bits (keys and signatures are whole bytes). */
export function bitStringOf(tlv: Tlv | undefined, what: string, wholeBytes: boolean): Uint8Array {
  const content = contentOf(expectTag(tlv, Tag.bitString, what));
  if (content.length === 0) throw new DerError(`${what}: empty BIT STRING`);
  const unused = content[0]!;
  if (unused > 7 || (content.length === 1 && unused !== 0)) throw new DerError(`${what}: bad unused-bit count`);
  if (wholeBytes && unused !== 0) throw new DerError(`${what}: BIT STRING is not whole bytes`);
  return content.subarray(1);
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 allows them. */
export function timeOf(tlv: Tlv | undefined, what: string): Date {
  if (tlv === undefined) throw new DerError(`${what} is missing`);
  const content = contentOf(tlv);
  let text = "";
  for (const byte of content) {
    if (byte < 0x30 || byte > 0x5a) throw new DerError(`${what}: bad time character`);
    text += String.fromCharCode(byte);
  }
  let year: number;
  let rest: string;
  if (tlv.tag === Tag.utcTime && /^\d{12}Z$/.test(text)) {
    const yy = Number(text.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = text.slice(2);
  } else if (tlv.tag === Tag.generalizedTime && /^\d{14}Z$/.test(text)) {
    year = Number(text.slice(0, 4));
    rest = text.slice(4);
  } else {
    throw new DerError(`${what}: not a UTCTime or GeneralizedTime of RFC 5280's form`);
  }
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2))) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  // Date.UTC rolls 31 February into March: a date that does not read back is not a date.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw new DerError(`${what}: no such date`);
  }
  return date;
}

/** A DER length field for `length` content bytes. */
function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const out: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) out.unshift(n % 256);
  return [0x80 | out.length, ...out];
}

/** One element with this tag around the concatenated parts. */
export function encodeTlv(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const header = [tag, ...lengthBytes(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let offset = header.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** An OBJECT IDENTIFIER element from its dotted form. */
export function encodeOid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const body: number[] = [];
  const values = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  for (const value of values) {
    const groups: number[] = [];
    for (let n = value; ; n = Math.floor(n / 128)) {
      groups.unshift(n % 128);
      if (n < 128) break;
    }
    body.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return encodeTlv(Tag.oid, new Uint8Array(body));
}

/** A non-negative INTEGER element from its unsigned big-endian bytes. */
function encodeUnsigned(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return (trimmed[0] ?? 0) & 0x80
    ? encodeTlv(Tag.integer, new Uint8Array([0]), trimmed)
    : encodeTlv(Tag.integer, trimmed);
}

/**
 * An ECDSA signature as X.509, DSSE, Rekor and CT carry it (DER `SEQUENCE {r, s}`) → the
 * `r‖s` Web Crypto verifies, each padded to the curve's `size` bytes; null when it is not
 * one (a DER signature handed to Web Crypto as it is only ever answers false).
 */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array | null {
  try {
    const [r, s] = sequenceOf(readWhole(der), "ECDSA signature", 2, 2);
    const out = new Uint8Array(2 * size);
    for (const [i, part] of [r, s].entries()) {
      const content = contentOf(expectTag(part, Tag.integer, "ECDSA signature value"));
      if (content.length === 0 || content[0]! & 0x80) return null;
      if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) return null;
      const value = content[0] === 0 ? content.subarray(1) : content;
      if (value.length > size) return null;
      out.set(value, i * size + size - value.length);
    }
    return out;
  } catch (error) {
    if (error instanceof DerError) return null;
    throw error;
  }
}

/** Web Crypto's `r‖s` → DER `SEQUENCE {r, s}`, what OMS bundles carry. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return encodeTlv(Tag.sequence, encodeUnsigned(raw.subarray(0, half)), encodeUnsigned(raw.subarray(half)));
}
