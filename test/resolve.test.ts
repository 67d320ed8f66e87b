import { createExecutionContext, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { Reference } from "../src/domain/reference";
import type { ResolveState } from "../src/domain/resolution";
import worker from "../src/index";
import { modelState } from "../src/model-writes/stub";
import { lookup, lookupAll } from "../src/resolve/service";
import type { SignalResult } from "../src/state/guard-ops";
import type { Outcome, R2Aborts, Written } from "../src/state/model-state";
import type { ModelStateReads, ModelStateRpc } from "../src/state/rpc";
import { call, createModel, createVersion, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";
import { watch } from "./watch";

async function modelWithReady(name: string, n: number) {
  await createModel(name);
  for (let i = 1; i <= n; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} v${i}`) });
}

describe("watch", () => {
  // How fast a change reaches watchers is bench/fleet.mjs's to measure (p50/p99 over thousands).
  it("sends the current resolution, then set → rollback → delete in order", async () => {
    await modelWithReady("w-order", 2);
    await json("PUT", "/v1/models/w-order/aliases/prod", { body: { version: 1 } });
    const socket = await watch("w-order", "prod");
    const [current] = await socket.next(1);
    expect(current!.message).toMatchObject({
      event: "current",
      model: "w-order",
      alias: "prod",
      generation: 1,
      version: 1,
      uri: "registry://w-order/1",
    });
    expect(current!.message.files).toHaveLength(1);
    expect(current!.message.digest).toMatch(/^sha256:/);

    await json("PUT", "/v1/models/w-order/aliases/prod", { body: { version: 2 } });
    await json("POST", "/v1/models/w-order/aliases/prod/rollback");
    await json("DELETE", "/v1/models/w-order/aliases/prod");
    const got = (await socket.next(4)).slice(1);
    expect(got.map((m) => [m.message.event, m.message.generation, m.message.version])).toEqual([
      ["set", 2, 2],
      ["rollback", 3, 1],
      ["delete", 4, null],
    ]);
    expect(got[2]!.message).toMatchObject({ digest: null, files: null });
    socket.close();
  });

  it("keeps watching across hibernation of the model's Durable Object, with the socket's key", async () => {
    await modelWithReady("w-sleep", 2);
    await json("PUT", "/v1/models/w-sleep/aliases/prod", { body: { version: 1 } });
    const socket = await watch("w-sleep", "prod", "user-7");
    await socket.next(1);
    await evictDurableObject(modelStub("w-sleep"), { webSockets: "hibernate" });
    const split = [
      { version: 1, weight: 50 },
      { version: 2, weight: 50 },
    ];
    await json("PUT", "/v1/models/w-sleep/aliases/prod", { body: { split } });
    const [, woke] = await socket.next(2);
    expect(woke!.message).toMatchObject({ event: "set", generation: 2 });
    const { pickFromSplit } = await import("../src/domain/alias");
    expect(woke!.message.version).toBe(pickFromSplit(split, "w-sleep", "prod", "user-7"));
    socket.close();
  });

  it("tells watchers of stage fallbacks and of v<n> about every change that moves them", async () => {
    await modelWithReady("w-stage", 3);
    const staging = await watch("w-stage", "staging");
    const archived = await watch("w-stage", "archived");
    const pinned = await watch("w-stage", "v2");
    for (const s of [staging, archived])
      expect((await s.next(1))[0]!.message).toMatchObject({ event: "current", version: null });
    expect((await pinned.next(1))[0]!.message).toMatchObject({ event: "current", version: 2 });

    const stage = (v: number, body: unknown) => json("POST", `/v1/models/w-stage/versions/${v}/stage`, { body });
    await stage(1, { stage: "staging" });
    expect((await staging.next(2))[1]!.message).toMatchObject({ event: "stage", version: 1 });
    await stage(2, { stage: "staging", archive_existing: true });
    expect((await staging.next(3))[2]!.message).toMatchObject({ event: "stage", version: 2 });
    expect((await archived.next(2))[1]!.message).toMatchObject({ event: "stage", version: 1 });
    await stage(2, { stage: "none" });
    expect((await staging.next(4))[3]!.message).toMatchObject({ event: "stage", version: null });
    // v2 itself goes away.
    expect((await json("DELETE", "/v1/models/w-stage/versions/2")).status).toBe(204);
    expect((await pinned.next(2))[1]!.message).toMatchObject({ event: "delete", version: null, files: null });
    for (const s of [staging, archived, pinned]) s.close();
  });

  it("closes a socket with 4001 when its token expires", async () => {
    await modelWithReady("w-exp", 1);
    await json("PUT", "/v1/models/w-exp/aliases/prod", { body: { version: 1 } });
    const socket = await watch("w-exp", "prod", undefined, await hsToken({ scope: "read", expiresIn: 2 }));
    await socket.next(1);
    expect(await until(() => socket.closed.code, "the socket to close")).toBe(4001);
  });

  it("refuses a plain GET (400)", async () => {
    await modelWithReady("w-plain", 1);
    const res = await json("GET", "/v1/models/w-plain/aliases/prod/watch");
    expect(res.status).toBe(400);
  });
});

describe("the resolve cache", () => {
  /** Calls the Worker with caching on (RESOLVE_TTL_S), as deployed. */
  async function cachedGet(path: string, ttl: string) {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`http://mreg.test${path}`, {
        headers: { authorization: `Bearer ${await hsToken({ scope: "read" })}` },
      }),
      { ...env, RESOLVE_TTL_S: ttl },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, headers: res.headers, body: (await res.json()) as { version: number } };
  }

  it("serves hits without the Durable Object, and hides a change for no longer than the TTL", async () => {
    // "Still cached" can only be seen while the TTL runs, and a busy machine may take longer
    // than a short TTL between two requests: the TTL doubles until both fit in it.
    for (let ttl = 1; ; ttl *= 2) {
      const model = `c-ttl-${ttl}`;
      await modelWithReady(model, 2);
      await json("PUT", `/v1/models/${model}/aliases/prod`, { body: { version: 1 } });
      const cachedFrom = Date.now();
      const first = await cachedGet(`/v1/models/${model}/aliases/prod`, String(ttl));
      const cachedBy = Date.now();
      expect(first.body.version).toBe(1);
      expect(first.headers.get("cache-control")).toBe(`max-age=${ttl}`);
      // A rollback decided elsewhere (straight on the Durable Object, as another colo would).
      await modelStub(model).setAlias({
        model,
        actor: "elsewhere",
        at: new Date().toISOString(),
        alias: "prod",
        value: { version: 2, split: null },
        reason: null,
      });
      const second = await cachedGet(`/v1/models/${model}/aliases/prod`, String(ttl));
      if (Date.now() >= cachedFrom + ttl * 1000) continue; // too late to tell
      expect(second.body.version).toBe(1); // still cached
      await new Promise((r) => setTimeout(r, cachedBy + ttl * 1000 + 100 - Date.now()));
      expect((await cachedGet(`/v1/models/${model}/aliases/prod`, String(ttl))).body.version).toBe(2);
      return;
    }
  });

  it("forgets every name a write moved, from the object's own list: finalize moves latest and v<n>", async () => {
    await modelWithReady("c-final", 1);
    expect((await cachedGet("/v1/models/c-final/aliases/latest", "60")).body.version).toBe(1);
    expect((await cachedGet("/v1/models/c-final/aliases/v2", "60")).status).toBe(404);
    await readyVersion("c-final", { "w.bin": new TextEncoder().encode("c-final v2") });
    expect((await cachedGet("/v1/models/c-final/aliases/latest", "60")).body.version).toBe(2);
    expect((await cachedGet("/v1/models/c-final/aliases/v2", "60")).body.version).toBe(2);
  });

  it("forgets every stage a move with archive_existing touched: the stage entered, the stage left, and archived", async () => {
    await modelWithReady("c-stage", 3);
    const stage = (v: number, to: string, archive = false) =>
      json("POST", `/v1/models/c-stage/versions/${v}/stage`, { body: { stage: to, archive_existing: archive } });
    await stage(1, "archived");
    await stage(3, "production");
    await stage(2, "staging");
    expect((await cachedGet("/v1/models/c-stage/aliases/archived", "60")).body.version).toBe(1);
    expect((await cachedGet("/v1/models/c-stage/aliases/staging", "60")).body.version).toBe(2);
    expect((await stage(2, "production", true)).status).toBe(200);
    expect((await cachedGet("/v1/models/c-stage/aliases/production", "60")).body.version).toBe(2);
    expect((await cachedGet("/v1/models/c-stage/aliases/archived", "60")).body.version).toBe(3);
    expect((await cachedGet("/v1/models/c-stage/aliases/staging", "60")).status).toBe(404);
  });

  it("forgets every name of a deleted model, v<n> included, and a model created again under its name starts clean", async () => {
    await modelWithReady("c-drop", 3);
    await json("POST", "/v1/models/c-drop/versions/2/stage", { body: { stage: "production" } });
    // Every kind of name a resolution is cached under: versions, latest, a stage, a commit's version.
    const names = ["v1", "v2", "v3", "latest", "production"];
    for (const name of names) expect((await cachedGet(`/v1/models/c-drop/aliases/${name}`, "60")).status).toBe(200);
    // Cached twice over (this isolate's memory and the colo's Cache API): a second look is a hit.
    expect((await cachedGet("/v1/models/c-drop/aliases/v3", "60")).body.version).toBe(3);
    expect((await call("DELETE", "/v1/models/c-drop")).status).toBe(204);
    for (const name of names)
      expect({ name, status: (await cachedGet(`/v1/models/c-drop/aliases/${name}`, "60")).status }).toEqual({
        name,
        status: 404,
      });
    // Created again: numbering goes on (v4), and the old names stay gone.
    await modelWithReady("c-drop", 1);
    expect((await cachedGet("/v1/models/c-drop/aliases/latest", "60")).body.version).toBe(4);
    expect((await cachedGet("/v1/models/c-drop/aliases/v4", "60")).body.version).toBe(4);
    expect((await cachedGet("/v1/models/c-drop/aliases/v3", "60")).status).toBe(404);
  });

  it("is skipped with RESOLVE_TTL_S=0, and forgotten here when this isolate changes the alias", async () => {
    await modelWithReady("c-zero", 2);
    await json("PUT", "/v1/models/c-zero/aliases/prod", { body: { version: 1 } });
    expect((await cachedGet("/v1/models/c-zero/aliases/prod", "60")).body.version).toBe(1);
    await json("PUT", "/v1/models/c-zero/aliases/prod", { body: { version: 2 } });
    expect((await cachedGet("/v1/models/c-zero/aliases/prod", "60")).body.version).toBe(2);
    const uncached = await cachedGet("/v1/models/c-zero/aliases/prod", "0");
    expect(uncached.headers.get("cache-control")).toBe("no-cache");
  });
});

