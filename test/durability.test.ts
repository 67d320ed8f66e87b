/**
 * What survives a crash or a race: the outbox across eviction, the model's existence decided
 * in its ModelState (deletes racing creates, re-creation keeping counters), bounded state
 * (idempotency keys, ended uploads), and costs that grow with the change, not the version.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cleanup } from "../src/artifacts/cleanup";
import { modelState } from "../src/model-writes/stub";
import type { ModelState } from "../src/state/model-state";
import { call, createModel, createVersion, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

type Instance = { env: typeof env; ctx: DurableObjectState };

/** Replaces the object's D1 binding; returns the real one. */
async function swapD1(model: string, make: (real: D1Database) => D1Database): Promise<D1Database> {
  return runInDurableObject(modelStub(model), (instance: ModelState) => {
    // reason: swapping the object's D1 binding is how an outage or a meter is injected.
    const target = instance as unknown as Instance;
    const real = target.env.DB;
    target.env = { ...target.env, DB: make(real) };
    return real;
  });
}

const withBatch = (real: D1Database, batch: (statements: D1PreparedStatement[]) => Promise<D1Result[]>): D1Database =>
  new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === "batch") return batch;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

const actor = (model: string, at = new Date().toISOString()) => ({ model, actor: "tester", at });

describe("the outbox across eviction", () => {
  it("arms the alarm in the commit itself, so a change is projected even if the object dies before its flush", async () => {
    await createModel("d-evict");
    const stub = modelState(env, "d-evict");
    const raw = modelStub("d-evict");
    // D1 stalls, then fails: the write commits, then its flush waits (the window in which a
    // crash loses the change unless something already promises to project it).
    await swapD1("d-evict", (real) =>
      withBatch(
        real,
        () => new Promise<D1Result[]>((_, reject) => setTimeout(() => reject(new Error("D1 went away")), 400)),
      ),
    );
    const write = stub.createVersion({
      ...actor("d-evict"),
      description: null,
      tags: { crash: "yes" },
      metrics: {},
      lineage: {},
    });
    await until(async () => (await stub.outboxDepth()) > 0, "the write to reach the outbox", { intervalMs: 10 });
    expect(await stub.outboxDepth()).toBe(2);
    // Mid-flush: the alarm is already set, so an object evicted now still drains on its alarm.
    const alarm = await runInDurableObject(raw, (instance: ModelState) =>
      (instance as unknown as Instance).ctx.storage.getAlarm(),
    );
    expect(alarm).not.toBeNull();
    expect((await write).ok).toBe(true);
    await evictDurableObject(raw);
    // A fresh instance, with the real D1: the alarm drains what the dead flush left.
    expect(await runDurableObjectAlarm(raw)).toBe(true);
    expect(await stub.outboxDepth()).toBe(0);
    const got = await json("GET", "/v1/models/d-evict/versions/1");
    expect(got.status).toBe(200);
    expect(got.body.tags).toEqual({ crash: "yes" });
    const events = await env.DB.prepare("SELECT action FROM audit_events WHERE model = 'd-evict' ORDER BY id").all<{
      action: string;
    }>();
    expect(events.results.map((e) => e.action)).toEqual(["model.create", "version.create"]);
  });

  it("drains on start-up what a previous life left in the outbox", async () => {
    await createModel("d-start");
    const stub = modelState(env, "d-start");
    const raw = modelStub("d-start");
    await swapD1("d-start", (real) => withBatch(real, () => Promise.reject(new Error("D1 is down"))));
    expect(
      (await stub.createVersion({ ...actor("d-start"), description: null, tags: {}, metrics: {}, lineage: {} })).ok,
    ).toBe(true);
    // The alarm is lost (as if it were cleared); a new life finds the outbox and arms it again.
    await runInDurableObject(raw, (instance: ModelState) =>
      (instance as unknown as Instance).ctx.storage.deleteAlarm(),
    );
    await evictDurableObject(raw);
    expect(await stub.outboxDepth()).toBe(2);
    expect(await runDurableObjectAlarm(raw)).toBe(true);
    expect(await stub.outboxDepth()).toBe(0);
    expect((await json("GET", "/v1/models/d-start/versions/1")).status).toBe(200);
  });

  it("finishes each write's flush while other writes keep arriving", async () => {
    await createModel("d-busy");
    const stub = modelState(env, "d-busy");
    let batches = 0;
    // A slow D1: every batch takes 30 ms, so writes pile up behind each flush.
    await swapD1("d-busy", (real) =>
      withBatch(real, async (statements) => {
        batches += 1;
        await new Promise((r) => setTimeout(r, 30));
        return real.batch(statements);
      }),
    );
    const writes = Array.from({ length: 40 }, (_, i) =>
      stub.createVersion({ ...actor("d-busy"), description: null, tags: { i: String(i) }, metrics: {}, lineage: {} }),
    );
    const done = await Promise.all(writes);
    expect(done.every((o) => o.ok)).toBe(true);
    expect(await stub.outboxDepth()).toBe(0);
    // Flushes share batches: far fewer batches than writes.
    expect(batches).toBeLessThan(40);
    expect((await json("GET", "/v1/models/d-busy/versions?limit=200")).body.items).toHaveLength(40);
  });
});

