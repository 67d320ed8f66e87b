/**
 * Webhooks end to end: `npm start` (wrangler dev runs the queue and its consumer), a real
 * Node HTTP receiver, and every delivery verified with the official `standardwebhooks`
 * package, not our own code. Retries start after 1 s here (WEBHOOK_RETRY_BASE_S=1).
 */
import { createServer, type Server as HttpServer } from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until as waitUntil } from "../until";
import { freePort, startServer, token, type Server } from "./server";

interface Delivery {
  path: string;
  headers: Record<string, string>;
  body: string;
}

let server: Server;
let receiver: HttpServer;
let receiverBase: string;
let admin: Record<string, string>;
const received: Delivery[] = [];
/** Per path: how to answer the n-th request (1-based). */
const behaviour = new Map<string, (n: number) => number | "drop">();

beforeAll(async () => {
  const port = await freePort();
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const path = req.url ?? "/";
      const n = received.filter((d) => d.path === path).length + 1;
      const what = (behaviour.get(path) ?? (() => 200))(n);
      if (what === "drop") {
        req.socket.destroy();
        return;
      }
      received.push({ path, headers: req.headers as Record<string, string>, body });
      res.writeHead(what).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(port, "127.0.0.1", resolve));
  receiverBase = `http://127.0.0.1:${port}`;
  server = await startServer(["--var", "WEBHOOK_RETRY_BASE_S:1"]);
  admin = {
    authorization: `Bearer ${token("platform", "read write promote admin")}`,
    "content-type": "application/json",
  };
});

afterAll(() => {
  server?.stop();
  receiver?.close();
});

async function api<T = Record<string, any>>(method: string, path: string, body?: unknown): Promise<T> {
  // reason: each answer is checked by shape
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: admin,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** `until` (test/until.ts), saying on failure what the receiver got and what the server logged. */
function until<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs?: number,
): Promise<T> {
  return waitUntil(
    probe,
    () => `${what}; received: ${JSON.stringify(received.map((d) => d.path))}\n${server.output().slice(-3000)}`,
    { intervalMs: 200, ...(timeoutMs ? { timeoutMs } : {}) },
  );
}

async function hook(path: string, events: string[], models: string[]) {
  return api<{ id: string; secret: string }>("POST", "/v1/webhooks", { url: `${receiverBase}${path}`, events, models });
}

/** A model with `n` ready versions. */
async function modelWithVersions(name: string, n: number) {
  await api("POST", "/v1/models", { name });
  for (let v = 1; v <= n; v++) {
    await api("POST", `/v1/models/${name}/versions`, {});
    const put = await fetch(`${server.base}/v1/models/${name}/versions/${v}/files/w.bin`, {
      method: "PUT",
      headers: { authorization: admin.authorization! },
      body: `weights ${v}`,
    });
    expect(put.status).toBe(201);
    await api("POST", `/v1/models/${name}/versions/${v}/finalize`);
  }
}

const at = (path: string) => received.filter((d) => d.path === path);
const verify = (secret: string, d: Delivery) =>
  new Webhook(secret).verify(d.body, d.headers) as { type: string; data: Record<string, unknown> };

