/**
 * ModelState's multipart upload tables, read and written synchronously (safe inside
 * transactionSync). Only ModelState uses this module.
 *
 * - uploads:      multipart uploads (the record as JSON), so a client can resume after a
 *                 crash and the Worker can restart without losing them; an upload that
 *                 ended is kept until its `expires_at` (a repeated `complete` still answers),
 *                 then pruned.
 * - upload_parts: the parts R2 has accepted for each open upload.
 *
 * A blob upload (`version` BLOB_UPLOAD_VERSION, src/domain/upload.ts) is bytes sent for the
 * model before any version names them; once completed, its row is the model's claim on
 * those bytes until `expires_at`.
 */
import { BLOB_UPLOAD_VERSION, type UploadPart, type UploadRecord } from "../domain/upload";
import type { Outbox } from "./outbox";

export const UPLOAD_SCHEMA = [
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
];

/** What the caller must do in R2 after uploads end: abort these multipart uploads. */
export interface R2Aborts {
  aborts: { r2_key: string; r2_upload_id: string }[];
}

const records = (rows: { record: string }[]) => rows.map((r) => JSON.parse(r.record) as UploadRecord);

export class UploadTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  get(uploadId: string): UploadRecord | null {
    return (
      records(
        this.sql.exec<{ record: string }>("SELECT record FROM uploads WHERE upload_id = ?", uploadId).toArray(),
      )[0] ?? null
    );
  }

  parts(uploadId: string): UploadPart[] {
    return this.sql
      .exec<{ part: number; size: number; etag: string }>(
        "SELECT part, size, etag FROM upload_parts WHERE upload_id = ? ORDER BY part",
        uploadId,
      )
      .toArray()
      .map((p) => ({ part: p.part, size: p.size, etag: p.etag }));
  }

  /** Unfinished uploads (open, or verifying): of one version, or (without `version`) of every version. */
  open(version?: number): UploadRecord[] {
    const rows =
      version === undefined
        ? this.sql
            .exec<{ record: string }>("SELECT record FROM uploads WHERE status IN ('open', 'verifying')")
            .toArray()
        : this.sql
            .exec<{
              record: string;
            }>("SELECT record FROM uploads WHERE version = ? AND status IN ('open', 'verifying')", version)
            .toArray();
    return records(rows);
  }

  /** Uploads whose bytes are being verified across invocations. */
  verifying(): UploadRecord[] {
    return records(
      this.sql.exec<{ record: string }>("SELECT record FROM uploads WHERE status = 'verifying'").toArray(),
    );
  }

  /** Rewrites an upload's record (its status, its verification's progress). */
  update(upload: UploadRecord): void {
    this.put(upload);
  }

  openExpired(now: string): UploadRecord[] {
    return records(
      this.sql
        .exec<{ record: string }>("SELECT record FROM uploads WHERE status = 'open' AND expires_at <= ?", now)
        .toArray(),
    );
  }

  /** The unexpired blob upload of these bytes under way: open, or its bytes being verified. */
  openBlob(sha256: string, size: number, now: string): UploadRecord | null {
    return (
      [...this.blobs("open", [sha256], now), ...this.blobs("verifying", [sha256], now)].find((u) => u.size === size) ??
      null
    );
  }

  /** The completed, unexpired blob uploads of any of these sha256s: the bytes the model has claimed. */
  completedBlobs(sha256s: readonly string[], now: string): UploadRecord[] {
    return this.blobs("completed", sha256s, now);
  }

  private blobs(status: "open" | "verifying" | "completed", sha256s: readonly string[], now: string): UploadRecord[] {
    if (sha256s.length === 0) return [];
    return records(
      this.sql
        .exec<{ record: string }>(
          `SELECT record FROM uploads WHERE version = ? AND status = ? AND expires_at > ?
           AND json_extract(record, '$.sha256') IN (SELECT value FROM json_each(?))`,
          BLOB_UPLOAD_VERSION,
          status,
          now,
          JSON.stringify(sha256s),
        )
        .toArray(),
    );
  }

  /** Records bytes a single request sent and the registry verified, as a completed blob upload (nothing for D1: it is not open). */
  completedBlob(upload: UploadRecord): void {
    this.put(upload);
  }

  /** Records a newly opened upload and queues it for D1 (where the cleanup finds expired ones). */
  opened(upload: UploadRecord): void {
    this.put(upload);
    this.outbox.enqueue({
      kind: "upload_opened",
      payload: {
        upload_id: upload.upload_id,
        model: upload.model,
        version: upload.version,
        expires_at: upload.expires_at,
      },
    });
  }

  /** Records a part R2 has accepted; a re-sent part replaces the earlier one. */
  recordPart(uploadId: string, part: UploadPart): void {
    this.sql.exec(
      "INSERT INTO upload_parts (upload_id, part, size, etag) VALUES (?, ?, ?, ?) ON CONFLICT (upload_id, part) DO UPDATE SET size = excluded.size, etag = excluded.etag",
      uploadId,
      part.part,
      part.size,
      part.etag,
    );
  }

  /** Ends uploads with `status`, drops their part records, and returns them for R2 cleanup. */
  close(uploads: UploadRecord[], status: "completed" | "failed" | "aborted"): R2Aborts["aborts"] {
    for (const upload of uploads) {
      this.put({ ...upload, status });
      this.sql.exec("DELETE FROM upload_parts WHERE upload_id = ?", upload.upload_id);
      this.outbox.enqueue({ kind: "upload_closed", payload: { upload_id: upload.upload_id } });
    }
    return uploads.map((u) => ({ r2_key: u.r2_key, r2_upload_id: u.r2_upload_id }));
  }

  /** Forgets uploads that ended (completed, failed, aborted) and whose TTL has passed. */
  pruneClosed(now: string): void {
    this.sql.exec("DELETE FROM uploads WHERE status NOT IN ('open', 'verifying') AND expires_at <= ?", now);
  }

  /** Forgets a deleted version's uploads (the caller closed the open ones first). */
  deleteOfVersion(version: number): void {
    this.sql.exec(
      "DELETE FROM upload_parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE version = ?)",
      version,
    );
    this.sql.exec("DELETE FROM uploads WHERE version = ?", version);
  }

  clear(): void {
    this.sql.exec("DELETE FROM uploads");
    this.sql.exec("DELETE FROM upload_parts");
  }

  private put(upload: UploadRecord): void {
    this.sql.exec(
      "INSERT INTO uploads (upload_id, version, status, expires_at, record) VALUES (?, ?, ?, ?, ?) ON CONFLICT (upload_id) DO UPDATE SET status = excluded.status, record = excluded.record",
      upload.upload_id,
      upload.version,
      upload.status,
      upload.expires_at,
      JSON.stringify(upload),
    );
  }
}