describe("a model deleted and created again", () => {
  it("goes on numbering versions and generations, so no URI or ETag names two things", async () => {
    await createModel("d-again");
    await readyVersion("d-again", { "w.bin": new TextEncoder().encode("old one") });
    await readyVersion("d-again", { "w.bin": new TextEncoder().encode("old two") });
    await json("PUT", "/v1/models/d-again/aliases/prod", { body: { version: 2 } });
    const old = await call("GET", "/v1/models/d-again/aliases/prod");
    const oldEtag = old.headers.get("etag")!;
    expect(oldEtag).toBe('"1"');
    await json("DELETE", "/v1/models/d-again/aliases/prod");
    expect((await call("DELETE", "/v1/models/d-again")).status).toBe(204);
    expect((await json("GET", "/v1/resolve?uri=registry://d-again/2")).status).toBe(404);

    await createModel("d-again");
    const v = await readyVersion("d-again", { "w.bin": new TextEncoder().encode("new") });
    expect(v.version).toBe(3);
    expect((await json("GET", "/v1/resolve?uri=registry://d-again/2")).status).toBe(404);
    const set = await json("PUT", "/v1/models/d-again/aliases/prod", { body: { version: 3 } });
    expect(set.body.generation).toBe(3);
    // A serving node still holding the old model's ETag gets the new content, not a 304.
    const fresh = await call("GET", "/v1/models/d-again/aliases/prod", { headers: { "if-none-match": oldEtag } });
    expect(fresh.status).toBe(200);
    expect(((await fresh.json()) as { version: number }).version).toBe(3);
    expect((await json("GET", "/v1/models/d-again/aliases/prod/history")).body.items).toHaveLength(1);
  });

  it("never lets a version create racing the delete leave a ghost", async () => {
    for (let round = 0; round < 5; round++) {
      const name = `d-race-${round}`;
      await createModel(name);
      await createVersion(name);
      const results = await Promise.all([
        ...Array.from({ length: 6 }, () => call("POST", `/v1/models/${name}/versions`, { body: {} })),
        call("DELETE", `/v1/models/${name}`),
        ...Array.from({ length: 6 }, () => call("POST", `/v1/models/${name}/versions`, { body: {} })),
      ]);
      expect(results[6]!.status).toBe(204);
      for (const res of [...results.slice(0, 6), ...results.slice(7)]) expect([201, 404]).toContain(res.status);
      // Nothing of the model is left, in D1 or in its object.
      const rows = await env.DB.prepare("SELECT count(*) AS n FROM versions WHERE model = ?")
        .bind(name)
        .first<{ n: number }>();
      expect(rows!.n, name).toBe(0);
      expect((await json("GET", `/v1/models/${name}`)).status).toBe(404);
      const left = await runInDurableObject(modelStub(name), (instance: ModelState) =>
        (instance as unknown as Instance).ctx.storage.sql.exec("SELECT count(*) AS n FROM versions").one(),
      );
      expect(left.n).toBe(0);
      // Creating a version now is refused: the model does not exist.
      expect((await call("POST", `/v1/models/${name}/versions`, { body: {} })).status).toBe(404);
    }
  });

  it("refuses a create that passed every check outside the object before the delete", async () => {
    await createModel("d-late");
    expect((await call("DELETE", "/v1/models/d-late")).status).toBe(204);
    // The slow request: it looked before the delete, and reaches the object after it.
    const late = await modelState(env, "d-late").createVersion({
      ...actor("d-late"),
      description: null,
      tags: {},
      metrics: {},
      lineage: {},
    });
    expect(late.ok).toBe(false);
    expect(!late.ok && late.code).toBe("not_found");
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM versions WHERE model = 'd-late'").first<{
      n: number;
    }>();
    expect(rows!.n).toBe(0);
  });
});

