/**
 * Putting audit events on the deliveries queue (`DELIVERIES`), where the consumer matches
 * them against webhooks (src/events/deliver.ts). Both publishers use it: each ModelState once
 * D1 has its audit events (its outbox), and registry-level changes after their D1 batch
 * (src/events/dispatch.ts). An event that can never be queued is dead-lettered, so it never
 * holds back the rest.
 */
import type { CallBudget } from "../domain/call-budget";
import { jsonBytes } from "../domain/limits";
import type { QueueMessage, UndeliverableEvent, WebhookEvent } from "../domain/queue-message";
import type { Env } from "../env";

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
    if (count > 0 && (count + 1 > BATCH_MESSAGES || bytes + ENVELOPE_BYTES + item.bytes + METADATA_BYTES > BATCH_BYTES))
      break;
    if (current.length > 0) messages.push(message(current));
    closedBytes = bytes;
    current = [item.event];
    currentBytes = ENVELOPE_BYTES + item.bytes;
  }
  if (current.length > 0) messages.push(message(current));
  return { messages, count: i - start };
}

/** Whether the queue took the batch; a refusal is logged, never thrown. */
async function sent(env: Env, messages: Outgoing[], calls?: CallBudget): Promise<boolean> {
  calls?.spend(1);
  try {
    await env.DELIVERIES.sendBatch(messages);
    return true;
  } catch (err) {
    console.error(`the queue refused ${messages.length} message(s) of events`, err);
    return false;
  }
}

/** Tells the dead-letter queue (and the log) of an event that will not be queued; false if the DLQ refused too. */
async function deadLetter(env: Env, event: WebhookEvent, reason: string, calls?: CallBudget): Promise<boolean> {
  calls?.spend(1);
  const note: UndeliverableEvent = {
    kind: "undeliverable_event",
    event_id: event.id,
    type: event.action,
    model: event.model,
    at: event.at,
    bytes: jsonBytes(event),
    reason,
  };
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
 *
 * With `calls` (the scheduled run's, src/cron/run.ts), it sends only what they allow: the events
 * it did not reach are not settled, and wait, in order, as after a refusal.
 */
export async function publish(env: Env, events: readonly WebhookEvent[], calls?: CallBudget): Promise<number> {
  const items = events.map(fitting);
  /** Whether one more send fits in `calls`; where it does not, the events not settled wait, as after a refusal. */
  const affordable = () => !calls || calls.allows(1);
  let done = 0;
  /** Up to here, events go one at a time (the last batch tried was refused). */
  let carefulUntil = 0;
  while (done < events.length) {
    if (!affordable()) return done;
    const item = items[done];
    if (!item) {
      if (
        !(await deadLetter(env, events[done]!, "larger than a queue message even without from, to and detail", calls))
      )
        return done;
      done++;
      continue;
    }
    if (done >= carefulUntil) {
      const batch = packFrom(items, done);
      if (await sent(env, batch.messages, calls)) {
        done += batch.count;
        continue;
      }
      carefulUntil = done + batch.count;
      if (batch.count > 1) continue;
    } else if (await sent(env, [message([item.event])], calls)) {
      done++;
      continue;
    }
    // This event alone was refused. Without from/to/detail, then?
    if (!affordable()) return done;
    if (item.event === events[done] && (await sent(env, [message([stripped(item.event)])], calls))) {
      done++;
      continue;
    }
    // The queue is down, or will never take this event: the next one that fits tells.
    let next = done + 1;
    while (next < items.length && !items[next]) next++;
    const probe = items[next];
    if (!probe || !affordable() || !(await sent(env, [message([probe.event])], calls))) return done;
    // Stopping after the probe sends it again later with the rest: the consumer counts each delivery once.
    if (
      !affordable() ||
      !(await deadLetter(
        env,
        events[done]!,
        "the queue refused it, whole and without from, to and detail, and took the event after it",
        calls,
      ))
    )
      return done;
    for (let k = done + 1; k < next; k++) {
      if (
        !affordable() ||
        !(await deadLetter(env, events[k]!, "larger than a queue message even without from, to and detail", calls))
      )
        return k;
    }
    done = next + 1;
  }
  return done;
}
