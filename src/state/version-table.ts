/**
 * ModelState's version tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module; every write queues its D1 projection in the outbox.
 *
 * - versions:    the authoritative version records without their files (`record`, JSON),
 *                with `status` and `stage` lifted out and indexed for "the highest ready
 *                version" and the stage fallback, so neither parses every record.
 * - files:       each version's files, one row per path: adding the 1,000th file of a
 *                checkpoint writes one row here and one in D1, not the whole list again.
 * - file_keys:   each file's collision key (src/domain/file-path-rule.ts: NFC, lower case),
 *                so a new path is checked against a version's files by index, not by
 *                folding every path again; `file_keys_built` names the versions whose keys
 *                are all there (those older than the table get theirs on first use).
 * - stage_history: every stage (but `none`) each version has been in, for a gate's `from`.
 * - idempotency: `Idempotency-Key` of each version create, with the request's hash; kept
 *                IDEMPOTENCY_TTL_MS (24 h), pruned by later creates.
 */
import { directoryKeys, pathCollisionKey } from "../domain/file-path-rule";
import type { ManifestEntry } from "../domain/manifest";
import type { Stage, VersionHead, VersionRecord } from "../domain/version";
import type { Outbox } from "./outbox";

export const VERSION_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS versions (
     version INTEGER PRIMARY KEY,
     status TEXT NOT NULL,
     stage TEXT NOT NULL,
     record TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS versions_by_status ON versions (status, version)`,
  `CREATE INDEX IF NOT EXISTS versions_by_stage ON versions (stage, version)`,
  `CREATE TABLE IF NOT EXISTS files (
     version INTEGER NOT NULL,
     path TEXT NOT NULL,
     size INTEGER NOT NULL,
     sha256 TEXT NOT NULL,
     PRIMARY KEY (version, path)
   )`,
  `CREATE INDEX IF NOT EXISTS files_by_sha256 ON files (sha256)`,
  `CREATE TABLE IF NOT EXISTS file_keys (
     version INTEGER NOT NULL,
     key TEXT NOT NULL,
     path TEXT NOT NULL,
     PRIMARY KEY (version, key, path)
   )`,
  `CREATE TABLE IF NOT EXISTS file_keys_built (version INTEGER PRIMARY KEY)`,
  `CREATE TABLE IF NOT EXISTS stage_history (
     version INTEGER NOT NULL,
     stage TEXT NOT NULL,
     PRIMARY KEY (version, stage)
   )`,
  `CREATE TABLE IF NOT EXISTS idempotency (
     key TEXT PRIMARY KEY,
     request_hash TEXT NOT NULL,
     version INTEGER NOT NULL,
     created_at TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created_at)`,
];

/** How long an `Idempotency-Key` is remembered (docs/api.md documents it). */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

const parse = (row: { record: string } | undefined) => (row ? (JSON.parse(row.record) as VersionHead) : null);

export class VersionTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  /** The version without its files: what most decisions read. */
  head(version: number): VersionHead | null {
    return parse(
      this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE version = ?", version).toArray()[0],
    );
  }

  get(version: number): VersionRecord | null {
    return this.withFiles(this.head(version));
  }

  /** The version's files in UTF-8 byte order of their paths (SQLite's BINARY collation), as the manifest sorts them. */
  files(version: number): ManifestEntry[] {
    return this.sql
      .exec<{ path: string; size: number; sha256: string }>(
        "SELECT path, size, sha256 FROM files WHERE version = ? ORDER BY path",
        version,
      )
      .toArray()
      .map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  }

  file(version: number, path: string): ManifestEntry | null {
    const row = this.sql
      .exec<{ path: string; size: number; sha256: string }>(
        "SELECT path, size, sha256 FROM files WHERE version = ? AND path = ?",
        version,
        path,
      )
      .toArray()[0];
    return row ? { path: row.path, size: row.size, sha256: row.sha256 } : null;
  }

  /** Whether any version holds these bytes (the blob collector asks before deleting them). */
  holds(sha256: string): boolean {
    return this.sql.exec("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1", sha256).toArray().length > 0;
  }

  /** The size of these bytes in a file of any version, or null when none holds them. */
  fileSize(sha256: string): number | null {
    const row = this.sql.exec<{ size: number }>("SELECT size FROM files WHERE sha256 = ? LIMIT 1", sha256).toArray()[0];
    return row?.size ?? null;
  }

  hasFiles(version: number): boolean {
    return this.sql.exec("SELECT 1 FROM files WHERE version = ? LIMIT 1", version).toArray().length > 0;
  }

  /** Writes a version (without files) and queues its snapshot for D1. */
  put(head: VersionHead): void {
    this.sql.exec(
      "INSERT INTO versions (version, status, stage, record) VALUES (?, ?, ?, ?) ON CONFLICT (version) DO UPDATE SET status = excluded.status, stage = excluded.stage, record = excluded.record",
      head.version,
      head.status,
      head.stage,
      JSON.stringify(head),
    );
    if (head.stage !== "none")
      this.sql.exec("INSERT OR IGNORE INTO stage_history (version, stage) VALUES (?, ?)", head.version, head.stage);
    this.outbox.enqueue({ kind: "version", payload: head });
  }

  /** Whether the version is, or has been, in `stage`. */
  everInStage(version: number, stage: string): boolean {
    return (
      this.sql.exec("SELECT 1 FROM stage_history WHERE version = ? AND stage = ?", version, stage).toArray().length > 0
    );
  }

  /** The highest-numbered version that has ever been in `stage` (deleted versions leave no trace here). */
  lastEverInStage(stage: string): VersionHead | null {
    const row = this.sql
      .exec<{ version: number }>("SELECT max(version) AS version FROM stage_history WHERE stage = ?", stage)
      .one();
    return row.version === null ? null : this.head(row.version);
  }

  /**
   * A file of the version that no disk can hold beside `path` (the same collision key, or a
   * file where one needs a directory, or the reverse), or null. The file at `path` itself is
   * no collision: a new one replaces it.
   */
  collidingFile(version: number, path: string): string | null {
    this.buildKeys(version);
    const key = pathCollisionKey(path);
    const row = this.sql
      .exec<{ path: string }>(
        // Three index searches: the same key (another path), a directory the path needs, and
        // keys under the directory `key`, which sort between `key/` and `key0` ('0' follows '/').
        `SELECT path FROM file_keys WHERE version = ?1 AND key = ?3 AND path != ?2
         UNION ALL SELECT path FROM file_keys WHERE version = ?1 AND key IN (SELECT value FROM json_each(?4))
         UNION ALL SELECT path FROM file_keys WHERE version = ?1 AND key > ?3 || '/' AND key < ?3 || '0'
         LIMIT 1`,
        version,
        path,
        key,
        JSON.stringify(directoryKeys(key)),
      )
      .toArray()[0];
    return row?.path ?? null;
  }

  /** Gives a version older than `file_keys` the keys of its files, once. */
  private buildKeys(version: number): void {
    if (this.sql.exec("SELECT 1 FROM file_keys_built WHERE version = ?", version).toArray().length > 0) return;
    for (const { path } of this.sql
      .exec<{ path: string }>("SELECT path FROM files WHERE version = ?", version)
      .toArray())
      this.putKey(version, path);
    this.sql.exec("INSERT INTO file_keys_built (version) VALUES (?)", version);
  }

  private putKey(version: number, path: string): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO file_keys (version, key, path) VALUES (?, ?, ?)",
      version,
      pathCollisionKey(path),
      path,
    );
  }

  /** Adds a file, or replaces the one at its path; queues that one row for D1. */
  putFile(head: VersionHead, file: ManifestEntry): void {
    this.buildKeys(head.version);
    this.sql.exec(
      "INSERT INTO files (version, path, size, sha256) VALUES (?, ?, ?, ?) ON CONFLICT (version, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256",
      head.version,
      file.path,
      file.size,
      file.sha256,
    );
    this.putKey(head.version, file.path);
    this.outbox.enqueue({ kind: "file_added", payload: { model: head.model, version: head.version, file } });
  }

  removeFile(head: VersionHead, path: string): void {
    this.sql.exec("DELETE FROM files WHERE version = ? AND path = ?", head.version, path);
    this.sql.exec("DELETE FROM file_keys WHERE version = ? AND path = ?", head.version, path);
    this.outbox.enqueue({ kind: "file_removed", payload: { model: head.model, version: head.version, path } });
  }

  /** Forgets a version and its files (the caller queues the D1 side with its audit event). */
  delete(version: number): void {
    this.sql.exec("DELETE FROM files WHERE version = ?", version);
    this.sql.exec("DELETE FROM file_keys WHERE version = ?", version);
    this.sql.exec("DELETE FROM file_keys_built WHERE version = ?", version);
    this.sql.exec("DELETE FROM stage_history WHERE version = ?", version);
    this.sql.exec("DELETE FROM versions WHERE version = ?", version);
  }

  /** The highest ready version's number, without reading its files. */
  highestReadyVersion(): number | null {
    return (
      this.sql
        .exec<{ version: number }>("SELECT version FROM versions WHERE status = 'ready' ORDER BY version DESC LIMIT 1")
        .toArray()[0]?.version ?? null
    );
  }

  highestReady(): VersionRecord | null {
    return this.withFiles(
      parse(
        this.sql
          .exec<{ record: string }>("SELECT record FROM versions WHERE status = 'ready' ORDER BY version DESC LIMIT 1")
          .toArray()[0],
      ),
    );
  }

  /** The highest version in `stage`: the stage fallback of resolution. */
  highestInStage(stage: Stage): VersionRecord | null {
    return this.withFiles(
      parse(
        this.sql
          .exec<{ record: string }>("SELECT record FROM versions WHERE stage = ? ORDER BY version DESC LIMIT 1", stage)
          .toArray()[0],
      ),
    );
  }

  /** The versions in `stage`, highest first. */
  inStage(stage: Stage): VersionHead[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM versions WHERE stage = ? ORDER BY version DESC", stage)
      .toArray()
      .map((r) => JSON.parse(r.record) as VersionHead);
  }

  /** Every version without its files, lowest first (retention decides over all of them). */
  heads(): VersionHead[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM versions ORDER BY version")
      .toArray()
      .map((r) => JSON.parse(r.record) as VersionHead);
  }

  /** The version an `Idempotency-Key` created, with the hash of the body it came with. */
  idempotent(key: string): { request_hash: string; version: number } | null {
    return (
      this.sql
        .exec<{ request_hash: string; version: number }>(
          "SELECT request_hash, version FROM idempotency WHERE key = ?",
          key,
        )
        .toArray()[0] ?? null
    );
  }

  /** Remembers a key, and forgets those older than IDEMPOTENCY_TTL_MS, so the table stays bounded. */
  rememberIdempotent(key: string, requestHash: string, version: number, at: string): void {
    this.pruneIdempotency(at);
    this.sql.exec(
      "INSERT INTO idempotency (key, request_hash, version, created_at) VALUES (?, ?, ?, ?)",
      key,
      requestHash,
      version,
      at,
    );
  }

  pruneIdempotency(now: string): void {
    const cutoff = new Date(Date.parse(now) - IDEMPOTENCY_TTL_MS).toISOString();
    this.sql.exec("DELETE FROM idempotency WHERE created_at < ?", cutoff);
  }

  clear(): void {
    for (const table of ["versions", "files", "file_keys", "file_keys_built", "stage_history", "idempotency"])
      this.sql.exec(`DELETE FROM ${table}`);
  }

  private withFiles(head: VersionHead | null): VersionRecord | null {
    return head ? { ...head, files: this.files(head.version) } : null;
  }
}
