/**
 * The hot path's caches, both holding an alias's ResolveState (not a finished response, so
 * a split still picks per routing key):
 * 1. a small bounded map in this isolate, of the last state seen per model@alias;
 * 2. the Cache API (per data centre), keyed by the generation-free model@alias.
 * An entry carries its absolute expiry (RESOLVE_TTL_S after its load started), so moving it
 * from one layer to the other never extends its life: a rollback is hidden for at most the
 * TTL. Past the expiry an entry is no longer served as an answer, but is kept (memory: until
 * evicted; Cache API: for RESOLVE_STALE_IF_ERROR_S more) to stand in when ModelState cannot
 * answer at all (stale-if-error).
 *
 * Loads are shared: one in flight per key in this isolate; requests that miss while it runs
 * await it. A hit in the last part of an entry's life starts one background refresh, so a
 * steady stream of requests never meets a synchronous miss when the entry expires.
 *
 * A change made through this isolate forgets what it moved: the names a write touched
 * (`forgetResolved`), or every name of a deleted model at once (`forgetModelResolved`): its
 * entries leave this isolate's memory, and the colo's copies stand behind a deletion mark,
 * so no `v<n>` of a model that is gone resolves from a cache, whoever asked for it before.
 */
import type { ResolveState } from "../domain/resolution";
import { ProblemError } from "../domain/problem";
import { MAX_RESOLVE_STALE_IF_ERROR_S, MAX_RESOLVE_TTL_S } from "../env";
import { freshness, shouldPersist, staleAge, storedMaxAge, type Stamp } from "./freshness";
import { Flights, RecentMap } from "./shared-loads";

export interface ResolveCacheOptions {
  ttlS: number;
  staleIfErrorS: number;
  waitUntil: (promise: Promise<unknown>) => void;
  /** The clock in ms; tests pass their own to step through a TTL without sleeping. */
  now?: () => number;
}

export interface Resolved {
  state: ResolveState;
  /** Seconds since it was seen, when served because ModelState could not answer; else null. */
  staleS: number | null;
}

interface Entry extends Stamp {
  state: ResolveState;
  /** When this answer was last written to the Cache API (null: not by this isolate). */
  persistedAt: number | null;
}

const MAX_MEMORY_ENTRIES = 1000;
/** How long a client should wait before asking again when there is nothing to serve. */
const RETRY_AFTER_S = 5;

const memory = new RecentMap<string, Entry>(MAX_MEMORY_ENTRIES);
const flights = new Flights<Entry>();

const keyOf = (model: string, alias: string) => `${model}@${alias}`;
const cacheUrl = (model: string, alias: string) => `https://resolve.mreg.internal/${model}/${alias}`;
/** Where a model's deletion mark is kept: apart from every `cacheUrl` (an alias is never empty; a model name has no `/`). */
const markUrl = (model: string) => `https://resolve.mreg.internal/${model}`;

export async function cachedResolveState(
  model: string,
  alias: string,
  opts: ResolveCacheOptions,
  load: () => Promise<ResolveState>,
): Promise<Resolved> {
  const clock = opts.now ?? Date.now;
  const key = keyOf(model, alias);
  const now = clock();
  const start = () =>
    flights.launch(key, clock(), opts.waitUntil, (isCurrent) => fill(model, alias, opts, clock, load, isCurrent));
  const held = memory.get(key);
  const verdict = held ? freshness(held, now) : "expired";
  if (held && verdict !== "expired") {
    // Served from memory without touching the Cache API; near the end of its life, one
    // refresh runs after this response (a refresh already in flight is enough).
    if (verdict === "refresh" && !flights.has(key)) start();
    return { state: held.state, staleS: null };
  }
  try {
    const entry = await flights.shared(key, now, opts.ttlS * 1000, start);
    return { state: entry.state, staleS: null };
  } catch (err) {
    // ModelState answered (not_found, version_not_ready): that answer stands, never a stale one.
    if (err instanceof ProblemError) throw err;
    return lastSeen(model, alias, clock(), opts.staleIfErrorS * 1000);
  }
}

/**
 * One load: a fresh copy from the Cache API (cache on), else ModelState. `isCurrent` turns
 * false when a change made in this isolate forgot the key meanwhile: the answer, read before
 * that change, then goes to the requests that were already waiting and is not kept.
 */
