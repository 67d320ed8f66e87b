/**
 * The resolve cache's decisions, as pure functions of timestamps (milliseconds), so they can
 * be tested without clocks or I/O. An entry is stamped with when its load started (`seenAt`,
 * a lower bound on when ModelState read it) and its absolute expiry (`seenAt + TTL`); the
 * expiry travels with the entry between memory and the Cache API, so no move extends its life.
 */

export interface Stamp {
  seenAt: number;
  expires: number;
}

/** The last part of an entry's life in which a hit also starts a background refresh. */
export const REFRESH_AHEAD = 0.25;

/** With the cache off, how often an unchanged answer is written again for stale-if-error. */
export const PERSIST_EVERY_MS = 60_000;

/**
 * - `fresh`: serve it.
 * - `refresh`: serve it, and load a newer one in the background, so a steady stream of
 *   requests never waits for a load when the entry expires.
 * - `expired`: load before answering (with RESOLVE_TTL_S=0 every entry is born expired).
 */
export type Freshness = "fresh" | "refresh" | "expired";

export function freshness(stamp: Stamp, now: number): Freshness {
  if (now >= stamp.expires) return "expired";
  const life = stamp.expires - stamp.seenAt;
  return now >= stamp.expires - life * REFRESH_AHEAD ? "refresh" : "fresh";
}

/**
 * Whether a request that arrived at `now` may take the answer of a load that started at
 * `startedAt`: only if that answer is no older than the TTL for this request. With a TTL of
 * 0, only a load that started after the request arrived qualifies, so "cache off" still
 * means every answer was read after its request came in.
 */
export function mayJoin(startedAt: number, now: number, ttlMs: number): boolean {
  return startedAt >= now - ttlMs;
}

/**
 * Seconds since the entry was seen, for `x-mreg-stale`, when it may still stand in for an
 * answer ModelState cannot give: up to `staleMs` past its expiry. Null past that.
 */
export function staleAge(stamp: Stamp, now: number, staleMs: number): number | null {
  if (now >= stamp.expires + staleMs) return null;
  return Math.max(0, Math.floor((now - stamp.seenAt) / 1000));
}

/**
 * Whether a freshly loaded answer should be written to the Cache API. With the cache on,
 * always: other isolates read fresh copies from it. With it off, the copy only serves
 * stale-if-error in other isolates, so it is written when the answer changed, or now and
 * then so its age stays honest, and never when there is no stale window to serve it in.
 */
export function shouldPersist(
  ttlMs: number,
  staleMs: number,
  previous: { etag: string; persistedAt: number | null } | undefined,
  etag: string,
  now: number,
): boolean {
  if (ttlMs > 0) return true;
  if (staleMs === 0) return false;
  if (!previous || previous.persistedAt === null || previous.etag !== etag) return true;
  return now - previous.persistedAt >= PERSIST_EVERY_MS;
}

/** How long the Cache API keeps a copy: its freshness plus the stale window, in whole seconds. */
export function storedMaxAge(stamp: Stamp, now: number, staleMs: number): number {
  return Math.max(0, Math.ceil((stamp.expires + staleMs - now) / 1000));
}
