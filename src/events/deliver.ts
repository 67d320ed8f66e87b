/**
 * The queue consumer. Events are matched against webhooks here (./dispatch.ts `fanOut`) and
 * each new delivery attempted at once; a retry is a delayed `delivery` message. A 2xx
 * delivers; a 410 disables the webhook at once; a network error, a timeout (15 s), a 429 or
 * a 5xx is retried with exponential backoff for 24 h from the first attempt, then the
 * delivery is `failed` and goes to the dead-letter queue; any other answer fails the
 * delivery without retrying. A webhook whose attempts have all failed for 3 days is
 * disabled. Every attempt is recorded on the delivery row. Deliveries that are not pending
 * (done, or a duplicate message) are skipped.
 *
 * Two webhooks disabled in one batch, or a duplicate message racing its original, may both
 * attempt: delivery is at least once, and receivers deduplicate by `webhook-id`.
 */
import { and, eq, isNotNull, isNull, sql } from "drizzle-orm";
import { webhookDeliveries, webhooks } from "../db/schema";
import {
  ATTEMPT_TIMEOUT_MS,
  classify,
  DISABLE_AFTER_MS,
  endpointProblem,
  retryDelayS,
  urlOrigin,
  type AttemptResult,
} from "../domain/webhook";
import { config, type Env } from "../env";
import type { QueueMessage } from "../domain/queue-message";
import { dispatchPending, fanOut } from "./dispatch";
import { commitRegistryChangeIf } from "./registry";
import { webhookHeaders } from "./signing";
import { signingSecrets, WebhookStore, type DeliveryRow, type WebhookRow } from "./store";

/** What to do with a delivery: done, or try again in `retryInS` seconds; `dead` also sends it to the dead-letter queue. */
type Next = { retryInS: number | null; dead?: boolean };
const DONE: Next = { retryInS: null };

type DeliveryUpdate = Partial<typeof webhookDeliveries.$inferInsert>;

/**
 * One batch. `events` messages are fanned out together (./dispatch.ts: three D1 round trips
 * for all of them) and their deliveries attempted at once; a delivery to retry becomes a
 * delayed `delivery` message of its own. `delivery` messages are read in one query and
 * retried through the queue. Either way the outcomes are written in one D1 batch.
 */
