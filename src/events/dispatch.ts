/**
 * From audit events to deliveries. The write side only publishes: each ModelState, once D1
 * has its audit events, and registry-level changes (./registry.ts) after their D1 batch, put
 * the events on the queue (`publish`), off the write path and without touching D1 again. The
 * consumer (./deliver.ts) matches them against the active webhooks (`fanOut`): one delivery
 * row per match (id `<event id>.<webhook id>`, so an event fanned out twice inserts nothing
 * twice), attempted at once; a retry is a `delivery` message of its own, delayed.
 *
 * At least once: a publish repeated after a failure, or an events message redelivered by
 * the queue, finds the rows already there and attempts only those never attempted. An event
 * that can never be queued is dead-lettered (`publish`), so it never holds back the rest.
 */
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { pendingEvents, webhookDeliveries } from "../db/schema";
import { orm } from "../db/session";
import type { AuditEvent } from "../domain/audit";
import { jsonBytes } from "../domain/limits";
import type { QueueMessage, UndeliverableEvent, WebhookEvent } from "../domain/queue-message";
import { STRANDED_AFTER_MS, subscribes } from "../domain/webhook";
import type { Env } from "../env";
import { WebhookStore, type DeliveryRow, type WebhookRow } from "./store";

type NewDelivery = typeof webhookDeliveries.$inferInsert;

/**
 * Queues' limits (developers.cloudflare.com/queues/platform/limits, and the JavaScript API's
 * `sendBatch`): a message at most 128 KB (1 KB = 1000 bytes, ~100 of them metadata), a batch
 * at most 100 messages and 256 KB. Messages go as JSON (`contentType: "json"`), so what is
 * measured here, the UTF-8 bytes of their JSON text, is what the queue counts; the default
 * (V8 serialization) would count a string with one non-Latin-1 character at two bytes per
 * character. The margins leave room for the metadata.
 */
const MESSAGE_BYTES = 120_000;
const BATCH_BYTES = 240_000;
const BATCH_MESSAGES = 100;
const METADATA_BYTES = 100;
/** An `events` message holding no event: the envelope every message pays. */
const ENVELOPE_BYTES = jsonBytes({ kind: "events", events: [] } satisfies QueueMessage);

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

/** The event without `from`, `to` and `detail`, saying so: the audit log (`GET /v1/audit`) has the whole of it. */
function stripped(event: WebhookEvent): WebhookEvent {
  const { from: _f, to: _t, detail: _d, ...rest } = event;
  return { ...rest, detail: { truncated: true, reason: "too large for the queue: the audit log has the whole event" } };
}

/** An event as it travels, with its JSON size in bytes. */
interface Item {
  event: WebhookEvent;
  bytes: number;
}

/**
 * What of `event` travels: itself when a message holds it, else (a version's lineage in its
 * `to`, a promotion_denied's checks) without `from`, `to` and `detail`; null when not even
 * that fits, which only an event of oversized identity fields could do.
 */
function fitting(event: WebhookEvent): Item | null {
  const whole = jsonBytes(event);
  if (ENVELOPE_BYTES + whole <= MESSAGE_BYTES) return { event, bytes: whole };
  const cut = stripped(event);
  const bytes = jsonBytes(cut);
  return ENVELOPE_BYTES + bytes <= MESSAGE_BYTES ? { event: cut, bytes } : null;
}

type Outgoing = MessageSendRequest<QueueMessage>;

const message = (events: WebhookEvent[]): Outgoing => ({ body: { kind: "events", events }, contentType: "json" });

/**
 * Items from `start` packed into messages (each within MESSAGE_BYTES) and those into one
 * batch (within BATCH_BYTES and BATCH_MESSAGES); stops before an item that fits nowhere.
 * Returns the messages and how many items they hold.
 */
function packFrom(items: readonly (Item | null)[], start: number): { messages: Outgoing[]; count: number } {
  const messages: Outgoing[] = [];
  /** Bytes of the messages closed so far, with their metadata. */
  let closedBytes = 0;
  let current: WebhookEvent[] = [];
  let currentBytes = 0;
  let i = start;
  for (; i < items.length; i++) {
    const item = items[i];
    if (!item) break;
    if (current.length > 0 && currentBytes + 1 + item.bytes <= MESSAGE_BYTES) {
      current.push(item.event);
      currentBytes += 1 + item.bytes; // and a comma
      continue;
    }
    // A message of its own (fitting() made sure one holds it): does the batch take one more?
    const count = messages.length + (current.length > 0 ? 1 : 0);
    const bytes = closedBytes + (current.length > 0 ? currentBytes + METADATA_BYTES : 0);
    if (count > 0 && (count + 1 > BATCH_MESSAGES || bytes + ENVELOPE_BYTES + item.bytes + METADATA_BYTES > BATCH_BYTES)) break;
    if (current.length > 0) messages.push(message(current));
    closedBytes = bytes;
    current = [item.event];
    currentBytes = ENVELOPE_BYTES + item.bytes;
  }
  if (current.length > 0) messages.push(message(current));
  return { messages, count: i - start };
}

/** Whether the queue took the batch; a refusal is logged, never thrown. */
async function sent(env: Env, messages: Outgoing[]): Promise<boolean> {
  try {
    await env.DELIVERIES.sendBatch(messages);
    return true;
  } catch (err) {
    console.error(`the queue refused ${messages.length} message(s) of events`, err);
    return false;
  }
}

