/** Worker entry: the HTTP app, the scheduled cleanup, and the ModelState Durable Object class. */
import { buildApp } from "./app";
import { cleanup } from "./artifacts/cleanup";
import type { Env } from "./env";

export { ModelState } from "./state/model-state";

const app = buildApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  async scheduled(controller, env) {
    const report = await cleanup(env, new Date(controller.scheduledTime));
    console.log("cleanup", JSON.stringify(report));
  },
} satisfies ExportedHandler<Env>;
