/**
 * Events and the queue's limits (API.md "Events (webhooks)"): an event too large for the
 * queue, measured in bytes, travels without `from`/`to`/`detail`; messages and batches are
 * split to fit; an event that still cannot be queued is dead-lettered and logged, and never
 * holds back the events after it; while the queue is down, events wait in order. The local
 * queue enforces the limits (128,000 bytes a message, 288,000 a batch here), so a wrong
 * measurement fails these tests for real.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sortableId } from "../src/domain/ids";
import type { QueueMessage, WebhookEvent } from "../src/domain/queue-message";
import { dispatchPending } from "../src/events/dispatch";
import { publish } from "../src/queue/publish";
import type { ModelState } from "../src/state/model-state";
import { call, createModel, json, modelStub } from "./helpers";
import { until } from "./until";

interface Received {
  url: string;
  body: { type: string; data: WebhookEvent & { detail?: { truncated?: boolean; checks?: unknown[] } } };
}
let received: Received[] = [];

beforeEach(() => {
  received = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    received.push({ url: request.url, body: JSON.parse(await request.text()) as Received["body"] });
    return new Response("ok");
  });
});
afterEach(() => vi.restoreAllMocks());

const utf8 = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).byteLength;

async function hook(path: string, events: string[], models: string[]) {
  const res = await json("POST", "/v1/webhooks", { body: { url: `https://hooks.test/${path}`, events, models } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string };
}

/** `until` (test/until.ts), saying on failure what the receiver got. */
function waitFor<T>(probe: () => T | undefined | false, what: string): Promise<T> {
  return until(probe, () => `${what}; received ${JSON.stringify(received.map((r) => [r.url, r.body.type]))}`, {
    intervalMs: 50,
  });
}

const at = (path: string) => received.filter((r) => r.url === `https://hooks.test/${path}`);

/** An event made up for the model `model`, `detailChars` characters of `ch` in its detail. */
function madeUp(model: string, detailChars = 0, ch = "€", fields: Partial<WebhookEvent> = {}): WebhookEvent {
  return {
    id: sortableId(),
    at: new Date().toISOString(),
    actor: "t",
    action: "rollback",
    model,
    ...(detailChars ? { detail: { text: ch.repeat(detailChars) } } : {}),
    ...fields,
  };
}

/** Spies on the queue's sendBatch, calling through: the batches sent, as the queue got them. */
function watchBatches() {
  const batches: MessageSendRequest<QueueMessage>[][] = [];
  const real = env.DELIVERIES.sendBatch.bind(env.DELIVERIES);
  const spy = vi.spyOn(env.DELIVERIES, "sendBatch").mockImplementation(async (messages) => {
    const list = [...messages];
    const answer = await real(list);
    batches.push(list);
    return answer;
  });
  return { batches, spy };
}

/** Event ids in the order the queue took them. */
const sentIds = (batches: MessageSendRequest<QueueMessage>[][]) =>
  batches.flatMap((b) => b.flatMap((m) => (m.body.kind === "events" ? m.body.events.map((e) => e.id) : [])));

