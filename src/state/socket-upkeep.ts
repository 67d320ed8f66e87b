/**
 * What every holder of watch sockets (a model's ModelState, a WatchRelay) does on its alarm:
 * close the sockets whose tokens expired (4001), and those of revoked minted tokens (4001,
 * asked of D1), and say when to look again.
 */
import { revokedAmong } from "../db/revoked-tokens";
import type { Watch } from "./watch";

/**
 * How often open sockets of minted tokens are checked against D1 for revocation:
 * docs/reference.md "Tokens" wants a revoked token's socket closed within 10 s. One small query
 * per period, and only while such sockets are open.
 */
export const REVOCATION_CHECK_MS = 5_000;

/**
 * Closes what must close now; returns when the alarm should fire next for the sockets (the
 * next expiry, or the next revocation check), or null when none needs it. A D1 failure only
 * postpones the revocation check: a socket is never closed for it (reconnecting meets the
 * HTTP check, which fails closed).
 */
export async function upkeepSockets(watch: Watch, db: D1Database, now: number): Promise<number | null> {
  let next = watch.closeExpired(now);
  const ids = watch.tokenIds();
  if (ids.size > 0) {
    try {
      watch.closeRevoked(await revokedAmong(db, [...ids]));
    } catch (err) {
      console.error("checking watch sockets for revoked tokens failed; retrying", err);
    }
    if (watch.tokenIds().size > 0) next = Math.min(next ?? Number.POSITIVE_INFINITY, Date.now() + REVOCATION_CHECK_MS);
  }
  return next;
}
