/**
 * Turns the request's bearer token into a Principal. 401 (with WWW-Authenticate) when a
 * token is needed and missing or invalid; scope and model checks (403) are the caller's.
 */
import { config, type Env } from "../env";
import { ProblemError } from "../http/problem";
import { ANONYMOUS, type Principal, type Scope } from "./principal";
import { InvalidToken, verifyToken } from "./verify";

export async function authenticate(env: Env, request: Request, scope: Scope | "public"): Promise<Principal> {
  if (scope === "public") return ANONYMOUS;
  const cfg = config(env);
  const header = request.headers.get("authorization");
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