/** Tells the dead-letter queue (and the log) of an event that will not be queued; false if the DLQ refused too. */
async function deadLetter(env: Env, event: WebhookEvent, reason: string): Promise<boolean> {
  const note: UndeliverableEvent = { kind: "undeliverable_event", event_id: event.id, type: event.action, model: event.model, at: event.at, bytes: jsonBytes(event), reason };
  try {
    await env.DELIVERIES_DLQ.send(note, { contentType: "json" });
  } catch (err) {
    console.error("the dead-letter queue refused too; the event waits for the next try", note, err);
    return false;
  }
  console.error("webhook event dead-lettered: webhooks will not receive it (the audit log has it)", note);
  return true;
}

/**
 * Puts events on the queue for the consumer to fan out, in order, in as few messages and
 * batches as the limits allow. Returns how many of `events`, from the first, are settled:
 * on the queue, or dead-lettered. Fewer than all means the queue refused the next one for
 * a reason that may pass (it is down): the caller keeps the rest, in order, and tries again
 * later.
 *
 * An event no message can hold even without `from`/`to`/`detail` is dead-lettered at once.
 * When a batch is refused its events are sent one at a time; an event the queue refuses
 * alone, whole and stripped, is dead-lettered only if the queue then takes the event after
 * it (so the queue is up and this event is what it will not take), and that event is sent
 * first. With nothing after it to tell, it waits. So an event that cannot be queued never
 * holds back those behind it, and an outage never loses one.
 */
export async function publish(env: Env, events: readonly WebhookEvent[]): Promise<number> {
  const items = events.map(fitting);
  let done = 0;
  /** Up to here, events go one at a time (the last batch tried was refused). */
  let carefulUntil = 0;
  while (done < events.length) {
    const item = items[done];
    if (!item) {
      if (!(await deadLetter(env, events[done]!, "larger than a queue message even without from, to and detail"))) return done;
      done++;
      continue;
    }
    if (done >= carefulUntil) {
      const batch = packFrom(items, done);
      if (await sent(env, batch.messages)) {
        done += batch.count;
        continue;
      }
      carefulUntil = done + batch.count;
      if (batch.count > 1) continue;
    } else if (await sent(env, [message([item.event])])) {
      done++;
      continue;
    }
    // This event alone was refused. Without from/to/detail, then?
    if (item.event === events[done] && (await sent(env, [message([stripped(item.event)])]))) {
      done++;
      continue;
    }
    // The queue is down, or will never take this event: the next one that fits tells.
    let next = done + 1;
    while (next < items.length && !items[next]) next++;
    const probe = items[next];
    if (!probe || !(await sent(env, [message([probe.event])]))) return done;
    if (!(await deadLetter(env, events[done]!, "the queue refused it, whole and without from, to and detail, and took the event after it"))) return done;
    for (let k = done + 1; k < next; k++) {
      if (!(await deadLetter(env, events[k]!, "larger than a queue message even without from, to and detail"))) return k;
    }
    done = next + 1;
  }
  return done;
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

/**
 * Publishes registry-level events left in `pending_events`, oldest first, and removes those
 * settled; rejects when the queue refused one (it and those after it stay, in order, for
 * the next request's dispatch or the cron).
 */
export async function dispatchPending(env: Env): Promise<number> {
  const db = orm(env.DB.withSession("first-primary"));
  let total = 0;
  for (;;) {
    // 90 at a time: the delete binds one parameter per id, and D1 takes at most 100.
    const rows = await db.select().from(pendingEvents).orderBy(asc(pendingEvents.id)).limit(90).all();
    if (rows.length === 0) return total;
    const settled = await publish(env, rows.map((r) => JSON.parse(r.payload) as AuditEvent));
    if (settled > 0) await db.delete(pendingEvents).where(inArray(pendingEvents.id, rows.slice(0, settled).map((r) => r.id)));
    total += settled;
    if (settled < rows.length) throw new Error(`the queue took ${settled} of ${rows.length} registry events; the rest wait, in order`);
  }
}

/**
 * Re-queues the attempts of pending deliveries whose message is gone: the queue that
 * `npm start` runs (Miniflare's) keeps messages in memory, so a crash drops the delayed
 * retry or the attempt in flight, and the row would wait forever. Moves each row's
 * `next_attempt_at` to `now` so the next run waits again before repeating it. Returns how
 * many it re-queued. Called by the cron.
 */
export async function requeueStranded(env: Env, now: Date): Promise<number> {
  const db = orm(env.DB.withSession("first-primary"));
  const cutoff = new Date(now.getTime() - STRANDED_AFTER_MS).toISOString();
  let total = 0;
  for (;;) {
    const rows = await db
      .select({ id: webhookDeliveries.id, webhookId: webhookDeliveries.webhookId })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.status, "pending"), sql`${webhookDeliveries.nextAttemptAt} < ${cutoff}`))
      .limit(90)
      .all();
    if (rows.length === 0) return total;
    await env.DELIVERIES.sendBatch(rows.map((r) => ({ body: { kind: "delivery", delivery_id: r.id, webhook_id: r.webhookId } satisfies QueueMessage })));
    await db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: now.toISOString() })
      .where(and(inArray(webhookDeliveries.id, rows.map((r) => r.id)), eq(webhookDeliveries.status, "pending")));
    total += rows.length;
  }
}
