/**
 * A webhook PATCH never loses a concurrent change (API.md "Events (webhooks)"): it is one
 * conditional update, and the loser of a race answers 409 `conflict` and writes nothing (no
 * change, no audit event, no event for webhooks). Races are made certain, not hoped for:
 * the requests' D1 batches are held until every racer has read the row.
 */
import { createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook as Verifier } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { webhookDeliveries } from "../src/db/schema";
import { orm } from "../src/db/session";
import { sortableId } from "../src/domain/ids";
import { deliverBatch } from "../src/events/deliver";
import type { QueueMessage } from "../src/domain/queue-message";
import { deliveryFor } from "../src/events/dispatch";
import { json } from "./helpers";
import { until } from "./until";

let received: { headers: Record<string, string>; body: string }[] = [];
let status = 200;

beforeEach(() => {
  received = [];
  status = 200;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    received.push({ headers: Object.fromEntries(request.headers), body: await request.text() });
    return new Response("ok", { status });
  });
});
afterEach(() => vi.restoreAllMocks());

const tick = () => new Promise((r) => setTimeout(r, 5));

/**
 * Holds the next `n` D1 batches (every write of these routes is one batch) until all `n`
 * have arrived (`autoRelease`) or `release()` is called; later batches pass. Every waiter
 * polls from its own request (workerd refuses a request's I/O continued from another's).
 */
