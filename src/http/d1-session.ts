/**
 * The middleware that gives every request its D1 session (src/db/session.ts) and answers
 * with the newest bookmark. The session's access starts from the method (GET/HEAD read); a
 * route declared through src/http/api.ts settles it from its spec before any query.
 */
import type { MiddlewareHandler } from "hono";
import { BOOKMARK, BOOKMARK_HEADER, laterBookmark, RequestSession } from "../db/session";
import type { AppEnv } from "./app-env";
import { validationFailed } from "./validation";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Opens the request's session and answers with its bookmark. */
export function d1Session(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const sent = c.req.header(BOOKMARK_HEADER)?.trim().toLowerCase() || null;
    if (sent !== null && !BOOKMARK.test(sent)) {
      throw validationFailed("Invalid bookmark", [
        { path: BOOKMARK_HEADER, message: "not a bookmark this API issued" },
      ]);
    }
    const session = new RequestSession(c.env.DB, sent, SAFE_METHODS.has(c.req.method) ? "read" : "write");
    c.set("session", session);
    await next();
    let bookmark = session.bookmark();
    if (session.access === "write" && c.res.status < 400 && session.writesD1) {
      bookmark = laterBookmark(bookmark, await primaryBookmark(c.env.DB));
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
