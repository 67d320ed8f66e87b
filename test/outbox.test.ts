import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ModelState } from "../src/state/model-state";
import { createModel, json, modelStub, readyVersion } from "./helpers";

/** A D1 that refuses every batch, to stand for D1 being down. */
function failingD1(real: D1Database): D1Database {
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === "batch") return () => Promise.reject(new Error("D1 is down"));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Swaps the model's ModelState D1 binding for one that fails; returns a function that restores it. */
async function breakD1(model: string): Promise<() => Promise<void>> {
  const stub = modelStub(model);
  const saved = await runInDurableObject(stub, (instance: ModelState) => {
    // reason: swapping the object's D1 binding is how a D1 outage is injected.
    const target = instance as unknown as { env: typeof env };
    const real = target.env;
    target.env = { ...real, DB: failingD1(real.DB) };
    return real;
  });
  return async () => {
    await runInDurableObject(stub, (instance: ModelState) => {
      (instance as unknown as { env: typeof env }).env = saved;
    });
  };
}

describe("the ModelState outbox", () => {
  it("keeps alias changes working while D1 is down, then catches the projection and audit up once", async () => {
    await createModel("o-alias");
    for (let i = 1; i <= 2; i++) await readyVersion("o-alias", { "w.bin": new TextEncoder().encode(`v${i}`) });
    const restore = await breakD1("o-alias");

    expect((await json("PUT", "/v1/models/o-alias/aliases/prod", { body: { version: 1 } })).status).toBe(200);
    expect((await json("PUT", "/v1/models/o-alias/aliases/prod", { body: { version: 2 } })).status).toBe(200);
    expect(
      (
        await json("POST", "/v1/models/o-alias/aliases/prod/rollback", {
          body: { reason: "D1 is down, rollback still works" },
        })
      ).status,
    ).toBe(200);
    expect((await json("PUT", "/v1/models/o-alias/aliases/canary", { body: { version: 2 } })).status).toBe(200);
    // Serving does not need D1: the object answers.
    expect((await json("GET", "/v1/models/o-alias/aliases/prod")).body.version).toBe(1);
    // The projection trails.
    expect((await json("GET", "/v1/models/o-alias")).body.aliases).toEqual({});

    await restore();
    const stub = modelStub("o-alias");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.outboxDepth()).toBe(0);
    await stub.flush();
    expect((await json("GET", "/v1/models/o-alias")).body.aliases).toEqual({ prod: 1, canary: 2 });
    const events = await env.DB.prepare(
      "SELECT action, count(*) AS n FROM audit_events WHERE model = 'o-alias' AND action IN ('alias.set', 'rollback') GROUP BY action ORDER BY action",
    ).all<{ action: string; n: number }>();
    expect(events.results).toEqual([
      { action: "alias.set", n: 3 },
      { action: "rollback", n: 1 },
    ]);
  });

  it("keeps writes when D1 is down and projects them, once, when it is back", async () => {
    await createModel("o-model");
    const stub = modelStub("o-model");
    const restore = await breakD1("o-model");

    const created = await json("POST", "/v1/models/o-model/versions", { body: { tags: { a: "1" } } });
    expect(created.status).toBe(201);
    expect(created.body.version).toBe(1);
    const patched = await json("PATCH", "/v1/models/o-model/versions/1", { body: { tags: { b: "2" } } });
    expect(patched.status).toBe(200);
    // D1 trails: the version is not projected yet, and the outbox holds both changes and events.
    expect((await json("GET", "/v1/models/o-model/versions/1")).status).toBe(404);
    expect(await stub.outboxDepth()).toBe(4);

    await restore();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.outboxDepth()).toBe(0);
    const got = await json("GET", "/v1/models/o-model/versions/1");
    expect(got.body.tags).toEqual({ a: "1", b: "2" });
    // Flushing again (a repeated alarm) doubles nothing.
    await stub.flush();
    const events = await env.DB.prepare("SELECT action FROM audit_events WHERE model = 'o-model' ORDER BY id").all<{
      action: string;
    }>();
    expect(events.results.map((e) => e.action)).toEqual(["model.create", "version.create", "version.update"]);
  });
});