describe("webhooks through a real queue", () => {
  it("delivers promotions and rollbacks, signed", async () => {
    const { secret } = await hook("/promotions", ["alias.*", "rollback"], ["wh-fraud"]);
    await modelWithVersions("wh-fraud", 2);
    await api("PUT", "/v1/models/wh-fraud/aliases/production", { version: 1, reason: "first" });
    await api("PUT", "/v1/models/wh-fraud/aliases/production", { version: 2, reason: "second" });
    await api("POST", "/v1/models/wh-fraud/aliases/production/rollback", { reason: "3am" });
    await until(() => at("/promotions").length >= 3, "three deliveries");
    const events = at("/promotions").map((d) => verify(secret, d));
    expect(events.map((e) => e.type).sort()).toEqual(["alias.set", "alias.set", "rollback"]);
    expect(events.find((e) => e.type === "rollback")!.data).toMatchObject({
      model: "wh-fraud",
      alias: "production",
      reason: "3am",
      actor: "platform",
    });
    // Version creates and finalizes did not match `events`.
    expect(at("/promotions").every((d) => d.headers["webhook-id"] === verify(secret, d).data.id)).toBe(true);
  });

  it("retries a 500 three times and delivers on the fourth attempt with the same webhook-id", async () => {
    behaviour.set("/flaky", (n) => (n <= 3 ? 500 : 200));
    const { id, secret } = await hook("/flaky", ["alias.set"], ["wh-flaky"]);
    await modelWithVersions("wh-flaky", 1);
    await api("PUT", "/v1/models/wh-flaky/aliases/production", { version: 1 });
    await until(() => at("/flaky").length >= 4, "four attempts");
    const attempts = at("/flaky");
    expect(new Set(attempts.map((d) => d.headers["webhook-id"])).size).toBe(1);
    for (const d of attempts) expect(verify(secret, d).type).toBe("alias.set");
    const deliveries = await until(async () => {
      const page = await api<{ items: { status: string; attempts: number }[] }>("GET", `/v1/webhooks/${id}/deliveries`);
      return page.items[0]?.status === "delivered" ? page.items : null;
    }, "the delivered record");
    expect(deliveries[0]).toMatchObject({ status: "delivered", attempts: 4, last_status_code: 200 });
  });

  it("disables a webhook whose endpoint answers 410", async () => {
    behaviour.set("/gone", () => 410);
    const { id } = await hook("/gone", [], ["wh-gone"]);
    await api("POST", "/v1/models", { name: "wh-gone" });
    const disabled = await until(async () => {
      const w = await api<{ active: boolean; disabled_reason: string | null }>("GET", `/v1/webhooks/${id}`);
      return w.active ? null : w;
    }, "the webhook to be disabled");
    expect(disabled.disabled_reason).toBe("the endpoint answered 410 Gone");
    const audit = await api<{ items: { actor: string; action: string; reason: string }[] }>(
      "GET",
      "/v1/audit?action=webhook.update&actor=webhooks",
    );
    expect(audit.items[0]).toMatchObject({ reason: "the endpoint answered 410 Gone" });
  });

  it("signs with the old and the new secret during a rotation's overlap", async () => {
    const { id, secret: old } = await hook("/rotate", ["ping"], []);
    const { secret: fresh } = await api<{ secret: string }>("PATCH", `/v1/webhooks/${id}`, { rotate_secret: true });
    const { event_id } = await api<{ event_id: string }>("POST", `/v1/webhooks/${id}/ping`);
    const ping = await until(() => at("/rotate").find((d) => d.headers["webhook-id"] === event_id), "the ping");
    expect(verify(old, ping).type).toBe("ping");
    expect(verify(fresh, ping).type).toBe("ping");
  });

  it("loses nothing while the receiver is down: every audit event of the window arrives", async () => {
    let down = true;
    const outageFrom = Date.now();
    behaviour.set("/down", () => (down ? "drop" : 200));
    const { id, secret } = await hook("/down", [], ["wh-down"]);
    await modelWithVersions("wh-down", 3);
    await api("PUT", "/v1/models/wh-down/aliases/production", { version: 1 });
    await api("PUT", "/v1/models/wh-down/aliases/production", { version: 3 });
    await api("POST", "/v1/models/wh-down/aliases/production/rollback", { reason: "down test" });
    await api("PATCH", "/v1/models/wh-down/versions/2", { tags: { keep: "true" } });
    const audit = await api<{ items: { id: string }[] }>("GET", "/v1/audit?model=wh-down&limit=200");
    const want = new Set(audit.items.map((e) => e.id));
    // model.create; version.create, file.add, version.finalize × 3; alias.set × 2; rollback; version.update.
    expect(want.size).toBe(14);
    const records = async () =>
      (await api<{ items: DeliveryRecord[] }>("GET", `/v1/webhooks/${id}/deliveries?limit=200`)).items.filter((d) =>
        want.has(d.event_id),
      );
    // The outage lasts until every event's delivery has been refused at least once and waits
    // for its next attempt, not for a fixed time: on a busy machine the consumer may reach the
    // last event long after the first.
    const refused = await until(
      async () => {
        const seen = await records();
        return (
          seen.length === want.size &&
          seen.every((d) => d.status === "pending" && d.attempts >= 1 && d.next_attempt_at !== null) &&
          seen
        );
      },
      "a refused attempt of every event's delivery",
      300_000,
    );
    down = false;
    const upAt = Date.now();
    // Each arrives at its next attempt, however far the backoff has pushed it by now (1 s
    // doubling: about as far again as the outage lasted); the window only catches a hang. A
    // delivery that stopped being pending without arriving is lost: that fails at once.
    const arrived = (eventId: string) => at("/down").some((d) => d.headers["webhook-id"] === eventId);
    await until(
      async () => {
        if ([...want].every(arrived)) return true;
        const lost = (await records()).filter((d) => d.status !== "pending" && !arrived(d.event_id));
        if (lost.length > 0) throw new Error(`deliveries that ended without arriving: ${JSON.stringify(lost)}`);
        return false;
      },
      "every event of the window",
      300_000,
    ).catch(async (err: Error) => {
      throw new Error(
        `${err.message}\nthe deliveries still waiting: ${JSON.stringify((await records()).filter((d) => !arrived(d.event_id)))}`,
      );
    });
    console.log(
      `webhooks: the receiver was down ${upAt - outageFrom} ms (up to ${Math.max(...refused.map((d) => d.attempts))} refused attempts a delivery), ` +
        `then every event arrived within ${Date.now() - upAt} ms`,
    );
    for (const d of at("/down")) verify(secret, d);
  }, 900_000);
});

interface DeliveryRecord {
  event_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  next_attempt_at: string | null;
}
