/**
 * SHA-256 (FIPS 180-4) in plain TypeScript, fed piece by piece, whose state can be saved as a
 * short string and taken up again later, elsewhere. Web Crypto's `digest` takes the whole input
 * at once and `crypto.DigestStream` cannot be paused across invocations, so this is what hashes
 * what does not fit in one go: a 100 GB file in a browser (the client, src/client/sha256.ts), and
 * a stored blob larger than one scheduled run's budget, scrubbed over several runs with its state
 * kept in D1 between them (src/artifacts/scrub.ts). A native hash is about ten times faster
 * (bench/README.md "bench/scrub.mjs — the scheduled scrub against a plain download (issue 29)"): use this only where one cannot be used.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/**
 * A saved state: `sha256-state:1:<the 8 chaining words, 64 hex>:<bytes hashed, decimal>:<the
 * unfinished block's bytes, hex>`. The unfinished block holds `bytes hashed mod 64` bytes, which
 * `restore` checks, so a state cut short or edited by hand is refused rather than misread.
 */
const SAVED = /^sha256-state:1:([0-9a-f]{64}):(0|[1-9][0-9]{0,15}):((?:[0-9a-f]{2}){0,63})$/;

const hexOf = (bytes: Uint8Array) => {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
};

export class Sha256 {
  private readonly h = new Uint32Array(INITIAL);
  private readonly w = new Uint32Array(64);
  /** Bytes of an unfinished block carried to the next update. */
  private readonly buffer = new Uint8Array(64);
  private buffered = 0;
  private length = 0;
  private done = false;

  /** Takes up a state `save` wrote; throws a RangeError on anything else. */
  static restore(saved: string): Sha256 {
    const m = SAVED.exec(saved);
    const length = m ? Number(m[2]) : NaN;
    if (!m || !Number.isSafeInteger(length) || m[3]!.length / 2 !== length % 64)
      throw new RangeError("not a saved SHA-256 state");
    const hash = new Sha256();
    for (let i = 0; i < 8; i++) hash.h[i] = parseInt(m[1]!.slice(i * 8, i * 8 + 8), 16);
    for (let i = 0; i < m[3]!.length / 2; i++) hash.buffer[i] = parseInt(m[3]!.slice(i * 2, i * 2 + 2), 16);
    hash.buffered = length % 64;
    hash.length = length;
    return hash;
  }

  /** How many bytes have been hashed. */
  get bytes(): number {
    return this.length;
  }

  /** The state after the bytes so far, as a string of at most 220 characters (for `restore`). */
  save(): string {
    if (this.done) throw new Error("Sha256: save after digest");
    let words = "";
    for (const word of this.h) words += word.toString(16).padStart(8, "0");
    return `sha256-state:1:${words}:${this.length}:${hexOf(this.buffer.subarray(0, this.buffered))}`;
  }

  update(bytes: Uint8Array): void {
    if (this.done) throw new Error("Sha256: update after digest");
    this.length += bytes.length;
    let offset = 0;
    if (this.buffered > 0) {
      const take = Math.min(64 - this.buffered, bytes.length);
      this.buffer.set(bytes.subarray(0, take), this.buffered);
      this.buffered += take;
      offset = take;
      if (this.buffered < 64) return;
      this.block(this.buffer, 0);
      this.buffered = 0;
    }
    for (; offset + 64 <= bytes.length; offset += 64) this.block(bytes, offset);
    if (offset < bytes.length) {
      this.buffer.set(bytes.subarray(offset));
      this.buffered = bytes.length - offset;
    }
  }

  digestHex(): string {
    return hexOf(this.digest());
  }

  digest(): Uint8Array {
    if (this.done) throw new Error("Sha256: digest twice");
    const bitLength = this.length * 8;
    const pad = new Uint8Array((this.buffered < 56 ? 56 : 120) - this.buffered + 8);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    // The length is a 64-bit big-endian count of bits; split so that sizes past 2^32 bits survive.
    view.setUint32(pad.length - 8, Math.floor(bitLength / 0x100000000));
    view.setUint32(pad.length - 4, bitLength >>> 0);
    this.update(pad);
    this.done = true;
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(i * 4, this.h[i]!);
    return out;
  }

  private block(bytes: Uint8Array, offset: number): void {
    const w = this.w;
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    const h = this.h;
    let a = h[0]!,
      b = h[1]!,
      c = h[2]!,
      d = h[3]!,
      e = h[4]!,
      f = h[5]!,
      g = h[6]!,
      hh = h[7]!;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + hh) | 0;
  }
}
