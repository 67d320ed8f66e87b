/**
 * D1's `tokens` table (documented in src/db/schema.ts): the rows, their contract shape, the
 * tenancy-filtered page, the revocation of a tree, and the cron's pruning (the two reads
 * revocation needs are src/db/revoked-tokens.ts, below authentication and the Durable Object
 * core that ask them). The token itself is never stored: only its claims.
 */
import { and, desc, eq, gt, isNull, lt, sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Principal, Scope } from "../auth/principal";
import { tokens, type TokenRow } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import { matchesAnyGlob } from "../db/pattern-sql";

export type { TokenRow };

const globs = (text: string | null) => (text === null ? null : (JSON.parse(text) as string[]));

/** The contract's token, without the token itself (it is shown once, by the route that mints it). */
export function tokenBody(row: TokenRow) {
  return {
    id: row.id,
    sub: row.sub,
    scope: row.scope,
    models: globs(row.models),
    aliases: globs(row.aliases),
    expires_at: row.expiresAt,
    description: row.description,
    created_at: row.createdAt,
    created_by: row.createdBy,
    parent: row.parentId,
  };
}

/** What a row grants, in the shape `grantExcess` compares (src/auth/principal.ts). */
export function rowGrant(row: TokenRow) {
  return {
    scopes: row.scope.split(" ") as Scope[],
    ...(row.models !== null ? { models: globs(row.models)! } : {}),
    ...(row.aliases !== null ? { aliases: globs(row.aliases)! } : {}),
  };
}

/**
 * Rows whose `column` globs all lie within `held` (`globWithin`, src/domain/glob.ts, in SQL:
 * a claimed glob lies within a held one when it matches it as a name, the held glob made a
 * GLOB pattern); none when `held` is undefined (unlimited). A row without the claim reaches
 * everything, so a limited holder never sees it. The held globs travel as one JSON value,
 * whatever their number (D1 binds at most 100 parameters).
 */
function within(column: SQLWrapper, held: readonly string[] | undefined): SQL | undefined {
  if (held === undefined) return undefined;
  return sql`(${column} IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM json_each(${column}) AS claimed WHERE NOT ${matchesAnyGlob("claimed.value", held)}))`;
}

/** The ids of `id` and every token minted with it, and with those in turn (`parent_id`, indexed). */
const treeOf = (id: string) =>
  sql`(WITH RECURSIVE tree(id) AS (SELECT ${id} UNION SELECT t.id FROM ${tokens} AS t JOIN tree ON t.parent_id = tree.id) SELECT id FROM tree)`;

/** The condition under which a token minted with `parent` may be stored: the parent is not revoked (read in the insert's batch). */
export const parentNotRevoked = (parent: string) => sql`NOT EXISTS (SELECT 1 FROM ${tokens} WHERE ${tokens.id} = ${parent} AND ${tokens.revokedAt} IS NOT NULL)`;

export class TokenStore {
  readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  /** A token that is not revoked, if `manager` may manage it (else as if it did not exist). */
  manageable(id: string, manager: Principal): Promise<TokenRow | undefined> {
    return this.db
      .select()
      .from(tokens)
      .where(and(eq(tokens.id, id), isNull(tokens.revokedAt), within(tokens.models, manager.models), within(tokens.aliases, manager.aliases)))
      .get();
  }

  /** The live tokens minted with `id`, and with those in turn, oldest first. */
  async descendants(id: string): Promise<string[]> {
    const rows = await this.db
      .select({ id: tokens.id })
      .from(tokens)
      .where(and(sql`${tokens.id} IN ${treeOf(id)}`, sql`${tokens.id} != ${id}`, isNull(tokens.revokedAt)))
      .orderBy(tokens.id)
      .all();
    return rows.map((r) => r.id);
  }

  /**
   * Revokes `id` and every token minted with it, and with those in turn, in one statement:
   * a descendant minted after a look at the tree is revoked all the same.
   */
  revokeTree(id: string, at: string, by: string) {
    return this.db.update(tokens).set({ revokedAt: at, revokedBy: by }).where(and(sql`${tokens.id} IN ${treeOf(id)}`, isNull(tokens.revokedAt)));
  }

  /** A page of live tokens `manager` may manage, newest first, below `before`: `limit + 1` rows. */
  list(manager: Principal, nowIso: string, before: string | undefined, limit: number): Promise<TokenRow[]> {
    return this.db
      .select()
      .from(tokens)
      .where(
        and(
          isNull(tokens.revokedAt),
          gt(tokens.expiresAt, nowIso),
          before ? lt(tokens.id, before) : undefined,
          within(tokens.models, manager.models),
          within(tokens.aliases, manager.aliases),
        ),
      )
      .orderBy(desc(tokens.id))
      .limit(limit + 1)
      .all();
  }
}

/** Deletes the rows of tokens expired before `beforeIso` (the scheduled cleanup); returns how many. */
export async function pruneExpiredTokens(db: D1Database, beforeIso: string): Promise<number> {
  const result = await orm(db).delete(tokens).where(lt(tokens.expiresAt, beforeIso)).run();
  return result.meta.changes ?? 0;
}
