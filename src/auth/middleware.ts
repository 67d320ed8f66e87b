/**
 * Turns the request's bearer token into a Principal. 401 (with WWW-Authenticate) when a
 * token is needed and missing or invalid; scope and model checks (403) are the caller's.
 */
import { config, type Env } from "../env";
import { ProblemError } from "../http/problem";
import { accessPrincipal } from "./access";
import { internalPrincipal } from "./internal";
import { ANONYMOUS, type Principal, type Scope } from "./principal";
import { InvalidToken, verifyToken } from "./verify";

/** The web UI's session cookie: it holds a verified token (src/ui/session.ts). */
export const SESSION_COOKIE = "mreg_session";

/**
 * `cookie`: the route also accepts the UI's session cookie, or behind Cloudflare Access the
 * Access assertion, when no Authorization header is sent. Only the watch route opts in (a
 * browser cannot set headers on a WebSocket); the rest of the API stays bearer-only so a
 * cookie can never make a cross-site JSON write.
 */
export async function authenticate(env: Env, request: Request, scope: Scope | "public", options: { cookie?: boolean } = {}): Promise<Principal> {
  if (scope === "public") return ANONYMOUS;
  const inProcess = internalPrincipal(request);
  if (inProcess) return inProcess;
  const cfg = config(env);
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
  if (!header) {
    if (cfg.PUBLIC_READ && (request.method === "GET" || request.method === "HEAD") && scope === "read") return ANONYMOUS;
    throw new ProblemError("unauthenticated", "A bearer token is required");
  }
  const match = /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i.exec(header);
  if (!match) {
    throw new ProblemError("unauthenticated", "The Authorization header must be 'Bearer <JWT>'");
  }
  try {
    const { principal } = await verifyToken(match[1]!, cfg);
    return principal;
  } catch (err) {
    if (err instanceof InvalidToken) throw new ProblemError("unauthenticated", err.message);
    throw err;
  }
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
