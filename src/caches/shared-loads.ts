/**
 * The in-isolate machinery of the Worker's small caches of ModelState answers (the resolve
 * cache, src/caches/resolve-cache.ts; the signal route's guard directory, src/caches/guard-directory.ts):
 * a bounded map of the last answers, and loads shared by the requests that miss together.
 * Whether an answer is fresh enough is src/caches/freshness.ts's call.
 */
import { mayJoin } from "./freshness";

/** A map that keeps at most `max` keys, forgetting the least recently stored first. */
export class RecentMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  /** Forgets every key `matches` picks (at most `max` to look at). */
  deleteWhere(matches: (key: K) => boolean): void {
    for (const key of [...this.map.keys()]) if (matches(key)) this.map.delete(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    // Map iteration is insertion order: the first key is the least recently stored.
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

export interface Flight<T> {
  startedAt: number;
  promise: Promise<T>;
}

/** Loads in flight, at most one per key; a request that misses joins the one running if it may. */
export class Flights<T> {
  private readonly running = new Map<string, Flight<T>>();

  has(key: string): boolean {
    return this.running.has(key);
  }

  /**
   * Detaches the load in flight for `key` (a change made here makes its answer outdated):
   * the requests already waiting get it, its `isCurrent` turns false so it is not kept, and
   * the next miss starts a new one.
   */
  forget(key: string): void {
    this.running.delete(key);
  }

  /** `forget` for every key `matches` picks. */
  forgetWhere(matches: (key: string) => boolean): void {
    for (const key of [...this.running.keys()]) if (matches(key)) this.running.delete(key);
  }

  /**
   * Starts a load for `key`. `run` gets `isCurrent`, false once the load was forgotten or
   * replaced. The context of the request that starts it is kept alive until it settles, since
   * requests that join it await a promise of that context.
   */
  launch(
    key: string,
    startedAt: number,
    waitUntil: (promise: Promise<unknown>) => void,
    run: (isCurrent: () => boolean) => Promise<T>,
  ): Flight<T> {
    const isCurrent = () => this.running.get(key) === flight;
    // The run starts a microtask later, once the flight is registered and `isCurrent` can see it.
    const flight: Flight<T> = {
      startedAt,
      promise: Promise.resolve()
        .then(() => run(isCurrent))
        .finally(() => {
          if (isCurrent()) this.running.delete(key);
        }),
    };
    this.running.set(key, flight);
    waitUntil(flight.promise.catch(() => undefined));
    return flight;
  }

  /**
   * The answer of the load in flight for `key` if a request that arrived at `now` may take it
   * (see `mayJoin`), else of the next one, which all requests waiting like this one share.
   */
  async shared(key: string, now: number, ttlMs: number, start: () => Flight<T>): Promise<T> {
    for (;;) {
      const flight = this.running.get(key);
      if (!flight) return start().promise;
      if (mayJoin(flight.startedAt, now, ttlMs)) return flight.promise;
      // It started too long before this request (cache off: before it arrived): wait it out.
      await flight.promise.catch(() => undefined);
    }
  }
}
