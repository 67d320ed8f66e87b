/** Guards and production signals through the HTTP API: rollback once, split members, finite windows, grants, dropping at the Worker, bounded state, coalescing. */
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { signals } from "../src/guards/coalesce";
import { modelState, unwrap } from "../src/model-writes/stub";
import type { ModelState } from "../src/state/model-state";
import { call, hsToken, json, modelStub, modelWithReady } from "./helpers";
import { until } from "./until";

async function twoVersions(model: string) {
  await modelWithReady(model, 2);
  await json("PUT", `/v1/models/${model}/aliases/production`, { body: { version: 1 } });
  await json("PUT", `/v1/models/${model}/aliases/production`, { body: { version: 2 } });
}

/** The real MODEL_STATE binding, wrapped to count the RPCs that reach the objects, by method. */
function countingNamespace() {
  const calls = new Map<string, number>();
  const counted = new Set(["signal", "guardedAliases"]);
  const namespace = new Proxy(env.MODEL_STATE, {
    get(target, prop) {
      if (prop !== "getByName") return Reflect.get(target, prop, target);
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get(s, method) {
            const real = Reflect.get(s, method, s) as unknown;
            if (typeof method !== "string" || !counted.has(method) || typeof real !== "function") return real;
            return (...args: unknown[]) => {
              calls.set(method, (calls.get(method) ?? 0) + 1);
              return Reflect.apply(real, s, args) as unknown;
            };
          },
        });
      };
    },
  });
  return { namespace, count: (method: string) => calls.get(method) ?? 0 };
}

