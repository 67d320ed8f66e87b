/**
 * From audit events to deliveries: each event that a webhook's `events` and `models` globs
 * match becomes one delivery row (id `<event id>.<webhook id>`, so dispatching an event twice
 * inserts nothing twice) and one queue message; the consumer (./deliver.ts) sends it.
 *
 * Called off the write path: by each ModelState after its outbox reached D1, and for
 * registry-level events (./registry.ts) after their D1 batch, and by the scheduled handler
 * for whatever a crash left in `pending_events`. At least once: a dispatch repeated after a
 * failure re-sends the messages, and the consumer skips deliveries already done.
 */
import { asc, inArray } from "drizzle-orm";
import { pendingEvents, webhookDeliveries } from "../db/schema";
import { orm } from "../db/session";
import type { AuditEvent } from "../domain/audit";
import { subscribes } from "../domain/webhook";
import type { Env } from "../env";
import { WebhookStore } from "./store";

export interface DeliveryMessage {
  delivery_id: string;
  webhook_id: string;
}

/** An event as webhooks receive it: audit events, and `ping`s, which have the same fields. */
export type WebhookEvent = Omit<AuditEvent, "action"> & { action: AuditEvent["action"] | "ping" };

type NewDelivery = typeof webhookDeliveries.$inferInsert;

/** The body of every attempt: `{type, timestamp, data}`, the audit event as data. */
export function deliveryFor(event: WebhookEvent, webhookId: string, now: string): NewDelivery {
  return {
    id: `${event.id}.${webhookId}`,
    webhookId,
    eventId: event.id,
    type: event.action,
    payload: JSON.stringify({ type: event.action, timestamp: event.at, data: event }),
    status: "pending",
    attempts: 0,
    nextAttemptAt: now,
    firstAttemptAt: now,
  };
}

/** Inserts the deliveries (keeping any that exist) and queues one message each. */
export async function enqueueDeliveries(env: Env, rows: NewDelivery[]): Promise<void> {
  const db = orm(env.DB.withSession("first-primary"));
  for (let i = 0; i < rows.length; i += 50) {
    const chunk = rows.slice(i, i + 50).map((row) => db.insert(webhookDeliveries).values(row).onConflictDoNothing());
    await db.batch(chunk as [(typeof chunk)[number], ...typeof chunk]);
  }
  // Queues take at most 100 messages per batch.
  for (let i = 0; i < rows.length; i += 100) {
    await env.DELIVERIES.sendBatch(rows.slice(i, i + 100).map((row) => ({ body: { delivery_id: row.id!, webhook_id: row.webhookId } })));
  }
}

/** Matches events against the active webhooks and queues what matches. */
export async function dispatch(env: Env, events: readonly WebhookEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const subscriptions = (await new WebhookStore(env.DB.withSession("first-primary")).active()).map((w) => ({
    id: w.id,
    events: JSON.parse(w.events) as string[],
    models: JSON.parse(w.models) as string[],
  }));
  const now = new Date().toISOString();
  const rows = events.flatMap((event) => subscriptions.filter((s) => subscribes(s, event)).map((s) => deliveryFor(event, s.id, now)));
  await enqueueDeliveries(env, rows);
  return rows.length;
}

/** After a registry-level change has answered: dispatches its event (the cron retries a failure). */
export function dispatchAfter(c: { env: Env; executionCtx: { waitUntil(p: Promise<unknown>): void } }): void {
  c.executionCtx.waitUntil(dispatchPending(c.env).catch((err: unknown) => console.error("dispatching registry events failed; the cron retries", err)));
}

/** Dispatches registry-level events left in `pending_events`, oldest first, and removes them. */
export async function dispatchPending(env: Env): Promise<number> {
  const db = orm(env.DB.withSession("first-primary"));
  let total = 0;
  for (;;) {
    // 90 at a time: the delete binds one parameter per id, and D1 takes at most 100.
    const rows = await db.select().from(pendingEvents).orderBy(asc(pendingEvents.id)).limit(90).all();
    if (rows.length === 0) return total;
    total += await dispatch(env, rows.map((r) => JSON.parse(r.payload) as AuditEvent));
    await db.delete(pendingEvents).where(inArray(pendingEvents.id, rows.map((r) => r.id)));
  }
}
