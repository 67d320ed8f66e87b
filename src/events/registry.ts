/**
 * Changes that belong to the registry rather than to one model (webhooks, the default
 * retention policy, a blob found corrupt) are written by the Worker straight into D1. Each commits in one D1 batch
 * with its audit event and a `pending_events` row, so the change, its one audit event and
 * its webhook delivery stand or fall together; the row is dispatched to webhooks right
 * after, and by the scheduled handler if the Worker died before.
 */
import { eq, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { auditInsert, auditInsertIf } from "../db/audit-insert";
import { insertIf } from "../db/insert-if";
import { pendingEvents } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import { auditEvent, REGISTRY_MODEL, type AuditEvent } from "../domain/audit";

type Statement = BatchItem<"sqlite">;

/** Commits `statements` with the audit event of `fields` (model: the registry) in one batch; returns the event. */
export async function commitRegistryChange(
  db: D1Handle,
  statements: Statement[],
  fields: Omit<AuditEvent, "id" | "model">,
): Promise<AuditEvent> {
  const event = auditEvent({ ...fields, model: REGISTRY_MODEL });
  const d = orm(db);
  const all: [Statement, ...Statement[]] = [
    auditInsert(d, event),
    d.insert(pendingEvents).values({ id: event.id, payload: JSON.stringify(event) }),
    ...statements,
  ];
  await d.batch(all);
  return event;
}

/**
 * The same, for a change made from state read earlier: the audit event and its pending row
 * are written only if `onlyIf` holds when the batch starts, and every statement must be
 * conditional on the same predicate (the batch is one transaction, so they agree). Returns
 * the event, or null when `onlyIf` did not hold and nothing was written.
 */
export async function commitRegistryChangeIf(
  db: D1Handle,
  onlyIf: SQL,
  statements: Statement[],
  fields: Omit<AuditEvent, "id" | "model">,
): Promise<AuditEvent | null> {
  const event = auditEvent({ ...fields, model: REGISTRY_MODEL });
  return (await commitEventsIf(db, onlyIf, statements, [event])) ? event : null;
}

/**
 * A change the Worker makes outside every model's object whose events may each name a model
 * (a blob found corrupt names every model holding it, each in an event of its own, so a
 * reader limited to some models sees only theirs: src/artifacts/scrub.ts), committed as
 * above: the events and their pending rows only if `onlyIf` holds when the batch starts.
 * True when it held and everything was written.
 */
export async function commitEventsIf(
  db: D1Handle,
  onlyIf: SQL,
  statements: Statement[],
  events: readonly AuditEvent[],
): Promise<boolean> {
  const d = orm(db);
  const marker = events[0];
  if (!marker) throw new Error("commitEventsIf needs an event");
  const write = (event: AuditEvent): [Statement, Statement] => [
    auditInsertIf(d, event, onlyIf),
    insertIf(d, pendingEvents, { id: event.id, payload: JSON.stringify(event) }, onlyIf),
  ];
  const results = await d.batch([
    ...write(marker),
    ...events.slice(1).flatMap(write),
    ...statements,
    // Read in the same transaction: whether the events (so the change) were written.
    d.select({ id: pendingEvents.id }).from(pendingEvents).where(eq(pendingEvents.id, marker.id)),
  ]);
  return (results[results.length - 1] as unknown[]).length > 0;
}
