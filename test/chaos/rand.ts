/** A seeded PRNG (mulberry32): the workload's choices and bytes follow from `--seed`. */
export class Rand {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** [0, 1) */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.next() * items.length)];
  }

  /** A weighted choice among `[weight, value]` pairs. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of choices) {
      r -= w;
      if (r < 0) return v;
    }
    return choices[choices.length - 1]![1];
  }

  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    const words = new Uint32Array(out.buffer, 0, Math.floor(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = (this.next() * 4294967296) >>> 0;
    for (let i = words.length * 4; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** A child generator, so one client's choices do not shift another's. */
  fork(): Rand {
    return new Rand(this.int(1, 0x7fffffff));
  }
}
