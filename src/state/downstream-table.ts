/**
 * ModelState's record of which other models name this model's versions as lineage parents,
 * read and written synchronously (safe inside transactionSync). Only ModelState uses this
 * module; nothing of it is projected to D1.
 *
 * - downstream: one row per (version, child model): another model has named this version as a
 *               parent, or is about to. Written by `holdForChild`, which the version routes
 *               call on the parent's object *before* the child is created or patched, so a
 *               retention decision here (in one transaction) never deletes a parent whose
 *               child it could not yet see in D1 (a child in flight, or still in its model's
 *               outbox). `held_at` is the newest such hold; rows are pruned by retention once
 *               the child's own object says none of its versions names the parent any more
 *               (`pruneHolds`), never on the strength of D1.
 */

export const DOWNSTREAM_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS downstream (
     version INTEGER NOT NULL,
     child_model TEXT NOT NULL,
     held_at TEXT NOT NULL,
     PRIMARY KEY (version, child_model)
   )`,
];

export interface Hold {
  version: number;
  child_model: string;
  held_at: string;
}

export class DownstreamTable {
  constructor(private readonly sql: SqlStorage) {}

  /** Records (or refreshes) that `childModel` names `version` as a parent. */
  hold(version: number, childModel: string, at: string): void {
    this.sql.exec(
      "INSERT INTO downstream (version, child_model, held_at) VALUES (?, ?, ?) ON CONFLICT (version, child_model) DO UPDATE SET held_at = max(held_at, excluded.held_at)",
      version,
      childModel,
      at,
    );
  }

  all(): Hold[] {
    return this.sql
      .exec<{ version: number; child_model: string; held_at: string }>(
        "SELECT version, child_model, held_at FROM downstream ORDER BY version, child_model",
      )
      .toArray();
  }

  /**
   * Removes holds found stale, each only if it was not refreshed since it was judged (a
   * child created meanwhile held it again, with a newer `held_at`).
   */
  release(stale: readonly Hold[]): void {
    for (const h of stale)
      this.sql.exec(
        "DELETE FROM downstream WHERE version = ? AND child_model = ? AND held_at = ?",
        h.version,
        h.child_model,
        h.held_at,
      );
  }

  /** The versions of this model some hold protects, each with one child model naming it. */
  held(): Map<number, string> {
    const out = new Map<number, string>();
    for (const h of this.all()) if (!out.has(h.version)) out.set(h.version, h.child_model);
    return out;
  }

  clear(): void {
    this.sql.exec("DELETE FROM downstream");
  }
}
