/**
 * Turns the request's token into a Principal. 401 (with WWW-Authenticate) when a token is
 * needed and missing, invalid or revoked; what it may do (403) is src/auth/authorize.ts's.
 */
import { config, type Env } from "../env";
import { ProblemError } from "../domain/problem";
import type { Access } from "../db/session";
import { accessPrincipal } from "./access";
import { credentialOf } from "./credentials";
import { internalPrincipal } from "./internal";
import { ANONYMOUS, type Principal, type Scope } from "./principal";
import { checkNotRevoked } from "./revocation";
import { InvalidToken, verifyToken } from "./verify";

/** The web UI's session cookie: it holds a verified token (src/ui/session.ts). */
export const SESSION_COOKIE = "mreg_session";

export interface AuthOptions {
  /**
   * The route also accepts the UI's session cookie, or behind Cloudflare Access the Access
   * assertion, when no Authorization header is sent. Only the watch route opts in (a browser
   * cannot set headers on a WebSocket); the rest of the API stays bearer-only so a cookie can
   * never make a cross-site JSON write.
   */
  cookie?: boolean;
  /**
   * Whether the route only reads, as it declares: with `PUBLIC_READ=true` a read of scope
   * `read` needs no token. Without it, a GET or HEAD counts as a read.
   */
  access?: Access;
  /** The request's `waitUntil`: lets the revocation view refresh after the response. */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/**
 * The caller: the principal of the request's token (src/auth/credentials.ts says where it
 * may be), of the UI's session or of Cloudflare Access where the route allows them, or
 * ANONYMOUS for a public route or a public read. 401 when a token is needed and missing,
 * malformed, invalid or revoked; what the principal may do is `authorize`'s question.
 */
export async function authenticate(
  env: Env,
  request: Request,
  scope: Scope | "public",
  options: AuthOptions = {},
): Promise<Principal> {
  if (scope === "public") return ANONYMOUS;
  const inProcess = internalPrincipal(request);
  if (inProcess) return inProcess;
  let header = request.headers.get("authorization");
  if (!header && options.cookie) {
    const session = sessionCookie(request);
    if (session) {
      checkSameOrigin(request);
      header = `Bearer ${session}`;
    } else {
      const access = await accessPrincipal(env, request);
      if (access) {
        checkSameOrigin(request);
        return access.principal;
      }
    }
  }
  const credential = credentialOf(header);
  if (credential.kind === "none") {
    const reads = options.access ? options.access === "read" : request.method === "GET" || request.method === "HEAD";
    if (config(env).PUBLIC_READ && reads && scope === "read") return ANONYMOUS;
    throw new ProblemError("unauthenticated", "A bearer token is required");
  }
  if (credential.kind === "malformed") throw new ProblemError("unauthenticated", credential.reason);
  return (await verifyBearer(env, credential.token, options.waitUntil)).principal;
}

/**
 * A bearer token's principal and expiry: verified (remembered until `exp`), then checked
 * against revocation on every call, which no memo skips. 401 when invalid or revoked.
 */
export async function verifyBearer(
  env: Env,
  token: string,
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<{ principal: Principal; exp: number }> {
  let verified: { principal: Principal; exp: number };
  try {
    verified = await verifyToken(token, config(env));
  } catch (err) {
    if (err instanceof InvalidToken) throw new ProblemError("unauthenticated", err.message);
    throw err;
  }
  if (verified.principal.tokenId !== undefined) await checkNotRevoked(env.DB, verified.principal.tokenId, waitUntil);
  return verified;
}

export function sessionCookie(request: Request): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/**
 * A cookie-authenticated WebSocket must come from a page of this origin: browsers send
 * cookies on cross-site upgrades that SameSite does not cover in every browser, and a
 * socket is not subject to CORS.
 */
function checkSameOrigin(request: Request): void {
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== new URL(request.url).origin) {
    throw new ProblemError("forbidden", "A session cookie is accepted only from this registry's own pages");
  }
}
