/**
 * Every job of the scheduled run keeps within its calls and resumes where the last run stopped
 * (docs/operations.md "9. Limits: what a deployment meets"; src/cron/run.ts): given more work than
 * one run's calls allow, a run stops at its budget, and the next runs finish the work. The
 * cleanup's own sweeps are test/cleanup-budget.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { collectBundles } from "../src/artifacts/signature-bundles";
import { SIGNATURE_PREFIX } from "../src/artifacts/keys";
import { CRON_CALLS, CRON_TOTAL_CALLS } from "../src/cron/run";
import { pendingEvents, signingKeys, signingKeyUses, tokens, webhookDeliveries } from "../src/db/schema";
import { orm } from "../src/db/session";
import { CallBudget } from "../src/domain/call-budget";
import { sortableId } from "../src/domain/ids";
import { STRANDED_AFTER_MS } from "../src/domain/webhook";
import type { Env } from "../src/env";
import { deliveryFor, dispatchPending, requeueStranded } from "../src/events/dispatch";
import { applyRetention } from "../src/retention/apply";
import { finishDeletions } from "../src/signing/revocation";
import { pruneExpiredTokens } from "../src/tokens/store";
import { json, modelWithReady } from "./helpers";

/** Queue messages go where nothing consumes them: what a run sends is all it does. */
const quietEnv = { ...env, DELIVERIES: env.DELIVERIES_DLQ } as Env;
const db = orm(env.DB);

/** Runs `run` with a fresh budget of `max` calls until it reports nothing done: each run's calls and result. */
async function runs(max: number, run: (calls: CallBudget) => Promise<number>) {
  const done: { calls: number; result: number }[] = [];
  for (let i = 0; i < 50; i++) {
    const calls = new CallBudget(max);
    const result = await run(calls);
    done.push({ calls: calls.spent, result });
    if (result === 0) return done;
  }
  throw new Error("the runs never finished");
}