/** Posts a signal through the Worker's fetch handler with `workerEnv` (a counting namespace, other settings). */
async function postSignal(
  workerEnv: typeof env,
  ctx: ExecutionContext,
  model: string,
  alias: string,
  body: unknown,
  token: string,
) {
  const res = await worker.fetch(
    new Request(`http://mreg.test/v1/models/${model}/aliases/${alias}/signals`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    workerEnv,
    ctx,
  );
  await res.body?.cancel();
  return res.status;
}

const signal = async (model: string, body: unknown) => {
  const res = await call("POST", `/v1/models/${model}/aliases/production/signals`, {
    body,
    token: await hsToken({ scope: "report", sub: "node-1" }),
  });
  expect(res.status).toBe(202);
};

describe("guards", () => {
  it("are set by admins, validated, shown with their window, and removed", async () => {
    await twoVersions("gd-crud");
    const reporter = await hsToken({ scope: "report read" });
    expect(
      (
        await json("PUT", "/v1/models/gd-crud/aliases/production/guard", {
          token: reporter,
          body: { metric: "err", max: 0.05 },
        })
      ).status,
    ).toBe(403);
    for (const bad of [
      { metric: "err" },
      { metric: "", max: 1 },
      { metric: "err", min: 2, max: 1 },
      { metric: "err", max: 1, window_s: 1 },
      { metric: "err", max: 1, extra: 1 },
    ]) {
      expect(
        (await json("PUT", "/v1/models/gd-crud/aliases/production/guard", { body: bad })).status,
        JSON.stringify(bad),
      ).toBe(400);
    }
    const set = await json("PUT", "/v1/models/gd-crud/aliases/production/guard", {
      body: { metric: "err", max: 0.05 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      model: "gd-crud",
      alias: "production",
      metric: "err",
      min: null,
      max: 0.05,
      window_s: 300,
      min_samples: 20,
      min_nodes: 1,
      window: { version: 2, samples: 0, mean: null, batches: 0, nodes: 0 },
    });
    await signal("gd-crud", { version: 2, metrics: { err: 0.01 }, count: 3 });
    expect((await json("GET", "/v1/models/gd-crud/aliases/production/guard")).body.window).toEqual({
      version: 2,
      samples: 3,
      mean: 0.01,
      batches: 1,
      nodes: 1,
    });
    // A signal with the wrong shape is 400; one from a token without `report` is 403.
    expect(
      (
        await json("POST", "/v1/models/gd-crud/aliases/production/signals", {
          body: { version: 2, metrics: {} },
          token: await hsToken({ scope: "report" }),
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await json("POST", "/v1/models/gd-crud/aliases/production/signals", {
          body: { version: 2, metrics: { err: 1 } },
          token: await hsToken({ scope: "read" }),
        })
      ).status,
    ).toBe(403);
    expect((await call("DELETE", "/v1/models/gd-crud/aliases/production/guard")).status).toBe(204);
    expect((await json("GET", "/v1/models/gd-crud/aliases/production/guard")).status).toBe(404);
  });

  it("roll back exactly once when the mean breaks the bound, and a watcher sees it", async () => {
    await twoVersions("gd-trip");
    await json("PUT", "/v1/models/gd-trip/aliases/production/guard", {
      body: { metric: "err", max: 0.05, min_samples: 20 },
    });
    const ws = (
      await exports.default.fetch(
        new Request("http://mreg.test/v1/models/gd-trip/aliases/production/watch", {
          headers: { upgrade: "websocket", authorization: `Bearer ${await hsToken({ scope: "read" })}` },
        }),
      )
    ).webSocket!;
    const events: { event: string; version: number | null }[] = [];
    ws.addEventListener("message", (e) => events.push(JSON.parse(e.data as string)));
    ws.accept();
    // Signals for another version do not count.
    for (let i = 0; i < 25; i++) await signal("gd-trip", { version: 1, metrics: { err: 0.9 } });
    expect((await json("GET", "/v1/models/gd-trip/aliases/production")).body.version).toBe(2);
    for (let i = 0; i < 30; i++) await signal("gd-trip", { version: 2, metrics: { err: 0.2 } });
    expect((await json("GET", "/v1/models/gd-trip/aliases/production")).body.version).toBe(1);
    const rollbacks = (await json("GET", "/v1/audit?model=gd-trip&action=rollback")).body.items;
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({ actor: "guard", alias: "production", version: 1 });
    expect(rollbacks[0].reason).toContain("mean err of version 2 was 0.2 over 20 samples");
    expect(await until(() => events.find((e) => e.event === "guard"), "the guard's watch message")).toMatchObject({
      event: "guard",
      version: 1,
    });
    ws.close();
  });

  it("keeps a window per member of a split, and the bad canary takes the alias back", async () => {
    await twoVersions("gd-split");
    // production: version 1, then a 90/10 split with version 2 as the canary.
    await json("PUT", "/v1/models/gd-split/aliases/production", { body: { version: 1 } });
    const split = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    expect((await json("PUT", "/v1/models/gd-split/aliases/production", { body: { split } })).status).toBe(200);
    await json("PUT", "/v1/models/gd-split/aliases/production/guard", {
      body: { metric: "err", max: 0.05, min_samples: 20 },
    });
    // Interleaved: nine good requests of version 1 for each bad one of version 2.
    for (let i = 0; i < 19; i++) {
      await signal("gd-split", { version: 1, metrics: { err: 0.01 }, count: 9 });
      await signal("gd-split", { version: 2, metrics: { err: 0.5 } });
    }
    const guard = (await json("GET", "/v1/models/gd-split/aliases/production/guard")).body;
    // Each member's own window: version 2's signals left version 1's untouched, and the reverse.
    expect(guard.windows).toEqual([
      { version: 1, samples: 171, mean: expect.closeTo(0.01, 12), batches: 19, nodes: 1 },
      { version: 2, samples: 19, mean: 0.5, batches: 19, nodes: 1 },
    ]);
    // For a split, `window` is the alias's whole window (version null, as the Alias's).
    expect(guard.window).toMatchObject({ version: null, samples: 190, batches: 38 });
    expect(guard.window.mean).toBeCloseTo((171 * 0.01 + 19 * 0.5) / 190, 12);
    expect((await json("GET", "/v1/models/gd-split/aliases/production")).body.split).toEqual(split);
    // The 20th bad sample trips the canary's window: back to the value before the split.
    await signal("gd-split", { version: 1, metrics: { err: 0.01 }, count: 9 });
    await signal("gd-split", { version: 2, metrics: { err: 0.5 } });
    const after = (await json("GET", "/v1/models/gd-split/aliases/production")).body;
    expect(after).toMatchObject({ version: 1, split: null });
    const rollbacks = (await json("GET", "/v1/audit?model=gd-split&action=rollback")).body.items;
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({ actor: "guard", version: 1 });
    expect(rollbacks[0].reason).toContain("mean err of version 2 was 0.5 over 20 samples");
  });

  it("refuse metric values that are not finite or exceed 1e12 in magnitude (400, with the path)", async () => {
    await twoVersions("gd-finite");
    // Bounds wide enough that the edge values below are counted without tripping it.
    await json("PUT", "/v1/models/gd-finite/aliases/production/guard", {
      body: { metric: "err", min: -2e12, max: 2e12, min_samples: 20 },
    });
    const token = await hsToken({ scope: "report" });
    const post = (body: unknown) => json("POST", "/v1/models/gd-finite/aliases/production/signals", { body, token });
    // 1e308 is finite, but 1e308 × count is not: it used to blind the guard.
    for (const value of [1e308, -1e308, 1.0000001e12, -1e13, Number.MAX_VALUE]) {
      const res = await post({ version: 2, metrics: { err: value }, count: 2 });
      expect(res.status, String(value)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["metrics.err"]);
    }
    // JSON has no Infinity or NaN; a number that overflows to Infinity when parsed is refused too.
    const overflow = await call("POST", "/v1/models/gd-finite/aliases/production/signals", {
      token,
      headers: { "content-type": "application/json" },
      rawBody: '{"version": 2, "metrics": {"err": 1e400}}',
    });
    expect(overflow.status).toBe(400);
    // The edges are accepted and counted.
    for (const value of [1e12, -1e12])
      expect((await post({ version: 2, metrics: { err: value }, count: 100_000 })).status).toBe(202);
    const guard = (await json("GET", "/v1/models/gd-finite/aliases/production/guard")).body;
    expect(guard.window).toMatchObject({ version: 2, samples: 200_000, mean: 0 });
  });

  it("never let a window hold a non-finite figure, whatever reaches the object", async () => {
    await twoVersions("gd-blind");
    await json("PUT", "/v1/models/gd-blind/aliases/production/guard", {
      body: { metric: "err", max: 0.05, min_samples: 20 },
    });
    const stub = modelState(env, "gd-blind");
    const batch = (count: number, sum: number) =>
      stub.signal({ model: "gd-blind", alias: "production", metric: "err", samples: [{ version: 2, count, sum }] });
    // Batches no valid signals can make: each is refused whole (never clamped), so the mean stays honest.
    for (const [count, sum] of [
      [1, Infinity],
      [1, -Infinity],
      [1, Number.NaN],
      [Number.NaN, 1],
      [Infinity, 1],
      [0, 0],
      [-1, 1],
      [2, 1e308],
      [1, 1e12 * 1.01],
    ] as const) {
      const outcome = unwrap(await batch(count, sum));
      expect(outcome, `${count} ${sum}`).toMatchObject({ rolledBack: false });
    }
    expect((await json("GET", "/v1/models/gd-blind/aliases/production/guard")).body.window).toMatchObject({
      samples: 0,
      mean: null,
    });
    // The guard still sees: bad signals still take the alias back.
    await batch(1, 1e12);
    await batch(19, 19 * 0.5);
    expect((await json("GET", "/v1/models/gd-blind/aliases/production")).body.version).toBe(1);
  });

  it("weighs a signal by its count", async () => {
    await twoVersions("gd-count");
    await json("PUT", "/v1/models/gd-count/aliases/production/guard", {
      body: { metric: "auc", min: 0.9, min_samples: 100 },
    });
    await signal("gd-count", { version: 2, metrics: { auc: 0.95 }, count: 100 });
    await signal("gd-count", { version: 2, metrics: { auc: 0.5 }, count: 1 });
    // Weighted: (95 + 0.5) / 101 = 0.9455; unweighted it would be 0.725 and trip.
    const guard = (await json("GET", "/v1/models/gd-count/aliases/production/guard")).body;
    expect(guard.window.samples).toBe(101);
    expect(guard.window.mean).toBeCloseTo(95.5 / 101, 9);
    expect((await json("GET", "/v1/models/gd-count/aliases/production")).body.version).toBe(2);
    await signal("gd-count", { version: 2, metrics: { auc: 0.5 }, count: 20 });
    expect((await json("GET", "/v1/models/gd-count/aliases/production")).body.version).toBe(1);
  });

  it("keeps 10,000 signals in bounded state", async () => {
    await twoVersions("gd-many");
    // An hour's window: however slow the machine, every signal is still in it at the end.
    await json("PUT", "/v1/models/gd-many/aliases/production/guard", {
      body: { metric: "err", max: 0.5, window_s: 3600, min_samples: 10 },
    });
    // Each signal is its own call, as 10,000 reporters' would be; made inside the object
    // rather than over RPC, so the test's cost is the state's, not 10,000 round trips.
    await runInDurableObject(modelStub("gd-many"), async (instance: ModelState) => {
      for (let i = 0; i < 10_000; i++) {
        await instance.signal({
          model: "gd-many",
          alias: "production",
          metric: "err",
          samples: [{ version: 2, count: 1, sum: (i % 10) / 100 }],
        });
      }
    });
    const rows = await runInDurableObject(modelStub("gd-many"), (instance: ModelState) =>
      (instance as unknown as { ctx: DurableObjectState }).ctx.storage.sql
        .exec<{ n: number }>("SELECT count(*) AS n FROM guard_buckets")
        .one(),
    );
    expect(rows.n).toBeLessThanOrEqual(10);
    const guard = (await json("GET", "/v1/models/gd-many/aliases/production/guard")).body;
    expect(guard.window.samples).toBe(10_000);
    expect(guard.window.mean).toBeCloseTo(0.045, 9);
  });

  it("coalesces one isolate's signals for an alias into one call to the object", async () => {
    await twoVersions("gd-coalesce");
    await json("PUT", "/v1/models/gd-coalesce/aliases/production/guard", {
      body: { metric: "err", max: 0.5, min_samples: 1000 },
    });
    const { namespace, count } = countingNamespace();
    const token = await hsToken({ scope: "report" });
    const ctx = createExecutionContext();
    const coalescing = { ...env, MODEL_STATE: namespace, SIGNAL_COALESCE_MS: "200" };
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        worker.fetch(
          new Request("http://mreg.test/v1/models/gd-coalesce/aliases/production/signals", {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ version: 2, metrics: { err: i % 2 === 0 ? 0.1 : 0.3 }, count: 2 }),
          }),
          coalescing,
          ctx,
        ),
      ),
    );
    expect(responses.every((r) => r.status === 202)).toBe(true);
    await waitOnExecutionContext(ctx);
    expect(count("signal")).toBe(1);
    const guard = (await json("GET", "/v1/models/gd-coalesce/aliases/production/guard")).body;
    expect(guard.window).toMatchObject({ version: 2, samples: 80, batches: 1 });
    expect(guard.window.mean).toBeCloseTo(0.2, 9);
  });

  it("trip only once min_nodes distinct nodes contributed: many samples from two nodes do not, a third node does", async () => {
    await twoVersions("gd-nodes");
    const set = await json("PUT", "/v1/models/gd-nodes/aliases/production/guard", {
      body: { metric: "err", max: 0.05, min_samples: 20, min_nodes: 3 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ min_nodes: 3, window: { samples: 0, nodes: 0 } });
    // Two nodes, however loud (the most a signal may say it stands for, many times over), are not a fleet.
    for (let i = 0; i < 5; i++) {
      await signal("gd-nodes", { version: 2, node: "node-a", metrics: { err: 0.9 }, count: 100_000 });
      await signal("gd-nodes", { version: 2, node: "node-b", metrics: { err: 0.9 }, count: 100_000 });
    }
    expect((await json("GET", "/v1/models/gd-nodes/aliases/production")).body.version).toBe(2);
    expect((await json("GET", "/v1/models/gd-nodes/aliases/production/guard")).body.window).toMatchObject({
      version: 2,
      samples: 1_000_000,
      mean: 0.9,
      nodes: 2,
    });
    // A third node's single sample makes three: the window trips.
    await signal("gd-nodes", { version: 2, node: "node-c", metrics: { err: 0.9 } });
    expect((await json("GET", "/v1/models/gd-nodes/aliases/production")).body.version).toBe(1);
    const rollbacks = (await json("GET", "/v1/audit?model=gd-nodes&action=rollback")).body.items;
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({ actor: "guard", version: 1 });
    expect(rollbacks[0].reason).toContain("over 1000001 samples from at least 3 nodes");
  });

  it("count signals that name no node as one anonymous node; validate min_nodes and node names", async () => {
    await twoVersions("gd-anon");
    for (const bad of [{ min_nodes: 0 }, { min_nodes: 101 }, { min_nodes: 1.5 }, { min_nodes: "3" }]) {
      expect(
        (
          await json("PUT", "/v1/models/gd-anon/aliases/production/guard", {
            body: { metric: "err", max: 0.05, ...bad },
          })
        ).status,
        JSON.stringify(bad),
      ).toBe(400);
    }
    expect(
      (await json("PUT", "/v1/models/gd-anon/aliases/production/guard", { body: { metric: "err", max: 0.05 } })).body
        .min_nodes,
    ).toBe(1);
    await json("PUT", "/v1/models/gd-anon/aliases/production/guard", {
      body: { metric: "err", max: 0.05, min_samples: 20, min_nodes: 2 },
    });
    const reporter = await hsToken({ scope: "report" });
    for (const node of ["", "x".repeat(257), 7]) {
      const res = await json("POST", "/v1/models/gd-anon/aliases/production/signals", {
        body: { version: 2, node, metrics: { err: 0.9 } },
        token: reporter,
      });
      expect(res.status, JSON.stringify(node)).toBe(400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["node"]);
    }
    for (let i = 0; i < 30; i++) await signal("gd-anon", { version: 2, metrics: { err: 0.9 } });
    expect((await json("GET", "/v1/models/gd-anon/aliases/production/guard")).body.window).toMatchObject({
      samples: 30,
      nodes: 1,
    });
    expect((await json("GET", "/v1/models/gd-anon/aliases/production")).body.version).toBe(2);
    await signal("gd-anon", { version: 2, node: "x".repeat(256), metrics: { err: 0.9 } });
    expect((await json("GET", "/v1/models/gd-anon/aliases/production")).body.version).toBe(1);
  });

  it("read a guard stored before min_nodes existed as min_nodes 1: any node trips it, as then", async () => {
    await twoVersions("gd-old");
    await json("PUT", "/v1/models/gd-old/aliases/production/guard", {
      body: { metric: "err", max: 0.05, min_samples: 2 },
    });
    await runInDurableObject(modelStub("gd-old"), (_: ModelState, state) => {
      const { min_nodes: _dropped, ...before } = JSON.parse(
        state.storage.sql.exec<{ policy: string }>("SELECT policy FROM guards").one().policy,
      ) as Record<string, unknown>;
      state.storage.sql.exec("UPDATE guards SET policy = ?", JSON.stringify(before));
    });
    expect((await json("GET", "/v1/models/gd-old/aliases/production/guard")).body).toMatchObject({
      min_nodes: 1,
      min_samples: 2,
    });
    await signal("gd-old", { version: 2, metrics: { err: 0.9 }, count: 2 });
    expect((await json("GET", "/v1/models/gd-old/aliases/production")).body.version).toBe(1);
  });

  it(
    "keep each window's node names bounded however many a reporter invents: min_nodes per bucket",
    { timeout: 60_000 },
    async () => {
      await twoVersions("gd-names");
      await json("PUT", "/v1/models/gd-names/aliases/production/guard", {
        body: { metric: "err", max: 0.5, min_samples: 1_000_000, min_nodes: 3 },
      });
      const stub = modelState(env, "gd-names");
      // Straight at the object (as a Worker batch), 10,000 invented names in 100 batches.
      for (let i = 0; i < 100; i++) {
        const nodes = Array.from({ length: 100 }, (_, j) => `invented-${i}-${j}`);
        unwrap(
          await stub.signal({
            model: "gd-names",
            alias: "production",
            metric: "err",
            samples: [{ version: 2, count: 100, sum: 1, nodes }],
          }),
        );
      }
      // And through the Worker, coalesced: 200 posts of distinct names make one batch of at most min_nodes names.
      const { namespace } = countingNamespace();
      const token = await hsToken({ scope: "report" });
      const ctx = createExecutionContext();
      const coalescing = { ...env, MODEL_STATE: namespace, SIGNAL_COALESCE_MS: "200" };
      const posts = Array.from({ length: 200 }, (_, i) =>
        postSignal(
          coalescing,
          ctx,
          "gd-names",
          "production",
          { version: 2, node: `posted-${i}`, metrics: { err: 0.1 } },
          token,
        ),
      );
      expect((await Promise.all(posts)).every((s) => s === 202)).toBe(true);
      await waitOnExecutionContext(ctx);
      const rows = await runInDurableObject(modelStub("gd-names"), (_: ModelState, state) =>
        state.storage.sql
          .exec<{ bucket: number; n: number }>("SELECT bucket, count(*) AS n FROM guard_nodes GROUP BY bucket")
          .toArray(),
      );
      for (const row of rows) expect(row.n).toBeLessThanOrEqual(3);
      expect(rows.length).toBeLessThanOrEqual(10);
      const guard = (await json("GET", "/v1/models/gd-names/aliases/production/guard")).body;
      expect(guard.window).toMatchObject({ samples: 10_200, nodes: 3 });
    },
  );

  it("keep distinct nodes distinct when one isolate coalesces their signals", async () => {
    await twoVersions("gd-coalesce-nodes");
    await json("PUT", "/v1/models/gd-coalesce-nodes/aliases/production/guard", {
      body: { metric: "err", max: 0.5, min_samples: 1000, min_nodes: 10 },
    });
    const { namespace, count } = countingNamespace();
    const token = await hsToken({ scope: "report" });
    const ctx = createExecutionContext();
    const coalescing = { ...env, MODEL_STATE: namespace, SIGNAL_COALESCE_MS: "200" };
    const posts = Array.from({ length: 40 }, (_, i) =>
      postSignal(
        coalescing,
        ctx,
        "gd-coalesce-nodes",
        "production",
        { version: 2, ...(i % 5 === 4 ? {} : { node: `node-${i % 5}` }), metrics: { err: 0.2 } },
        token,
      ),
    );
    expect((await Promise.all(posts)).every((s) => s === 202)).toBe(true);
    await waitOnExecutionContext(ctx);
    expect(count("signal")).toBe(1);
    // Four named nodes and the anonymous one: five, in one batch.
    expect((await json("GET", "/v1/models/gd-coalesce-nodes/aliases/production/guard")).body.window).toMatchObject({
      samples: 40,
      nodes: 5,
      batches: 1,
    });
  });

  it("need the token's aliases grant for that alias: a signal can move it", async () => {
    await twoVersions("gd-grant");
    await json("PUT", "/v1/models/gd-grant/aliases/canary", { body: { version: 2 } });
    for (const alias of ["production", "canary"]) {
      await json("PUT", `/v1/models/gd-grant/aliases/${alias}/guard`, {
        body: { metric: "err", max: 0.05, min_samples: 20 },
      });
    }
    const canaryNode = await hsToken({ scope: "report", aliases: ["canary"] });
    for (let i = 0; i < 25; i++) {
      const res = await json("POST", "/v1/models/gd-grant/aliases/production/signals", {
        body: { version: 2, metrics: { err: 0.9 } },
        token: canaryNode,
      });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    expect((await json("GET", "/v1/models/gd-grant/aliases/production")).body.version).toBe(2);
    expect((await json("GET", "/v1/models/gd-grant/aliases/production/guard")).body.window.samples).toBe(0);
    // Its own alias it may report on (and so move).
    const res = await json("POST", "/v1/models/gd-grant/aliases/canary/signals", {
      body: { version: 2, metrics: { err: 0.01 } },
      token: canaryNode,
    });
    expect(res.status).toBe(202);
    expect((await json("GET", "/v1/models/gd-grant/aliases/canary/guard")).body.window.samples).toBe(1);
    // An admin limited to canary may neither set nor remove production's guard.
    const canaryAdmin = await hsToken({ scope: "admin", aliases: ["canary"] });
    expect(
      (
        await json("PUT", "/v1/models/gd-grant/aliases/production/guard", {
          body: { metric: "err", max: 0.5 },
          token: canaryAdmin,
        })
      ).status,
    ).toBe(403);
    expect((await call("DELETE", "/v1/models/gd-grant/aliases/production/guard", { token: canaryAdmin })).status).toBe(
      403,
    );
    expect((await json("GET", "/v1/models/gd-grant/aliases/production/guard")).body.max).toBe(0.05);
    expect(
      (
        await json("PUT", "/v1/models/gd-grant/aliases/canary/guard", {
          body: { metric: "err", max: 0.5 },
          token: canaryAdmin,
        })
      ).status,
    ).toBe(200);
  });

  it("drop at the Worker what no guard counts: unguarded aliases, versions not served, other metrics", async () => {
    await twoVersions("gd-drop");
    await json("PUT", "/v1/models/gd-drop/aliases/staging", { body: { version: 1 } });
    await json("PUT", "/v1/models/gd-drop/aliases/production/guard", {
      body: { metric: "err", max: 0.5, min_samples: 1000 },
    });
    const { namespace, count } = countingNamespace();
    const counting = { ...env, MODEL_STATE: namespace };
    const token = await hsToken({ scope: "report" });
    const ctx = createExecutionContext();
    const dropped: [string, unknown][] = [
      ["staging", { version: 1, metrics: { err: 0.9 } }],
      ["nosuch", { version: 1, metrics: { err: 0.9 } }],
      ["production", { version: 1, metrics: { err: 0.9 } }],
      ["production", { version: 99, metrics: { err: 0.9 } }],
      ["production", { version: 2, metrics: { latency_ms: 300 } }],
    ];
    for (const [alias, body] of dropped)
      expect(await postSignal(counting, ctx, "gd-drop", alias, body, token), alias).toBe(202);
    await waitOnExecutionContext(ctx);
    // None of them reached the object; the one load of the model's guards was shared by all.
    expect(count("signal")).toBe(0);
    expect(count("guardedAliases")).toBe(1);
    expect(
      await postSignal(
        counting,
        ctx,
        "gd-drop",
        "production",
        { version: 2, metrics: { err: 0.1, latency_ms: 300 } },
        token,
      ),
    ).toBe(202);
    expect(count("signal")).toBe(1);
    const rows = await runInDurableObject(modelStub("gd-drop"), (_: ModelState, state) =>
      state.storage.sql
        .exec<{ alias: string; version: number; n: number }>("SELECT alias, version, n FROM guard_buckets")
        .toArray(),
    );
    expect(rows).toEqual([{ alias: "production", version: 2, n: 1 }]);
  });

  it("keep one isolate's batches bounded however many versions and aliases a client names", async () => {
    await twoVersions("gd-bound");
    await json("PUT", "/v1/models/gd-bound/aliases/production/guard", {
      body: { metric: "err", max: 0.5, min_samples: 1000 },
    });
    const { namespace, count } = countingNamespace();
    const coalescing = { ...env, MODEL_STATE: namespace, SIGNAL_COALESCE_MS: "200" };
    const token = await hsToken({ scope: "report" });
    const ctx = createExecutionContext();
    const posts: Promise<number>[] = [];
    for (let i = 0; i < 200; i++) {
      posts.push(
        postSignal(coalescing, ctx, "gd-bound", "production", { version: i + 3, metrics: { err: 0.9 } }, token),
      );
      posts.push(postSignal(coalescing, ctx, "gd-bound", `alias-${i}`, { version: 2, metrics: { err: 0.9 } }, token));
      if (i % 4 === 0)
        posts.push(postSignal(coalescing, ctx, "gd-bound", "production", { version: 2, metrics: { err: 0.1 } }, token));
    }
    expect((await Promise.all(posts)).every((s) => s === 202)).toBe(true);
    // One batch open in this isolate, for the one guarded alias, holding the one version it serves.
    expect(signals.openBatches).toBe(1);
    await waitOnExecutionContext(ctx);
    expect(signals.openBatches).toBe(0);
    expect(count("signal")).toBe(1);
    expect(count("guardedAliases")).toBe(1);
    const guard = (await json("GET", "/v1/models/gd-bound/aliases/production/guard")).body;
    expect(guard.window).toMatchObject({ version: 2, samples: 50, batches: 1 });
    expect(guard.window.mean).toBeCloseTo(0.1, 12);
  });
});