describe("the resolve service's answer to a miss", () => {
  const ctx = { env, waitUntil: () => undefined, db: () => env.DB };

  it("says which miss it was: no such model, or no such alias, version or commit in it (and whether one is only not ready)", async () => {
    await modelWithReady("lk-m", 1);
    await json("PUT", "/v1/models/lk-m/aliases/prod", { body: { version: 1 } });
    const pending = await createVersion("lk-m");
    const references: Reference[] = [
      { kind: "alias", alias: "prod" },
      { kind: "alias", alias: "production" },
      { kind: "alias", alias: "nope" },
      { kind: "version", version: 1 },
      { kind: "version", version: pending.version },
      { kind: "version", version: 99 },
      { kind: "latest" },
      { kind: "commit", commit: "0".repeat(40) },
    ];
    const kinds = async (model: string) =>
      Promise.all(
        references.map(async (ref) => {
          const found = await lookup(ctx, model, ref);
          return found.kind === "no_revision" ? `no_revision${found.unready ? " (unready)" : ""}` : found.kind;
        }),
      );
    expect(await kinds("lk-m")).toEqual([
      "found",
      "no_revision",
      "no_revision",
      "found",
      "no_revision (unready)",
      "no_revision",
      "found",
      "no_revision",
    ]);
    expect(await kinds("lk-no-such-model")).toEqual(references.map(() => "no_model"));
    // Several at once (one D1 question at most): the same answers.
    for (const model of ["lk-m", "lk-no-such-model"]) {
      expect(await lookupAll(ctx, model, references)).toEqual(
        await Promise.all(references.map((ref) => lookup(ctx, model, ref))),
      );
    }
    const found = await lookup(ctx, "lk-m", { kind: "alias", alias: "prod" });
    expect(found.kind === "found" && [found.state.targets[0]!.version, found.staleS]).toEqual([1, null]);
  });

  it("answers no such model once the model is deleted, for every name it held", async () => {
    await modelWithReady("lk-gone", 2);
    expect((await json("DELETE", "/v1/models/lk-gone")).status).toBe(204);
    for (const ref of [
      { kind: "latest" },
      { kind: "version", version: 2 },
      { kind: "alias", alias: "staging" },
    ] as Reference[]) {
      expect((await lookup(ctx, "lk-gone", ref)).kind, JSON.stringify(ref)).toBe("no_model");
    }
  });
});

