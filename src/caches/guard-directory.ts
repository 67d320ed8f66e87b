/**
 * What this isolate knows of a model's guards: which aliases have one, the versions each
 * serves and the guard's metric, as ModelState last told it (one `guardedAliases` RPC). The
 * signal route drops at the Worker every signal no guard would count, so serving fleets that
 * report on unguarded aliases, old versions or other metrics cost the object nothing.
 *
 * It is a cache: the object checks every batch again. An answer is trusted for
 * SIGNAL_GUARDS_TTL_S (default 5 s) after its load started, refreshed in the background in
 * the last quarter of that, and loads are shared by the requests that miss together (the
 * resolve cache's machinery: src/caches/shared-loads.ts, src/caches/freshness.ts). So a
 * guard set, or a version promoted into a guarded alias, through another isolate is unknown
 * here for up to the TTL, and the signals meanwhile are dropped; changes made through this
 * isolate (`forgetGuards`) and a rollback a batch of its own caused are seen at once. At most
 * MAX_MODELS models are remembered, so a client naming many models cannot grow it.
 */
import { freshness, type Stamp } from "./freshness";
import { Flights, RecentMap } from "./shared-loads";
import type { GuardedAlias } from "../state/guard-ops";

export type { GuardedAlias } from "../state/guard-ops";

export interface DirectoryOptions {
  ttlS: number;
  waitUntil: (promise: Promise<unknown>) => void;
  /** The clock in ms; tests pass their own to step through a TTL without sleeping. */
  now?: () => number;
}

/** A model's guarded aliases by name. */
export type GuardDirectory = ReadonlyMap<string, GuardedAlias>;

interface Entry extends Stamp {
  guards: GuardDirectory;
}

const MAX_MODELS = 1000;

const memory = new RecentMap<string, Entry>(MAX_MODELS);
const flights = new Flights<Entry>();

/** The guards of `model` as this isolate knows them; `load` asks its ModelState. Rejects when that fails. */
export async function guardsOf(
  model: string,
  opts: DirectoryOptions,
  load: () => Promise<GuardedAlias[]>,
): Promise<GuardDirectory> {
  const clock = opts.now ?? Date.now;
  const ttlMs = opts.ttlS * 1000;
  const now = clock();
  const start = () =>
    flights.launch(model, clock(), opts.waitUntil, async (isCurrent) => {
      const seenAt = clock();
      const list = await load();
      const entry: Entry = { guards: new Map(list.map((g) => [g.alias, g])), seenAt, expires: seenAt + ttlMs };
      // Forgotten meanwhile (a change made here): the answer predates it, so it is not kept.
      if (isCurrent()) memory.set(model, entry);
      return entry;
    });
  const held = memory.get(model);
  const verdict = held ? freshness(held, now) : "expired";
  if (held && verdict !== "expired") {
    if (verdict === "refresh" && !flights.has(model)) start();
    return held.guards;
  }
  return (await flights.shared(model, now, ttlMs, start)).guards;
}

/** Forgets what this isolate knows of a model's guards, after it changed them or its aliases. */
export function forgetGuards(model: string): void {
  memory.delete(model);
  flights.forget(model);
}