function holdBatches(n: number, autoRelease: boolean) {
  let held = 0;
  let released = false;
  const real = env.DB.withSession.bind(env.DB);
  vi.spyOn(env.DB, "withSession").mockImplementation((constraint) => {
    const session = real(constraint);
    return new Proxy(session, {
      get(target, prop) {
        if (prop === "batch" && held < n) {
          return async (statements: D1PreparedStatement[]) => {
            held++;
            const deadline = Date.now() + 10_000;
            while (!released && !(autoRelease && held >= n) && Date.now() < deadline) await tick();
            return target.batch(statements);
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  });
  return {
    /** Resolves once all `n` batches wait. */
    arrived: (async () => {
      while (held < n) await tick();
    })(),
    release: () => {
      released = true;
    },
  };
}

async function createHook(events: string[]) {
  const res = await json("POST", "/v1/webhooks", { body: { url: "https://hooks.test/race", events } });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string };
}

const auditCount = async (id: string, action: string) =>
  (await env.DB.prepare(
    "SELECT count(*) AS n FROM audit_events WHERE action = ? AND (from_value LIKE ? OR detail LIKE ?)",
  )
    .bind(action, `%${id}%`, `%${id}%`)
    .first<{ n: number }>())!.n;

describe("racing webhook changes", () => {
  it("lets exactly one of 6 concurrent rotations win; the others answer 409 and change nothing", async () => {
    const hook = await createHook(["ping"]);
    const { release } = holdBatches(6, true);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => json("PATCH", `/v1/webhooks/${hook.id}`, { body: { rotate_secret: true } })),
    );
    release();
    vi.mocked(env.DB.withSession).mockRestore();
    const winners = answers.filter((a) => a.status === 200);
    const losers = answers.filter((a) => a.status !== 200);
    expect(winners).toHaveLength(1);
    expect(losers.map((a) => [a.status, a.body.code])).toEqual(Array.from({ length: 5 }, () => [409, "conflict"]));
    expect(await auditCount(hook.id, "webhook.update")).toBe(1);

    // The stored secret is the winner's: a delivery verifies with it (and with the original,
    // for the overlap), and with no loser's.
    const ping = await json("POST", `/v1/webhooks/${hook.id}/ping`);
    expect(ping.status).toBe(202);
    const got = await until(() => received.find((r) => r.headers["webhook-id"] === ping.body.event_id), "the ping");
    new Verifier(winners[0]!.body.secret).verify(got.body, got.headers);
    new Verifier(hook.secret).verify(got.body, got.headers);
    expect(got.headers["webhook-signature"]!.split(" ")).toHaveLength(2);

    // A rotation after the race, from the winner's state, succeeds.
    expect((await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { rotate_secret: true } })).status).toBe(200);
  });

  it("answers 409 to a PATCH that raced the system's disable, which stays; only `active: true` re-enables", async () => {
    const hook = await createHook(["nothing"]);
    const { arrived, release } = holdBatches(1, false);
    const patch = json("PATCH", `/v1/webhooks/${hook.id}`, { body: { description: "read before the disable" } });
    await arrived;
    // Meanwhile the endpoint answers 410 to a delivery: the consumer disables the webhook.
    status = 410;
    const event = {
      id: sortableId(),
      at: new Date().toISOString(),
      actor: "t",
      action: "rollback" as const,
      model: "m",
    };
    const row = deliveryFor(event, hook.id, event.at);
    await orm(env.DB).insert(webhookDeliveries).values(row);
    await deliverBatch(
      createMessageBatch<QueueMessage>("mreg-deliveries", [
        {
          id: "m1",
          timestamp: new Date(),
          attempts: 1,
          body: { kind: "delivery", delivery_id: row.id!, webhook_id: hook.id },
        },
      ]),
      env,
    );
    release();
    const answer = await patch;
    vi.mocked(env.DB.withSession).mockRestore();
    expect([answer.status, answer.body.code]).toEqual([409, "conflict"]);
    expect((await json("GET", `/v1/webhooks/${hook.id}`)).body).toMatchObject({
      active: false,
      disabled_reason: "the endpoint answered 410 Gone",
      description: null,
    });

    // Read after the disable: a change that does not mention `active` leaves it disabled.
    const later = await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { description: "after" } });
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({
      active: false,
      disabled_reason: "the endpoint answered 410 Gone",
      description: "after",
    });
    const enabled = await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { active: true } });
    expect(enabled.body).toMatchObject({ active: true, disabled_reason: null });
  });

  it("bumps the revision on every write of the consumer too (since when deliveries fail, and their recovery)", async () => {
    const hook = await createHook(["nothing"]);
    const revision = async () =>
      (await env.DB.prepare("SELECT revision, failing_since FROM webhooks WHERE id = ?")
        .bind(hook.id)
        .first<{ revision: number; failing_since: string | null }>())!;
    const attempt = async (n: number) => {
      const event = {
        id: sortableId(),
        at: new Date().toISOString(),
        actor: "t",
        action: "rollback" as const,
        model: "m",
      };
      const row = deliveryFor(event, hook.id, event.at);
      await orm(env.DB).insert(webhookDeliveries).values(row);
      await deliverBatch(
        createMessageBatch<QueueMessage>("mreg-deliveries", [
          {
            id: `m${n}`,
            timestamp: new Date(),
            attempts: 1,
            body: { kind: "delivery", delivery_id: row.id!, webhook_id: hook.id },
          },
        ]),
        env,
      );
    };
    expect(await revision()).toEqual({ revision: 0, failing_since: null });
    status = 503;
    await attempt(1);
    expect(await revision()).toMatchObject({ revision: 1, failing_since: expect.any(String) });
    await attempt(2); // already failing: nothing to write
    expect((await revision()).revision).toBe(1);
    status = 200;
    await attempt(3);
    expect(await revision()).toEqual({ revision: 2, failing_since: null });
    expect((await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { description: "x" } })).status).toBe(200);
    expect((await revision()).revision).toBe(3);
  });

  it("writes the system's disable once, even when two deliveries see a 410", async () => {
    const hook = await createHook(["nothing"]);
    status = 410;
    const messages = [];
    for (const n of [1, 2]) {
      const event = {
        id: sortableId(),
        at: new Date().toISOString(),
        actor: "t",
        action: "rollback" as const,
        model: "m",
      };
      const row = deliveryFor(event, hook.id, event.at);
      await orm(env.DB).insert(webhookDeliveries).values(row);
      messages.push({
        id: `m${n}`,
        timestamp: new Date(),
        attempts: 1,
        body: { kind: "delivery", delivery_id: row.id!, webhook_id: hook.id } as QueueMessage,
      });
    }
    await deliverBatch(createMessageBatch<QueueMessage>("mreg-deliveries", messages), env);
    expect(await auditCount(hook.id, "webhook.update")).toBe(1);
    expect((await json("GET", `/v1/webhooks/${hook.id}`)).body.active).toBe(false);
  });

  it("answers 409 to a DELETE that raced a change, and 404 to a PATCH that raced a DELETE", async () => {
    const hook = await createHook(["nothing"]);
    const { arrived, release } = holdBatches(1, false);
    const deletion = json("DELETE", `/v1/webhooks/${hook.id}`);
    await arrived;
    vi.mocked(env.DB.withSession).mockRestore();
    expect((await json("PATCH", `/v1/webhooks/${hook.id}`, { body: { events: ["rollback"] } })).status).toBe(200);
    release();
    expect((await deletion).status).toBe(409);
    expect((await json("GET", `/v1/webhooks/${hook.id}`)).body.events).toEqual(["rollback"]);

    const hold = holdBatches(1, false);
    const patch = json("PATCH", `/v1/webhooks/${hook.id}`, { body: { description: "late" } });
    await hold.arrived;
    vi.mocked(env.DB.withSession).mockRestore();
    expect((await json("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);
    hold.release();
    expect((await patch).status).toBe(404);
    expect(await auditCount(hook.id, "webhook.delete")).toBe(1);
    expect(await auditCount(hook.id, "webhook.update")).toBe(1);
  });
});
