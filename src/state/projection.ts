/**
 * The outbox's other half: writes ModelState's committed changes into D1. Every statement is
 * idempotent (snapshots guarded by `revision`, audit events keyed by id, deletes and inserts
 * of the same keys), so a flush repeated after a partial failure, or by an alarm, writes
 * nothing twice.
 */
import { and, eq, inArray, isNotNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { auditInsert } from "../db/audit-insert";
import {
  aliases,
  blobs,
  modelRetention,
  models,
  ociBlobs,
  ociManifests,
  openUploads,
  signatures,
  versionDatasets,
  versionFiles,
  versionParents,
  versions,
} from "../db/schema";
import type { AuditEvent } from "../domain/audit";
import type { ManifestEntry } from "../domain/manifest";
import type { ModelRecord } from "../domain/model";
import type { StoredManifest } from "../domain/oci-push";
import { commitOf } from "../domain/reference";
import type { RetentionPolicy } from "../domain/retention";
import type { SignatureFacts } from "../domain/signature";
import type { VersionHead } from "../domain/version";
import type { AliasBody } from "./alias-table";

export type OutboxItem =
  | { kind: "model"; payload: ModelRecord }
  | { kind: "model_deleted"; payload: { model: string } }
  | { kind: "version"; payload: VersionHead }
  | { kind: "version_deleted"; payload: { model: string; version: number } }
  /** The digest of a version's OCI manifest, computed as it became ready (never changes after). */
  | { kind: "oci_manifest"; payload: { model: string; version: number; digest: string } }
  /** A pushed OCI manifest kept: a version's own (`version` set) or an attachment. */
  | {
      kind: "oci_stored";
      payload: { model: string; version: number | null; manifest: StoredManifest; created_at: string };
    }
  | { kind: "oci_stored_deleted"; payload: { model: string; digest: string } }
  | { kind: "file_added"; payload: { model: string; version: number; file: ManifestEntry } }
  | { kind: "file_removed"; payload: { model: string; version: number; path: string } }
  | { kind: "upload_opened"; payload: { upload_id: string; model: string; version: number; expires_at: string } }
  | { kind: "upload_closed"; payload: { upload_id: string } }
  | { kind: "alias"; payload: AliasBody }
  | { kind: "alias_deleted"; payload: { model: string; alias: string; generation: number } }
  | { kind: "retention"; payload: { model: string; policy: RetentionPolicy; updated_at: string } }
  | { kind: "retention_deleted"; payload: { model: string } }
  /** A version's signature, new or with its vouchers changed (a key deleted, one more vouching). */
  | { kind: "signature"; payload: { model: string; signature: SignatureFacts } }
  | { kind: "signature_deleted"; payload: { id: string } }
  | { kind: "audit"; payload: AuditEvent };

type Statement = BatchItem<"sqlite">;

function versionStatements(db: DrizzleD1Database, v: VersionHead): Statement[] {
  const row = {
    model: v.model,
    version: v.version,
    status: v.status,
    stage: v.stage,
    description: v.description,
    tags: JSON.stringify(v.tags),
    metrics: JSON.stringify(v.metrics),
    lineage: JSON.stringify(v.lineage),
    digest: v.digest,
    commit: v.digest === null ? null : commitOf(v.digest),
    runId: v.lineage.run_id ?? null,
    gitSha: v.lineage.git_sha?.toLowerCase() ?? null,
    createdAt: v.created_at,
    createdBy: v.created_by,
    updatedAt: v.updated_at,
    readyAt: v.ready_at,
    revision: v.revision,
  };
  const { model: _m, version: _v, ...updatable } = row;
  const excluded = Object.fromEntries(
    Object.keys(updatable).map((key) => [key, sql.raw(`excluded."${versions[key as keyof typeof updatable].name}"`)]),
  );
  const upsert = db
    .insert(versions)
    .values(row)
    .onConflictDoUpdate({
      target: [versions.model, versions.version],
      set: excluded,
      setWhere: sql`excluded."revision" > ${versions.revision}`,
    });
  // Parent edges are replaced only when this snapshot is the newest the projection holds.
  const newest = sql`(SELECT revision FROM versions WHERE model = ${v.model} AND version = ${v.version}) = ${v.revision}`;
  const statements: Statement[] = [
    upsert,
    db
      .delete(versionParents)
      .where(and(eq(versionParents.model, v.model), eq(versionParents.version, v.version), newest)),
    db
      .delete(versionDatasets)
      .where(and(eq(versionDatasets.model, v.model), eq(versionDatasets.version, v.version), newest)),
  ];
  const parents = v.lineage.parents ?? [];
  if (parents.length > 0) {
    statements.push(
      db
        .insert(versionParents)
        .select(
          sql`SELECT ${v.model}, ${v.version}, p.value ->> '$.model', p.value ->> '$.version'
              FROM json_each(${JSON.stringify(parents)}) AS p WHERE ${newest}`,
        )
        .onConflictDoNothing(),
    );
  }
  const datasets = v.lineage.datasets ?? [];
  if (datasets.length > 0) {
    statements.push(
      db
        .insert(versionDatasets)
        .select(
          sql`SELECT ${v.model}, ${v.version}, d.value ->> '$.uri', coalesce(d.value ->> '$.snapshot', ''), d.value ->> '$.digest', ${v.created_at}
              FROM json_each(${JSON.stringify(datasets)}) AS d WHERE ${newest}`,
        )
        .onConflictDoNothing(),
    );
  }
  return statements;
}

function deletedVersionStatements(
  db: DrizzleD1Database,
  { model, version }: { model: string; version: number },
): Statement[] {
  const own = db
    .select({ digest: ociManifests.digest })
    .from(ociManifests)
    .where(and(eq(ociManifests.model, model), eq(ociManifests.version, version)));
  return [
    db.delete(ociBlobs).where(and(eq(ociBlobs.model, model), inArray(ociBlobs.digest, own))),
    db.delete(ociManifests).where(and(eq(ociManifests.model, model), eq(ociManifests.version, version))),
    db.delete(versionFiles).where(and(eq(versionFiles.model, model), eq(versionFiles.version, version))),
    db.delete(signatures).where(and(eq(signatures.model, model), eq(signatures.version, version))),
    // Its parent edges stay: the graph keeps its shape through a deleted version (shown as
    // `deleted`), so deleting a fine-tune does not cut its distilled child off the base.
    db.delete(versionDatasets).where(and(eq(versionDatasets.model, model), eq(versionDatasets.version, version))),
    db.delete(versions).where(and(eq(versions.model, model), eq(versions.version, version))),
  ];
}

/**
 * Everything D1 holds of a model, in the order that keeps foreign rows from dangling; except
 * its versions' parent edges, which keep the lineage graph whole (see deletedVersionStatements).
 */
function deletedModelStatements(db: DrizzleD1Database, model: string): Statement[] {
  return [
    db.delete(versionDatasets).where(eq(versionDatasets.model, model)),
    db.delete(versionFiles).where(eq(versionFiles.model, model)),
    db.delete(signatures).where(eq(signatures.model, model)),
    db.delete(openUploads).where(eq(openUploads.model, model)),
    db.delete(ociBlobs).where(eq(ociBlobs.model, model)),
    db.delete(ociManifests).where(eq(ociManifests.model, model)),
    db.delete(versions).where(eq(versions.model, model)),
    db.delete(aliases).where(eq(aliases.model, model)),
    db.delete(modelRetention).where(eq(modelRetention.model, model)),
    db.delete(models).where(eq(models.name, model)),
  ];
}

/**
 * A signature's row. Only its vouchers and `verified_at` ever change, and a projection of an
 * older snapshot after a newer one is impossible: the outbox drains in commit order.
 */
function signatureStatement(db: DrizzleD1Database, model: string, s: SignatureFacts): Statement {
  const trustedBy = JSON.stringify(s.vouchers.map((v) => v.id));
  return db
    .insert(signatures)
    .values({
      id: s.id,
      model,
      version: s.version,
      signer: JSON.stringify(s.signer),
      trustedBy,
      bundleSha256: s.bundle_sha256,
      verifiedAt: s.verified_at,
      createdAt: s.created_at,
      createdBy: s.created_by,
    })
    .onConflictDoUpdate({ target: signatures.id, set: { trustedBy, verifiedAt: s.verified_at } });
}

function statementsFor(db: DrizzleD1Database, item: OutboxItem): Statement[] {
  switch (item.kind) {
    case "model": {
      const m = item.payload;
      const row = {
        name: m.name,
        kind: m.kind,
        description: m.description,
        tags: JSON.stringify(m.tags),
        createdAt: m.created_at,
        updatedAt: m.updated_at,
        createdBy: m.created_by,
      };
      const { name: _name, ...updatable } = row;
      return [db.insert(models).values(row).onConflictDoUpdate({ target: models.name, set: updatable })];
    }
    case "model_deleted":
      return deletedModelStatements(db, item.payload.model);
    case "file_added": {
      const { model, version, file } = item.payload;
      return [
        db
          .insert(versionFiles)
          .values({ model, version, path: file.path, sha256: file.sha256, size: file.size })
          .onConflictDoUpdate({
            target: [versionFiles.model, versionFiles.version, versionFiles.path],
            set: { sha256: file.sha256, size: file.size },
          }),
        // A collector run that came while this reference was only in ModelState marked the
        // bytes unreferenced; the reference's arrival restarts their clock, or the version's
        // later deletion would find them past the grace period at once.
        db
          .update(blobs)
          .set({ unreferencedSince: null })
          .where(and(eq(blobs.sha256, file.sha256), isNotNull(blobs.unreferencedSince))),
      ];
    }
    case "file_removed": {
      const { model, version, path } = item.payload;
      return [
        db
          .delete(versionFiles)
          .where(and(eq(versionFiles.model, model), eq(versionFiles.version, version), eq(versionFiles.path, path))),
      ];
    }
    case "version":
      return versionStatements(db, item.payload);
    case "version_deleted":
      return deletedVersionStatements(db, item.payload);
    case "oci_manifest": {
      // A column of its own that the version snapshots never write, so a later snapshot
      // (a tag patch, a stage move) keeps it.
      const { model, version, digest } = item.payload;
      return [
        db
          .update(versions)
          .set({ ociDigest: digest })
          .where(and(eq(versions.model, model), eq(versions.version, version))),
      ];
    }
    case "oci_stored": {
      const { model, version, manifest: m, created_at: createdAt } = item.payload;
      const row = {
        model,
        digest: m.digest,
        version,
        subject: m.subject,
        mediaType: m.mediaType,
        artifactType: m.artifactType,
        size: m.size,
        annotations: JSON.stringify(m.annotations),
        createdAt,
      };
      const { model: _m, digest: _d, ...updatable } = row;
      const statements: Statement[] = [
        db
          .insert(ociManifests)
          .values(row)
          .onConflictDoUpdate({ target: [ociManifests.model, ociManifests.digest], set: updatable }),
        db.delete(ociBlobs).where(and(eq(ociBlobs.model, model), eq(ociBlobs.digest, m.digest))),
      ];
      for (const b of m.blobs) {
        statements.push(
          db.insert(ociBlobs).values({ model, digest: m.digest, sha256: b.sha256, size: b.size }).onConflictDoNothing(),
          // As for a file: the reference's arrival restarts a collection clock a run started meanwhile.
          db
            .update(blobs)
            .set({ unreferencedSince: null })
            .where(and(eq(blobs.sha256, b.sha256), isNotNull(blobs.unreferencedSince))),
        );
      }
      return statements;
    }
    case "oci_stored_deleted": {
      const { model, digest } = item.payload;
      return [
        db.delete(ociBlobs).where(and(eq(ociBlobs.model, model), eq(ociBlobs.digest, digest))),
        db.delete(ociManifests).where(and(eq(ociManifests.model, model), eq(ociManifests.digest, digest))),
      ];
    }
    case "upload_opened": {
      const p = item.payload;
      return [
        db
          .insert(openUploads)
          .values({ uploadId: p.upload_id, model: p.model, version: p.version, expiresAt: p.expires_at })
          .onConflictDoNothing(),
      ];
    }
    case "upload_closed":
      return [db.delete(openUploads).where(eq(openUploads.uploadId, item.payload.upload_id))];
    case "alias": {
      const a = item.payload;
      const row = {
        model: a.model,
        alias: a.alias,
        version: a.version,
        split: a.split === null ? null : JSON.stringify(a.split),
        generation: a.generation,
        updatedAt: a.updated_at,
        updatedBy: a.updated_by,
      };
      return [
        db
          .insert(aliases)
          .values(row)
          .onConflictDoUpdate({
            target: [aliases.model, aliases.alias],
            set: {
              version: row.version,
              split: row.split,
              generation: row.generation,
              updatedAt: row.updatedAt,
              updatedBy: row.updatedBy,
            },
            setWhere: sql`excluded."generation" > ${aliases.generation}`,
          }),
      ];
    }
    case "alias_deleted": {
      const { model, alias, generation } = item.payload;
      return [
        db
          .delete(aliases)
          .where(and(eq(aliases.model, model), eq(aliases.alias, alias), sql`${aliases.generation} < ${generation}`)),
      ];
    }
    case "retention": {
      const { model, policy, updated_at: updatedAt } = item.payload;
      const row = { model, policy: JSON.stringify(policy), updatedAt };
      return [
        db
          .insert(modelRetention)
          .values(row)
          .onConflictDoUpdate({ target: modelRetention.model, set: { policy: row.policy, updatedAt } }),
      ];
    }
    case "retention_deleted":
      return [db.delete(modelRetention).where(eq(modelRetention.model, item.payload.model))];
    case "signature":
      return [signatureStatement(db, item.payload.model, item.payload.signature)];
    case "signature_deleted":
      return [db.delete(signatures).where(eq(signatures.id, item.payload.id))];
    case "audit":
      return [auditInsert(db, item.payload)];
  }
}

/** Writes the items into D1 in one batch (one transaction). */
export async function project(d1: D1Database, items: OutboxItem[]): Promise<void> {
  if (items.length === 0) return;
  const db = drizzle(d1);
  const statements = items.flatMap((item) => statementsFor(db, item));
  await db.batch(statements as [Statement, ...Statement[]]);
}

/**
 * Writes download totals into `versions.downloads`, one batch. A total only ever grows, so a
 * repeated or reordered write leaves the larger value.
 */
export async function projectDownloads(
  d1: D1Database,
  model: string,
  totals: { version: number; total: number }[],
): Promise<void> {
  if (totals.length === 0) return;
  const db = drizzle(d1);
  const statements: Statement[] = totals.map((t) =>
    db
      .update(versions)
      .set({ downloads: sql`max(${versions.downloads}, ${t.total})` })
      .where(and(eq(versions.model, model), eq(versions.version, t.version))),
  );
  await db.batch(statements as [Statement, ...Statement[]]);
}
