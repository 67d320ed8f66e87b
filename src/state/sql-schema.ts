/**
 * ModelState's own SQLite schema (one database per model). Described with the other stores
 * in README "Where state lives". Only ModelState reads or writes these tables.
 *
 * - meta:         counters: `last_version` (the highest version number ever given), `generation` (alias changes).
 * - versions:     the authoritative version records (files included), as JSON (`record`),
 *                 with `status` lifted out for queries such as "the highest ready version".
 * - idempotency:  `Idempotency-Key` of each version create, with the request's hash.
 * - uploads:      multipart uploads (the record as JSON), so a client can resume after a crash
 *                 and the Worker can restart without losing them.
 * - upload_parts: the parts R2 has accepted for each upload.
 * - outbox:       changes not yet projected into D1, in commit order.
 * - aliases, alias_history: see src/state/alias-table.ts.
 */
import { ALIAS_SCHEMA } from "./alias-table";

export const MODEL_STATE_SCHEMA = [
  ...ALIAS_SCHEMA,
  `CREATE TABLE IF NOT EXISTS meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   )`,
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
  `CREATE TABLE IF NOT EXISTS uploads (
     upload_id TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     status TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     record TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS uploads_by_version ON uploads (version, status)`,
  `CREATE TABLE IF NOT EXISTS upload_parts (
     upload_id TEXT NOT NULL,
     part INTEGER NOT NULL,
     size INTEGER NOT NULL,
     etag TEXT NOT NULL,
     PRIMARY KEY (upload_id, part)
   )`,
  `CREATE TABLE IF NOT EXISTS outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     payload TEXT NOT NULL
   )`,
];
