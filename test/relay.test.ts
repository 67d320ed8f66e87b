/**
 * Watch fan-out beyond one object (src/state/watch-relay.ts, src/state/relay-fanout.ts): the
 * watch route spreads an alias's sockets over relays; the model's object tells each relay
 * once per change; every socket still gets the current Resolution first, then each change in
 * generation order, exactly once.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { WatchRelay } from "../src/state/watch-relay";
import { createModel, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

interface Message {
  event: string;
  generation: number;
  version: number | null;
}

async function watcher(model: string, alias: string, key: string) {
  const res = await exports.default.fetch(
    new Request(`http://mreg.test/v1/models/${model}/aliases/${alias}/watch?key=${key}`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${await hsToken({ scope: "read" })}` },
    }),
  );
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const messages: Message[] = [];
  ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string) as Message));
  ws.accept();
  return { messages, ws, key };
}

const relaysOf = (model: string, alias: string) =>
  runInDurableObject(modelStub(model), (_i, state) =>
    state.storage.sql
      .exec<{ relay: string }>("SELECT relay FROM relays WHERE alias = ?", alias)
      .toArray()
      .map((r) => r.relay),
  );

async function modelWith(name: string, versions: number) {
  await createModel(name);
  for (let i = 1; i <= versions; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} ${i}`) });
  expect((await json("PUT", `/v1/models/${name}/aliases/prod`, { body: { version: 1 } })).status).toBe(200);
}

describe("watch relays", () => {
  it("spread 60 sockets over at most WATCH_RELAY_SHARDS relays, and tell every socket every change once, in order", async () => {
    await modelWith("rl-fan", 3);
    const sockets = await Promise.all(Array.from({ length: 60 }, (_, i) => watcher("rl-fan", "prod", `node-${i}`)));
    await until(() => sockets.every((s) => s.messages.length >= 1), "every socket's current state");
    const relays = await relaysOf("rl-fan", "prod");
    expect(relays.length).toBeGreaterThan(1);
    expect(relays.length).toBeLessThanOrEqual(16);

    await json("PUT", "/v1/models/rl-fan/aliases/prod", { body: { version: 2 } });
    await json("PUT", "/v1/models/rl-fan/aliases/prod", { body: { version: 3 } });
    await json("POST", "/v1/models/rl-fan/aliases/prod/rollback");
    await until(() => sockets.every((s) => s.messages.length >= 4), "three changes at every socket");
    for (const s of sockets) {
      expect(
        s.messages.map((m) => [m.event, m.generation, m.version]),
        s.key,
      ).toEqual([
        ["current", 1, 1],
        ["set", 2, 2],
        ["set", 3, 3],
        ["rollback", 4, 2],
      ]);
    }
    for (const s of sockets) s.ws.close(1000, "done");
  });

  it("keeps a relay's sockets hearing changes across the relay's hibernation, and answers a ping with the current state", async () => {
    await modelWith("rl-sleep", 2);
    const s = await watcher("rl-sleep", "prod", "only");
    await until(() => s.messages.length >= 1, "a message");
    const [relay] = await relaysOf("rl-sleep", "prod");
    await evictDurableObject(env.WATCH_RELAYS.getByName(relay!) as DurableObjectStub<WatchRelay>, {
      webSockets: "hibernate",
    });
    await evictDurableObject(modelStub("rl-sleep"), { webSockets: "hibernate" });
    await json("PUT", "/v1/models/rl-sleep/aliases/prod", { body: { version: 2 } });
    await until(() => s.messages.length >= 2, "2 messages");
    expect(s.messages[1]).toMatchObject({ event: "set", version: 2 });
    s.ws.send("ping");
    await until(() => s.messages.length >= 3, "3 messages");
    expect(s.messages[2]).toMatchObject({ event: "current", version: 2 });
    s.ws.close(1000, "done");
  });

  it("strikes a relay off the model's register once its last socket is gone, and takes it back with its next socket", async () => {
    await modelWith("rl-gone", 3);
    const s = await watcher("rl-gone", "prod", "lone");
    await until(() => s.messages.length >= 1, "a message");
    const [relay] = await relaysOf("rl-gone", "prod");
    s.ws.close(1000, "bye");
    // Once the relay holds no socket of the alias, the next change strikes it off.
    const relayStub = env.WATCH_RELAYS.getByName(relay!) as DurableObjectStub<WatchRelay>;
    await until(
      () => runInDurableObject(relayStub, (_instance, state) => state.getWebSockets("prod").length === 0),
      "the relay to see the socket close",
    );
    await json("PUT", "/v1/models/rl-gone/aliases/prod", { body: { version: 2 } });
    await until(async () => (await relaysOf("rl-gone", "prod")).length === 0, "the relay to be struck off");
    const back = await watcher("rl-gone", "prod", "lone");
    await until(() => back.messages.length >= 1, "a message");
    expect(back.messages[0]).toMatchObject({ event: "current", version: 2 });
    expect(await relaysOf("rl-gone", "prod")).toEqual([relay]);
    await json("PUT", "/v1/models/rl-gone/aliases/prod", { body: { version: 3 } });
    await until(() => back.messages.length >= 2, "2 messages");
    expect(back.messages[1]).toMatchObject({ event: "set", version: 3 });
    back.ws.close(1000, "done");
  });

  it("never shows a socket a change before its current state, nor loses one, when sockets attach while changes commit (5 rounds)", async () => {
    await modelWith("rl-race", 2);
    for (let round = 0; round < 5; round++) {
      const changes = (async () => {
        for (let i = 0; i < 4; i++)
          await json("PUT", "/v1/models/rl-race/aliases/prod", { body: { version: (i % 2) + 1 } });
      })();
      const sockets = await Promise.all(
        Array.from({ length: 8 }, (_, i) => watcher("rl-race", "prod", `r${round}-${i}`)),
      );
      await changes;
      const final = (await json("GET", "/v1/models/rl-race/aliases/prod")).body.generation as number;
      await until(
        () => sockets.every((s) => s.messages.at(-1)?.generation === final),
        `generation ${final} at every socket`,
      );
      for (const s of sockets) {
        expect(s.messages[0]!.event, s.key).toBe("current");
        const generations = s.messages.map((m) => m.generation);
        // Strictly increasing from the current state on, ending at the last change: nothing repeated, nothing out of order.
        expect(
          generations.every((g, i) => i === 0 || g > generations[i - 1]!),
          `${s.key}: ${generations}`,
        ).toBe(true);
        expect(generations.at(-1)).toBe(final);
        // Every change after the socket's current state, none skipped.
        expect(generations.length - 1).toBe(final - generations[0]!);
      }
      for (const s of sockets) s.ws.close(1000, "done");
    }
  });

  it("tell every watched name of a deleted model that it is gone, v<n> and stage names as much as latest", async () => {
    await createModel("rl-drop");
    for (let i = 1; i <= 2; i++) await readyVersion("rl-drop", { "w.bin": new TextEncoder().encode(`rl-drop ${i}`) });
    const names = ["v1", "v2", "latest", "staging"];
    const sockets = await Promise.all(names.map((alias) => watcher("rl-drop", alias, `node-${alias}`)));
    await until(() => sockets.every((s) => s.messages.length >= 1), "every socket's current state");
    expect((await json("DELETE", "/v1/models/rl-drop")).status).toBe(204);
    await until(() => sockets.every((s) => s.messages.length >= 2), "the deletion at every socket");
    expect(sockets.map((s) => [s.key, s.messages[1]?.event, s.messages[1]?.version])).toEqual(
      names.map((alias) => [`node-${alias}`, "delete", null]),
    );
    for (const s of sockets) s.ws.close(1000, "done");
  });
});
