/**
 * D1's audit_events, the append-only log, as GET /v1/audit reads it: the filtered, paged
 * read, which shows webhook URLs as origins only (events stored before the writers did so
 * still hold them). Its one way in is src/db/audit-insert.ts.
 */
import { and, desc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { auditEvents } from "../db/schema";
import type { Visibility } from "../db/visibility";
import type { AuditEvent } from "../domain/audit";
import { webhookUrlsRedacted } from "../domain/webhook";

export interface AuditFilters {
  model?: string;
  alias?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
  /** Which models the token sees: only their events are listed (registry-level ones, model `""`, only when it sees every model). */
  visibility: Visibility;
  /** Keyset: events older than this id. */
  before?: string;
  limit: number;
}

/** Reads the log newest first: `limit + 1` rows, so the caller can tell whether there is more. */
export async function readAudit(db: DrizzleD1Database, f: AuditFilters): Promise<AuditEvent[]> {
  const where: SQL[] = [];
  if (f.model) where.push(eq(auditEvents.model, f.model));
  // A swap's event names both aliases, comma-separated: match one whole element, exactly
  // (instr, not LIKE, whose `_` and `%` are wildcards). No alias contains a comma.
  if (f.alias) {
    where.push(f.alias.includes(",") ? sql`0` : sql`instr(',' || ${auditEvents.alias} || ',', ${`,${f.alias},`}) > 0`);
  }
  if (f.actor) where.push(eq(auditEvents.actor, f.actor));
  if (f.action) where.push(eq(auditEvents.action, f.action));
  if (f.since) where.push(gte(auditEvents.at, f.since));
  if (f.until) where.push(lt(auditEvents.at, f.until));
  if (f.before) where.push(lt(auditEvents.id, f.before));
  where.push(f.visibility.sql(auditEvents.model));
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(...where))
    .orderBy(desc(auditEvents.id))
    .limit(f.limit + 1)
    .all();
  return rows.map(eventOfRow);
}

/** A row of `audit_events` (in D1, or as the archive keeps it: src/audit/archive.ts). */
export type AuditRow = typeof auditEvents.$inferSelect;

/** The event a stored row is, as GET /v1/audit shows it. */
export function eventOfRow(r: AuditRow): AuditEvent {
  const parse = (text: string | null) => (text === null ? undefined : (JSON.parse(text) as unknown));
  const event: AuditEvent = {
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action as AuditEvent["action"],
    model: r.model,
  };
  if (r.version !== null) event.version = r.version;
  if (r.alias !== null) event.alias = r.alias;
  if (r.from !== null) event.from = parse(r.from);
  if (r.to !== null) event.to = parse(r.to);
  if (r.reason !== null) event.reason = r.reason;
  if (r.detail !== null) event.detail = parse(r.detail);
  if (r.token !== null) event.token = r.token;
  return webhookUrlsRedacted(event);
}
