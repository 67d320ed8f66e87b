import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { Webhook as Verifier } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { webhookDeliveries } from "../src/db/schema";
import { orm } from "../src/db/session";
import { sortableId } from "../src/domain/ids";
import { classify, endpointProblem, retryDelayS, RETRY_WINDOW_MS, subscribes } from "../src/domain/webhook";
import { deliverBatch } from "../src/events/deliver";
import type { QueueMessage } from "../src/domain/queue-message";
import { deliveryFor } from "../src/events/dispatch";
import { openSecret } from "../src/events/secrets";
import { call, createModel, createVersion, hsToken, json } from "./helpers";
import { until } from "./until";

/** What the stubbed network received, and how each URL answers. */
interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}
let received: Received[] = [];
let answer: (url: string, n: number) => number | "hang" | "network" = () => 200;

beforeEach(() => {
  received = [];
  answer = () => 200;
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith("https://hooks.test/") && !request.url.startsWith("http://127.0.0.1:9/"))
      return realFetch(input, init);
    const entry = { url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() };
    received.push(entry);
    const what = answer(request.url, received.filter((r) => r.url === request.url).length);
    if (what === "network") throw new TypeError("connection refused");
    if (what === "hang") return new Promise<Response>(() => {});
    return new Response("ok", { status: what });
  });
});
afterEach(() => vi.restoreAllMocks());

async function createWebhook(body: Record<string, unknown>, token?: string) {
  const res = await json("POST", "/v1/webhooks", { body, ...(token ? { token } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string; url: string };
}

async function readyModel(name: string) {
  await createModel(name);
  const v = await createVersion(name);
  await call("PUT", `/v1/models/${name}/versions/${v.version}/files/a.txt`, { rawBody: "a" });
  await call("POST", `/v1/models/${name}/versions/${v.version}/finalize`);
}

describe("webhook rules", () => {
  it("matches events and models by glob; empty lists match everything", () => {
    expect(subscribes({ events: [], models: [] }, { action: "alias.set", model: "m" })).toBe(true);
    expect(subscribes({ events: ["alias.*", "rollback"], models: [] }, { action: "rollback", model: "m" })).toBe(true);
    expect(subscribes({ events: ["alias.*"], models: [] }, { action: "version.create", model: "m" })).toBe(false);
    expect(subscribes({ events: [], models: ["fraud-*"] }, { action: "alias.set", model: "fraud-eu" })).toBe(true);
    expect(subscribes({ events: [], models: ["fraud-*"] }, { action: "webhook.create", model: "" })).toBe(false);
  });

  it("takes https, and http only to loopback when allowed", () => {
    expect(endpointProblem("https://hooks.example/x", false)).toBeNull();
    expect(endpointProblem("http://127.0.0.1:8080/x", true)).toBeNull();
    expect(endpointProblem("http://localhost/x", true)).toBeNull();
    expect(endpointProblem("http://127.0.0.1:8080/x", false)).toMatch(/https/);
    expect(endpointProblem("http://10.0.0.1/x", true)).toMatch(/loopback/);
    expect(endpointProblem("ftp://x", true)).not.toBeNull();
    expect(endpointProblem("https://user:pw@hooks.example/", false)).toMatch(/credentials/);
    expect(endpointProblem("not a url", false)).toBe("not a URL");
  });

  it("retries network errors, timeouts, 429 and 5xx; a 410 is gone; other answers are not retried", () => {
    expect(classify({ status: 200 })).toBe("delivered");
    expect(classify({ status: 204 })).toBe("delivered");
    expect(classify({ status: 410 })).toBe("gone");
    for (const status of [429, 500, 502, 503]) expect(classify({ status })).toBe("retry");
    expect(classify({ error: "timeout" })).toBe("retry");
    for (const status of [301, 400, 401, 404, 422]) expect(classify({ status })).toBe("rejected");
  });

  it("backs off exponentially, at most 12 h, and stops 24 h after the first attempt (property)", () => {
    expect([1, 2, 3, 4].map((n) => retryDelayS(n, 30, 0, 0))).toEqual([30, 60, 120, 240]);
    expect(retryDelayS(20, 30, 0, 0)).toBe(12 * 3600);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 3600 }),
        fc.integer({ min: 0, max: RETRY_WINDOW_MS + 3_600_000 }),
        (n, base, elapsed) => {
          const delay = retryDelayS(n, base, 0, elapsed);
          if (delay === null) {
            expect(elapsed).toBeGreaterThan(RETRY_WINDOW_MS - 1000);
          } else {
            expect(delay).toBeGreaterThanOrEqual(1);
            expect(delay).toBeLessThanOrEqual(12 * 3600);
            expect(elapsed + delay * 1000).toBeLessThanOrEqual(RETRY_WINDOW_MS);
          }
        },
      ),
    );
    // Simulated from the first attempt: the attempts run until the window's end, not past it.
    let now = 0;
    let attempts = 0;
    for (;;) {
      attempts++;
      const delay = retryDelayS(attempts, 30, 0, now);
      if (delay === null) break;
      now += delay * 1000;
    }
    expect(now).toBe(RETRY_WINDOW_MS);
    expect(attempts).toBeLessThan(20);
  });
});

