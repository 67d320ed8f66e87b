/**
 * The one authorization seam every route and bridge calls: may this principal do `scope` on
 * `model` (and move `aliases`)? Pure. It answers *why not* (a Denial), and each protocol
 * turns that into its own error: `/v1` answers 403 `forbidden` for all three (API.md
 * "Auth"); a bridge answers a hidden model with its own "not found" (RepoNotFound,
 * NAME_UNKNOWN, RESOURCE_DOES_NOT_EXIST), so a model the token may not see never hints it
 * exists there.
 *
 * `aliases` covers stage names too, and whatever decides a move: a target's gate, an
 * approval for it, its guard, and signals that can trip the guard need the grant for that
 * target as much as a move does.
 */
import { ProblemError } from "../domain/problem";
import { ungranted } from "../domain/glob";
import { hasScope, visibilityOf, type Principal, type Scope } from "./principal";

export interface AccessRequest {
  /** The scope the operation needs; `public` needs none. */
  scope?: Scope | "public";
  /** The model it acts on, if any. */
  model?: string;
  /** The aliases or stages it may move, if any. */
  aliases?: readonly string[];
}

export type Denial =
  { reason: "scope"; scope: Scope } | { reason: "model"; model: string } | { reason: "alias"; alias: string };

/** Why `principal` may not make `request`, or null when it may. Scope first, then model, then aliases. */
export function authorize(principal: Principal, request: AccessRequest): Denial | null {
  if (request.scope !== undefined && request.scope !== "public" && !hasScope(principal, request.scope))
    return { reason: "scope", scope: request.scope };
  if (request.model !== undefined && !visibilityOf(principal).sees(request.model))
    return { reason: "model", model: request.model };
  const alias = ungranted(principal.aliases, request.aliases ?? [])[0];
  return alias === undefined ? null : { reason: "alias", alias };
}

/** The `/v1` dialect: every denial is 403 `forbidden`, saying which grant is missing. */
export function forbidden(denial: Denial): ProblemError {
  switch (denial.reason) {
    case "scope":
      return new ProblemError("forbidden", `This route needs the '${denial.scope}' scope`);
    case "model":
      return new ProblemError("forbidden", `This token may not act on model '${denial.model}'`);
    case "alias":
      return new ProblemError("forbidden", `This token may not move '${denial.alias}'`);
  }
}

/** `authorize` for `/v1` and the services under it: throws the 403 of a denial. */
export function requireAuthorized(principal: Principal, request: AccessRequest): void {
  const denial = authorize(principal, request);
  if (denial) throw forbidden(denial);
}
