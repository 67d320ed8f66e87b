/**
 * The outbox's other half: writes ModelState's committed changes into D1. Every statement is
 * idempotent (snapshots guarded by `revision`, audit events keyed by id), so a flush that is
 * repeated after a partial failure, or by an alarm, writes nothing twice.
 */
import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { auditInsert } from "../audit/store";
import { versionParents, versions } from "../db/schema";
import type { AuditEvent } from "../domain/audit";
import type { VersionRecord } from "../domain/version";

export type OutboxItem = { kind: "version"; payload: VersionRecord } | { kind: "audit"; payload: AuditEvent };

function versionStatements(db: DrizzleD1Database, v: VersionRecord): BatchItem<"sqlite">[] {
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
    runId: v.lineage.run_id ?? null,
    gitSha: v.lineage.git_sha ?? null,
    createdAt: v.created_at,
    createdBy: v.created_by,
    updatedAt: v.updated_at,
    readyAt: v.ready_at,
    revision: v.revision,
  };
  const { model: _m, version: _v, ...updatable } = row;
  const excluded = Object.fromEntries(
    Object.keys(updatable).map((key) => {
      const column = versions[key as keyof typeof updatable];
      return [key, sql.raw(`excluded."${column.name}"`)];
    }),
  );
  const upsert = db
    .insert(versions)
    .values(row)
    .onConflictDoUpdate({
      target: [versions.model, versions.version],
      set: excluded,
      setWhere: sql`excluded."revision" > ${versions.revision}`,
    });
  const parents = v.lineage.parents ?? [];
  // Parent edges are replaced only when this snapshot is the newest the projection has seen.
  const newest = sql`(SELECT revision FROM versions WHERE model = ${v.model} AND version = ${v.version}) = ${v.revision}`;
  const clearParents = db
    .delete(versionParents)
    .where(and(eq(versionParents.model, v.model), eq(versionParents.version, v.version), newest));
  const statements: BatchItem<"sqlite">[] = [upsert, clearParents];
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
  return statements;
}

/** Writes the items into D1 in one batch (one transaction). */
export async function project(d1: D1Database, items: OutboxItem[]): Promise<void> {
  if (items.length === 0) return;
  const db = drizzle(d1);
  const statements = items.flatMap((item) =>
    item.kind === "version" ? versionStatements(db, item.payload) : [auditInsert(db, item.payload)],
  );
  await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}
