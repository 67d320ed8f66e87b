/**
 * What the `mreg-deliveries` queue and its dead-letter queue carry (docs/reference.md "Events
 * (webhooks)"): the write side publishes events (src/queue/publish.ts), the consumer
 * (src/events/deliver.ts) fans them out and retries deliveries. Types only, so the bindings
 * (src/env.ts) can name them without importing the code that sends them.
 */
import type { AuditEvent } from "./audit";

/** An event as webhooks receive it: audit events, and `ping`s, which have the same fields. */
export type WebhookEvent = Omit<AuditEvent, "action"> & { action: AuditEvent["action"] | "ping" };

/** Events to fan out, or one delivery to attempt (again). */
export type QueueMessage =
  { kind: "events"; events: WebhookEvent[] } | { kind: "delivery"; delivery_id: string; webhook_id: string };

/** What the dead-letter queue is told of an event that could not be queued (the audit log keeps the event). */
export interface UndeliverableEvent {
  kind: "undeliverable_event";
  event_id: string;
  type: string;
  model: string;
  at: string;
  bytes: number;
  reason: string;
}

/**
 * What the `mreg-verify` queue carries: take the next step of a verifying upload's verification
 * (src/artifacts/verify-steps.ts). Where the step starts is the upload's saved progress, never
 * the message, so a message delivered twice, or sent again, does no harm.
 */
export interface VerifyMessage {
  kind: "verify";
  model: string;
  version: number;
  upload_id: string;
  /** A blob session's verification (`upload_id` is the session's id, `version` 0), not an upload's. */
  session?: true;
}
