/**
 * Who is calling and what they may do: the claims of a verified token, reduced to what the
 * routes check. Pure, so the rules are unit-tested without tokens.
 */
import { matchesAny } from "../domain/glob";

export const SCOPES = ["read", "write", "promote", "approve", "report", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  /** The token's `sub`: the actor recorded on every write. */
  sub: string;
  scopes: ReadonlySet<string>;
  /** Globs of the models this token may act on; undefined means every model. */
  models?: readonly string[];
  /** Globs of the aliases and stages this token may move; undefined means all of them. */
  aliases?: readonly string[];
  /** When the token expires (ms since the epoch): a watch socket closes then. None for public reads. */
  expiresAt?: number;
}

/** The caller of a public read (`PUBLIC_READ=true`, no token). */
export const ANONYMOUS: Principal = { sub: "anonymous", scopes: new Set(["read"]) };

/** `admin` implies every scope; no other scope implies another. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has("admin") || principal.scopes.has(scope);
}

export function mayActOnModel(principal: Principal, model: string): boolean {
  return principal.models === undefined || matchesAny(principal.models, model);
}

export function mayMoveAlias(principal: Principal, alias: string): boolean {
  return principal.aliases === undefined || matchesAny(principal.aliases, alias);
}
