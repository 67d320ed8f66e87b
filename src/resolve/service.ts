/**
 * Resolution as every protocol asks for it: a model and a Reference to the state a serving
 * node needs (versions, digest, files, split), through this isolate's and this colo's caches
 * (./cache.ts), else the model's ModelState. When the object cannot answer, the last state
 * seen stands in for up to RESOLVE_STALE_IF_ERROR_S (`staleS` says how old). The caller has
 * authorized the request, and shapes the answer in its own dialect.
 */
import { referenceName, type Reference } from "../domain/reference";
import { config, type Env } from "../env";
import { modelState, unwrap } from "../state/client";
import { cachedResolveState, type Resolved } from "./cache";

export type { Resolved } from "./cache";

export async function resolve(env: Env, waitUntil: (promise: Promise<unknown>) => void, model: string, ref: Reference): Promise<Resolved> {
  const cfg = config(env);
  const name = referenceName(ref);
  const opts = { ttlS: cfg.RESOLVE_TTL_S, staleIfErrorS: cfg.RESOLVE_STALE_IF_ERROR_S, waitUntil };
  return cachedResolveState(model, name, opts, async () => unwrap(await modelState(env, model).resolveState({ model, alias: name })));
}
