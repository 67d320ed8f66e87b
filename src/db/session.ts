/**
 * D1 through the Sessions API: deployed, D1 answers reads from a replica near the caller, and
 * a session's bookmark keeps them sequentially consistent. Every request gets one session:
 *
 * - A client that sends `x-mreg-bookmark` (the header of an earlier answer) is served from a
 *   copy at least that fresh, so it reads its own writes.
 * - Otherwise a read takes whichever copy is nearest (`first-unconstrained`).
 * - A write's reads always start at the primary (`first-primary`), whatever bookmark came:
 *   what a write checks (a parent exists) or reads back must not be older than the primary.
 * - Every answer carries the newest bookmark the request saw. A write's changes reach D1
 *   through its model's Durable Object (the outbox flush, before the RPC returns), not
 *   through this session, so a write request ends by asking the primary for a bookmark that
 *   covers them.
 *
 * Locally there is one copy and the same API, so the header round trip behaves the same.
 */
import type { MiddlewareHandler } from "hono";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { AppContext, AppEnv } from "../http/api";
import { validationFailed } from "../http/validation";

export const BOOKMARK_HEADER = "x-mreg-bookmark";

/**
 * D1's bookmarks are hex groups joined by `-` (`00000000-0000000a-00000000-000…`). Checked
 * loosely (their exact widths are D1's business): anything else is refused before D1 sees it.
 */
export const BOOKMARK = /^[0-9a-f]{1,64}(-[0-9a-f]{1,64}){1,7}$/;

/** What reads and writes of the query side take: the request's session, or a session of its own. */
export type D1Handle = D1Database | D1DatabaseSession;

/** Drizzle over a session: the driver calls only `prepare` and `batch`, which sessions have. */
export function orm(d1: D1Handle): DrizzleD1Database {
  // reason: drizzle's type names D1Database, but a D1DatabaseSession offers every method it uses.
  return drizzle(d1 as D1Database);
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Bookmarks are fixed-width hex, so the later of two is the greater string. */
const later = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

/** Opens the request's session and answers with its bookmark. */
export function d1Session(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const sent = c.req.header(BOOKMARK_HEADER)?.trim().toLowerCase() || null;
    if (sent !== null && !BOOKMARK.test(sent)) {
      throw validationFailed("Invalid bookmark", [{ path: BOOKMARK_HEADER, message: "not a bookmark this API issued" }]);
    }
    const write = !SAFE_METHODS.has(c.req.method);
    const session = c.env.DB.withSession(write ? "first-primary" : (sent ?? "first-unconstrained"));
    c.set("db", session);
    await next();
    let bookmark = later(sent, session.getBookmark());
    if (write && c.res.status < 400 && c.get("dbWrite") !== false) {
      bookmark = later(bookmark, await primaryBookmark(c.env.DB));
    }
    if (bookmark !== null) c.res.headers.set(BOOKMARK_HEADER, bookmark);
  };
}

/** The primary's bookmark now: it covers every change committed before this call. */
async function primaryBookmark(db: D1Database): Promise<string | null> {
  const session = db.withSession("first-primary");
  try {
    await session.prepare("SELECT 1").first();
  } catch (err) {
    // The write itself succeeded; without a bookmark the client just reads some copy.
    console.error("reading the primary's bookmark failed", err);
  }
  return session.getBookmark();
}

/** The request's D1 session. */
export function queryDb(c: AppContext): D1DatabaseSession {
  return c.get("db");
}

/**
 * Marks a write request whose change never reaches D1 (a part of an upload, a guard signal):
 * it skips the primary round trip for a fresh bookmark.
 */
export function skipWriteBookmark(c: AppContext): void {
  c.set("dbWrite", false);
}
