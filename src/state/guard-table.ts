/**
 * ModelState's guard tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module.
 *
 * - guards:        each alias's guard (metric, bounds, window, minimum samples and nodes).
 * - guard_buckets: the signals of the window, as counts, sums and the number of batches
 *                  (calls) that brought them, per (alias, version, time bucket). Each version
 *                  the alias serves (one, or each member of a split) has its own window: at
 *                  most WINDOW_BUCKETS rows per served version, however many signals come.
 *                  Rows of versions the alias no longer serves are dropped with the next batch.
 *                  Every figure is finite: a batch that would make one not so is refused.
 * - guard_nodes:   the nodes that reported, per (alias, version, time bucket): at most the
 *                  guard's `min_nodes` names per bucket (src/domain/guard.ts `addNode` says
 *                  why that decides as the whole set would), so at most WINDOW_BUCKETS ×
 *                  min_nodes rows per served version, however many names reporters invent;
 *                  none for a guard with `min_nodes` 1, which any sample satisfies. Dropped
 *                  with the buckets they belong to.
 * All are written by ModelState only (src/state/guard-ops.ts).
 */
import {
  ANONYMOUS_NODE,
  MAX_NODE_NAME,
  mergeTally,
  oldestBucket,
  plausibleBatch,
  withNodeDefault,
  type GuardPolicy,
  type SignalTally,
  type WindowStats,
} from "../domain/guard";

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
  `CREATE TABLE IF NOT EXISTS guard_nodes (
     alias TEXT NOT NULL,
     version INTEGER NOT NULL,
     bucket INTEGER NOT NULL,
     node TEXT NOT NULL,
     PRIMARY KEY (alias, version, bucket, node)
   )`,
];

type GuardRow = { alias: string; policy: string; updated_at: string; updated_by: string };

const fromRow = (row: GuardRow): GuardState => ({
  ...row,
  policy: withNodeDefault(JSON.parse(row.policy) as GuardPolicy),
});

export interface GuardState {
  alias: string;
  policy: GuardPolicy;
  updated_at: string;
  updated_by: string;
}

export class GuardTable {
  constructor(private readonly sql: SqlStorage) {}

  get(alias: string): GuardState | null {
    const row = this.sql.exec<GuardRow>("SELECT * FROM guards WHERE alias = ?", alias).toArray()[0];
    return row ? fromRow(row) : null;
  }

  all(): GuardState[] {
    return this.sql.exec<GuardRow>("SELECT * FROM guards ORDER BY alias").toArray().map(fromRow);
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
   * Adds a batch (`count` samples summing to `sum`, from `nodes`) to `version`'s bucket, and
   * drops what left the window or belongs to a version the alias no longer serves (`served`);
   * the windows of the other versions it serves stay as they are. The bucket keeps at most
   * `minNodes` node names; a batch naming none counts as the anonymous node. A batch no valid
   * signals could make, or one that would make the bucket's figures non-finite, is refused:
   * false, nothing written.
   */
  add(
    alias: string,
    version: number,
    bucket: number,
    batch: SignalTally,
    served: readonly number[],
    minNodes: number,
  ): boolean {
    if (!plausibleBatch(batch)) return false;
    // With min_nodes 1 any sample is from enough nodes: no names are kept (setting a guard empties its window).
    for (const table of minNodes > 1 ? ["guard_buckets", "guard_nodes"] : ["guard_buckets"]) {
      this.sql.exec(
        `DELETE FROM ${table} WHERE alias = ? AND (bucket < ? OR version NOT IN (SELECT value FROM json_each(?)))`,
        alias,
        oldestBucket(bucket),
        JSON.stringify(served),
      );
    }
    const row = this.sql
      .exec<{ n: number; sum: number }>(
        "SELECT n, sum FROM guard_buckets WHERE alias = ? AND version = ? AND bucket = ?",
        alias,
        version,
        bucket,
      )
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
    if (minNodes > 1)
      this.addNodes(alias, version, bucket, batch.nodes.length > 0 ? batch.nodes : [ANONYMOUS_NODE], minNodes);
    return true;
  }

  /** Notes `nodes` in the bucket until it holds `cap` names (a name longer than a node's may be is not one). */
  private addNodes(alias: string, version: number, bucket: number, nodes: readonly string[], cap: number): void {
    const names = [...new Set(nodes.filter((n) => typeof n === "string" && n.length <= MAX_NODE_NAME))];
    const bucketRows = "SELECT node FROM guard_nodes WHERE alias = ? AND version = ? AND bucket = ?";
    this.sql.exec(
      `INSERT INTO guard_nodes (alias, version, bucket, node)
       SELECT ?, ?, ?, value FROM json_each(?) WHERE value NOT IN (${bucketRows})
       LIMIT max(0, ? - (SELECT count(*) FROM (${bucketRows})))`,
      alias,
      version,
      bucket,
      JSON.stringify(names),
      alias,
      version,
      bucket,
      cap,
      alias,
      version,
      bucket,
    );
  }

  /** The window of `versions` together (one version: its own window), its nodes counted up to `minNodes`. */
  stats(alias: string, versions: readonly number[], currentBucket: number, minNodes: number): WindowStats {
    const inWindow = "alias = ? AND version IN (SELECT value FROM json_each(?)) AND bucket >= ?";
    const args = [alias, JSON.stringify(versions), oldestBucket(currentBucket)];
    const row = this.sql
      .exec<{ n: number | null; sum: number | null; batches: number | null }>(
        `SELECT sum(n) AS n, sum(sum) AS sum, sum(batches) AS batches FROM guard_buckets WHERE ${inWindow}`,
        ...args,
      )
      .one();
    const samples = row.n ?? 0;
    const nodes =
      minNodes > 1
        ? this.sql
            .exec<{ n: number }>(`SELECT count(DISTINCT node) AS n FROM guard_nodes WHERE ${inWindow}`, ...args)
            .one().n
        : Math.sign(samples);
    return {
      samples,
      mean: samples > 0 ? row.sum! / samples : null,
      batches: row.batches ?? 0,
      nodes: Math.min(nodes, minNodes),
    };
  }

  /** Stops counting: the window of the alias starts empty. */
  forget(alias: string): void {
    this.sql.exec("DELETE FROM guard_buckets WHERE alias = ?", alias);
    this.sql.exec("DELETE FROM guard_nodes WHERE alias = ?", alias);
  }

  clear(): void {
    this.sql.exec("DELETE FROM guards");
    this.sql.exec("DELETE FROM guard_buckets");
    this.sql.exec("DELETE FROM guard_nodes");
  }
}
