/** PEM text: reading the blocks of one label, and writing them as Python's `cryptography` does. */
import { base64Decode, base64Encode } from "./bytes";

/** The DER of every `-----BEGIN <label>-----` block in `text`, in order; a block that is not base64 is skipped as not one. */
export function pemBlocks(text: string, label: string): Uint8Array[] {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const out: Uint8Array[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf(begin, from);
    if (start < 0) return out;
    const stop = text.indexOf(end, start + begin.length);
    if (stop < 0) return out;
    const body = text.slice(start + begin.length, stop).replace(/[\r\n\t ]+/g, "");
    const der = base64Decode(body);
    if (der !== null && der.length > 0) out.push(der);
    from = stop + end.length;
  }
}

/** The labels of the PEM blocks in `text` (to tell a PKCS#8 key from a SEC1 or an encrypted one). */
export function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]{1,40})-----/g)].map((m) => m[1]!);
}

/** PEM as Python writes it: 64 columns, `\n` line ends, a trailing newline (the text the OMS key hint hashes). */
export function pemEncode(der: Uint8Array, label: string): string {
  const body = base64Encode(der);
  let lines = "";
  for (let i = 0; i < body.length; i += 64) lines += `${body.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${lines}-----END ${label}-----\n`;
}