describe("events and the queue's size limits", () => {
  it("measures bytes, not characters: multibyte events are split over messages and batches the queue takes", async () => {
    await hook("split", ["rollback"], ["size-split"]);
    const { batches } = watchBatches();
    // 33,000 × "€": 33 K characters but 99 KB of UTF-8 each. Three per message by characters
    // would be 297 KB; one per message, two per batch, is what the queue takes.
    const events = Array.from({ length: 5 }, () => madeUp("size-split", 33_000));
    expect(await publish(env, events)).toBe(5);
    expect(sentIds(batches)).toEqual(events.map((e) => e.id));
    for (const batch of batches) {
      expect(batch.reduce((n, m) => n + utf8(m.body), 0)).toBeLessThanOrEqual(256_000);
      for (const m of batch) {
        expect(m.contentType).toBe("json");
        expect(utf8(m.body)).toBeLessThanOrEqual(127_000);
      }
    }
    const got = await waitFor(() => at("split").length === 5 && at("split"), "the five events");
    expect(got.map((r) => r.body.data.id).sort()).toEqual(events.map((e) => e.id).sort());
    // Whole: each fits a message of its own.
    expect(got.every((r) => (r.body.data.detail as { text?: string }).text?.length === 33_000)).toBe(true);
  });

  it("sends a refused split promotion with multibyte tags (its checks over 128 KB) without its detail, and the events after it", async () => {
    await hook("denied", ["promotion_denied", "alias.set"], ["size-gate"]);
    await createModel("size-gate");
    const tags = (ch: string) => Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`t${i}`, ch.repeat(4096)]));
    for (const ch of ["模", "型"]) {
      const v = await json("POST", "/v1/models/size-gate/versions", { body: { tags: tags(ch) } });
      expect(v.status, JSON.stringify(v.body)).toBe(201);
      expect(
        (await call("PUT", `/v1/models/size-gate/versions/${v.body.version}/files/w.bin`, { rawBody: ch })).status,
      ).toBe(201);
      expect((await json("POST", `/v1/models/size-gate/versions/${v.body.version}/finalize`)).status).toBe(200);
    }
    expect((await json("PUT", "/v1/models/size-gate/gates/prod", { body: { required_tags: tags("甲") } })).status).toBe(
      200,
    );
    const refused = await json("PUT", "/v1/models/size-gate/aliases/prod", {
      body: {
        split: [
          { version: 1, weight: 50 },
          { version: 2, weight: 50 },
        ],
      },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.checks).toHaveLength(10);
    // The event behind it.
    expect((await json("PUT", "/v1/models/size-gate/aliases/canary", { body: { version: 1 } })).status).toBe(200);

    const denied = await waitFor(
      () => at("denied").find((r) => r.body.type === "promotion_denied"),
      "promotion_denied",
    );
    expect(denied.body.data).toMatchObject({
      action: "promotion_denied",
      model: "size-gate",
      detail: { truncated: true },
    });
    expect(denied.body.data.detail?.checks).toBeUndefined();
    await waitFor(
      () => at("denied").find((r) => r.body.type === "alias.set" && r.body.data.alias === "canary"),
      "the alias.set after it",
    );
    // The audit log has the whole event: 10 checks, over 128 KB of UTF-8, under 100 K characters.
    const audit = await json("GET", "/v1/audit?model=size-gate&action=promotion_denied");
    const whole = audit.body.items[0];
    expect(whole.id).toBe(denied.body.data.id);
    expect(whole.detail.checks).toHaveLength(10);
    expect(utf8(whole)).toBeGreaterThan(128_000);
    expect(JSON.stringify(whole).length).toBeLessThan(100_000);
    expect(await modelStub("size-gate").outboxDepth()).toBe(0);
    expect(
      await runInDurableObject(modelStub("size-gate"), (o: ModelState) =>
        (o as unknown as { rooms: { outbox: { eventsPending(): number } } }).rooms.outbox.eventsPending(),
      ),
    ).toBe(0);
  });

  it("keeps registry events (webhooks with 100 globs of 256 multibyte characters) in order while the queue is down, then sends them all", async () => {
    await hook("registry", ["webhook.create", "webhook.delete"], []);
    await waitFor(() => at("registry").length === 1, "its own create");
    const down = vi
      .spyOn(env.DELIVERIES, "sendBatch")
      .mockRejectedValue(new Error("Queue sendBatch failed: Service Unavailable"));
    const globs = (ch: string) =>
      Array.from({ length: 100 }, (_, i) => `${ch.repeat(250)}-${String(i).padStart(3, "0")}*`);
    const big: string[] = [];
    for (const ch of ["模", "型", "甲"]) {
      const res = await json("POST", "/v1/webhooks", {
        body: { url: "https://hooks.test/big", events: globs(ch), models: globs(ch) },
      });
      expect(res.status).toBe(201);
      big.push(res.body.id);
    }
    const pending = async () =>
      (await env.DB.prepare("SELECT payload FROM pending_events ORDER BY id").all<{ payload: string }>()).results.map(
        (r) => (JSON.parse(r.payload) as { to: { id: string } }).to.id,
      );
    await waitFor(() => down.mock.calls.length >= 3 || undefined, "the failed dispatches");
    await new Promise((r) => setTimeout(r, 300));
    expect(await pending()).toEqual(big);

    down.mockRestore();
    // As the cron does: everything left goes, oldest first.
    await dispatchPending(env);
    expect(await pending()).toEqual([]);
    const got = await waitFor(() => at("registry").length === 4 && at("registry"), "the three creates");
    const creates = got.slice(1).map((r) => r.body.data);
    expect(new Set(creates.map((e) => e.to === undefined && (e.detail as { truncated?: boolean }).truncated))).toEqual(
      new Set([true]),
    );
    // And what comes after travels as usual, whole.
    const small = await hook("small", ["nothing"], ["x"]);
    expect((await call("DELETE", `/v1/webhooks/${small.id}`)).status).toBe(204);
    const deleted = await waitFor(
      () => at("registry").find((r) => r.body.type === "webhook.delete"),
      "the delete after them",
    );
    expect(deleted.body.data.from).toMatchObject({ id: small.id, url: "https://hooks.test" });
  });

  it("dead-letters an event no message can hold, logs it, and sends the events around it", async () => {
    const { batches } = watchBatches();
    const dlq = vi.spyOn(env.DELIVERIES_DLQ, "send");
    const errors = vi.spyOn(console, "error");
    // Identity fields no route would let grow so large: nothing can be cut.
    const events = [
      madeUp("size-dead"),
      madeUp("size-dead", 0, "", { reason: "r".repeat(130_000) }),
      madeUp("size-dead", 10),
    ];
    expect(await publish(env, events)).toBe(3);
    expect(sentIds(batches)).toEqual([events[0]!.id, events[2]!.id]);
    expect(dlq).toHaveBeenCalledTimes(1);
    expect(dlq.mock.calls[0]![0]).toMatchObject({
      kind: "undeliverable_event",
      event_id: events[1]!.id,
      type: "rollback",
      model: "size-dead",
    });
    expect(utf8(dlq.mock.calls[0]![0])).toBeLessThan(1000);
    expect(
      errors.mock.calls.some(
        (c) => String(c[0]).includes("dead-lettered") && JSON.stringify(c[1]).includes(events[1]!.id),
      ),
    ).toBe(true);
  });

  it("tells a queue that is down (wait, in order) from an event it will never take (dead-letter it, send the rest)", async () => {
    const dlq = vi.spyOn(env.DELIVERIES_DLQ, "send");
    const a = madeUp("size-poison");
    const poison = madeUp("size-poison", 10);
    const b = madeUp("size-poison");
    const c = madeUp("size-poison");
    // A queue that refuses every message holding `poison`, whole or cut (a limit we do not know of).
    const real = env.DELIVERIES.sendBatch.bind(env.DELIVERIES);
    const taken: string[] = [];
    const spy = vi.spyOn(env.DELIVERIES, "sendBatch").mockImplementation(async (messages) => {
      const list = [...messages];
      if (JSON.stringify(list).includes(poison.id)) throw new Error("Unknown Internal Error (15000)");
      const answer = await real(list);
      taken.push(...list.flatMap((m) => (m.body.kind === "events" ? m.body.events.map((e) => e.id) : [])));
      return answer;
    });
    // Nothing after it to tell: it waits, and so does nothing else.
    expect(await publish(env, [a, poison])).toBe(1);
    expect(dlq).not.toHaveBeenCalled();
    // With events after it: the queue takes them, so this one is what it refuses.
    expect(await publish(env, [poison, b, c])).toBe(3);
    expect(dlq).toHaveBeenCalledTimes(1);
    expect(dlq.mock.calls[0]![0]).toMatchObject({ kind: "undeliverable_event", event_id: poison.id });
    expect(taken).toEqual([a.id, b.id, c.id]);

    // The queue down: nothing settles, nothing is dead-lettered.
    spy.mockRejectedValue(new Error("Unknown Internal Error (15000)"));
    expect(await publish(env, [a, b, c])).toBe(0);
    expect(dlq).toHaveBeenCalledTimes(1);
  });

  it("keeps a model's events in its outbox, in order, while the queue is down; a poisoned one does not hold back the rest", async () => {
    await hook("outbox", ["alias.set", "rollback"], ["size-outbox"]);
    await createModel("size-outbox");
    const v = await json("POST", "/v1/models/size-outbox/versions", {});
    await call("PUT", `/v1/models/size-outbox/versions/${v.body.version}/files/w.bin`, { rawBody: "w" });
    await json("POST", `/v1/models/size-outbox/versions/${v.body.version}/finalize`);
    const stub = modelStub("size-outbox");
    type Internals = { env: typeof env; ctx: DurableObjectState; rooms: { outbox: { eventsPending(): number } } };
    const refused: unknown[] = [];
    const saved = await runInDurableObject(stub, (o: ModelState) => {
      const inner = o as unknown as Internals;
      const real = inner.env;
      const down = {
        sendBatch: async (messages: unknown) => {
          refused.push(messages);
          throw new Error("Queue is down");
        },
      };
      inner.env = { ...real, DELIVERIES: down as unknown as typeof real.DELIVERIES };
      return real;
    });
    for (const alias of ["a1", "a2", "a3"])
      expect((await json("PUT", `/v1/models/size-outbox/aliases/${alias}`, { body: { version: 1 } })).status).toBe(200);
    await waitFor(() => refused.length >= 3 || undefined, "the refused sends");
    const pending = () =>
      runInDurableObject(stub, (o: ModelState) => (o as unknown as Internals).rooms.outbox.eventsPending());
    expect(await pending()).toBeGreaterThanOrEqual(3);

    // Back up, with a poisoned event (one no message can hold) between two others.
    const poison = madeUp("size-outbox", 0, "", { reason: "r".repeat(130_000) });
    const after = madeUp("size-outbox", 5);
    await runInDurableObject(stub, (o: ModelState) => {
      const inner = o as unknown as Internals;
      inner.env = saved;
      inner.ctx.storage.sql.exec(
        "INSERT INTO events (payload) VALUES (?), (?)",
        JSON.stringify(poison),
        JSON.stringify(after),
      );
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await pending()).toBe(0);
    const got = await waitFor(
      () => at("outbox").length === 4 && at("outbox"),
      "the three alias.set and the event after the poisoned one",
    );
    expect(
      got
        .filter((r) => r.body.type === "alias.set")
        .map((r) => r.body.data.alias)
        .sort(),
    ).toEqual(["a1", "a2", "a3"]);
    expect(got.some((r) => r.body.data.id === after.id)).toBe(true);
  });
});
