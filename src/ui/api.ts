/**
 * How pages read and write: the typed client (src/client), pointed at this same app in
 * process. Each call goes through the API's own route (its scope check, model globs,
 * validation and D1 session), acting as the signed-in principal; the client carries the
 * session bookmark from one call to the next, so a page reads its own writes.
 */
import type { Context, Hono } from "hono";
import { actAs, asPreview } from "../auth/internal";
import type { Principal } from "../auth/principal";
import { MregClient } from "../client/client";
import { BOOKMARK } from "../db/session";
import type { AppEnv } from "../http/app-env";

/**
 * Carries the D1 bookmark of a form's write to the page it redirects to, so that page reads
 * what was just written even from a replica (a minute is plenty for one redirect).
 */
export const BOOKMARK_COOKIE = "mreg_bookmark";

export function bookmarkCookie(bookmark: string | undefined): string | undefined {
  return bookmark && BOOKMARK.test(bookmark)
    ? `${BOOKMARK_COOKIE}=${bookmark}; Path=/; HttpOnly; SameSite=Strict; Max-Age=60`
    : undefined;
}

function sentBookmark(c: Context<AppEnv>): string | undefined {
  const value = /(?:^|;\s*)mreg_bookmark=([0-9a-f-]+)/.exec(c.req.header("cookie") ?? "")?.[1];
  return value && BOOKMARK.test(value) ? value : undefined;
}

/** Any host does: the request never leaves the isolate. */
const INTERNAL_BASE = "https://mreg.internal";

/** `preview`: the client reads files to show them, not to download them (they are not counted). */
export function apiFor(
  app: Hono<AppEnv>,
  c: Context<AppEnv>,
  principal: Principal,
  options: { preview?: boolean } = {},
): MregClient {
  let ctx: Parameters<Hono<AppEnv>["fetch"]>[2];
  try {
    ctx = c.executionCtx;
  } catch {
    // Hono throws when the runtime gave no execution context (app.request in tests).
    ctx = undefined;
  }
  const bookmark = sentBookmark(c);
  return new MregClient({
    url: INTERNAL_BASE,
    retries: 0,
    ...(bookmark && { bookmark }),
    fetch: async (input, init) => {
      const request = actAs(new Request(input, init), principal);
      return app.fetch(options.preview ? asPreview(request) : request, c.env, ctx);
    },
  });
}
