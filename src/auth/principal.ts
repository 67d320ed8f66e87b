/**
 * Who is calling and what they may do: the claims of a verified token, reduced to what the
 * routes check. Pure, so the rules are unit-tested without tokens.
 */
import { Visibility } from "../db/visibility";
import { globWithin } from "../domain/glob";

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
  /**
   * The id of a token this registry minted (its `jti`): what revocation is checked by. None
   * for tokens without such a `jti` (development tokens, an identity provider's), which
   * cannot be revoked here.
   */
  tokenId?: string;
}

/** The caller of a public read (`PUBLIC_READ=true`, no token). */
export const ANONYMOUS: Principal = { sub: "anonymous", scopes: new Set(["read"]) };

/**
 * Who a write is audited as (docs/security.md, "Managing tokens"): the token's `sub`, and beside it the id of a
 * minted token, since a minter chooses the `sub` it names.
 */
export function auditedAs(principal: Principal): { actor: string; token?: string } {
  return { actor: principal.sub, ...(principal.tokenId !== undefined ? { token: principal.tokenId } : {}) };
}

/** `admin` implies every scope; no other scope implies another. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has("admin") || principal.scopes.has(scope);
}

/** Which models this principal sees (its `models` claim): the one rule every check, list and search applies. */
export const visibilityOf = (principal: Principal): Visibility => Visibility.of(principal.models);

/** What a token grants: its scopes and its model and alias globs (absent: all of them). */
export interface Grant {
  scopes: Iterable<Scope>;
  models?: readonly string[];
  aliases?: readonly string[];
}

/**
 * Why `holder` cannot hand out `wanted`, or null when it can: a minted token never carries
 * more than its minter holds (API.md "Auth"). `admin` implies every scope. A holder limited
 * by globs may give only globs within its own (`globWithin`), so it must give some: a token
 * without `models` reaches every model. The same rule says which minted tokens a limited
 * administrator sees and may revoke: exactly those it could have minted.
 */
export function grantExcess(holder: Principal, wanted: Grant): string | null {
  for (const scope of wanted.scopes) {
    if (!hasScope(holder, scope)) return `This token does not hold the '${scope}' scope, so it cannot grant it`;
  }
  return globsExcess("models", holder.models, wanted.models) ?? globsExcess("aliases", holder.aliases, wanted.aliases);
}

function globsExcess(
  claim: "models" | "aliases",
  held: readonly string[] | undefined,
  wanted: readonly string[] | undefined,
): string | null {
  if (held === undefined) return null;
  if (wanted === undefined)
    return `This token is limited to the ${claim} ${held.join(", ")}: it can grant only \`${claim}\` within them, never all`;
  const outside = wanted.find((glob) => !globWithin(glob, held));
  return outside === undefined ? null : `'${outside}' is not within this token's ${claim} (${held.join(", ")})`;
}
