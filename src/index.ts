/** Worker entry: the HTTP app, and the ModelState Durable Object class. */
import { buildApp } from "./app";
import type { Env } from "./env";

export { ModelState } from "./state/model-state";

const app = buildApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