describe("bounded state", () => {
  it("forgets Idempotency-Keys after 24 hours", async () => {
    await createModel("d-keys");
    const stub = modelState(env, "d-keys");
    const raw = modelStub("d-keys");
    const body = { description: null, tags: {}, metrics: {}, lineage: {} };
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000).toISOString();
    const first = await stub.createVersion({
      ...actor("d-keys", dayAgo),
      ...body,
      idempotency: { key: "k-old", requestHash: "h" },
    });
    const replay = await stub.createVersion({
      ...actor("d-keys", dayAgo),
      ...body,
      idempotency: { key: "k-old", requestHash: "h" },
    });
    expect(replay.ok && replay.replayed && replay.value.version).toBe(first.ok && first.value.version);
    await stub.createVersion({ ...actor("d-keys"), ...body, idempotency: { key: "k-new", requestHash: "h" } });
    const keys = await runInDurableObject(raw, (instance: ModelState) =>
      (instance as unknown as Instance).ctx.storage.sql
        .exec<{ key: string }>("SELECT key FROM idempotency ORDER BY key")
        .toArray(),
    );
    expect(keys.map((k) => k.key)).toEqual(["k-new"]);
  });

  it("keeps an ended upload until its TTL, then forgets it", async () => {
    await createModel("d-uploads");
    const { version } = await createVersion("d-uploads");
    const open = await json("POST", `/v1/models/d-uploads/versions/${version}/uploads`, {
      body: { path: "a", size: 6 * 1024 * 1024, sha256: "a".repeat(64) },
    });
    expect(
      (await call("DELETE", `/v1/models/d-uploads/versions/${version}/uploads/${open.body.upload_id}`)).status,
    ).toBe(204);
    expect(
      (await json("GET", `/v1/models/d-uploads/versions/${version}/uploads/${open.body.upload_id}`)).body.status,
    ).toBe("aborted");
    // Past its TTL, the next upload of the model prunes it.
    const stub = modelStub("d-uploads");
    await runInDurableObject(stub, (instance: ModelState) => {
      (instance as unknown as Instance).ctx.storage.sql.exec(
        "UPDATE uploads SET expires_at = '2000-01-01T00:00:00.000Z'",
      );
    });
    await json("POST", `/v1/models/d-uploads/versions/${version}/uploads`, {
      body: { path: "b", size: 6 * 1024 * 1024, sha256: "b".repeat(64) },
    });
    expect((await json("GET", `/v1/models/d-uploads/versions/${version}/uploads/${open.body.upload_id}`)).status).toBe(
      404,
    );
  });

  it("audits uploads: open, abort, fail, and a completed one as its file.add", async () => {
    await createModel("d-audit");
    const { version } = await createVersion("d-audit");
    const base = `/v1/models/d-audit/versions/${version}/uploads`;
    const data = new Uint8Array(5 * 1024 * 1024 + 1).fill(7);
    const sha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const aborted = await json("POST", base, { body: { path: "x", size: data.length, sha256: sha } });
    await call("DELETE", `${base}/${aborted.body.upload_id}`);
    const failed = await json("POST", base, { body: { path: "y", size: data.length, sha256: "c".repeat(64) } });
    for (const n of [1, 2])
      await call("PUT", `${base}/${failed.body.upload_id}/parts/${n}`, {
        rawBody: n === 1 ? data.slice(0, 5 * 1024 * 1024) : data.slice(5 * 1024 * 1024),
      });
    expect((await json("POST", `${base}/${failed.body.upload_id}/complete`)).status).toBe(422);
    const good = await json("POST", base, { body: { path: "z", size: data.length, sha256: sha } });
    for (const n of [1, 2])
      await call("PUT", `${base}/${good.body.upload_id}/parts/${n}`, {
        rawBody: n === 1 ? data.slice(0, 5 * 1024 * 1024) : data.slice(5 * 1024 * 1024),
      });
    expect((await json("POST", `${base}/${good.body.upload_id}/complete`)).status).toBe(200);

    const events = (await json("GET", "/v1/audit?model=d-audit&limit=200")).body.items as {
      action: string;
      detail?: { upload_id?: string };
    }[];
    const uploadEvents = events.filter((e) => e.action.startsWith("upload.") || e.action === "file.add").reverse();
    expect(uploadEvents.map((e) => [e.action, e.detail?.upload_id])).toEqual([
      ["upload.open", aborted.body.upload_id],
      ["upload.abort", aborted.body.upload_id],
      ["upload.open", failed.body.upload_id],
      ["upload.fail", failed.body.upload_id],
      ["upload.open", good.body.upload_id],
      ["file.add", good.body.upload_id],
    ]);
  });
});

