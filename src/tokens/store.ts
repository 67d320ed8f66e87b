/**
 * D1's `tokens` table (documented in src/db/schema.ts): the rows, their contract shape, the
 * tenancy-filtered page, the revocation of a tree, and the cron's pruning (the two reads
 * revocation needs are src/db/revoked-tokens.ts, below authentication and the Durable Object
 * core that ask them). The token itself is never stored: only its claims.
 */
import { and, desc, eq, gt, inArray, isNull, lt, sql } from "drizzle-orm";
import { CallBudget } from "../domain/call-budget";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Scope } from "../auth/principal";
import { tokens, type TokenRow } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import { globsWithinSql } from "../db/pattern-sql";
import type { Visibility } from "../db/visibility";

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
 * Who manages tokens: the models its token sees, and the aliases it may move (its `aliases`
 * claim; undefined: all). It manages the tokens it could have minted: those whose claims lie
 * within its own, glob by glob; a row without a claim reaches everything, so a limited
 * manager never sees it.
 */
export interface TokenManager {
  visibility: Visibility;
  aliases: readonly string[] | undefined;
}

const managedBy = (manager: TokenManager) =>
  and(manager.visibility.coversSql(tokens.models), globsWithinSql(tokens.aliases, manager.aliases));

/** The ids of `id` and every token minted with it, and with those in turn (`parent_id`, indexed). */
const treeOf = (id: string) =>
  sql`(WITH RECURSIVE tree(id) AS (SELECT ${id} UNION SELECT t.id FROM ${tokens} AS t JOIN tree ON t.parent_id = tree.id) SELECT id FROM tree)`;

/** The condition under which a token minted with `parent` may be stored: the parent is not revoked (read in the insert's batch). */
export const parentNotRevoked = (parent: string) =>
  sql`NOT EXISTS (SELECT 1 FROM ${tokens} WHERE ${tokens.id} = ${parent} AND ${tokens.revokedAt} IS NOT NULL)`;

export class TokenStore {
  readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  /** A token that is not revoked, if `manager` may manage it (else as if it did not exist). */
  manageable(id: string, manager: TokenManager): Promise<TokenRow | undefined> {
    return this.db
      .select()
      .from(tokens)
      .where(and(eq(tokens.id, id), isNull(tokens.revokedAt), managedBy(manager)))
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
    return this.db
      .update(tokens)
      .set({ revokedAt: at, revokedBy: by })
      .where(and(sql`${tokens.id} IN ${treeOf(id)}`, isNull(tokens.revokedAt)));
  }

  /** A page of live tokens `manager` may manage, newest first, below `before`: `limit + 1` rows. */
  list(manager: TokenManager, nowIso: string, before: string | undefined, limit: number): Promise<TokenRow[]> {
    return this.db
      .select()
      .from(tokens)
      .where(
        and(
          isNull(tokens.revokedAt),
          gt(tokens.expiresAt, nowIso),
          before ? lt(tokens.id, before) : undefined,
          managedBy(manager),
        ),
      )
      .orderBy(desc(tokens.id))
      .limit(limit + 1)
      .all();
  }
}

/** Rows one pruning statement deletes at most: each statement stays short, whatever the backlog. */
export const PRUNE_BATCH = 500;

/**
 * Deletes the rows of tokens expired before `beforeIso` (the scheduled cleanup), PRUNE_BATCH a
 * statement, one call each, while `calls` allows; returns how many. What it leaves, the next run
 * deletes: they are still expired.
 */
export async function pruneExpiredTokens(
  db: D1Database,
  beforeIso: string,
  calls: CallBudget = new CallBudget(Infinity),
  batch: number = PRUNE_BATCH,
): Promise<number> {
  const d = orm(db);
  let pruned = 0;
  while (calls.allows(1)) {
    calls.spend(1);
    const expired = d.select({ id: tokens.id }).from(tokens).where(lt(tokens.expiresAt, beforeIso)).limit(batch);
    const result = await d.delete(tokens).where(inArray(tokens.id, expired)).run();
    const changes = result.meta.changes ?? 0;
    pruned += changes;
    if (changes < batch) break;
  }
  return pruned;
}
