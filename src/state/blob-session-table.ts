/**
 * ModelState's blob sessions and loose blobs (src/domain/blob-session.ts), read and written
 * synchronously (safe inside transactionSync). Only ModelState uses this module.
 *
 * - blob_sessions:      uploads of bytes not tied to a version (the record as JSON), kept after
 *                       they end until `expires_at`, so a repeated status or end still answers.
 * - blob_session_parts: the storage parts R2 accepted for each open session.
 * - loose_blobs:        verified blobs uploaded to (or mounted into) this model that no version
 *                       names yet: what a manifest push may use, until `expires_at`
 *                       (`UPLOAD_TTL_S` after they arrived); the blob collector asks for them.
 *
 * An open session is projected into D1's `open_uploads` with version 0 (no version has that
 * number), so the scheduled cleanup finds expired ones as it finds `/v1` uploads.
 */
import type { BlobSession, BlobSessionPart, BlobSessionStatus } from "../domain/blob-session";
import type { Outbox } from "./outbox";

export const BLOB_SESSION_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS blob_sessions (
     id TEXT PRIMARY KEY,
     status TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     record TEXT NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS blob_session_parts (
     id TEXT NOT NULL,
     part INTEGER NOT NULL,
     size INTEGER NOT NULL,
     etag TEXT NOT NULL,
     PRIMARY KEY (id, part)
   )`,
  `CREATE TABLE IF NOT EXISTS loose_blobs (
     sha256 TEXT PRIMARY KEY,
     size INTEGER NOT NULL,
     expires_at TEXT NOT NULL
   )`,
];

/** The D1 `open_uploads` version of a session: none (versions start at 1). */
export const SESSION_VERSION = 0;

export class BlobSessionTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  get(id: string): BlobSession | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM blob_sessions WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as BlobSession) : null;
  }

  parts(id: string): BlobSessionPart[] {
    return this.sql
      .exec<{ part: number; size: number; etag: string }>(
        "SELECT part, size, etag FROM blob_session_parts WHERE id = ? ORDER BY part",
        id,
      )
      .toArray()
      .map((p) => ({ part: p.part, size: p.size, etag: p.etag }));
  }

  /** Records a newly opened session and queues it for D1 (where the cleanup finds expired ones). */
  opened(session: BlobSession): void {
    this.put(session);
    this.outbox.enqueue({
      kind: "upload_opened",
      payload: {
        upload_id: session.id,
        model: session.model,
        version: SESSION_VERSION,
        expires_at: session.expires_at,
      },
    });
  }

  put(session: BlobSession): void {
    this.sql.exec(
      "INSERT INTO blob_sessions (id, status, expires_at, record) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record",
      session.id,
      session.status,
      session.expires_at,
      JSON.stringify(session),
    );
  }

  addParts(id: string, parts: readonly BlobSessionPart[]): void {
    for (const p of parts)
      this.sql.exec(
        "INSERT INTO blob_session_parts (id, part, size, etag) VALUES (?, ?, ?, ?) ON CONFLICT (id, part) DO UPDATE SET size = excluded.size, etag = excluded.etag",
        id,
        p.part,
        p.size,
        p.etag,
      );
  }

  /** Ends a session with `status` and drops its part records; D1 forgets it as open. */
  close(session: BlobSession, status: Exclude<BlobSessionStatus, "open">, sha256: string | null = null): BlobSession {
    const closed = { ...session, status, sha256, holder: null, held_until: null };
    this.put(closed);
    this.sql.exec("DELETE FROM blob_session_parts WHERE id = ?", session.id);
    this.outbox.enqueue({ kind: "upload_closed", payload: { upload_id: session.id } });
    return closed;
  }

  open(): BlobSession[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM blob_sessions WHERE status = 'open'")
      .toArray()
      .map((r) => JSON.parse(r.record) as BlobSession);
  }

  /** Sessions whose assembled bytes are being verified in steps. */
  verifying(): BlobSession[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM blob_sessions WHERE status = 'verifying'")
      .toArray()
      .map((r) => JSON.parse(r.record) as BlobSession);
  }

  openExpired(now: string): BlobSession[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM blob_sessions WHERE status = 'open' AND expires_at <= ?", now)
      .toArray()
      .map((r) => JSON.parse(r.record) as BlobSession);
  }

  /** Forgets ended sessions and loose blobs whose time has passed (a session still verifying is not ended). */
  prune(now: string): void {
    this.sql.exec("DELETE FROM blob_sessions WHERE status NOT IN ('open', 'verifying') AND expires_at <= ?", now);
    this.sql.exec("DELETE FROM loose_blobs WHERE expires_at <= ?", now);
  }

  /** Holds verified bytes for this model until `expiresAt` (a later hold of the same bytes extends it). */
  holdLoose(sha256: string, size: number, expiresAt: string): void {
    this.sql.exec(
      "INSERT INTO loose_blobs (sha256, size, expires_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, expires_at = max(expires_at, excluded.expires_at)",
      sha256,
      size,
      expiresAt,
    );
  }

  /** The size of a loose blob held at `now`, or null. */
  looseSize(sha256: string, now: string): number | null {
    const row = this.sql
      .exec<{ size: number }>("SELECT size FROM loose_blobs WHERE sha256 = ? AND expires_at > ?", sha256, now)
      .toArray()[0];
    return row?.size ?? null;
  }

  clear(): void {
    this.sql.exec("DELETE FROM blob_sessions");
    this.sql.exec("DELETE FROM blob_session_parts");
    this.sql.exec("DELETE FROM loose_blobs");
  }
}
