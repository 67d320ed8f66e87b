/**
 * ModelState's own SQLite schema (one database per model). Described with the other stores
 * in README "Where state lives". Only ModelState reads or writes these tables.
 *
 * - meta:        key/value facts of the object: `next_version`.
 * - versions:    the authoritative version records, as JSON (`record`), with `status` lifted out
 *                for queries such as "the highest ready version".
 * - idempotency: `Idempotency-Key` of each version create, with the request's hash.
 * - outbox:      changes not yet projected into D1, in commit order.
 */
export const MODEL_STATE_SCHEMA = [
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
  `CREATE TABLE IF NOT EXISTS outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     payload TEXT NOT NULL
   )`,
];
