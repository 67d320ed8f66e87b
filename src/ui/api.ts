/**
 * How pages read and write: the typed client (src/client), pointed at this same app in
 * process. Each call goes through the API's own route (its scope check, model globs,
 * validation and D1 session), acting as the signed-in principal; the client carries the
 * session bookmark from one call to the next, so a page reads its own writes.
 */
import type { Context, Hono } from "hono";
import { actAs } from "../auth/internal";
import type { Principal } from "../auth/principal";
import { MregClient } from "../client/client";
import type { AppEnv } from "../http/api";

/** Any host does: the request never leaves the isolate. */
const INTERNAL_BASE = "https://mreg.internal";

export function apiFor(app: Hono<AppEnv>, c: Context<AppEnv>, principal: Principal): MregClient {
  let ctx: Parameters<Hono<AppEnv>["fetch"]>[2];
  try {
    ctx = c.executionCtx;
  } catch {
    // Hono throws when the runtime gave no execution context (app.request in tests).
    ctx = undefined;
  }
  return new MregClient({
    url: INTERNAL_BASE,
    retries: 0,
    fetch: async (input, init) => app.fetch(actAs(new Request(input, init), principal), c.env, ctx),
  });
}
