/**
 * ModelState's outbox: changes committed in the object's SQLite that D1 has not seen yet.
 * `enqueue` is synchronous, so a change and its projection commit in one transaction;
 * `flush` projects them into D1 afterwards, in commit order (src/state/projection.ts).
 *
 * - outbox: the queued items, in commit order (`seq`).
 *
 * - events: audit events D1 has taken, waiting to go on the queue (src/queue/publish.ts), where
 *   the consumer matches them against webhooks. An audit event moves here from `outbox` in the same commit that
 *   removes it there, so it is dispatched exactly when it is in D1, and at least once.
 *
 * A drain projects up to the newest item queued when it started, in batches, so it ends
 * however many writes arrive meanwhile (theirs are the next drain's work), and a write's
 * flush finishes once its own items are in D1. Drains run one at a time, so items land in
 * commit order. Events are sent apart from the flush, after the write has answered.
 */
import type { AuditEvent } from "../domain/audit";
import { project, type OutboxItem } from "./projection";

export const OUTBOX_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     payload TEXT NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     payload TEXT NOT NULL
   )`,
];

/** Events sent to webhooks per dispatch. */
const EVENT_BATCH = 50;

const OUTBOX_BATCH = 50;

export class Outbox {
  /** The drain in progress, if any. */
  private draining: Promise<void> | null = null;
  /** The event dispatch in progress, if any. */
  private sending: Promise<void> | null = null;
  /** Whether anything was queued since the flag was last cleared: the commit's "is there work for D1". */
  changed = false;

  constructor(
    private readonly sql: SqlStorage,
    private readonly d1: () => D1Database,
  ) {}

  enqueue(item: OutboxItem): void {
    this.sql.exec("INSERT INTO outbox (kind, payload) VALUES (?, ?)", item.kind, JSON.stringify(item.payload));
    this.changed = true;
  }

  depth(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  /** Projects every item queued so far into D1; rejects if D1 refused. */
  async flush(): Promise<void> {
    const upTo = this.newestSeq();
    while (this.oldestSeq() <= upTo) {
      // One drain at a time keeps D1 in commit order; a caller whose items a running drain
      // does not cover waits for it, then drains everything queued by then (its own items
      // and those of the callers waiting with it, in one pass with a fixed end).
      this.draining ??= this.drain(this.newestSeq()).finally(() => {
        this.draining = null;
      });
      await this.draining;
    }
  }

  private newestSeq(): number {
    return this.sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM outbox").one().seq ?? 0;
  }

  private oldestSeq(): number {
    return (
      this.sql.exec<{ seq: number | null }>("SELECT min(seq) AS seq FROM outbox").one().seq ?? Number.POSITIVE_INFINITY
    );
  }

  private async drain(upTo: number): Promise<void> {
    for (;;) {
      const rows = this.sql
        .exec<{ seq: number; kind: string; payload: string }>(
          "SELECT seq, kind, payload FROM outbox WHERE seq <= ? ORDER BY seq LIMIT ?",
          upTo,
          OUTBOX_BATCH,
        )
        .toArray();
      if (rows.length === 0) return;
      const items = rows.map((row) => ({ kind: row.kind, payload: JSON.parse(row.payload) }) as OutboxItem);
      await project(this.d1(), items);
      // No await between these two: they commit together.
      const last = rows[rows.length - 1]!.seq;
      this.sql.exec(
        "INSERT INTO events (payload) SELECT payload FROM outbox WHERE seq <= ? AND kind = 'audit' ORDER BY seq",
        last,
      );
      this.sql.exec("DELETE FROM outbox WHERE seq <= ?", last);
    }
  }

  eventsPending(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one().n;
  }

  /**
   * Hands the events D1 has taken to `dispatch` (which puts them on the queue, or
   * dead-letters one that can never go, and says how many from the first it settled), in
   * order, removing those settled; rejects when it settled fewer than it was given (the
   * queue is down: the rest wait, in order, for the next call). One at a time.
   */
  async sendEvents(dispatch: (events: AuditEvent[]) => Promise<number>): Promise<void> {
    this.sending ??= (async () => {
      for (;;) {
        const rows = this.sql
          .exec<{ seq: number; payload: string }>("SELECT seq, payload FROM events ORDER BY seq LIMIT ?", EVENT_BATCH)
          .toArray();
        if (rows.length === 0) return;
        const settled = await dispatch(rows.map((r) => JSON.parse(r.payload) as AuditEvent));
        if (settled > 0) this.sql.exec("DELETE FROM events WHERE seq <= ?", rows[settled - 1]!.seq);
        if (settled < rows.length)
          throw new Error(`the queue took ${settled} of ${rows.length} events; the rest wait, in order`);
      }
    })().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }
}
