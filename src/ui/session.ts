/**
 * The web UI's sessions. Signing in verifies a pasted token with the API's own verifier and
 * stores it in an `HttpOnly; SameSite=Strict` cookie that expires with it (`Secure` unless
 * the page is served from loopback over plain http). Every request verifies the cookie again,
 * revocation included, so a revoked key, a revoked token or an expired one ends the session.
 *
 * CSRF: every form carries a token derived from the session (SHA-256 of a label and the
 * cookie's value). A page on another site can read neither, so a forged post fails even in a
 * browser that ignores SameSite. The confirmation a page shows after a post is sealed under
 * the same secret, with another label (./flash.ts).
 */
import type { Context } from "hono";
import { SESSION_COOKIE, sessionCookie, verifyBearer } from "../auth/middleware";
import type { Principal } from "../auth/principal";
import type { AppEnv } from "../http/app-env";
import { ProblemError } from "../domain/problem";
import { accessPrincipal } from "../auth/access";
import { credentialOf } from "../auth/credentials";

export interface Session {
  principal: Principal;
  /** The secret the CSRF token is derived from: the cookie's token, or the Access assertion. */
  secret: string;
  /** How the caller signed in: a pasted token (may sign out) or Cloudflare Access. */
  via: "token" | "access";
}

type Ctx = Context<AppEnv>;

/** The caller's session, or null when there is none (or it no longer verifies). */
export async function currentSession(c: Ctx): Promise<Session | null> {
  const access = await accessPrincipal(c.env, c.req.raw);
  if (access) return { principal: access.principal, secret: access.assertion, via: "access" };
  const token = sessionCookie(c.req.raw);
  if (!token) return null;
  try {
    const { principal } = await verifyBearer(c.env, token, waitUntil(c));
    return { principal, secret: token, via: "token" };
  } catch (err) {
    if (refused(err)) return null;
    throw err;
  }
}

/**
 * Why the session cookie this request carries no longer signs in (expired, revoked …), or
 * null when there is none or it still verifies: what the sign-in page tells someone sent
 * back to it. Read from the cookie itself, never from the address, so a link cannot make
 * the page claim anything.
 */
export async function endedSession(c: Ctx): Promise<string | null> {
  const token = sessionCookie(c.req.raw);
  if (!token) return null;
  try {
    await verifyBearer(c.env, token, waitUntil(c));
    return null;
  } catch (err) {
    if (refused(err)) return err.detail;
    throw err;
  }
}

/**
 * Verifies a pasted token; its expiry bounds the cookie's. Taken as the API takes it: a bare
 * JWT, `hf_<JWT>` (as Hugging Face clients hold it) or `Bearer <JWT>`; the cookie keeps the JWT.
 */
export async function signIn(c: Ctx, pasted: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  const credential = credentialOf(/^bearer\s/i.test(pasted) ? pasted : `Bearer ${pasted}`);
  if (credential.kind !== "token") return { ok: false, reason: "it is not a token (a JWT, optionally hf_<JWT>)" };
  const token = credential.token;
  try {
    const { exp } = await verifyBearer(c.env, token, waitUntil(c));
    c.header("set-cookie", cookie(c, token, exp));
    return { ok: true };
  } catch (err) {
    if (refused(err)) return { ok: false, reason: err.detail };
    throw err;
  }
}

/** The token is invalid or revoked (not: the registry cannot tell right now, which stays an error). */
const refused = (err: unknown): err is ProblemError => err instanceof ProblemError && err.code === "unauthenticated";

const waitUntil = (c: Ctx) => (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);

export function signOut(c: Ctx): void {
  c.header("set-cookie", cookie(c, "", 0));
}

function cookie(c: Ctx, value: string, expSeconds: number): string {
  return uiCookie(c, SESSION_COOKIE, value, {
    maxAge: Math.max(0, expSeconds - Math.floor(Date.now() / 1000)),
    path: "/",
  });
}

/** A cookie of the UI's: `HttpOnly; SameSite=Strict`, and `Secure` unless served from loopback over plain http. */
export function uiCookie(
  c: Ctx,
  name: string,
  value: string,
  { maxAge, path }: { maxAge: number; path: string },
): string {
  const url = new URL(c.req.url);
  const loopback =
    url.protocol === "http:" &&
    (url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]");
  return [
    `${name}=${value}`,
    `Path=${path}`,
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${maxAge}`,
    ...(loopback ? [] : ["Secure"]),
  ].join("; ");
}

export async function csrfToken(session: Session): Promise<string> {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`mreg-ui-csrf\n${session.secret}`)));
}

/** Constant-time comparison of the posted CSRF token with the session's. */
export async function csrfValid(session: Session, posted: unknown): Promise<boolean> {
  return typeof posted === "string" && sameText(posted, await csrfToken(session));
}

export const base64url = (bytes: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** Equality in time that depends on the length only, for comparing a secret-derived value with one sent. */
export function sameText(sent: string, expected: string): boolean {
  if (sent.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ sent.charCodeAt(i);
  return diff === 0;
}
