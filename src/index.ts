/** Worker entry: the HTTP app, the scheduled run (src/cron/run.ts), the webhook delivery consumer, and the ModelState Durable Object class. */
import { buildApp } from "./app";
import { runScheduled } from "./cron/run";
import type { Env } from "./env";
import { deliverBatch } from "./events/deliver";
import type { QueueMessage, VerifyMessage } from "./domain/queue-message";
import { VERIFY_QUEUE, verifyBatch } from "./artifacts/verify-steps";

export { ModelState } from "./state/model-state";
export { WatchRelay } from "./state/watch-relay";

const app = buildApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  // The cleanup, the leftovers of crashes, the audit archive and the scrub, each within its calls.
  scheduled: (controller, env) => runScheduled(env, new Date(controller.scheduledTime)),
  // Two queues, one consumer: verification steps (src/artifacts/verify-steps.ts) and webhook deliveries.
  queue: (batch, env) =>
    batch.queue === VERIFY_QUEUE
      ? verifyBatch(batch as MessageBatch<VerifyMessage>, env)
      : deliverBatch(batch as MessageBatch<QueueMessage>, env),
} satisfies ExportedHandler<Env, QueueMessage | VerifyMessage>;
