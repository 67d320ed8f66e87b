/** Worker entry: the HTTP app, the scheduled cleanup, the webhook delivery consumer, and the ModelState Durable Object class. */
import { buildApp } from "./app";
import { cleanup } from "./artifacts/cleanup";
import type { Env } from "./env";
import { deliverBatch } from "./events/deliver";
import { dispatchPending, type QueueMessage } from "./events/dispatch";

export { ModelState } from "./state/model-state";

const app = buildApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  async scheduled(controller, env) {
    const report = await cleanup(env, new Date(controller.scheduledTime));
    console.log("cleanup", JSON.stringify(report));
    // Registry-level events a crash left undispatched.
    const dispatched = await dispatchPending(env);
    if (dispatched > 0) console.log("dispatched", dispatched, "leftover registry events");
  },
  queue: (batch, env) => deliverBatch(batch, env),
} satisfies ExportedHandler<Env, QueueMessage>;
