import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ModelState } from "../src/state/model-state";
import { createModel, json } from "./helpers";

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

describe("the ModelState outbox", () => {
  it("keeps writes when D1 is down and projects them, once, when it is back", async () => {
    await createModel("o-model");
    const stub = env.MODEL_STATE.getByName("o-model");
    const realEnv = await runInDurableObject(stub, (instance: ModelState) => {
      // reason: swapping the object's D1 binding is how a D1 outage is injected.
      const target = instance as unknown as { env: typeof env };
      const saved = target.env;
      target.env = { ...saved, DB: failingD1(saved.DB) };
      return saved;
    });

    const created = await json("POST", "/v1/models/o-model/versions", { body: { tags: { a: "1" } } });
    expect(created.status).toBe(201);
    expect(created.body.version).toBe(1);
    const patched = await json("PATCH", "/v1/models/o-model/versions/1", { body: { tags: { b: "2" } } });
    expect(patched.status).toBe(200);
    // D1 trails: the version is not projected yet, and the outbox holds both changes and events.
    expect((await json("GET", "/v1/models/o-model/versions/1")).status).toBe(404);
    expect(await stub.outboxDepth()).toBe(4);

    await runInDurableObject(stub, (instance: ModelState) => {
      (instance as unknown as { env: typeof env }).env = realEnv;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.outboxDepth()).toBe(0);
    const got = await json("GET", "/v1/models/o-model/versions/1");
    expect(got.body.tags).toEqual({ a: "1", b: "2" });
    // Flushing again (a repeated alarm) doubles nothing.
    await stub.flush();
    const events = await env.DB.prepare("SELECT action FROM audit_events WHERE model = 'o-model' ORDER BY id").all<{ action: string }>();
    expect(events.results.map((e) => e.action)).toEqual(["model.create", "version.create", "version.update"]);
  });
});
