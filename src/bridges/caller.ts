/**
 * What every bridge does before its own work, in one place: the request's credentials to a
 * principal, through the same seams as `/v1` (src/auth/credentials.ts reads `Bearer`,
 * `Bearer hf_` and Basic with the token as password; src/auth/middleware.ts verifies the
 * token, checks revocation and lets a public read through without one), the request's D1
 * session set to read or write, and `authorize` asked. A bridge supplies only its wording:
 * what it answers for a model it may not show, and for a scope the token lacks. A 401 is the
 * seam's `unauthenticated` ProblemError, which each bridge's error module words (with its
 * challenge).
 *
 * A model the token may not see is worded exactly as one that does not exist (RepoNotFound,
 * NAME_UNKNOWN, RESOURCE_DOES_NOT_EXIST), so no bridge route hints that it exists.
 */
import { authorize } from "../auth/authorize";
import { capabilitySigned, type Capability } from "../auth/capability";
import { credentialOf } from "../auth/credentials";
import { authenticate, verifyBearer } from "../auth/middleware";
import type { Principal, Scope } from "../auth/principal";
import { checkNotRevoked } from "../auth/revocation";
import { ProblemError } from "../domain/problem";
import type { Access } from "../db/session";
import type { AppContext } from "../http/app-env";

/** A bridge's words for the two refusals every route can meet. */
export interface Wording {
  /** Its "not found" for a model: the same for one that does not exist and one the token may not see. */
  modelNotFound: (model: string) => Error;
  /** Its refusal of a token without `scope`. */
  missingScope: (scope: Scope) => Error;
  /** Its refusal of a token that may not move `alias` (a bridge that moves aliases words it; else the scope's refusal). */
  aliasNotGranted?: (alias: string) => Error;
}

/** What a route needs: the scope, whether it reads or writes, the model it names (when it names one), and the aliases it moves. */
export interface Need {
  scope: Scope;
  access: Access;
  model?: string;
  aliases?: readonly string[];
}

/** The caller, authenticated only: for a route that says whether credentials are good and asks no grant (OCI's `/v2/`). */
export async function authenticated(c: AppContext, scope: Scope, access: Access): Promise<Principal> {
  c.var.session.access = access;
  return authenticate(c.env, c.req.raw, scope, { access, waitUntil: (p) => c.executionCtx.waitUntil(p) });
}

/** The caller, allowed `need` (scope first, then the model), or the bridge's refusal. */
export async function caller(c: AppContext, wording: Wording, need: Need): Promise<Principal> {
  const principal = await authenticated(c, need.scope, need.access);
  granted(principal, wording, need);
  return principal;
}

/** Checks that an authenticated `principal` is allowed `need` too (a second scope, or the aliases a write moves), or throws the bridge's refusal. */
export function granted(principal: Principal, wording: Wording, need: Omit<Need, "access">): void {
  const denial = authorize(principal, { scope: need.scope, model: need.model, aliases: need.aliases });
  if (!denial) return;
  if (denial.reason === "model") throw wording.modelNotFound(denial.model);
  if (denial.reason === "alias")
    throw (wording.aliasNotGranted ?? (() => wording.missingScope(need.scope)))(denial.alias);
  throw wording.missingScope(need.scope);
}

/**
 * The holder of a signed capability (src/auth/capability.ts), which stands in for a token on a
 * URL the client calls without one: its signature must be the registry's, it must not have
 * expired, and the token it was issued to must not have been revoked since. 403 `forbidden`
 * otherwise (the bridge's error module words it). The request's D1 session writes.
 */
export async function capabilityHolder(c: AppContext, cap: Capability, signature: string): Promise<void> {
  c.var.session.access = "write";
  if (!(await capabilitySigned(c.env, cap, signature)))
    throw new ProblemError("forbidden", "This URL's signature is not the registry's: ask for a new one");
  if (cap.expires * 1000 <= Date.now())
    throw new ProblemError("forbidden", "This URL has expired: ask for a new one (the LFS batch API hands them out)");
  if (cap.tokenId === null) return;
  try {
    await checkNotRevoked(c.env.DB, cap.tokenId, (p) => c.executionCtx.waitUntil(p));
  } catch (err) {
    if (err instanceof ProblemError && err.code === "unauthenticated")
      throw new ProblemError("forbidden", "The token this URL was issued to has been revoked");
    throw err;
  }
}

/**
 * `model`, when `principal` may act on it; otherwise `refuse(model)`: the bridge's not-found
 * for a model it names in a request body or query, read after the caller was authenticated.
 */
export function allowedModel(principal: Principal, model: string, refuse: (model: string) => Error): string {
  if (authorize(principal, { model })) throw refuse(model);
  return model;
}

/**
 * The token a request carries (in any shape src/auth/credentials.ts reads), verified and not
 * revoked, with its expiry: for a token endpoint, which answers the caller's own token. Null
 * when the request carries none, or none in a shape it reads; a token that fails
 * verification is the seam's 401.
 */
export async function presentedToken(c: AppContext): Promise<{ token: string; exp: number } | null> {
  const credential = credentialOf(c.req.header("authorization") ?? null);
  if (credential.kind !== "token") return null;
  const { exp } = await verifyBearer(c.env, credential.token, (p) => c.executionCtx.waitUntil(p));
  return { token: credential.token, exp };
}

/** Whether `principal` may do `scope` on `model` (and move `aliases`): for a bridge that chooses what to do, not only whether to refuse. */
export function permits(
  principal: Principal,
  request: { scope: Scope; model: string; aliases?: readonly string[] },
): boolean {
  return authorize(principal, request) === null;
}