describe("webhook routes", () => {
  it("creates, reads, changes and deletes a webhook; the secret shows once and never in the audit log", async () => {
    const created = await createWebhook({
      url: "https://hooks.test/a",
      events: ["alias.*"],
      models: ["wh-*"],
      description: "slack",
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created).toMatchObject({
      url: "https://hooks.test/a",
      events: ["alias.*"],
      models: ["wh-*"],
      active: true,
      disabled_reason: null,
      created_by: "alice",
    });
    const got = await json("GET", `/v1/webhooks/${created.id}`);
    expect(got.body.secret).toBeUndefined();
    expect((await json("GET", "/v1/webhooks")).body.items.map((w: { id: string }) => w.id)).toContain(created.id);

    const patched = await json("PATCH", `/v1/webhooks/${created.id}`, {
      body: { events: ["rollback"], description: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ events: ["rollback"], description: null });
    expect(patched.body.secret).toBeUndefined();

    // At rest: only ciphertext, bound to this webhook's id.
    const row = await env.DB.prepare("SELECT secret FROM webhooks WHERE id = ?")
      .bind(created.id)
      .first<{ secret: string }>();
    expect(row!.secret).not.toContain(created.secret.slice(6, 20));
    expect(await openSecret(env.WEBHOOK_KEY!, created.id, row!.secret)).toBe(created.secret);
    await expect(openSecret(env.WEBHOOK_KEY!, "wh_OTHER", row!.secret)).rejects.toThrow();

    expect((await call("DELETE", `/v1/webhooks/${created.id}`)).status).toBe(204);
    expect((await call("GET", `/v1/webhooks/${created.id}`)).status).toBe(404);

    const audit = await env.DB.prepare(
      "SELECT action, model, from_value, to_value, detail FROM audit_events WHERE action LIKE 'webhook.%' ORDER BY id",
    ).all();
    expect(audit.results.map((r) => r.action)).toEqual(["webhook.create", "webhook.update", "webhook.delete"]);
    expect(audit.results.every((r) => r.model === "")).toBe(true);
    expect(JSON.stringify(audit.results)).not.toContain(created.secret.slice(6));
  });

  it("refuses bad input with problem+json", async () => {
    for (const body of [
      { url: "http://hooks.example/x" },
      { url: "http://10.1.2.3/x" },
      { url: "not a url" },
      { url: "https://hooks.test/x", events: [""] },
      { url: "https://hooks.test/x", secret: "whsec_mine" },
      { events: ["*"] },
    ]) {
      const res = await json("POST", "/v1/webhooks", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const malformed = await call("POST", "/v1/webhooks", {
      rawBody: "{",
      headers: { "content-type": "application/json" },
    });
    expect(malformed.status).toBe(400);
    expect((await call("GET", "/v1/webhooks/nope")).status).toBe(400);
    expect((await call("GET", "/v1/webhooks/wh_00000000000000000000000000")).status).toBe(404);
    expect((await call("POST", "/v1/webhooks/wh_00000000000000000000000000/ping")).status).toBe(404);
    expect((await call("GET", "/v1/webhooks/wh_00000000000000000000000000/deliveries")).status).toBe(404);
  });

  it("needs the admin scope for every route", async () => {
    const writer = await hsToken({ scope: "read write promote" });
    const created = await createWebhook({ url: "https://hooks.test/scoped" });
    for (const [method, path] of [
      ["POST", "/v1/webhooks"],
      ["GET", "/v1/webhooks"],
      ["GET", `/v1/webhooks/${created.id}`],
      ["PATCH", `/v1/webhooks/${created.id}`],
      ["DELETE", `/v1/webhooks/${created.id}`],
      ["POST", `/v1/webhooks/${created.id}/ping`],
      ["GET", `/v1/webhooks/${created.id}/deliveries`],
    ] as const) {
      const res = await call(method, path, {
        token: writer,
        body: method === "GET" || method === "DELETE" ? undefined : { url: "https://hooks.test/x" },
      });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await call("GET", "/v1/webhooks", { token: null })).status).toBe(401);
    await call("DELETE", `/v1/webhooks/${created.id}`);
  });
});

describe("delivery", () => {
  it("sends matching events, signed as Standard Webhooks, and records the delivery", async () => {
    const hook = await createWebhook({
      url: "https://hooks.test/match",
      events: ["alias.*", "rollback"],
      models: ["wh-match"],
    });
    await readyModel("wh-match");
    await readyModel("wh-other");
    expect(
      (await json("PUT", "/v1/models/wh-match/aliases/prod", { body: { version: 1, reason: "ship" } })).status,
    ).toBe(200);
    expect((await json("PUT", "/v1/models/wh-other/aliases/prod", { body: { version: 1 } })).status).toBe(200);
    const got = await until(
      async () => received.find((r) => r.url === "https://hooks.test/match"),
      "the alias.set delivery",
    );
    const verified = new Verifier(hook.secret).verify(got.body, got.headers) as {
      type: string;
      timestamp: string;
      data: Record<string, unknown>;
    };
    expect(verified).toMatchObject({
      type: "alias.set",
      data: { model: "wh-match", alias: "prod", action: "alias.set", reason: "ship" },
    });
    expect(got.headers["webhook-id"]).toBe(verified.data.id);
    // Only that one: version.create/finalize and the other model's alias did not match.
    await new Promise((r) => setTimeout(r, 300));
    expect(received.filter((r) => r.url === "https://hooks.test/match")).toHaveLength(1);
    const deliveries = await until(async () => {
      const res = await json("GET", `/v1/webhooks/${hook.id}/deliveries?status=delivered`);
      return res.body.items.length === 1 ? res.body.items : null;
    }, "the delivery record");
    expect(deliveries[0]).toMatchObject({
      event_id: verified.data.id,
      type: "alias.set",
      status: "delivered",
      attempts: 1,
      last_status_code: 200,
    });
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });

  it("retries a 500 with the same webhook-id until a 200, then a ping and a redelivery", async () => {
    const hook = await createWebhook({ url: "https://hooks.test/flaky", events: ["rollback"] });
    answer = (_url, n) => (n <= 3 ? 500 : 200);
    await readyModel("wh-flaky");
    const v2 = await createVersion("wh-flaky");
    await call("PUT", `/v1/models/wh-flaky/versions/${v2.version}/files/a.txt`, { rawBody: "b" });
    await call("POST", `/v1/models/wh-flaky/versions/${v2.version}/finalize`);
    await json("PUT", "/v1/models/wh-flaky/aliases/prod", { body: { version: 1 } });
    await json("PUT", "/v1/models/wh-flaky/aliases/prod", { body: { version: 2 } });
    await json("POST", "/v1/models/wh-flaky/aliases/prod/rollback", { body: { reason: "bad" } });
    // Retries after 1 s, 2 s, 4 s (WEBHOOK_RETRY_BASE_S=1 in tests).
    const deliveries = await until(async () => {
      const res = await json("GET", `/v1/webhooks/${hook.id}/deliveries?status=delivered`);
      return res.body.items.length === 1 ? res.body.items : null;
    }, "the fourth attempt");
    expect(deliveries[0]).toMatchObject({ type: "rollback", attempts: 4, last_status_code: 200 });
    const attempts = received.filter((r) => r.url === "https://hooks.test/flaky");
    expect(attempts).toHaveLength(4);
    expect(new Set(attempts.map((a) => a.headers["webhook-id"])).size).toBe(1);
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
    for (const a of attempts) new Verifier(hook.secret).verify(a.body, a.headers);

    const ping = await json("POST", `/v1/webhooks/${hook.id}/ping`);
    expect(ping.status).toBe(202);
    const pinged = await until(
      async () => received.find((r) => r.headers["webhook-id"] === ping.body.event_id),
      "the ping",
    );
    expect(JSON.parse(pinged.body)).toMatchObject({ type: "ping", data: { detail: { webhook_id: hook.id } } });

    const redo = await call("POST", `/v1/webhooks/${hook.id}/deliveries/${deliveries[0].id}/redeliver`);
    expect(redo.status).toBe(202);
    await until(
      async () => received.filter((r) => r.headers["webhook-id"] === deliveries[0].event_id).length === 5,
      "the redelivery",
    );
    expect(
      (
        await call(
          "POST",
          `/v1/webhooks/${hook.id}/deliveries/${deliveries[0].event_id}.wh_00000000000000000000000000/redeliver`,
        )
      ).status,
    ).toBe(404);
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });

  it("signs with both secrets for 24 h after a rotation", async () => {
    const hook = await createWebhook({ url: "https://hooks.test/rotate", events: ["ping"] });
    const rotated = await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { rotate_secret: true } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(hook.secret);
    const ping = await json("POST", `/v1/webhooks/${hook.id}/ping`);
    const got = await until(
      async () => received.find((r) => r.headers["webhook-id"] === ping.body.event_id),
      "the ping",
    );
    expect(got.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    new Verifier(hook.secret).verify(got.body, got.headers);
    new Verifier(rotated.body.secret).verify(got.body, got.headers);
    expect(() => new Verifier(`whsec_${btoa("x".repeat(24))}`).verify(got.body, got.headers)).toThrow();
    // The audit event says it rotated, not what to.
    const audit = await env.DB.prepare(
      "SELECT detail FROM audit_events WHERE action = 'webhook.update' ORDER BY id DESC LIMIT 1",
    ).first<{ detail: string }>();
    expect(JSON.parse(audit!.detail)).toMatchObject({ secret_rotated: true });
    expect(audit!.detail).not.toContain(rotated.body.secret.slice(6));
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });
});

describe("the queue consumer, one attempt at a time", () => {
  /** A delivery row for a made-up event, and the message the consumer gets for it. */
  async function pendingDelivery(webhookId: string, firstAttemptAt = new Date().toISOString()) {
    const event = {
      id: `0${Date.now().toString(36).toUpperCase().padStart(25, "0")}`.slice(0, 26),
      at: firstAttemptAt,
      actor: "t",
      action: "rollback" as const,
      model: "m",
    };
    const row = { ...deliveryFor(event, webhookId, firstAttemptAt), firstAttemptAt };
    await orm(env.DB).insert(webhookDeliveries).values(row);
    return { kind: "delivery", delivery_id: row.id!, webhook_id: webhookId } satisfies Extract<
      QueueMessage,
      { kind: "delivery" }
    >;
  }

  async function runBatch(body: Extract<QueueMessage, { kind: "delivery" }>) {
    const batch = createMessageBatch<QueueMessage>("mreg-deliveries", [
      { id: "m1", timestamp: new Date(), attempts: 1, body },
    ]);
    const ctx = createExecutionContext();
    await deliverBatch(batch, env);
    return getQueueResult(batch, ctx);
  }

  const deliveryRow = (id: string) =>
    env.DB.prepare("SELECT * FROM webhook_deliveries WHERE id = ?").bind(id).first<Record<string, unknown>>();

  it("asks the queue to retry a 503 after the backoff, and acks a success", async () => {
    const hook = await createWebhook({ url: "https://hooks.test/consumer", events: ["nothing"] });
    const message = await pendingDelivery(hook.id);
    answer = () => 503;
    /** Seconds from now until the recorded next attempt: the delay the message was retried with. */
    const delayOf = async () =>
      (Date.parse(String((await deliveryRow(message.delivery_id))!.next_attempt_at)) - Date.now()) / 1000;
    const first = await runBatch(message);
    expect(first.retryMessages).toEqual([{ msgId: "m1" }]);
    expect(await deliveryRow(message.delivery_id)).toMatchObject({
      status: "pending",
      attempts: 1,
      last_status_code: 503,
    });
    expect(await delayOf()).toBeCloseTo(1, 0);
    const second = await runBatch(message);
    expect(second.retryMessages).toEqual([{ msgId: "m1" }]);
    expect(await delayOf()).toBeCloseTo(2, 0);
    answer = () => 200;
    const third = await runBatch(message);
    expect(third.explicitAcks).toEqual(["m1"]);
    expect(await deliveryRow(message.delivery_id)).toMatchObject({ status: "delivered", attempts: 3 });
    // A duplicate message of a delivered event is acked without sending.
    const before = received.length;
    expect((await runBatch(message)).explicitAcks).toEqual(["m1"]);
    expect(received.length).toBe(before);
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });

  it("disables the webhook at once on a 410, audited", async () => {
    const hook = await createWebhook({ url: "https://hooks.test/gone", events: ["nothing"] });
    const message = await pendingDelivery(hook.id);
    answer = () => 410;
    expect((await runBatch(message)).explicitAcks).toEqual(["m1"]);
    const after = await json("GET", `/v1/webhooks/${hook.id}`);
    expect(after.body).toMatchObject({ active: false, disabled_reason: "the endpoint answered 410 Gone" });
    const audit = await env.DB.prepare(
      "SELECT actor, reason FROM audit_events WHERE action = 'webhook.update' ORDER BY id DESC LIMIT 1",
    ).first();
    expect(audit).toEqual({ actor: "webhooks", reason: "the endpoint answered 410 Gone" });
    // Disabled: the next delivery fails without a request, saying why.
    const next = await pendingDelivery(hook.id);
    const sent = received.length;
    expect((await runBatch(next)).explicitAcks).toEqual(["m1"]);
    expect(received.length).toBe(sent);
    expect(await deliveryRow(next.delivery_id)).toMatchObject({
      status: "failed",
      last_error: "webhook disabled: the endpoint answered 410 Gone",
    });
    // Re-enabled by an administrator.
    expect((await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { active: true } })).body).toMatchObject({
      active: true,
      disabled_reason: null,
    });
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });

  it("never requests a URL stored before the private-address rule", async () => {
    const hook = await createWebhook({ url: "https://hooks.test/was-public", events: ["nothing"] });
    await env.DB.prepare("UPDATE webhooks SET url = ? WHERE id = ?")
      .bind("https://169.254.169.254/latest/meta-data/", hook.id)
      .run();
    const message = await pendingDelivery(hook.id);
    const fetched = vi.mocked(globalThis.fetch).mock.calls.length;
    expect((await runBatch(message)).explicitAcks).toEqual(["m1"]);
    expect(vi.mocked(globalThis.fetch).mock.calls.length).toBe(fetched);
    expect(await deliveryRow(message.delivery_id)).toMatchObject({
      status: "failed",
      last_error: expect.stringContaining("link-local"),
    });
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });

  it("gives up after 24 h into the dead-letter queue, and disables after 3 days of failures", async () => {
    const hook = await createWebhook({ url: "https://hooks.test/down", events: ["nothing"] });
    answer = () => "network";
    const old = await pendingDelivery(hook.id, new Date(Date.now() - RETRY_WINDOW_MS - 1000).toISOString());
    const dlq = vi.spyOn(env.DELIVERIES_DLQ, "send");
    expect((await runBatch(old)).explicitAcks).toEqual(["m1"]);
    expect(dlq).toHaveBeenCalledWith(old);
    expect(await deliveryRow(old.delivery_id)).toMatchObject({
      status: "failed",
      last_error: expect.stringContaining("connection refused"),
    });
    expect((await json("GET", `/v1/webhooks/${hook.id}`)).body.active).toBe(true);

    await env.DB.prepare("UPDATE webhooks SET failing_since = ? WHERE id = ?")
      .bind(new Date(Date.now() - 3 * 24 * 3600 * 1000 - 1000).toISOString(), hook.id)
      .run();
    const fresh = await pendingDelivery(hook.id);
    expect((await runBatch(fresh)).explicitAcks).toEqual(["m1"]);
    expect((await json("GET", `/v1/webhooks/${hook.id}`)).body).toMatchObject({
      active: false,
      disabled_reason: "every delivery attempt failed for 3 days",
    });
    await call("DELETE", `/v1/webhooks/${hook.id}`);
  });
});

describe("webhook URLs in the audit log", () => {
  const SECRET_PARTS = ["T0KEN-in-path", "key=abc123", "SECRET-2", "x=y-secret"];

  it("audits a webhook's changes with its URL's origin only, never its path or query", async () => {
    const hook = await createWebhook({
      url: "https://hooks.test/services/T0KEN-in-path?key=abc123",
      events: ["nothing"],
    });
    expect(
      (await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { url: "https://hooks.test/SECRET-2?x=y-secret" } }))
        .status,
    ).toBe(200);
    // Disabled by the consumer (a 410): its audit event names the URL too.
    answer = () => 410;
    const event = {
      id: sortableId(),
      at: new Date().toISOString(),
      actor: "t",
      action: "rollback" as const,
      model: "m",
    };
    const row = deliveryFor(event, hook.id, event.at);
    await orm(env.DB).insert(webhookDeliveries).values(row);
    const batch = createMessageBatch<QueueMessage>("mreg-deliveries", [
      {
        id: "m1",
        timestamp: new Date(),
        attempts: 1,
        body: { kind: "delivery", delivery_id: row.id!, webhook_id: hook.id },
      },
    ]);
    await deliverBatch(batch, env);
    expect((await call("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);

    const stored = await env.DB.prepare(
      "SELECT action, actor, from_value, to_value, detail FROM audit_events WHERE action LIKE 'webhook.%' AND (from_value LIKE ? OR to_value LIKE ? OR detail LIKE ?) ORDER BY id",
    )
      .bind(`%${hook.id}%`, `%${hook.id}%`, `%${hook.id}%`)
      .all<Record<string, string | null>>();
    expect(stored.results.map((r) => `${r.action} ${r.actor}`)).toEqual([
      "webhook.create alice",
      "webhook.update alice",
      "webhook.update webhooks",
      "webhook.delete alice",
    ]);
    const text = JSON.stringify(stored.results);
    for (const part of SECRET_PARTS) expect(text).not.toContain(part);
    const parse = (v: string | null | undefined) => (v == null ? null : (JSON.parse(v) as { url?: string }));
    expect(stored.results.map((r) => [parse(r.from_value)?.url, parse(r.to_value)?.url, parse(r.detail)?.url])).toEqual(
      [
        [undefined, "https://hooks.test", undefined],
        ["https://hooks.test", "https://hooks.test", undefined],
        [undefined, undefined, "https://hooks.test"],
        ["https://hooks.test", undefined, undefined],
      ],
    );
  });

  it("shows events stored before that rule with origins only, through the API and the web UI", async () => {
    // As the routes and the consumer wrote them before: the whole URL.
    const id = sortableId();
    const url = "https://hooks.test/services/T0KEN-in-path?key=abc123";
    const old = [
      {
        id: `${id.slice(0, -1)}1`,
        action: "webhook.update",
        from: { id: "wh_OLD", url, events: [], models: [] },
        to: { id: "wh_OLD", url: "https://hooks.test/SECRET-2?x=y-secret", events: [], models: [] },
        detail: null,
      },
      {
        id: `${id.slice(0, -1)}2`,
        action: "webhook.update",
        from: null,
        to: null,
        detail: { id: "wh_OLD", url, active: false, disabled_reason: "the endpoint answered 410 Gone" },
      },
    ];
    for (const e of old) {
      await env.DB.prepare(
        "INSERT INTO audit_events (id, at, actor, action, model, from_value, to_value, detail) VALUES (?, ?, 'old', ?, '', ?, ?, ?)",
      )
        .bind(
          e.id,
          new Date().toISOString(),
          e.action,
          e.from && JSON.stringify(e.from),
          e.to && JSON.stringify(e.to),
          e.detail && JSON.stringify(e.detail),
        )
        .run();
    }
    const reader = await hsToken({ sub: "reader", scope: "read" });
    const listed = await json("GET", "/v1/audit?actor=old", { token: reader });
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(2);
    for (const part of SECRET_PARTS) expect(JSON.stringify(listed.body)).not.toContain(part);
    expect(
      listed.body.items.map((e: { from?: { url?: string }; to?: { url?: string }; detail?: { url?: string } }) => [
        e.from?.url,
        e.to?.url,
        e.detail?.url,
      ]),
    ).toEqual([
      [undefined, undefined, "https://hooks.test"],
      ["https://hooks.test", "https://hooks.test", undefined],
    ]);

    const signIn = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/sign-in", {
        method: "POST",
        body: new URLSearchParams({ token: reader, next: "/" }),
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
    );
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const page = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/audit?actor=old", { headers: { cookie } }),
    );
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("https://hooks.test");
    for (const part of SECRET_PARTS) expect(html).not.toContain(part);
  });
});
