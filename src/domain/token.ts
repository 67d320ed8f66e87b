/**
 * Tokens minted by the registry (docs/reference.md "Tokens"): their ids, lifetimes and how long
 * revocation must be remembered.
 */
import { sortableId } from "./ids";

/** A minted token's id, which is also its `jti`: `tok_` and a ULID, so ids sort by minting time. */
export const TOKEN_ID = /^tok_[0-9A-Z]{26}$/;

export const newTokenId = (now: number = Date.now()) => `tok_${sortableId(now)}`;

/** Whether a `jti` names a token this registry minted: only those can be revoked. */
export const isTokenId = (jti: string | undefined): jti is string => jti !== undefined && TOKEN_ID.test(jti);

export const DEFAULT_TOKEN_TTL_S = 86_400;
export const MAX_TOKEN_TTL_S = 31_536_000;

/**
 * How long after its `exp` a revoked token's id must still be known: verification accepts a
 * token up to 30 s past `exp` (clock tolerance), so this keeps a wide margin over that.
 */
export const REVOCATION_MARGIN_MS = 5 * 60 * 1000;

/** How long after its `exp` a token's row is kept (longer than the margin above, so no revoked id is forgotten early). */
export const TOKEN_ROW_RETENTION_MS = 60 * 60 * 1000;
