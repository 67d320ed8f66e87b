/**
 * The queue consumer: one attempt per message. A 2xx delivers; a 410 disables the webhook at
 * once; a network error, a timeout (15 s), a 429 or a 5xx is retried with exponential
 * backoff (`message.retry({delaySeconds})`) for 24 h from the first attempt, then the
 * delivery is `failed` and the message goes to the dead-letter queue; any other answer fails
 * the delivery without retrying. A webhook whose attempts have all failed for 3 days is
 * disabled. Every attempt is recorded on the delivery row. Deliveries that are not pending
 * (done, or a duplicate message) are skipped.
 *
 * Two webhooks disabled in one batch, or a duplicate message racing its original, may both
 * attempt: delivery is at least once, and receivers deduplicate by `webhook-id`.
 */
import { eq } from "drizzle-orm";
import { webhookDeliveries, webhooks } from "../db/schema";
import { ATTEMPT_TIMEOUT_MS, classify, DISABLE_AFTER_MS, retryDelayS, type AttemptResult } from "../domain/webhook";
import { config, type Env } from "../env";
import { dispatchPending, type DeliveryMessage } from "./dispatch";
import { commitRegistryChange } from "./registry";
import { webhookHeaders } from "./signing";
import { signingSecrets, WebhookStore, type DeliveryRow, type WebhookRow } from "./store";

/** What to do with a message: done (ack), or try again in `retryInS` seconds; `dead` also sends it to the dead-letter queue. */
type Next = { retryInS: number | null; dead?: boolean };
const DONE: Next = { retryInS: null };

type DeliveryUpdate = Partial<typeof webhookDeliveries.$inferInsert>;

/**
 * One batch: the deliveries and their webhooks read in one query, the attempts made in
 * parallel, and the outcomes written in one D1 batch, so a delivery costs D1 two shared
 * round trips per batch rather than several of its own.
 */
export async function deliverBatch(batch: MessageBatch<DeliveryMessage>, env: Env): Promise<void> {
  const db = env.DB.withSession("first-primary");
  const store = new WebhookStore(db);
  let rows: Map<string, { delivery: DeliveryRow; webhook: WebhookRow | undefined }>;
  try {
    rows = await store.deliveriesWithWebhooks(batch.messages.map((m) => m.body.delivery_id));
  } catch (err) {
    console.error("reading deliveries failed; the batch is retried", err);
    batch.retryAll({ delaySeconds: config(env).WEBHOOK_RETRY_BASE_S });
    return;
  }
  const updates: { id: string; fields: DeliveryUpdate }[] = [];
  const outcomes = await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const found = rows.get(message.body.delivery_id);
        if (!found) return { message, next: DONE };
        return { message, next: await attempt(env, store, found.delivery, found.webhook, (fields) => updates.push({ id: found.delivery.id, fields })) };
      } catch (err) {
        // Our own trouble (a missing WEBHOOK_KEY, D1): the message stays, the queue retries it.
        console.error("delivery failed before its attempt", message.body.delivery_id, err);
        return { message, next: { retryInS: config(env).WEBHOOK_RETRY_BASE_S } as Next };
      }
    }),
  );
  if (updates.length > 0) {
    const statements = updates.map(({ id, fields }) => store.db.update(webhookDeliveries).set(fields).where(eq(webhookDeliveries.id, id)));
    await store.db.batch(statements as [(typeof statements)[number], ...typeof statements]);
  }
  for (const { message, next } of outcomes) {
    if (next.dead) await env.DELIVERIES_DLQ.send(message.body);
    if (next.retryInS === null) message.ack();
    else message.retry({ delaySeconds: next.retryInS });
  }
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
  try {
    const res = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
    await res.body?.cancel();
    return { status: res.status };
  } catch (err) {
    return { error: err instanceof Error && err.name === "TimeoutError" ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s` : String(err) };
  }
}

/** One attempt of one delivery; `record` collects the delivery row's new fields. */
async function attempt(env: Env, store: WebhookStore, delivery: DeliveryRow, webhook: WebhookRow | undefined, record: (fields: DeliveryUpdate) => void): Promise<Next> {
  const cfg = config(env);
  if (delivery.status !== "pending") return DONE;
  if (!webhook?.active) {
    record({ status: "failed", lastError: webhook ? `webhook disabled: ${webhook.disabledReason ?? "inactive"}` : "webhook deleted", nextAttemptAt: null });
    return DONE;
  }
  if (!cfg.WEBHOOK_KEY) throw new Error("WEBHOOK_KEY is not set: webhook secrets cannot be read");

  const now = Date.now();
  const nowIso = new Date(now).toISOString();
  const headers = await webhookHeaders(await signingSecrets(cfg.WEBHOOK_KEY, webhook, nowIso), delivery.eventId, Math.floor(now / 1000), delivery.payload);
  const result = await post(webhook.url, headers, delivery.payload);
  const attempts = delivery.attempts + 1;
  const recorded = { attempts, lastStatusCode: "status" in result ? result.status : null, lastError: "error" in result ? result.error : null };

  switch (classify(result)) {
    case "delivered":
      record({ ...recorded, status: "delivered", deliveredAt: nowIso, nextAttemptAt: null });
      if (webhook.failingSince !== null) await store.db.update(webhooks).set({ failingSince: null }).where(eq(webhooks.id, webhook.id));
      return DONE;
    case "gone":
      record({ ...recorded, status: "failed", lastError: "the endpoint answered 410 Gone", nextAttemptAt: null });
      await disable(env, webhook, "the endpoint answered 410 Gone");
      return DONE;
    case "rejected":
      record({ ...recorded, status: "failed", lastError: `the endpoint answered ${recorded.lastStatusCode}; not retried`, nextAttemptAt: null });
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
  await store.db.update(webhooks).set({ failingSince: nowIso }).where(eq(webhooks.id, webhook.id));
  return nowIso;
}

/** Disables a webhook, audited as `webhook.update` by actor `webhooks`. */
async function disable(env: Env, webhook: WebhookRow, reason: string): Promise<void> {
  const db = env.DB.withSession("first-primary");
  const store = new WebhookStore(db);
  const at = new Date().toISOString();
  await commitRegistryChange(db, [store.db.update(webhooks).set({ active: false, disabledReason: reason, updatedAt: at }).where(eq(webhooks.id, webhook.id))], {
    at,
    actor: "webhooks",
    action: "webhook.update",
    reason,
    detail: { id: webhook.id, url: webhook.url, active: false, disabled_reason: reason },
  });
  await dispatchPending(env);
}
