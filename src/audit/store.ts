/**
 * Writes to D1's audit_events, the append-only log this module owns. Inserts are keyed by
 * the event id, so a replayed outbox flush inserts nothing twice.
 */
import { sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { auditEvents } from "../db/schema";
import type { AuditEvent } from "../domain/audit";

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
  };
}

export function auditInsert(db: DrizzleD1Database, event: AuditEvent) {
  return db.insert(auditEvents).values(auditRow(event)).onConflictDoNothing();
}

/**
 * Inserts the event only when `condition` holds when the statement runs: put it in the same
 * batch as the change it records, so "the model exists" and "its event is logged" are decided
 * in one transaction.
 */
export function auditInsertIf(db: DrizzleD1Database, event: AuditEvent, condition: SQL) {
  const r = auditRow(event);
  return db
    .insert(auditEvents)
    .select(
      sql`SELECT ${r.id}, ${r.at}, ${r.actor}, ${r.action}, ${r.model}, ${r.version}, ${r.alias},
                 ${r.from}, ${r.to}, ${r.reason}, ${r.detail} WHERE ${condition}`,
    )
    .onConflictDoNothing();
}