const count = async (table: string) =>
  (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;

describe("the scheduled run's calls", () => {
  it("add up to under the 1,000 queries D1 allows a Workers Paid invocation", () => {
    expect(CRON_TOTAL_CALLS).toBe(Object.values(CRON_CALLS).reduce((a, b) => a + b, 0));
    expect(CRON_TOTAL_CALLS).toBeLessThan(1000);
  });
});

describe("each job within its budget, the next run going on", () => {
  it("retention: two models a run of 15 calls, in name order from where the last run stopped", async () => {
    const models = ["cb-ret-a", "cb-ret-b", "cb-ret-c", "cb-ret-d", "cb-ret-e"];
    for (const m of models) {
      await modelWithReady(m, 2);
      expect((await json("PUT", `/v1/models/${m}/retention`, { body: { keep_last: 1 } })).status).toBe(200);
    }
    const versionsLeft = async () =>
      Promise.all(models.map(async (m) => (await json("GET", `/v1/models/${m}/versions`)).body.items.length as number));
    expect(await versionsLeft()).toEqual([2, 2, 2, 2, 2]);
    const now = new Date();
    const first = new CallBudget(15);
    expect((await applyRetention(env, now, first)).models).toBe(2);
    expect(first.spent).toBeLessThanOrEqual(15);
    expect(await versionsLeft()).toEqual([1, 1, 2, 2, 2]);
    const second = new CallBudget(15);
    expect((await applyRetention(env, now, second)).models).toBe(2);
    expect(second.spent).toBeLessThanOrEqual(15);
    expect(await versionsLeft()).toEqual([1, 1, 1, 1, 2]);
    const third = new CallBudget(15);
    expect((await applyRetention(env, now, third)).models).toBe(1);
    expect(await versionsLeft()).toEqual([1, 1, 1, 1, 1]);
    // The pass reached the end: the next starts from the first model again.
    const cursor = await env.DB.prepare("SELECT after FROM sweep_cursors WHERE sweep = 'retention'").first();
    expect(cursor?.after).toBeNull();
  });

  it("dispatchPending: 200 leftover registry events, 180 a run of 6 calls, the rest the next run, in order", async () => {
    const ids = Array.from({ length: 200 }, () => sortableId());
    for (const id of ids) {
      const event = { id, at: new Date().toISOString(), actor: "t", action: "token.create", model: null };
      await db.insert(pendingEvents).values({ id, payload: JSON.stringify(event) });
    }
    const done = await runs(6, (calls) => dispatchPending(quietEnv, calls));
    expect(done.map((d) => d.result)).toEqual([180, 20, 0]);
    for (const d of done) expect(d.calls).toBeLessThanOrEqual(6);
    expect(await count("pending_events")).toBe(0);
  });

  it("requeueStranded: 200 stranded deliveries, 90 a run of 4 calls, each re-queued once", async () => {
    const now = Date.now();
    const old = new Date(now - STRANDED_AFTER_MS - 60_000).toISOString();
    for (let i = 0; i < 200; i++) {
      const event = { id: sortableId(), at: old, actor: "t", action: "model.create" as const, model: "m" };
      await db.insert(webhookDeliveries).values(deliveryFor(event, "wh_stranded", old));
    }
    const done = await runs(4, (calls) => requeueStranded(quietEnv, new Date(now), calls));
    expect(done.map((d) => d.result)).toEqual([90, 90, 20, 0]);
    for (const d of done) expect(d.calls).toBeLessThanOrEqual(4);
  });

  it("pruneExpiredTokens: 12 expired rows, 10 a run of 2 statements of 5, the rest the next run; live rows stay", async () => {
    const row = (id: string, expiresAt: string) => ({
      id,
      sub: "t",
      scope: "read",
      createdAt: "2026-01-01T00:00:00.000Z",
      createdBy: "admin",
      expiresAt,
    });
    for (let i = 0; i < 12; i++) await db.insert(tokens).values(row(`tok_cbexpired${i}`, "2026-01-02T00:00:00.000Z"));
    await db.insert(tokens).values(row("tok_cblive", "2999-01-01T00:00:00.000Z"));
    const before = await count("tokens");
    const done = await runs(2, (calls) => pruneExpiredTokens(env.DB, "2026-06-01T00:00:00.000Z", calls, 5));
    expect(done.map((d) => d.result)).toEqual([10, 2, 0]);
    for (const d of done) expect(d.calls).toBeLessThanOrEqual(2);
    expect(await count("tokens")).toBe(before - 12);
    expect(await db.select().from(tokens).all()).toContainEqual(expect.objectContaining({ id: "tok_cblive" }));
  });

  it("finishDeletions: a deleted key used in 5 models, 2 told a run of 5 calls, the key gone after the last", async () => {
    const models = ["cb-key-a", "cb-key-b", "cb-key-c", "cb-key-d", "cb-key-e"];
    for (const m of models) await modelWithReady(m, 1);
    const at = new Date().toISOString();
    await db.insert(signingKeys).values({
      id: "sk_cbdeleted",
      name: "cb-deleted",
      kind: "identity",
      identityIssuer: "https://issuer.example",
      identitySubject: "ci@example.com",
      createdAt: at,
      createdBy: "admin",
      deletedAt: at,
    });
    for (const model of models) await db.insert(signingKeyUses).values({ keyId: "sk_cbdeleted", model });
    const uses = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM signing_key_uses WHERE key_id = 'sk_cbdeleted'").first<{
        n: number;
      }>())!.n;
    const keyRow = () => env.DB.prepare("SELECT 1 FROM signing_keys WHERE id = 'sk_cbdeleted'").first();

    const first = new CallBudget(5);
    expect(await finishDeletions(env, new Date(), first)).toBe(0);
    expect(first.spent).toBeLessThanOrEqual(5);
    expect(await uses()).toBe(3);
    expect(await keyRow()).not.toBeNull();
    const second = new CallBudget(5);
    expect(await finishDeletions(env, new Date(), second)).toBe(0);
    expect(await uses()).toBe(1);
    const third = new CallBudget(5);
    expect(await finishDeletions(env, new Date(), third)).toBe(1);
    expect(third.spent).toBeLessThanOrEqual(5);
    expect(await uses()).toBe(0);
    expect(await keyRow()).toBeNull();
  });

  it("collectBundles: 30 bundles nobody holds, a few a run of 40 calls, the listing going on where it stopped", async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `${SIGNATURE_PREFIX}${i.toString(16).padStart(64, "0")}`);
    for (const key of keys) await env.ARTIFACTS.put(key, "{}");
    const later = new Date(Date.now() + 3 * 3600 * 1000);
    const cursors: (string | null)[] = [];
    const done = await runs(40, async (calls) => {
      const deleted = await collectBundles(env, later, calls, 8);
      const row = await env.DB.prepare("SELECT after FROM sweep_cursors WHERE sweep = 'bundles'").first<{
        after: string | null;
      }>();
      cursors.push(row?.after ?? null);
      return deleted;
    });
    for (const d of done) expect(d.calls).toBeLessThanOrEqual(40);
    expect(done.length).toBeGreaterThan(2);
    expect(done.reduce((n, d) => n + d.result, 0)).toBe(30);
    for (const key of keys) expect(await env.ARTIFACTS.head(key)).toBeNull();
    // Each run that stopped saved a key further on than the last one's.
    const saved = cursors.filter((c) => c !== null);
    for (let i = 1; i < saved.length; i++) expect(saved[i]! > saved[i - 1]!).toBe(true);
  });
});
