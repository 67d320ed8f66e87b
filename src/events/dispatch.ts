/**
 * From audit events to deliveries. The write side only publishes: each ModelState, once D1
 * has its audit events, and registry-level changes (./registry.ts) after their D1 batch, put
 * the events on the queue (`publish`, src/queue/publish.ts), off the write path and without
 * touching D1 again. The consumer (./deliver.ts) matches them against the active webhooks
 * (`fanOut`): one delivery row per match (id `<event id>.<webhook id>`, so an event fanned
 * out twice inserts nothing twice), attempted at once; a retry is a `delivery` message of its
 * own, delayed.
 *
 * At least once: a publish repeated after a failure, or an events message redelivered by
 * the queue, finds the rows already there and attempts only those never attempted. An event
 * that can never be queued is dead-lettered (`publish`), so it never holds back the rest.
 */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { pendingEvents, webhookDeliveries } from "../db/schema";
import { CallBudget } from "../domain/call-budget";
import { orm } from "../db/session";
import type { AuditEvent } from "../domain/audit";
import type { QueueMessage, WebhookEvent } from "../domain/queue-message";
import { STRANDED_AFTER_MS, subscribes } from "../domain/webhook";
import type { Env } from "../env";
import { publish } from "../queue/publish";
import { WebhookStore, type DeliveryRow, type WebhookRow } from "./store";

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

/**
 * Matches events against the active webhooks and writes one delivery row per match (keeping
 * rows that exist); returns the deliveries never attempted, with their webhooks, for the
 * consumer to attempt now. Three D1 round trips, however many events.
 */
export async function fanOut(
  env: Env,
  events: readonly WebhookEvent[],
): Promise<{ delivery: DeliveryRow; webhook: WebhookRow }[]> {
  const store = new WebhookStore(env.DB.withSession("first-primary"));
  const active = await store.activeRows();
  const now = new Date().toISOString();
  const rows = events.flatMap((event) =>
    active
      .filter((w) =>
        subscribes({ events: JSON.parse(w.events) as string[], models: JSON.parse(w.models) as string[] }, event),
      )
      .map((w) => deliveryFor(event, w.id, now)),
  );
  if (rows.length === 0) return [];
  for (let i = 0; i < rows.length; i += 50) {
    const chunk = rows
      .slice(i, i + 50)
      .map((row) => store.db.insert(webhookDeliveries).values(row).onConflictDoNothing());
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
  c.executionCtx.waitUntil(
    dispatchPending(c.env).catch((err: unknown) =>
      console.error("dispatching registry events failed; the cron retries", err),
    ),
  );
}

/**
 * Publishes registry-level events left in `pending_events`, oldest first, and removes those
 * settled; rejects when the queue refused one (it and those after it stay, in order, for
 * the next request's dispatch or the cron). With `calls` (the cron's), it stops where they run
 * out, leaving the rest, in order, for the next run.
 */
export async function dispatchPending(env: Env, calls: CallBudget = new CallBudget(Infinity)): Promise<number> {
  const db = orm(env.DB.withSession("first-primary"));
  let total = 0;
  // A round: the read, at least one send, the delete.
  while (calls.allows(3)) {
    // 90 at a time: the delete binds one parameter per id, and D1 takes at most 100.
    calls.spend(1);
    const rows = await db.select().from(pendingEvents).orderBy(asc(pendingEvents.id)).limit(90).all();
    if (rows.length === 0) return total;
    // One call is kept for the delete.
    const sends = new CallBudget(calls.left - 1);
    const settled = await publish(
      env,
      rows.map((r) => JSON.parse(r.payload) as AuditEvent),
      sends,
    );
    calls.spend(sends.spent);
    if (settled > 0) {
      calls.spend(1);
      await db.delete(pendingEvents).where(
        inArray(
          pendingEvents.id,
          rows.slice(0, settled).map((r) => r.id),
        ),
      );
    }
    total += settled;
    if (settled < rows.length && sends.allows(1))
      throw new Error(`the queue took ${settled} of ${rows.length} registry events; the rest wait, in order`);
    if (settled < rows.length) return total;
  }
  return total;
}

/**
 * Re-queues the attempts of pending deliveries whose message is gone: the queue that
 * `npm start` runs (Miniflare's) keeps messages in memory, so a crash drops the delayed
 * retry or the attempt in flight, and the row would wait forever. Moves each row's
 * `next_attempt_at` to `now` so the next run waits again before repeating it. Returns how
 * many it re-queued. Called by the cron, within `calls` (three a round of 90): the rows it does
 * not reach are still stranded at the next run.
 */
export async function requeueStranded(
  env: Env,
  now: Date,
  calls: CallBudget = new CallBudget(Infinity),
): Promise<number> {
  const db = orm(env.DB.withSession("first-primary"));
  const cutoff = new Date(now.getTime() - STRANDED_AFTER_MS).toISOString();
  let total = 0;
  while (calls.allows(3)) {
    calls.spend(3);
    const rows = await db
      .select({ id: webhookDeliveries.id, webhookId: webhookDeliveries.webhookId })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.status, "pending"), sql`${webhookDeliveries.nextAttemptAt} < ${cutoff}`))
      .limit(90)
      .all();
    if (rows.length === 0) return total;
    await env.DELIVERIES.sendBatch(
      rows.map((r) => ({
        body: { kind: "delivery", delivery_id: r.id, webhook_id: r.webhookId } satisfies QueueMessage,
      })),
    );
    await db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: now.toISOString() })
      .where(
        and(
          inArray(
            webhookDeliveries.id,
            rows.map((r) => r.id),
          ),
          eq(webhookDeliveries.status, "pending"),
        ),
      );
    total += rows.length;
  }
  return total;
}