async function fill(
  model: string,
  alias: string,
  opts: ResolveCacheOptions,
  clock: () => number,
  load: () => Promise<ResolveState>,
  isCurrent: () => boolean,
): Promise<Entry> {
  const key = keyOf(model, alias);
  const ttlMs = opts.ttlS * 1000;
  const staleMs = opts.staleIfErrorS * 1000;
  if (ttlMs > 0) {
    const copy = await readCopy(model, alias);
    if (copy && isCurrent()) {
      const held = memory.get(key);
      // Even an expired copy is worth keeping as the last seen, if newer than ours.
      if (!held || copy.seenAt > held.seenAt) memory.set(key, copy);
      if (freshness(copy, clock()) === "fresh") return copy;
    }
  }
  const seenAt = clock();
  let state: ResolveState;
  try {
    state = await load();
  } catch (err) {
    if (err instanceof ProblemError) {
      // The alias is gone (or not ready): its last seen state must not come back as stale.
      if (isCurrent()) {
        memory.delete(key);
        opts.waitUntil(caches.default.delete(cacheUrl(model, alias)).catch(() => false));
      }
    } else {
      console.warn(`resolve ${key}: ModelState cannot answer`, err);
    }
    throw err;
  }
  const previous = memory.get(key);
  const entry: Entry = { state, seenAt, expires: seenAt + ttlMs, persistedAt: previous?.persistedAt ?? null };
  if (!isCurrent()) return entry;
  const previousEtag = previous ? { etag: previous.state.etag, persistedAt: previous.persistedAt } : undefined;
  if (shouldPersist(ttlMs, staleMs, previousEtag, state.etag, seenAt)) {
    entry.persistedAt = seenAt;
    opts.waitUntil(writeCopy(model, alias, entry, storedMaxAge(entry, seenAt, staleMs)));
  }
  memory.set(key, entry);
  return entry;
}

/** When ModelState cannot answer: the last state seen, for up to the stale window past its TTL. */
async function lastSeen(model: string, alias: string, now: number, staleMs: number): Promise<Resolved> {
  const key = keyOf(model, alias);
  let seen = memory.get(key);
  if (!seen) {
    seen = (await readCopy(model, alias)) ?? undefined;
    if (seen && !memory.has(key)) memory.set(key, seen);
  }
  const age = seen ? staleAge(seen, now, staleMs) : null;
  if (seen && age !== null) return { state: seen.state, staleS: age };
  throw new ProblemError(
    "unavailable",
    `The state of '${model}' cannot be read right now, and no resolution of '${alias}' recent enough to stand in is at hand`,
    {},
    { "retry-after": String(RETRY_AFTER_S) },
  );
}

async function readCopy(model: string, alias: string): Promise<Entry | null> {
  try {
    const [hit, mark] = await Promise.all([
      caches.default.match(cacheUrl(model, alias)),
      caches.default.match(markUrl(model)),
    ]);
    await mark?.body?.cancel();
    if (!hit) return null;
    const seenAt = Number(hit.headers.get("x-mreg-seen-at"));
    const expires = Number(hit.headers.get("x-mreg-expires"));
    // A copy without both stamps (written before they existed) cannot prove its age; one seen
    // before its model was deleted (or in that same millisecond) may show what is gone.
    const deletedAt = Number(mark?.headers.get("x-mreg-deleted-at") ?? 0);
    if (!seenAt || !expires || seenAt <= deletedAt) {
      await hit.body?.cancel();
      return null;
    }
    return { state: (await hit.json()) as ResolveState, seenAt, expires, persistedAt: null };
  } catch (err) {
    // The Cache API is an optimisation: its trouble must not fail a resolution.
    console.warn(`resolve ${model}@${alias}: Cache API read failed`, err);
    return null;
  }
}

async function writeCopy(model: string, alias: string, entry: Entry, maxAgeS: number): Promise<void> {
  if (maxAgeS <= 0) return;
  const response = new Response(JSON.stringify(entry.state), {
    headers: {
      "content-type": "application/json",
      // Kept for the TTL and the stale window; whether it is fresh is `x-mreg-expires`'s call.
      "cache-control": `max-age=${maxAgeS}`,
      "x-mreg-seen-at": String(entry.seenAt),
      "x-mreg-expires": String(entry.expires),
    },
  });
  await caches.default.put(cacheUrl(model, alias), response).catch((err: unknown) => {
    console.warn(`resolve ${model}@${alias}: Cache API write failed`, err);
  });
}

/** Forgets a model's cached aliases here after this isolate changed them (other colos wait out the TTL). */
export async function forgetResolved(model: string, aliases: readonly string[]): Promise<void> {
  await Promise.all(
    aliases.map(async (alias) => {
      const key = keyOf(model, alias);
      memory.delete(key);
      // A load in flight read the state before this change: its answer must not be kept.
      flights.forget(key);
      await caches.default.delete(cacheUrl(model, alias));
    }),
  );
}

/**
 * Forgets every cached name of a model that was deleted through this isolate, whatever names
 * were asked for (each `v<n>` it had, `latest`, stage names, aliases): this isolate's entries
 * and loads in flight go, and the colo gets a deletion mark that outlives every copy written
 * before it (the longest TTL and stale window the settings allow, so a change of settings
 * cannot outlast it), behind which a copy seen before the mark is never served, fresh or
 * stale. Other colos wait out the TTL, as for any change.
 */
export async function forgetModelResolved(model: string): Promise<void> {
  const ofModel = (key: string) => key.startsWith(keyOf(model, ""));
  memory.deleteWhere(ofModel);
  flights.forgetWhere(ofModel);
  const mark = new Response(null, {
    headers: {
      "cache-control": `max-age=${MAX_RESOLVE_TTL_S + MAX_RESOLVE_STALE_IF_ERROR_S}`,
      "x-mreg-deleted-at": String(Date.now()),
    },
  });
  await caches.default.put(markUrl(model), mark);
}