describe("the ModelState stub's types", () => {
  it("come from the class: every write answers what it touched, and no read can", () => {
    // Compile-time checks (npm run typecheck): a write declared as a read, or a read that
    // answered `touched`, fails to compile; the stub offers exactly the class's methods.
    expectTypeOf<Awaited<ReturnType<ModelStateRpc["dropModel"]>>>().toEqualTypeOf<Written<R2Aborts>>();
    expectTypeOf<Awaited<ReturnType<ModelStateRpc["signal"]>>>().toEqualTypeOf<Written<SignalResult>>();
    expectTypeOf<Awaited<ReturnType<ModelStateRpc["resolveState"]>>>().toEqualTypeOf<Outcome<ResolveState>>();
    expectTypeOf<Written<null>>().not.toExtend<Outcome<null>>();
    expectTypeOf<ModelStateReads>().toHaveProperty("resolveState");
    expectTypeOf<ModelStateReads>().toHaveProperty("attachRelay");
    expectTypeOf<ModelStateReads>().not.toHaveProperty("setAlias");
    expectTypeOf<ModelStateReads>().not.toHaveProperty("dropModel");
    expectTypeOf<ModelStateReads>().not.toHaveProperty("expireUploads");
    expectTypeOf<ModelStateRpc>().not.toHaveProperty("alarm");
    expectTypeOf(modelState).returns.toEqualTypeOf<ModelStateRpc>();
  });
});
