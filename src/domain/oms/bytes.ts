/**
 * Byte helpers for the signature readers: strict base64 (both alphabets, as protobuf JSON
 * accepts), hex, concatenation and comparison. Char-code tables rather than regular
 * expressions: a 10,000-resource statement decodes 10,000 digests.
 */

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[BASE64.charCodeAt(i)] = i;
DECODE["-".charCodeAt(0)] = 62;
DECODE["_".charCodeAt(0)] = 63;

const sextet = (text: string, i: number): number => {
  const code = text.charCodeAt(i);
  return code < 128 ? DECODE[code]! : -1;
};

/** Base64 (standard or URL-safe, padding optional but exact when present) → bytes; null if malformed. */
export function base64Decode(text: string): Uint8Array | null {
  let end = text.length;
  if (end % 4 === 0 && end > 0 && text.charCodeAt(end - 1) === 61) {
    end--;
    if (text.charCodeAt(end - 1) === 61) end--;
  }
  const tail = end % 4;
  if (tail === 1) return null;
  const out = new Uint8Array(((end - tail) / 4) * 3 + (tail === 0 ? 0 : tail - 1));
  let o = 0;
  let i = 0;
  // Four characters at a time; one invalid character makes the whole group negative.
  for (; i + 4 <= end; i += 4) {
    const n = (sextet(text, i) << 18) | (sextet(text, i + 1) << 12) | (sextet(text, i + 2) << 6) | sextet(text, i + 3);
    if (n < 0) return null;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  // The bits past the last whole byte must be zero: otherwise two texts would decode to the same bytes.
  if (tail === 2) {
    const n = (sextet(text, i) << 6) | sextet(text, i + 1);
    if (n < 0 || (n & 0x0f) !== 0) return null;
    out[o] = n >> 4;
  } else if (tail === 3) {
    const n = (sextet(text, i) << 12) | (sextet(text, i + 1) << 6) | sextet(text, i + 2);
    if (n < 0 || (n & 0x03) !== 0) return null;
    out[o++] = n >> 10;
    out[o] = (n >> 2) & 0xff;
  }
  return out;
}

export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + BASE64[(n >> 6) & 63]! + BASE64[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63]! + "=" : "==";
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]!;
  return out;
}

function nibble(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/** Hex (either case) → bytes written into `into` at `offset`; false if malformed or of another length. */
export function hexInto(text: string, into: Uint8Array, offset: number, length: number): boolean {
  if (text.length !== length * 2) return false;
  for (let i = 0; i < length; i++) {
    const high = nibble(text.charCodeAt(2 * i));
    const low = nibble(text.charCodeAt(2 * i + 1));
    if (high < 0 || low < 0) return false;
    into[offset + i] = (high << 4) | low;
  }
  return true;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const utf8 = new TextEncoder();

/** Strict UTF-8 → text; null for bytes that are not UTF-8. */
export function utf8Decode(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** Web Crypto's types want ArrayBuffer-backed views (not SharedArrayBuffer ones); copies only a view of another buffer. */
export const bufferView = (bytes: Uint8Array): Uint8Array<ArrayBuffer> =>
  bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);

/** SHA-256 of bytes (the digest is the only Web Crypto call the pure readers make, as src/domain/ids.ts does). */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bufferView(bytes)));
}