describe("blob collection", () => {
  it("never deletes bytes whose reference is still in a model's outbox", async () => {
    await createModel("d-stalled");
    const { version } = await createVersion("d-stalled");
    // D1 refuses this model's projection: the file is attached in its object, not in D1.
    await swapD1("d-stalled", (real) => withBatch(real, () => Promise.reject(new Error("D1 refuses this model"))));
    const data = new TextEncoder().encode("bytes only the outbox knows about");
    expect((await call("PUT", `/v1/models/d-stalled/versions/${version}/files/w.bin`, { rawBody: data })).status).toBe(
      201,
    );
    const sha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const row = await env.DB.prepare("SELECT count(*) AS n FROM version_files WHERE sha256 = ?")
      .bind(sha)
      .first<{ n: number }>();
    expect(row!.n).toBe(0);
    // Two collector runs a grace period apart: D1 shows no reference, the model's object does.
    const now = Date.now();
    await cleanup(env, new Date(now));
    await cleanup(env, new Date(now + 3 * 3600 * 1000));
    expect(await env.DB.prepare("SELECT count(*) AS n FROM blobs WHERE sha256 = ?").bind(sha).first("n")).toBe(1);
    expect(await env.ARTIFACTS.head(`blobs/sha256/${sha}`)).not.toBeNull();
  });

  it("gives bytes a full grace period after their last reference goes, though a run marked them while D1 trailed", async () => {
    await createModel("d-late-ref");
    const { version } = await createVersion("d-late-ref");
    const real = await swapD1("d-late-ref", (d1) =>
      withBatch(d1, () => Promise.reject(new Error("D1 trails this model"))),
    );
    const data = new TextEncoder().encode("bytes whose reference reached D1 after the collector looked");
    expect((await call("PUT", `/v1/models/d-late-ref/versions/${version}/files/w.bin`, { rawBody: data })).status).toBe(
      201,
    );
    const sha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const gc = { ...env, BLOB_GC_GRACE_S: "300" };
    const t0 = Date.now();
    // A run while D1 shows no reference marks the blob unreferenced (its model keeps it).
    await cleanup(gc, new Date(t0));
    expect(
      await env.DB.prepare("SELECT unreferenced_since FROM blobs WHERE sha256 = ?")
        .bind(sha)
        .first("unreferenced_since"),
    ).toBe(new Date(t0).toISOString());
    // D1 catches up: the reference is there, so the bytes are referenced again from now on.
    await swapD1("d-late-ref", () => real);
    expect(await runDurableObjectAlarm(modelStub("d-late-ref"))).toBe(true);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM version_files WHERE sha256 = ?").bind(sha).first("n")).toBe(
      1,
    );
    // An hour later the version goes: its bytes are unreferenced from now, not from t0.
    expect((await call("DELETE", `/v1/models/d-late-ref/versions/${version}`)).status).toBe(204);
    const deletedAt = t0 + 3600 * 1000;
    await cleanup(gc, new Date(deletedAt));
    await cleanup(gc, new Date(deletedAt + 60_000));
    expect(await env.ARTIFACTS.head(`blobs/sha256/${sha}`)).not.toBeNull();
    // A grace period after the run that saw them unreferenced, they go.
    const report = await cleanup(gc, new Date(deletedAt + 301_000));
    expect(report.deletedBlobs).toBeGreaterThanOrEqual(1);
    expect(await env.ARTIFACTS.head(`blobs/sha256/${sha}`)).toBeNull();
  });
});

describe("costs that grow with the change", () => {
  it("writes one file row per attach, however many files the version has", async () => {
    await createModel("d-many");
    const { version } = await createVersion("d-many");
    const put = (i: number) =>
      call("PUT", `/v1/models/d-many/versions/${version}/files/shard-${String(i).padStart(4, "0")}.bin`, {
        rawBody: `shard ${i}`,
      });
    for (let i = 0; i < 60; i++) expect((await put(i)).status).toBe(201);
    let rowsWritten = 0;
    await swapD1("d-many", (real) =>
      withBatch(real, async (statements) => {
        const results = await real.batch(statements);
        for (const r of results) rowsWritten += r.meta.rows_written ?? 0;
        return results;
      }),
    );
    expect((await put(60)).status).toBe(201);
    // The file row, the version row, the audit event (each with its index entries): not 60 rows.
    expect(rowsWritten).toBeLessThan(20);
    const files = await json("GET", `/v1/models/d-many/versions/${version}/files`);
    expect(files.body.items).toHaveLength(61);
    expect(files.body.items[0].path).toBe("shard-0000.bin");
  });

  it("finds the stage fallback and the highest ready version through indexes", async () => {
    await createModel("d-plan");
    const plans = await runInDurableObject(modelStub("d-plan"), (instance: ModelState) => {
      const sql = (instance as unknown as Instance).ctx.storage.sql;
      const plan = (query: string, ...binds: unknown[]) =>
        sql
          .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`, ...binds)
          .toArray()
          .map((r) => r.detail)
          .join("; ");
      return {
        stage: plan("SELECT record FROM versions WHERE stage = ? ORDER BY version DESC LIMIT 1", "production"),
        ready: plan("SELECT record FROM versions WHERE status = 'ready' ORDER BY version DESC LIMIT 1"),
      };
    });
    expect(plans.stage).toContain("versions_by_stage");
    expect(plans.ready).toContain("versions_by_status");
  });
});
