/**
 * Resolution as every protocol asks for it: a model and a Reference to the state a serving
 * node needs (versions, digest, files, split), through this isolate's and this colo's caches
 * (./cache.ts), else the model's ModelState. When the object cannot answer, the last state
 * seen stands in for up to RESOLVE_STALE_IF_ERROR_S (`staleS` says how old). The caller has
 * authorized the request, and shapes the answer in its own dialect.
 *
 * `resolve` throws the contract's errors (`/v1` answers them as they are); `lookup` answers a
 * miss as data, saying which it was (no such model, or no such alias, version or commit in
 * it), so that every bridge words "not found" from one answer and none asks D1 itself.
 */
import { queryDb, type D1Handle } from "../db/session";
import type { AliasAt } from "../domain/alias";
import { referenceName, type Reference } from "../domain/reference";
import { config, type Env } from "../env";
import type { AppContext } from "../http/app-env";
import { ProblemError } from "../domain/problem";
import { ModelStore } from "../models/model-store";
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

/** The context of the request `c` is serving: its bindings, its waitUntil and its D1 session. */
export function requestContext(c: AppContext): ResolveContext {
  return { env: c.env, waitUntil: (promise) => c.executionCtx.waitUntil(promise), db: () => queryDb(c) };
}

export async function resolve(ctx: ResolveContext, model: string, ref: Reference): Promise<Resolved> {
  const cfg = config(ctx.env);
  // A commit is one indexed D1 read to its version; every other reference goes straight to the caches.
  const target =
    ref.kind === "commit"
      ? { kind: "version" as const, version: await versionOfCommit(ctx.db(), model, ref.commit) }
      : ref;
  const name = referenceName(target);
  const opts = { ttlS: cfg.RESOLVE_TTL_S, staleIfErrorS: cfg.RESOLVE_STALE_IF_ERROR_S, waitUntil: ctx.waitUntil };
  return cachedResolveState(model, name, opts, async () =>
    unwrap(await modelState(ctx.env, model).resolveState({ model, alias: name })),
  );
}

/**
 * What `alias` held at the instant `at` (RFC 3339 UTC with milliseconds), from its history in
 * the model's ModelState (authoritative, and indexed by time there); never from a cache.
 */
export async function aliasAt(env: Env, model: string, alias: string, at: string, key?: string): Promise<AliasAt> {
  return unwrap(await modelState(env, model).aliasAt({ model, alias, at, ...(key !== undefined ? { key } : {}) }));
}

/** What a reference names in a model: its resolution, or which miss it was. */
export type Lookup =
  | ({ kind: "found" } & Resolved)
  /** The model does not exist (as D1's models projection shows it). */
  | { kind: "no_model" }
  /**
   * The model exists; the alias, version or commit does not, or (`unready`) names a version
   * that is not ready yet.
   */
  | { kind: "no_revision"; unready: boolean };

/**
 * `resolve`, with a miss answered rather than thrown. Only a miss costs more: whether the
 * model exists is one primary-key read of D1 (a version that is not ready proves it does).
 * Every other error (the object cannot answer and nothing recent stands in) is thrown.
 */
export async function lookup(ctx: ResolveContext, model: string, ref: Reference): Promise<Lookup> {
  return (await lookupAll(ctx, model, [ref]))[0]!;
}

/** `lookup` of several references in one model, at once; D1 is asked at most once whether the model exists. */
export async function lookupAll(ctx: ResolveContext, model: string, refs: readonly Reference[]): Promise<Lookup[]> {
  let exists: Promise<boolean> | undefined;
  const modelExists = () => (exists ??= new ModelStore(ctx.db()).exists(model));
  return Promise.all(
    refs.map(async (ref): Promise<Lookup> => {
      try {
        return { kind: "found", ...(await resolve(ctx, model, ref)) };
      } catch (err) {
        if (!(err instanceof ProblemError)) throw err;
        if (err.code === "version_not_ready") return { kind: "no_revision", unready: true };
        if (err.code !== "not_found") throw err;
        return (await modelExists()) ? { kind: "no_revision", unready: false } : { kind: "no_model" };
      }
    }),
  );
}

async function versionOfCommit(db: D1Handle, model: string, commit: string): Promise<number> {
  const version = await new VersionStore(db).versionOfCommit(model, commit);
  if (version === null) throw new ProblemError("not_found", `No ready version of '${model}' has the commit ${commit}`);
  return version;
}
