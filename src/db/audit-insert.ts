/**
 * The audit log's one way in: an AuditEvent as a row of D1's append-only `audit_events`,
 * inserted keyed by the event id, so a replayed outbox flush inserts nothing twice. Both
 * writers use it: each ModelState's outbox flush (src/state/projection.ts) and registry-level
 * changes (src/events/registry.ts); the log's reader is src/audit/store.ts.
 */
import type { SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { AuditEvent } from "../domain/audit";
import { insertIf } from "./insert-if";
import { auditEvents } from "./schema";

const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));

function auditRow(event: AuditEvent) {
  return {
    id: event.id,
    at: event.at,
    actor: event.actor,
    action: event.action,
    model: event.model,
    version: event.version ?? null,
    alias: event.alias ?? null,
    from: json(event.from),
    to: json(event.to),
    reason: event.reason ?? null,
    detail: json(event.detail),
    token: event.token ?? null,
  };
}

export function auditInsert(db: DrizzleD1Database, event: AuditEvent) {
  return db.insert(auditEvents).values(auditRow(event)).onConflictDoNothing();
}

/** The same insert, made only when `condition` holds at its point of the batch (src/db/insert-if.ts). */
export function auditInsertIf(db: DrizzleD1Database, event: AuditEvent, condition: SQL) {
  return insertIf(db, auditEvents, auditRow(event), condition);
}
