import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { ProblemError } from "../src/domain/problem";
import { cachedResolveState, type ResolveCacheOptions } from "../src/caches/resolve-cache";
import { freshness, mayJoin, PERSIST_EVERY_MS, shouldPersist, staleAge, storedMaxAge } from "../src/caches/freshness";
import { modelState, unwrap } from "../src/model-writes/stub";
import type { ModelState } from "../src/state/model-state";
import { createModel, hsToken, json, modelStub, readyVersion } from "./helpers";

async function modelWithAlias(name: string, versions: number, alias = "prod") {
  await createModel(name);
  for (let i = 1; i <= versions; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} v${i}`) });
  expect((await json("PUT", `/v1/models/${name}/aliases/${alias}`, { body: { version: 1 } })).status).toBe(200);
}

/** Moves an alias straight on the Durable Object, as another colo would: this isolate's caches are not told. */
async function setElsewhere(model: string, alias: string, version: number) {
  unwrap(
    await modelStub(model).setAlias({
      model,
      actor: "elsewhere",
      at: new Date().toISOString(),
      alias,
      value: { version, split: null },
      reason: null,
    }),
  );
}

// ---- instrumenting the real ModelState instance ------------------------------------------
// ModelState.resolveState starts with one lookup in the instance's `resolved` map; swapping
// that map for one that counts or throws observes or breaks the real object's answers.

class CountingMap<K, V> extends Map<K, V> {
  calls = 0;
  override get(key: K): V | undefined {
    this.calls++;
    return super.get(key);
  }
}

class FailingMap<K, V> extends Map<K, V> {
  override get(): V | undefined {
    throw new Error("ModelState cannot answer (injected by the test)");
  }
}

// reason: `resolved` is private to ModelState; the tests reach it only to instrument it.
type WithResolved = { resolved: Map<string, unknown> };

async function swapResolved(model: string, map: Map<string, unknown>): Promise<void> {
  await runInDurableObject(modelStub(model), (instance: ModelState) => {
    (instance as unknown as WithResolved).resolved = map;
  });
}

async function countResolves(model: string) {
  await swapResolved(model, new CountingMap());
  return () =>
    runInDurableObject(modelStub(model), (instance: ModelState) => {
      return ((instance as unknown as WithResolved).resolved as CountingMap<string, unknown>).calls;
    });
}

/**
 * Holds every later event of the model's object (RPCs included) until the returned function
 * is called. The holding call itself returns only once released, so it is not awaited; a
 * short pause lets it take hold (if it were late, requests would find the cache filled
 * instead: the burst test's count would not change).
 */
async function holdObject(model: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const holding = runInDurableObject(modelStub(model), (_instance: ModelState, state) => {
    void state.blockConcurrencyWhile(() => gate);
  });
  await new Promise((r) => setTimeout(r, 50));
  return async () => {
    release();
    await holding;
  };
}

/** The cache's options with a clock the test moves, and the waitUntil promises it collected. */
function cacheOptions(ttlS: number, staleIfErrorS = 86400) {
  const pending: Promise<unknown>[] = [];
  const clock = { t: Date.now() };
  const opts = (at = clock.t): ResolveCacheOptions => ({
    ttlS,
    staleIfErrorS,
    waitUntil: (p) => pending.push(p),
    now: () => at,
  });
  const settle = async () => {
    while (pending.length > 0) await Promise.all(pending.splice(0));
  };
  return { clock, opts, settle };
}

/** A load through the real RPC, counted on this side of it; with `gate`, it waits for it first. */
function countedLoad(model: string, alias: string, gate?: Promise<void>) {
  const counter = { calls: 0 };
  const load = async () => {
    counter.calls++;
    await gate;
    return unwrap(await modelState(env, model).resolveState({ model, alias }));
  };
  return { counter, load };
}

const versionOf = (r: { state: { targets: { version: number }[] } }) => r.state.targets[0]!.version;

// ---- pure decisions ------------------------------------------------------------------------

describe("resolve freshness (pure)", () => {
  const stamp = { seenAt: 10_000, expires: 20_000 }; // a 10 s TTL

  it("serves fresh, refreshes in the last quarter, loads once expired", () => {
    expect(freshness(stamp, 10_000)).toBe("fresh");
    expect(freshness(stamp, 17_499)).toBe("fresh");
    expect(freshness(stamp, 17_500)).toBe("refresh");
    expect(freshness(stamp, 19_999)).toBe("refresh");
    expect(freshness(stamp, 20_000)).toBe("expired");
    // RESOLVE_TTL_S=0: born expired.
    expect(freshness({ seenAt: 5, expires: 5 }, 5)).toBe("expired");
  });

  it("lets a request share only a load no older than the TTL (cache off: one started after it arrived)", () => {
    expect(mayJoin(1_000, 1_000, 0)).toBe(true);
    expect(mayJoin(999, 1_000, 0)).toBe(false);
    expect(mayJoin(1_000, 5_000, 5_000)).toBe(true);
    expect(mayJoin(1_000, 6_001, 5_000)).toBe(false);
  });

  it("serves stale for the window past the TTL, with the age since the entry was seen", () => {
    expect(staleAge(stamp, 12_500, 0)).toBe(2);
    expect(staleAge(stamp, 25_999, 6_000)).toBe(15);
    expect(staleAge(stamp, 26_000, 6_000)).toBeNull();
    expect(staleAge(stamp, 20_000, 0)).toBeNull();
  });

  it("persists every load with the cache on; with it off, on change, now and then, and never without a stale window", () => {
    const seen = { etag: "3", persistedAt: 1_000 };
    expect(shouldPersist(5_000, 0, seen, "3", 1_001)).toBe(true);
    expect(shouldPersist(0, 60_000, undefined, "3", 1_001)).toBe(true);
    expect(shouldPersist(0, 60_000, seen, "4", 1_001)).toBe(true);
    expect(shouldPersist(0, 60_000, seen, "3", 1_001)).toBe(false);
    expect(shouldPersist(0, 60_000, seen, "3", 1_000 + PERSIST_EVERY_MS)).toBe(true);
    expect(shouldPersist(0, 0, undefined, "3", 1_001)).toBe(false);
  });

  it("keeps the Cache API copy for the rest of the TTL plus the stale window", () => {
    expect(storedMaxAge(stamp, 10_000, 86_400_000)).toBe(86_410);
    expect(storedMaxAge({ seenAt: 0, expires: 0 }, 0, 0)).toBe(0);
  });
});

// ---- coalescing ----------------------------------------------------------------------------

describe("concurrent misses", () => {
  it("share one ModelState call per key over HTTP while the object is slow", async () => {
    await modelWithAlias("rc-burst", 1);
    const calls = await countResolves("rc-burst");
    const token = await hsToken({ scope: "read" });
    const release = await holdObject("rc-burst");
    let responses: Response[];
    try {
      const requests = Array.from({ length: 8 }, async () => {
        const ctx = createExecutionContext();
        const res = await worker.fetch(
          new Request("http://mreg.test/v1/models/rc-burst/aliases/prod", {
            headers: { authorization: `Bearer ${token}` },
          }),
          { ...env, RESOLVE_TTL_S: "60" },
          ctx,
        );
        await waitOnExecutionContext(ctx);
        return res;
      });
      // Give every request time to reach the cache and wait on the held object.
      await new Promise((r) => setTimeout(r, 200));
      await release();
      responses = await Promise.all(requests);
    } finally {
      await release();
    }
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(await calls()).toBe(1);
  });

  it("with the cache off, share only a load that started after they arrived", async () => {
    await modelWithAlias("rc-off", 1);
    let release!: () => void;
    const { counter, load } = countedLoad("rc-off", "prod", new Promise<void>((r) => (release = r)));
    const { opts } = cacheOptions(0);
    const t = Date.now();
    const first = cachedResolveState("rc-off", "prod", opts(t), load);
    const sameInstant = cachedResolveState("rc-off", "prod", opts(t), load);
    const later = [1, 2, 3].map(() => cachedResolveState("rc-off", "prod", opts(t + 1), load));
    await new Promise((r) => setTimeout(r, 20));
    expect(counter.calls).toBe(1);
    release();
    const all = await Promise.all([first, sameInstant, ...later]);
    // The three that arrived after the first load started share a second one.
    expect(counter.calls).toBe(2);
    expect(all.map(versionOf)).toEqual([1, 1, 1, 1, 1]);
  });
});

// ---- refresh ahead -------------------------------------------------------------------------

describe("refresh ahead of expiry", () => {
  it("answers from memory, refreshes in the background near the end, and never waits on a miss", async () => {
    await modelWithAlias("rc-ahead", 2);
    const { counter, load } = countedLoad("rc-ahead", "prod");
    const { clock, opts, settle } = cacheOptions(10);
    const at = (s: number) => opts(clock.t + s * 1000);
    const t0 = await cachedResolveState("rc-ahead", "prod", at(0), load);
    expect([versionOf(t0), counter.calls]).toEqual([1, 1]);
    await settle();

    await setElsewhere("rc-ahead", "prod", 2);
    // Within the TTL the change stays hidden, and nothing is loaded.
    expect(versionOf(await cachedResolveState("rc-ahead", "prod", at(6), load))).toBe(1);
    expect(counter.calls).toBe(1);
    // In the last quarter: the same answer at once, and one refresh after it.
    const near = cachedResolveState("rc-ahead", "prod", at(8), load);
    const nearAgain = cachedResolveState("rc-ahead", "prod", at(8.5), load);
    expect((await Promise.all([near, nearAgain])).map(versionOf)).toEqual([1, 1]);
    await settle();
    expect(counter.calls).toBe(2);
    // Past the first entry's expiry the refreshed one answers, without a load.
    const after = await cachedResolveState("rc-ahead", "prod", at(12), load);
    expect([versionOf(after), after.staleS, counter.calls]).toEqual([2, null, 2]);
  });

  it("never answers past the TTL without asking ModelState again", async () => {
    await modelWithAlias("rc-expire", 2);
    const { counter, load } = countedLoad("rc-expire", "prod");
    const { clock, opts, settle } = cacheOptions(10);
    await cachedResolveState("rc-expire", "prod", opts(clock.t), load);
    await settle();
    await setElsewhere("rc-expire", "prod", 2);
    const late = await cachedResolveState("rc-expire", "prod", opts(clock.t + 10_000), load);
    expect([versionOf(late), counter.calls]).toEqual([2, 2]);
  });
});

// ---- stale-if-error ------------------------------------------------------------------------

describe("stale-if-error", () => {
  /** Calls the Worker with extra vars (RESOLVE_TTL_S stays "0", the suite's default, unless given). */
  async function get(path: string, vars: Record<string, string> = {}) {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`http://mreg.test${path}`, {
        headers: { authorization: `Bearer ${await hsToken({ scope: "read" })}` },
      }),
      { ...env, ...vars },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return {
      status: res.status,
      headers: res.headers,
      body: (await res.json()) as { version?: number; code?: string },
    };
  }

  it("serves the last resolution seen with x-mreg-stale when ModelState cannot answer, then 503 past the window", async () => {
    await modelWithAlias("rc-down", 1);
    const fresh = await get("/v1/models/rc-down/aliases/prod");
    expect([fresh.status, fresh.body.version, fresh.headers.get("x-mreg-stale")]).toEqual([200, 1, null]);

    await swapResolved("rc-down", new FailingMap());
    try {
      const stale = await get("/v1/models/rc-down/aliases/prod");
      expect([stale.status, stale.body.version]).toEqual([200, 1]);
      expect(stale.headers.get("x-mreg-stale")).toMatch(/^\d+$/);
      expect(stale.headers.get("cache-control")).toBe("no-cache");
      const byUri = await get("/v1/resolve?uri=registry://rc-down@prod");
      expect([byUri.status, byUri.body.version]).toEqual([200, 1]);
      expect(byUri.headers.get("x-mreg-stale")).toMatch(/^\d+$/);

      // No stale window: the same failure is a 503 with Retry-After.
      const closed = await get("/v1/models/rc-down/aliases/prod", { RESOLVE_STALE_IF_ERROR_S: "0" });
      expect([closed.status, closed.body.code]).toEqual([503, "unavailable"]);
      expect(closed.headers.get("content-type")).toBe("application/problem+json");
      expect(Number(closed.headers.get("retry-after"))).toBeGreaterThan(0);
      // Nothing seen at all: 503 too.
      const never = await get("/v1/models/rc-down/aliases/canary");
      expect([never.status, never.body.code]).toEqual([503, "unavailable"]);
    } finally {
      await swapResolved("rc-down", new Map());
    }
    const back = await get("/v1/models/rc-down/aliases/prod");
    expect([back.status, back.headers.get("x-mreg-stale")]).toEqual([200, null]);
  });

  it("stands in for up to RESOLVE_STALE_IF_ERROR_S past the TTL, by the entry's own clock", async () => {
    await modelWithAlias("rc-window", 1);
    const { load } = countedLoad("rc-window", "prod");
    const { clock, opts, settle } = cacheOptions(10, 100);
    const at = (s: number) => opts(clock.t + s * 1000);
    await cachedResolveState("rc-window", "prod", at(0), load);
    await settle();
    await swapResolved("rc-window", new FailingMap());
    try {
      expect(await cachedResolveState("rc-window", "prod", at(20), load)).toMatchObject({ staleS: 20 });
      expect(await cachedResolveState("rc-window", "prod", at(109.9), load)).toMatchObject({ staleS: 109 });
      const past = await cachedResolveState("rc-window", "prod", at(110), load).catch((err: unknown) => err);
      expect(past).toBeInstanceOf(ProblemError);
      expect(past).toMatchObject({
        code: "unavailable",
        status: 503,
        headers: { "retry-after": expect.stringMatching(/^\d+$/) },
      });
    } finally {
      await swapResolved("rc-window", new Map());
      await settle();
    }
  });

  it("does not stand in for an answer ModelState gave: a deleted alias is 404, and is not served stale after", async () => {
    await modelWithAlias("rc-gone", 1);
    expect((await get("/v1/models/rc-gone/aliases/prod")).status).toBe(200);
    unwrap(
      await modelState(env, "rc-gone").deleteAlias({
        model: "rc-gone",
        actor: "elsewhere",
        at: new Date().toISOString(),
        alias: "prod",
        reason: null,
        admin: true,
      }),
    );
    const gone = await get("/v1/models/rc-gone/aliases/prod");
    expect([gone.status, gone.body.code]).toEqual([404, "not_found"]);
    await swapResolved("rc-gone", new FailingMap());
    try {
      const down = await get("/v1/models/rc-gone/aliases/prod");
      expect([down.status, down.body.code]).toEqual([503, "unavailable"]);
    } finally {
      await swapResolved("rc-gone", new Map());
    }
  });

  it("does not stand in for a model that was deleted: none of its names, v<n> included, is served stale after", async () => {
    await createModel("rc-dropped");
    await readyVersion("rc-dropped", { "w.bin": new TextEncoder().encode("rc-dropped v1") });
    for (const name of ["v1", "latest"]) expect((await get(`/v1/models/rc-dropped/aliases/${name}`)).status).toBe(200);
    expect((await json("DELETE", "/v1/models/rc-dropped")).status).toBe(204);
    await swapResolved("rc-dropped", new FailingMap());
    try {
      for (const name of ["v1", "latest"]) {
        const down = await get(`/v1/models/rc-dropped/aliases/${name}`);
        expect({ name, status: down.status, code: down.body.code }).toEqual({ name, status: 503, code: "unavailable" });
      }
    } finally {
      await swapResolved("rc-dropped", new Map());
    }
  });
});
