/** Identifiers and timestamps. */

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * A ULID-shaped id: 48 bits of milliseconds then 80 random bits, Crockford base32, so ids
 * sort by creation time. Audit events use it as their keyset order.
 */
export function sortableId(now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let rest = "";
  for (const byte of random) rest += CROCKFORD[byte % 32];
  return time + rest;
}

/** RFC 3339 UTC with milliseconds, as the contract requires. */
export function timestamp(now: number = Date.now()): string {
  return new Date(now).toISOString();
}

export const toHex = (buffer: ArrayBuffer) =>
  [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}
