/**
 * ModelState's version tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module; every write queues its D1 projection in the outbox.
 *
 * - versions:    the authoritative version records (files included), as JSON (`record`),
 *                with `status` lifted out for queries such as "the highest ready version".
 * - idempotency: `Idempotency-Key` of each version create, with the request's hash.
 */
import type { Stage, VersionRecord } from "../domain/version";
import type { Outbox } from "./outbox";

export const VERSION_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS versions (
     version INTEGER PRIMARY KEY,
     status TEXT NOT NULL,
     record TEXT NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS idempotency (
     key TEXT PRIMARY KEY,
     request_hash TEXT NOT NULL,
     version INTEGER NOT NULL,
     created_at TEXT NOT NULL
   )`,
];

const parse = (row: { record: string } | undefined) => (row ? (JSON.parse(row.record) as VersionRecord) : null);

export class VersionTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  get(version: number): VersionRecord | null {
    return parse(this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE version = ?", version).toArray()[0]);
  }

  /** Writes a version record and queues its snapshot for D1. */
  put(record: VersionRecord): void {
    this.sql.exec(
      "INSERT INTO versions (version, status, record) VALUES (?, ?, ?) ON CONFLICT (version) DO UPDATE SET status = excluded.status, record = excluded.record",
      record.version,
      record.status,
      JSON.stringify(record),
    );
    this.outbox.enqueue({ kind: "version", payload: record });
  }

  delete(version: number): void {
    this.sql.exec("DELETE FROM versions WHERE version = ?", version);
  }

  highestReady(): VersionRecord | null {
    return parse(this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE status = 'ready' ORDER BY version DESC LIMIT 1").toArray()[0]);
  }

  /** The versions in `stage`, highest first. */
  inStage(stage: Stage): VersionRecord[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM versions ORDER BY version DESC")
      .toArray()
      .map((r) => JSON.parse(r.record) as VersionRecord)
      .filter((v) => v.stage === stage);
  }

  /** The version an `Idempotency-Key` created, with the hash of the body it came with. */
  idempotent(key: string): { request_hash: string; version: number } | null {
    return this.sql.exec<{ request_hash: string; version: number }>("SELECT request_hash, version FROM idempotency WHERE key = ?", key).toArray()[0] ?? null;
  }

  rememberIdempotent(key: string, requestHash: string, version: number, at: string): void {
    this.sql.exec("INSERT INTO idempotency (key, request_hash, version, created_at) VALUES (?, ?, ?, ?)", key, requestHash, version, at);
  }

  clear(): void {
    this.sql.exec("DELETE FROM versions");
    this.sql.exec("DELETE FROM idempotency");
  }
}
