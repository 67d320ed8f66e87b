/**
 * ModelState's stored OCI manifests (src/domain/oci-push.ts `StoredManifest`), read and
 * written synchronously (safe inside transactionSync). Only ModelState uses this module.
 *
 * - oci_manifests: one row per manifest pushed to this model and kept: a version's own (its
 *   bytes are what pulls of that version answer; `version` set, `subject` null) or an
 *   attachment (`subject`, the digest it refers to; `version` null: the subject may arrive
 *   later). The bytes are in R2 under their digest (src/artifacts/keys.ts); the record as JSON.
 * - oci_manifest_blobs: the blobs each keeps besides version files (its config, an
 *   attachment's layers), by sha256: what the blob collector and a pull ask for.
 *
 * Each change is queued for D1 (`oci_manifests`, `oci_blobs`), where pulls, the referrers index
 * and the blob collector read it.
 */
import type { StoredManifest } from "../domain/oci-push";
import type { Outbox } from "./outbox";

export const OCI_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS oci_manifests (
     digest TEXT PRIMARY KEY,
     version INTEGER,
     subject TEXT,
     record TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS oci_manifests_by_version ON oci_manifests (version)`,
  `CREATE TABLE IF NOT EXISTS oci_manifest_blobs (
     digest TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     size INTEGER NOT NULL,
     PRIMARY KEY (digest, sha256)
   )`,
  `CREATE INDEX IF NOT EXISTS oci_manifest_blobs_by_sha256 ON oci_manifest_blobs (sha256)`,
];

export interface StoredRow {
  manifest: StoredManifest;
  version: number | null;
}

export class OciTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  get(digest: string): StoredRow | null {
    const row = this.sql
      .exec<{ record: string; version: number | null }>(
        "SELECT record, version FROM oci_manifests WHERE digest = ?",
        digest,
      )
      .toArray()[0];
    return row ? { manifest: JSON.parse(row.record) as StoredManifest, version: row.version } : null;
  }

  /** The manifest stored as `version`'s own, if one was pushed. */
  ofVersion(version: number): StoredManifest | null {
    const row = this.sql
      .exec<{ record: string }>("SELECT record FROM oci_manifests WHERE version = ?", version)
      .toArray()[0];
    return row ? (JSON.parse(row.record) as StoredManifest) : null;
  }

  /** Keeps a manifest (a version's when `version` is set, else an attachment) and queues it for D1. */
  put(model: string, manifest: StoredManifest, version: number | null, at: string): void {
    this.sql.exec(
      "INSERT INTO oci_manifests (digest, version, subject, record) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET version = excluded.version, subject = excluded.subject, record = excluded.record",
      manifest.digest,
      version,
      manifest.subject,
      JSON.stringify(manifest),
    );
    this.sql.exec("DELETE FROM oci_manifest_blobs WHERE digest = ?", manifest.digest);
    for (const b of manifest.blobs)
      this.sql.exec(
        "INSERT INTO oci_manifest_blobs (digest, sha256, size) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        manifest.digest,
        b.sha256,
        b.size,
      );
    this.outbox.enqueue({ kind: "oci_stored", payload: { model, version, manifest, created_at: at } });
  }

  delete(model: string, digest: string): void {
    this.sql.exec("DELETE FROM oci_manifests WHERE digest = ?", digest);
    this.sql.exec("DELETE FROM oci_manifest_blobs WHERE digest = ?", digest);
    this.outbox.enqueue({ kind: "oci_stored_deleted", payload: { model, digest } });
  }

  /** Forgets a deleted version's own manifest (D1 forgets it with the version's rows). */
  forgetVersion(version: number): void {
    this.sql.exec(
      "DELETE FROM oci_manifest_blobs WHERE digest IN (SELECT digest FROM oci_manifests WHERE version = ?)",
      version,
    );
    this.sql.exec("DELETE FROM oci_manifests WHERE version = ?", version);
  }

  /** The size of these bytes as a stored manifest keeps them (its config, or an attachment's layer), or null. */
  blobSize(sha256: string): number | null {
    const row = this.sql
      .exec<{ size: number }>("SELECT size FROM oci_manifest_blobs WHERE sha256 = ? LIMIT 1", sha256)
      .toArray()[0];
    return row?.size ?? null;
  }

  clear(): void {
    this.sql.exec("DELETE FROM oci_manifests");
    this.sql.exec("DELETE FROM oci_manifest_blobs");
  }
}
