/**
 * ModelState's record of the model itself, read and written synchronously (safe inside
 * transactionSync). Only ModelState uses this module. The row's presence is the registry's
 * one answer to "does this model exist": every write checks it in the same transaction, so
 * nothing lands in a model being deleted, and D1's `models` row is only its projection.
 *
 * - model: one row (`id` = 1) holding the ModelRecord as JSON, absent while the model does not exist.
 */
import type { ModelRecord } from "../domain/model";
import type { Outbox } from "./outbox";

export const MODEL_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS model (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     record TEXT NOT NULL
   )`,
];

export class ModelTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  get(): ModelRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM model WHERE id = 1").toArray()[0];
    return row ? (JSON.parse(row.record) as ModelRecord) : null;
  }

  /** Writes the record and queues it for D1. */
  put(record: ModelRecord): void {
    this.sql.exec(
      "INSERT INTO model (id, record) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
      JSON.stringify(record),
    );
    this.outbox.enqueue({ kind: "model", payload: record });
  }

  /** Forgets the model and queues the removal of everything D1 holds of it. */
  delete(name: string): void {
    this.sql.exec("DELETE FROM model WHERE id = 1");
    this.outbox.enqueue({ kind: "model_deleted", payload: { model: name } });
  }
}
