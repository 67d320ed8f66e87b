/**
 * From audit events to deliveries. The write side only publishes: each ModelState, once D1
 * has its audit events, and registry-level changes (./registry.ts) after their D1 batch, put
 * the events on the queue (`publish`), off the write path and without touching D1 again. The
 * consumer (./deliver.ts) matches them against the active webhooks (`fanOut`): one delivery
 * row per match (id `<event id>.<webhook id>`, so an event fanned out twice inserts nothing
 * twice), attempted at once; a retry is a `delivery` message of its own, delayed.
 *
 * At least once: a publish repeated after a failure, or an events message redelivered by
 * the queue, finds the rows already there and attempts only those never attempted.
 */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { pendingEvents, webhookDeliveries } from "../db/schema";
import { orm } from "../db/session";
import type { AuditEvent } from "../domain/audit";
import { subscribes } from "../domain/webhook";
import type { Env } from "../env";
import { WebhookStore, type DeliveryRow, type WebhookRow } from "./store";

/** What the queue carries: events to fan out, or one delivery to attempt (again). */
export type QueueMessage = { kind: "events"; events: WebhookEvent[] } | { kind: "delivery"; delivery_id: string; webhook_id: string };

/** An event as webhooks receive it: audit events, and `ping`s, which have the same fields. */
export type WebhookEvent = Omit<AuditEvent, "action"> & { action: AuditEvent["action"] | "ping" };

type NewDelivery = typeof webhookDeliveries.$inferInsert;

/** Queues takes messages up to 128 KB: events travel in messages of at most this much JSON. */
const MESSAGE_BYTES = 100_000;

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

/**
 * An event small enough for a message. An event over the limit (a version's lineage in its
 * `to`) keeps its identity and loses `from`, `to` and `detail`, and says so: the audit log
 * (`GET /v1/audit`) has the whole of it.
 */
function fitting(event: WebhookEvent): WebhookEvent {
  if (JSON.stringify(event).length <= MESSAGE_BYTES) return event;
  const { from: _f, to: _t, detail: _d, ...rest } = event;
  return { ...rest, detail: { truncated: true, reason: "over 100 KB: the audit log has the whole event" } };
}

/** Puts events on the queue for the consumer to fan out, in as few messages as fit. */
export async function publish(env: Env, events: readonly WebhookEvent[]): Promise<void> {
  const messages: { body: QueueMessage }[] = [];
  let current: WebhookEvent[] = [];
  let size = 0;
  for (const event of events.map(fitting)) {
    const bytes = JSON.stringify(event).length;
    if (current.length > 0 && size + bytes > MESSAGE_BYTES) {
      messages.push({ body: { kind: "events", events: current } });
      current = [];
      size = 0;
    }
    current.push(event);
    size += bytes;
  }
  if (current.length > 0) messages.push({ body: { kind: "events", events: current } });
  // Queues take at most 100 messages per batch.
  for (let i = 0; i < messages.length; i += 100) await env.DELIVERIES.sendBatch(messages.slice(i, i + 100));
}

/**
 * Matches events against the active webhooks and writes one delivery row per match (keeping
 * rows that exist); returns the deliveries never attempted, with their webhooks, for the
 * consumer to attempt now. Three D1 round trips, however many events.
 */
export async function fanOut(env: Env, events: readonly WebhookEvent[]): Promise<{ delivery: DeliveryRow; webhook: WebhookRow }[]> {
  const store = new WebhookStore(env.DB.withSession("first-primary"));
  const active = await store.activeRows();
  const now = new Date().toISOString();
  const rows = events.flatMap((event) =>
    active
      .filter((w) => subscribes({ events: JSON.parse(w.events) as string[], models: JSON.parse(w.models) as string[] }, event))
      .map((w) => deliveryFor(event, w.id, now)),
  );
  if (rows.length === 0) return [];
  for (let i = 0; i < rows.length; i += 50) {
    const chunk = rows.slice(i, i + 50).map((row) => store.db.insert(webhookDeliveries).values(row).onConflictDoNothing());
    await store.db.batch(chunk as [(typeof chunk)[number], ...typeof chunk]);
  }
  const fresh = await store.db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        sql`${webhookDeliveries.id} IN (SELECT value FROM json_each(${JSON.stringify(rows.map((r) => r.id))}))`,
        eq(webhookDeliveries.status, "pending"),
        eq(webhookDeliveries.attempts, 0),
      ),
    )
    .all();
  const byId = new Map(active.map((w) => [w.id, w]));
  return fresh.flatMap((delivery) => {
    const webhook = byId.get(delivery.webhookId);
    return webhook ? [{ delivery, webhook }] : [];
  });
}

/** Inserts one delivery (a ping) and queues its attempt. */
export async function enqueueDelivery(env: Env, row: NewDelivery): Promise<void> {
  const db = orm(env.DB.withSession("first-primary"));
  await db.insert(webhookDeliveries).values(row).onConflictDoNothing();
  await env.DELIVERIES.send({ kind: "delivery", delivery_id: row.id!, webhook_id: row.webhookId });
}

/** After a registry-level change has answered: publishes its event (the cron retries a failure). */
export function dispatchAfter(c: { env: Env; executionCtx: { waitUntil(p: Promise<unknown>): void } }): void {
  c.executionCtx.waitUntil(dispatchPending(c.env).catch((err: unknown) => console.error("dispatching registry events failed; the cron retries", err)));
}

/** Publishes registry-level events left in `pending_events`, oldest first, and removes them. */
export async function dispatchPending(env: Env): Promise<number> {
  const db = orm(env.DB.withSession("first-primary"));
  let total = 0;
  for (;;) {
    // 90 at a time: the delete binds one parameter per id, and D1 takes at most 100.
    const rows = await db.select().from(pendingEvents).orderBy(asc(pendingEvents.id)).limit(90).all();
    if (rows.length === 0) return total;
    await publish(env, rows.map((r) => JSON.parse(r.payload) as AuditEvent));
    total += rows.length;
    await db.delete(pendingEvents).where(inArray(pendingEvents.id, rows.map((r) => r.id)));
  }
}
