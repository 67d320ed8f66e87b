/**
 * ModelState's outbox: changes committed in the object's SQLite that D1 has not seen yet.
 * `enqueue` is synchronous, so a change and its projection commit in one transaction;
 * `flush` projects them into D1 afterwards, in commit order (src/state/projection.ts).
 *
 * - outbox: the queued items, in commit order (`seq`).
 */
import { project, type OutboxItem } from "./projection";

export const OUTBOX_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     payload TEXT NOT NULL
   )`,
];

const OUTBOX_BATCH = 50;

export class Outbox {
  /** The flush in progress, shared by every caller that wants its write projected. */
  private flushing: Promise<void> | null = null;
  /** Set when a write lands while a flush runs, so that flush goes round once more. */
  private flushAgain = false;
  /** Whether anything was queued since `resetChanged`: the commit's "is there work for D1". */
  changed = false;

  constructor(
    private readonly sql: SqlStorage,
    private readonly d1: () => D1Database,
  ) {}

  enqueue(item: OutboxItem): void {
    this.sql.exec("INSERT INTO outbox (kind, payload) VALUES (?, ?)", item.kind, JSON.stringify(item.payload));
    this.changed = true;
    this.flushAgain = true;
  }

  depth(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  /** Projects the outbox into D1 now; rejects if D1 refused. */
  flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    for (;;) {
      this.flushAgain = false;
      const rows = this.sql
        .exec<{ seq: number; kind: string; payload: string }>("SELECT seq, kind, payload FROM outbox ORDER BY seq LIMIT ?", OUTBOX_BATCH)
        .toArray();
      if (rows.length === 0) return;
      const items = rows.map((row) => ({ kind: row.kind, payload: JSON.parse(row.payload) }) as OutboxItem);
      await project(this.d1(), items);
      this.sql.exec("DELETE FROM outbox WHERE seq <= ?", rows[rows.length - 1]!.seq);
      if (rows.length < OUTBOX_BATCH && !this.flushAgain) return;
    }
  }
}
