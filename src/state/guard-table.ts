/**
 * ModelState's guard tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module.
 *
 * - guards:        each alias's guard (metric, bounds, window, minimum samples).
 * - guard_buckets: the signals of the window, as counts, sums and the number of batches
 *                  (calls) that brought them, per (alias, version, time bucket). Each version
 *                  the alias serves (one, or each member of a split) has its own window: at
 *                  most WINDOW_BUCKETS rows per served version, however many signals come.
 *                  Rows of versions the alias no longer serves are dropped with the next batch.
 *                  Every figure is finite: a batch that would make one not so is refused.
 * Both are written by ModelState only (src/state/guard-ops.ts).
 */
import { mergeTally, oldestBucket, plausibleBatch, type GuardPolicy, type Tally, type WindowStats } from "../domain/guard";

export const GUARD_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS guards (
     alias TEXT PRIMARY KEY,
     policy TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     updated_by TEXT NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS guard_buckets (
     alias TEXT NOT NULL,
     version INTEGER NOT NULL,
     bucket INTEGER NOT NULL,
     n REAL NOT NULL,
     sum REAL NOT NULL,
     batches INTEGER NOT NULL,
     PRIMARY KEY (alias, version, bucket)
   )`,
];

export interface GuardState {
  alias: string;
  policy: GuardPolicy;
  updated_at: string;
  updated_by: string;
}

export class GuardTable {
  constructor(private readonly sql: SqlStorage) {}

  get(alias: string): GuardState | null {
    const row = this.sql
      .exec<{ alias: string; policy: string; updated_at: string; updated_by: string }>("SELECT * FROM guards WHERE alias = ?", alias)
      .toArray()[0];
    return row ? { ...row, policy: JSON.parse(row.policy) as GuardPolicy } : null;
  }

  all(): GuardState[] {
    return this.sql
      .exec<{ alias: string; policy: string; updated_at: string; updated_by: string }>("SELECT * FROM guards ORDER BY alias")
      .toArray()
      .map((row) => ({ ...row, policy: JSON.parse(row.policy) as GuardPolicy }));
  }

  put(state: GuardState): void {
    this.sql.exec(
      "INSERT INTO guards (alias, policy, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (alias) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
      state.alias,
      JSON.stringify(state.policy),
      state.updated_at,
      state.updated_by,
    );
    this.forget(state.alias);
  }

  delete(alias: string): void {
    this.sql.exec("DELETE FROM guards WHERE alias = ?", alias);
    this.forget(alias);
  }

  /**
   * Adds a batch (`count` samples summing to `sum`) to `version`'s bucket, and drops what left
   * the window or belongs to a version the alias no longer serves (`served`); the windows of
   * the other versions it serves stay as they are. A batch no valid signals could make, or
   * one that would make the bucket's figures non-finite, is refused: false, nothing written.
   */
  add(alias: string, version: number, bucket: number, batch: Tally, served: readonly number[]): boolean {
    if (!plausibleBatch(batch)) return false;
    this.sql.exec(
      "DELETE FROM guard_buckets WHERE alias = ? AND (bucket < ? OR version NOT IN (SELECT value FROM json_each(?)))",
      alias,
      oldestBucket(bucket),
      JSON.stringify(served),
    );
    const row = this.sql
      .exec<{ n: number; sum: number }>("SELECT n, sum FROM guard_buckets WHERE alias = ? AND version = ? AND bucket = ?", alias, version, bucket)
      .toArray()[0];
    const merged = mergeTally(row ? { count: row.n, sum: row.sum } : { count: 0, sum: 0 }, batch);
    if (!merged) return false;
    this.sql.exec(
      "INSERT INTO guard_buckets (alias, version, bucket, n, sum, batches) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (alias, version, bucket) DO UPDATE SET n = excluded.n, sum = excluded.sum, batches = batches + 1",
      alias,
      version,
      bucket,
      merged.count,
      merged.sum,
    );
    return true;
  }

  /** The window of `versions` together (one version: its own window). */
  stats(alias: string, versions: readonly number[], currentBucket: number): WindowStats {
    const row = this.sql
      .exec<{ n: number | null; sum: number | null; batches: number | null }>(
        "SELECT sum(n) AS n, sum(sum) AS sum, sum(batches) AS batches FROM guard_buckets WHERE alias = ? AND version IN (SELECT value FROM json_each(?)) AND bucket >= ?",
        alias,
        JSON.stringify(versions),
        oldestBucket(currentBucket),
      )
      .one();
    const samples = row.n ?? 0;
    return { samples, mean: samples > 0 ? row.sum! / samples : null, batches: row.batches ?? 0 };
  }

  /** Stops counting: the window of the alias starts empty. */
  forget(alias: string): void {
    this.sql.exec("DELETE FROM guard_buckets WHERE alias = ?", alias);
  }

  clear(): void {
    this.sql.exec("DELETE FROM guards");
    this.sql.exec("DELETE FROM guard_buckets");
  }
}