export async function deliverBatch(batch: MessageBatch<QueueMessage>, env: Env): Promise<void> {
  const cfg = config(env);
  const store = new WebhookStore(env.DB.withSession("first-primary"));
  const updates: { id: string; fields: DeliveryUpdate }[] = [];
  const record = (id: string) => (fields: DeliveryUpdate) => updates.push({ id, fields });
  const eventMessages = batch.messages.filter((m) => m.body.kind === "events");
  const deliveryMessages = batch.messages.filter(
    (m): m is Message<Extract<QueueMessage, { kind: "delivery" }>> => m.body.kind === "delivery",
  );

  // Fan-outs: all-or-nothing for their messages (a failure retries them; rows already written stay).
  const fanned = eventMessages.length
    ? await fanOut(
        env,
        eventMessages.flatMap((m) => (m.body.kind === "events" ? m.body.events : [])),
      ).catch((err: unknown) => {
        console.error("fanning out events failed; the queue retries them", err);
        return null;
      })
    : [];
  const attempts: Promise<unknown>[] = (fanned ?? []).map(async ({ delivery, webhook }) => {
    const next = await attempt(env, store, delivery, webhook, record(delivery.id)).catch((err: unknown) => {
      console.error("delivery failed before its attempt", delivery.id, err);
      return { retryInS: cfg.WEBHOOK_RETRY_BASE_S } as Next;
    });
    const message: QueueMessage = { kind: "delivery", delivery_id: delivery.id, webhook_id: delivery.webhookId };
    if (next.dead) await env.DELIVERIES_DLQ.send(message);
    if (next.retryInS !== null) await env.DELIVERIES.send(message, { delaySeconds: next.retryInS });
  });

  const rows = deliveryMessages.length
    ? await store.deliveriesWithWebhooks(deliveryMessages.map((m) => m.body.delivery_id)).catch((err: unknown) => {
        console.error("reading deliveries failed; the queue retries them", err);
        return null;
      })
    : new Map();
  const outcomes = await Promise.all(
    deliveryMessages.map(async (message) => {
      const found = rows?.get(message.body.delivery_id);
      if (!rows) return { message, next: { retryInS: cfg.WEBHOOK_RETRY_BASE_S } as Next };
      if (!found) return { message, next: DONE };
      const next = await attempt(env, store, found.delivery, found.webhook, record(found.delivery.id)).catch(
        (err: unknown) => {
          // Our own trouble (a missing WEBHOOK_KEY, D1): the message stays, the queue retries it.
          console.error("delivery failed before its attempt", message.body.delivery_id, err);
          return { retryInS: cfg.WEBHOOK_RETRY_BASE_S } as Next;
        },
      );
      return { message, next };
    }),
  );
  await Promise.all(attempts);

  if (updates.length > 0) {
    const statements = updates.map(({ id, fields }) =>
      store.db.update(webhookDeliveries).set(fields).where(eq(webhookDeliveries.id, id)),
    );
    await store.db.batch(statements as [(typeof statements)[number], ...typeof statements]);
  }
  for (const message of eventMessages) {
    if (fanned === null) message.retry({ delaySeconds: cfg.WEBHOOK_RETRY_BASE_S });
    else message.ack();
  }
  for (const { message, next } of outcomes) {
    if (next.dead) await env.DELIVERIES_DLQ.send(message.body);
    if (next.retryInS === null) message.ack();
    else message.retry({ delaySeconds: next.retryInS });
  }
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return { status: res.status };
  } catch (err) {
    return {
      error:
        err instanceof Error && err.name === "TimeoutError"
          ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`
          : String(err),
    };
  }
}

/** One attempt of one delivery; `record` collects the delivery row's new fields. */
async function attempt(
  env: Env,
  store: WebhookStore,
  delivery: DeliveryRow,
  webhook: WebhookRow | undefined,
  record: (fields: DeliveryUpdate) => void,
): Promise<Next> {
  const cfg = config(env);
  if (delivery.status !== "pending") return DONE;
  if (!webhook?.active) {
    record({
      status: "failed",
      lastError: webhook ? `webhook disabled: ${webhook.disabledReason ?? "inactive"}` : "webhook deleted",
      nextAttemptAt: null,
    });
    return DONE;
  }
  // A URL stored before today's rules (a private address) is never requested.
  const refused = endpointProblem(webhook.url, cfg.ALLOW_HTTP_WEBHOOKS);
  if (refused) {
    record({ status: "failed", lastError: `not sent: the URL ${refused}`, nextAttemptAt: null });
    return DONE;
  }
  if (!cfg.WEBHOOK_KEY) throw new Error("WEBHOOK_KEY is not set: webhook secrets cannot be read");

  const now = Date.now();
  const nowIso = new Date(now).toISOString();
  const headers = await webhookHeaders(
    await signingSecrets(cfg.WEBHOOK_KEY, webhook, nowIso),
    delivery.eventId,
    Math.floor(now / 1000),
    delivery.payload,
  );
  const result = await post(webhook.url, headers, delivery.payload);
  const attempts = delivery.attempts + 1;
  const recorded = {
    attempts,
    lastStatusCode: "status" in result ? result.status : null,
    lastError: "error" in result ? result.error : null,
  };

  switch (classify(result)) {
    case "delivered":
      record({ ...recorded, status: "delivered", deliveredAt: nowIso, nextAttemptAt: null });
      if (webhook.failingSince !== null) {
        await store.db
          .update(webhooks)
          .set({ failingSince: null, revision: sql`${webhooks.revision} + 1` })
          .where(and(eq(webhooks.id, webhook.id), isNotNull(webhooks.failingSince)));
      }
      return DONE;
    case "gone":
      record({ ...recorded, status: "failed", lastError: "the endpoint answered 410 Gone", nextAttemptAt: null });
      await disable(env, webhook, "the endpoint answered 410 Gone");
      return DONE;
    case "rejected":
      record({
        ...recorded,
        status: "failed",
        lastError: `the endpoint answered ${recorded.lastStatusCode}; not retried`,
        nextAttemptAt: null,
      });
      await markFailing(store, webhook, nowIso);
      return DONE;
    case "retry": {
      const failingSince = await markFailing(store, webhook, nowIso);
      if (now - Date.parse(failingSince) >= DISABLE_AFTER_MS) {
        record({ ...recorded, status: "failed", nextAttemptAt: null });
        await disable(env, webhook, "every delivery attempt failed for 3 days");
        return { retryInS: null, dead: true };
      }
      const delay = retryDelayS(attempts, cfg.WEBHOOK_RETRY_BASE_S, Date.parse(delivery.firstAttemptAt), now);
      if (delay === null) {
        record({ ...recorded, status: "failed", nextAttemptAt: null });
        return { retryInS: null, dead: true };
      }
      record({ ...recorded, nextAttemptAt: new Date(now + delay * 1000).toISOString() });
      return { retryInS: delay };
    }
  }
}

/** Since when the webhook has been failing (set now if it was not). */
async function markFailing(store: WebhookStore, webhook: WebhookRow, nowIso: string): Promise<string> {
  if (webhook.failingSince !== null) return webhook.failingSince;
  await store.db
    .update(webhooks)
    .set({ failingSince: nowIso, revision: sql`${webhooks.revision} + 1` })
    .where(and(eq(webhooks.id, webhook.id), isNull(webhooks.failingSince)));
  return nowIso;
}

/**
 * Disables a webhook, audited as `webhook.update` by actor `webhooks`: only while it is
 * active with the URL that failed (an administrator may have disabled it or pointed it
 * elsewhere during the attempt; two deliveries failing at once write one disable).
 */
async function disable(env: Env, webhook: WebhookRow, reason: string): Promise<void> {
  const db = env.DB.withSession("first-primary");
  const store = new WebhookStore(db);
  const at = new Date().toISOString();
  const stillAsAttempted = and(eq(webhooks.id, webhook.id), eq(webhooks.active, true), eq(webhooks.url, webhook.url))!;
  const holds = sql`EXISTS (SELECT 1 FROM ${webhooks} WHERE ${stillAsAttempted})`;
  const update = store.db
    .update(webhooks)
    .set({ active: false, disabledReason: reason, updatedAt: at, revision: sql`${webhooks.revision} + 1` })
    .where(stillAsAttempted);
  await commitRegistryChangeIf(db, holds, [update], {
    at,
    actor: "webhooks",
    action: "webhook.update",
    reason,
    detail: { id: webhook.id, url: urlOrigin(webhook.url), active: false, disabled_reason: reason },
  });
  await dispatchPending(env).catch((err: unknown) =>
    console.error("dispatching registry events failed; the cron retries", err),
  );
}
