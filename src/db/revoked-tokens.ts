/**
 * The two reads revocation needs of D1's `tokens` table (its writer is src/tokens/routes.ts):
 * every isolate's view of the revoked ids (src/auth/revocation.ts), and a holder of watch
 * sockets' question about the tokens that opened them (src/state/socket-upkeep.ts). Here,
 * beside the schema, because both askers sit below the tokens feature.
 */
import { and, gt, isNotNull, sql } from "drizzle-orm";
import { tokens } from "./schema";
import { orm } from "./session";

/**
 * Every revoked token still within `exp` (+ margin) at `sinceIso`: the revocation view's one
 * query, answered from the partial index `tokens_revoked`. Read from the primary (not a
 * replica), whose lag would otherwise add to the 10 s bound.
 */
export async function revokedTokenIds(db: D1Database, sinceIso: string): Promise<string[]> {
  const rows = await orm(db)
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(isNotNull(tokens.revokedAt), gt(tokens.expiresAt, sinceIso)))
    .all();
  return rows.map((r) => r.id);
}

/** Which of `ids` are revoked (a ModelState asks about the tokens of its open sockets). */
export async function revokedAmong(db: D1Database, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await orm(db)
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(sql`${tokens.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`, isNotNull(tokens.revokedAt)))
    .all();
  return new Set(rows.map((r) => r.id));
}
