/**
 * ModelState's `meta` table: named counters, read and written synchronously (safe inside
 * transactionSync). Only ModelState uses this module.
 *
 * - `last_version`: the highest version number ever given (never reused).
 * - `generation`:   the model's alias generation (+1 for every alias change; a swap is one).
 * - `fanout`:       +1 for every committed transaction that moved a resolution: numbers the
 *                   news watch relays hear, so each keeps only what is newer than it holds.
 * - `signatures`:   +1 for every change to a signature or to who vouches for one: part of the
 *                   ETag of a resolution that lists signatures (./alias-ops.ts `resolveNow`),
 *                   which change without an alias change.
 * All outlive the model's deletion, so a model created again under its name goes on from them.
 */
export const META_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   )`,
];

export class MetaTable {
  constructor(private readonly sql: SqlStorage) {}

  /** A counter's value (0 when never bumped). */
  counter(key: string): number {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return row ? Number(row.value) : 0;
  }

  bump(key: string): number {
    const next = this.counter(key) + 1;
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      key,
      String(next),
    );
    return next;
  }
}
