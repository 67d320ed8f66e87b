/**
 * A delivery whose queue message is gone (the local queue keeps messages in memory, so a
 * crash of `npm start` drops them; test/chaos found rows left `pending` for good) is sent
 * again by the scheduled run once it is well overdue, and only then.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { webhookDeliveries } from "../src/db/schema";
import { orm } from "../src/db/session";
import { sortableId } from "../src/domain/ids";
import { STRANDED_AFTER_MS } from "../src/domain/webhook";
import { deliveryFor, requeueStranded } from "../src/events/dispatch";
import { json } from "./helpers";

describe("stranded deliveries", () => {
  it("re-queues pending deliveries overdue past STRANDED_AFTER_MS, leaves the rest", async () => {
    const hook = await json("POST", "/v1/webhooks", { body: { url: "https://hooks.test/stranded" } });
    expect(hook.status).toBe(201);
    const webhookId = (hook.body as { id: string }).id;
    const now = Date.now();
    const event = (id: string) => ({
      id,
      at: new Date(now).toISOString(),
      actor: "t",
      action: "model.create" as const,
      model: "m",
    });
    const overdue = {
      ...deliveryFor(event(sortableId()), webhookId, new Date(now - STRANDED_AFTER_MS - 60_000).toISOString()),
    };
    const due = { ...deliveryFor(event(sortableId()), webhookId, new Date(now - 1000).toISOString()) };
    const done = {
      ...deliveryFor(event(sortableId()), webhookId, new Date(now - STRANDED_AFTER_MS - 60_000).toISOString()),
      status: "delivered" as const,
    };
    const db = orm(env.DB);
    for (const row of [overdue, due, done]) await db.insert(webhookDeliveries).values(row);

    const sent: unknown[] = [];
    const queue = {
      sendBatch: async (messages: { body: unknown }[]) => void sent.push(...messages.map((m) => m.body)),
    };
    const count = await requeueStranded(
      { ...env, DELIVERIES: queue as unknown as typeof env.DELIVERIES },
      new Date(now),
    );
    expect(count).toBe(1);
    expect(sent).toEqual([{ kind: "delivery", delivery_id: overdue.id, webhook_id: webhookId }]);
    // Its clock moves on, so the next run does not send it again while this message is on its way.
    const row = await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, overdue.id)).get();
    expect(Date.parse(row!.nextAttemptAt!)).toBeGreaterThanOrEqual(now);
    expect(
      await requeueStranded({ ...env, DELIVERIES: queue as unknown as typeof env.DELIVERIES }, new Date(now)),
    ).toBe(0);
  });
});
