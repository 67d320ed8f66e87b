/**
 * Resolution as every protocol asks for it: a model and a Reference to the state a serving
 * node needs (versions, digest, files, split), through this isolate's and this colo's caches
 * (./cache.ts), else the model's ModelState. When the object cannot answer, the last state
 * seen stands in for up to RESOLVE_STALE_IF_ERROR_S (`staleS` says how old). The caller has
 * authorized the request, and shapes the answer in its own dialect.
 */
import type { D1Handle } from "../db/session";
import { referenceName, type Reference } from "../domain/reference";
import { config, type Env } from "../env";
import { ProblemError } from "../domain/problem";
import { VersionStore } from "../models/version-store";
import { modelState, unwrap } from "../model-writes/stub";
import { cachedResolveState, type Resolved } from "../caches/resolve-cache";

export type { Resolved } from "../caches/resolve-cache";

/**
 * What a resolution needs of the request: the bindings, its waitUntil (background refreshes)
 * and its D1 session, asked for only by a commit lookup (the hot path opens none).
 */
export interface ResolveContext {
  env: Env;
  waitUntil: (promise: Promise<unknown>) => void;
  db: () => D1Handle;
}

export async function resolve(ctx: ResolveContext, model: string, ref: Reference): Promise<Resolved> {
  const cfg = config(ctx.env);
  // A commit is one indexed D1 read to its version; every other reference goes straight to the caches.
  const target = ref.kind === "commit" ? { kind: "version" as const, version: await versionOfCommit(ctx.db(), model, ref.commit) } : ref;
  const name = referenceName(target);
  const opts = { ttlS: cfg.RESOLVE_TTL_S, staleIfErrorS: cfg.RESOLVE_STALE_IF_ERROR_S, waitUntil: ctx.waitUntil };
  return cachedResolveState(model, name, opts, async () => unwrap(await modelState(ctx.env, model).resolveState({ model, alias: name })));
}

async function versionOfCommit(db: D1Handle, model: string, commit: string): Promise<number> {
  const version = await new VersionStore(db).versionOfCommit(model, commit);
  if (version === null) throw new ProblemError("not_found", `No ready version of '${model}' has the commit ${commit}`);
  return version;
}
