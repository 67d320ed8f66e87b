import { createExecutionContext, evictDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { hsToken, json, readyVersion, createModel } from "./helpers";

async function modelWithReady(name: string, n: number) {
  await createModel(name);
  for (let i = 1; i <= n; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} v${i}`) });
}

interface WatchMessage {
  event: string;
  generation: number;
  resolution: { version: number } | null;
}

/** Opens a watch socket and collects its messages with their arrival times. */
async function watch(model: string, alias: string, key?: string) {
  const res = await exports.default.fetch(
    new Request(`http://mreg.test/v1/models/${model}/aliases/${alias}/watch${key ? `?key=${key}` : ""}`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${await hsToken({ scope: "read" })}` },
    }),
  );
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const messages: { at: number; message: WatchMessage }[] = [];
  const waiters: (() => void)[] = [];
  ws.addEventListener("message", (e) => {
    messages.push({ at: Date.now(), message: JSON.parse(e.data as string) as WatchMessage });
    waiters.splice(0).forEach((w) => w());
  });
  ws.accept();
  return {
    messages,
    async next(count: number, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count && Date.now() < deadline) {
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
      }
      return messages.slice(0, count);
    },
    close: () => ws.close(1000, "done"),
  };
}

describe("watch", () => {
  it("sends the current resolution, then set → rollback → delete in order, each within 1 s", async () => {
    await modelWithReady("w-order", 2);
    await json("PUT", "/v1/models/w-order/aliases/prod", { body: { version: 1 } });
    const socket = await watch("w-order", "prod");
    expect((await socket.next(1))[0]!.message).toMatchObject({ event: "current", generation: 1, resolution: { version: 1 } });

    const sentAt: number[] = [];
    sentAt.push(Date.now());
    await json("PUT", "/v1/models/w-order/aliases/prod", { body: { version: 2 } });
    sentAt.push(Date.now());
    await json("POST", "/v1/models/w-order/aliases/prod/rollback");
    sentAt.push(Date.now());
    await json("DELETE", "/v1/models/w-order/aliases/prod");
    const got = (await socket.next(4)).slice(1);
    expect(got.map((m) => [m.message.event, m.message.generation, m.message.resolution?.version ?? null])).toEqual([
      ["set", 2, 2],
      ["rollback", 3, 1],
      ["delete", 4, null],
    ]);
    got.forEach((m, i) => expect(m.at - sentAt[i]!).toBeLessThan(1000));
    socket.close();
  });

  it("keeps watching across hibernation of the model's Durable Object, with the socket's key", async () => {
    await modelWithReady("w-sleep", 2);
    await json("PUT", "/v1/models/w-sleep/aliases/prod", { body: { version: 1 } });
    const socket = await watch("w-sleep", "prod", "user-7");
    await socket.next(1);
    await evictDurableObject(env.MODEL_STATE.getByName("w-sleep"), { webSockets: "hibernate" });
    const split = [{ version: 1, weight: 50 }, { version: 2, weight: 50 }];
    await json("PUT", "/v1/models/w-sleep/aliases/prod", { body: { split } });
    const [, woke] = await socket.next(2);
    expect(woke!.message).toMatchObject({ event: "set", generation: 2 });
    const { pickFromSplit } = await import("../src/domain/alias");
    expect(woke!.message.resolution!.version).toBe(pickFromSplit(split, "w-sleep", "prod", "user-7"));
    socket.close();
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
      new Request(`http://mreg.test${path}`, { headers: { authorization: `Bearer ${await hsToken({ scope: "read" })}` } }),
      { ...env, RESOLVE_TTL_S: ttl },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, headers: res.headers, body: (await res.json()) as { version: number } };
  }

  it("serves hits without the Durable Object, and hides a change for no longer than the TTL", async () => {
    await modelWithReady("c-ttl", 2);
    await json("PUT", "/v1/models/c-ttl/aliases/prod", { body: { version: 1 } });
    const first = await cachedGet("/v1/models/c-ttl/aliases/prod", "1");
    expect(first.body.version).toBe(1);
    expect(first.headers.get("cache-control")).toBe("max-age=1");
    // A rollback decided elsewhere (straight on the Durable Object, as another colo would).
    const stub = env.MODEL_STATE.getByName("c-ttl");
    await stub.setAlias({ model: "c-ttl", actor: "elsewhere", at: new Date().toISOString(), alias: "prod", value: { version: 2, split: null }, reason: null });
    expect((await cachedGet("/v1/models/c-ttl/aliases/prod", "1")).body.version).toBe(1); // still cached
    await new Promise((r) => setTimeout(r, 1100));
    expect((await cachedGet("/v1/models/c-ttl/aliases/prod", "1")).body.version).toBe(2);
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
