/**
 * ModelState's retention table, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module; every write queues its D1 projection in the outbox, so
 * the scheduled cleanup can find the models that have a policy of their own without asking
 * every model's object.
 *
 * - retention: one row (`id` = 1) holding the model's own policy, absent while the registry
 *              default applies.
 */
import type { RetentionPolicy } from "../domain/retention";
import type { Outbox } from "./outbox";

export const RETENTION_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS retention (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     policy TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     updated_by TEXT NOT NULL
   )`,
];

export interface OwnRetention {
  policy: RetentionPolicy;
  updated_at: string;
  updated_by: string;
}

type Row = { policy: string; updated_at: string; updated_by: string };

export class RetentionTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  get(): OwnRetention | null {
    const row = this.sql.exec<Row>("SELECT policy, updated_at, updated_by FROM retention WHERE id = 1").toArray()[0];
    return row
      ? { policy: JSON.parse(row.policy) as RetentionPolicy, updated_at: row.updated_at, updated_by: row.updated_by }
      : null;
  }

  put(model: string, own: OwnRetention): void {
    this.sql.exec(
      "INSERT INTO retention (id, policy, updated_at, updated_by) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
      JSON.stringify(own.policy),
      own.updated_at,
      own.updated_by,
    );
    this.outbox.enqueue({ kind: "retention", payload: { model, ...own } });
  }

  delete(model: string): void {
    this.sql.exec("DELETE FROM retention WHERE id = 1");
    this.outbox.enqueue({ kind: "retention_deleted", payload: { model } });
  }

  /** Forgets the policy with the model; D1's row goes with the model's other rows. */
  clear(): void {
    this.sql.exec("DELETE FROM retention");
  }
}
