/**
 * The API guide's tour (docs/api.md "A tour with curl"), for real: `npm start` (migrations + wrangler dev on 127.0.0.1),
 * wait for /healthz, mint a token with `npm run token`, create a model and a version, upload
 * a file, finalize, download it, stop.
 * Runs in Node against its own port and state directory so it never touches a dev server.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../until";
import { startServer, token as mint, type Server } from "./server";

let server: Server;
let BASE = "";

beforeAll(async () => {
  server = await startServer();
  BASE = server.base;
});

afterAll(() => server?.stop());

describe("the API guide's tour", () => {
  it("serves a working registry with a minted token", async () => {
    const token = mint("alice", "read write");
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };

    const created = await fetch(`${BASE}/v1/models`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "payment-fraud", tags: { team: "risk" } }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ name: "payment-fraud", created_by: "alice" });

    const version = await fetch(`${BASE}/v1/models/payment-fraud/versions`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        metrics: { auc: 0.93 },
        lineage: {
          run_id: "run-42",
          git_sha: "3f2a9c1",
          datasets: [{ uri: "s3://data/tx", snapshot: "2026-11-01" }],
          params: { lr: 0.001 },
          framework: { name: "pytorch", version: "2.9" },
        },
      }),
    });
    expect(version.status).toBe(201);
    // Read-your-writes across requests: the bookmark of the create, sent back on the list.
    const bookmark = version.headers.get("x-mreg-bookmark");
    expect(bookmark).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/);
    const listed = await fetch(`${BASE}/v1/models/payment-fraud/versions`, {
      headers: { ...auth, "x-mreg-bookmark": bookmark! },
    });
    expect(((await listed.json()) as { items: { version: number }[] }).items.map((v) => v.version)).toEqual([1]);
    expect(((await version.json()) as { version: number }).version).toBe(1);

    const config = new TextEncoder().encode('{"threshold": 0.7}\n');
    const digest = createHash("sha256").update(config).digest("hex");
    const put = await fetch(`${BASE}/v1/models/payment-fraud/versions/1/files/config.json`, {
      method: "PUT",
      headers: { authorization: auth.authorization, "x-mreg-sha256": digest },
      body: config,
    });
    expect(put.status).toBe(201);
    const ready = await fetch(`${BASE}/v1/models/payment-fraud/versions/1/finalize`, { method: "POST", headers: auth });
    expect(((await ready.json()) as { status: string }).status).toBe("ready");
    const download = await fetch(`${BASE}/v1/models/payment-fraud/versions/1/files/config.json`, { headers: auth });
    expect(download.headers.get("etag")).toBe(`"${digest}"`);
    expect(await download.text()).toBe('{"threshold": 0.7}\n');

    // Promote, deploy a second version, roll back: the tour's second block.
    const promoter = mint("ci", "read promote");
    const promote = { authorization: `Bearer ${promoter}`, "content-type": "application/json" };
    const setProduction = (version: number) =>
      fetch(`${BASE}/v1/models/payment-fraud/aliases/production`, {
        method: "PUT",
        headers: promote,
        body: JSON.stringify({ version }),
      });
    expect((await setProduction(1)).status).toBe(200);
    const v2 = await fetch(`${BASE}/v1/models/payment-fraud/versions`, { method: "POST", headers: auth, body: "{}" });
    expect(((await v2.json()) as { version: number }).version).toBe(2);
    await fetch(`${BASE}/v1/models/payment-fraud/versions/2/files/config.json`, {
      method: "PUT",
      headers: { authorization: auth.authorization },
      body: config,
    });
    await fetch(`${BASE}/v1/models/payment-fraud/versions/2/finalize`, { method: "POST", headers: auth });
    expect((await setProduction(2)).status).toBe(200);
    const rollback = await fetch(`${BASE}/v1/models/payment-fraud/aliases/production/rollback`, {
      method: "POST",
      headers: promote,
      body: JSON.stringify({ reason: "3am page" }),
    });
    expect(((await rollback.json()) as { version: number }).version).toBe(1);
    // The hot path caches for RESOLVE_TTL_S (5 s); the isolate that rolled back forgot its copy.
    const resolved = await fetch(
      `${BASE}/v1/resolve?uri=${encodeURIComponent("registry://payment-fraud@production")}`,
      { headers: auth },
    );
    expect(((await resolved.json()) as { version: number }).version).toBe(1);

    // The CI flow through gates, approvals and a guard: the tour's third block.
    const tokenFor = (sub: string, scope: string) => mint(sub, scope);
    const as = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });
    const admin = as(tokenFor("platform", "admin"));
    const approver = as(tokenFor("bob", "approve"));
    const reporter = as(tokenFor("node-17", "report"));
    const gate = await fetch(`${BASE}/v1/models/payment-fraud/gates/production`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({
        metrics: [{ name: "auc", min: 0.9 }],
        no_regression: [{ metric: "auc", tolerance: 0.005 }],
        required_lineage: ["git_sha"],
        approvals: 1,
        from: "staging",
      }),
    });
    expect(gate.status).toBe(200);
    const v3 = await fetch(`${BASE}/v1/models/payment-fraud/versions`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ lineage: { git_sha: "9b1c2d3" } }),
    });
    expect(((await v3.json()) as { version: number }).version).toBe(3);
    await fetch(`${BASE}/v1/models/payment-fraud/versions/3/files/config.json`, {
      method: "PUT",
      headers: { authorization: auth.authorization },
      body: config,
    });
    await fetch(`${BASE}/v1/models/payment-fraud/versions/3/finalize`, { method: "POST", headers: auth });
    await fetch(`${BASE}/v1/models/payment-fraud/versions/3`, {
      method: "PATCH",
      headers: auth,
      body: JSON.stringify({ metrics: { auc: 0.95 } }),
    });
    const check = await fetch(`${BASE}/v1/models/payment-fraud/gates/production/check`, {
      method: "POST",
      headers: promote,
      body: JSON.stringify({ version: 3 }),
    });
    const checked = (await check.json()) as { passed: boolean; checks: { check: string; passed: boolean }[] };
    expect(checked.passed).toBe(false);
    expect(checked.checks.filter((c) => !c.passed).map((c) => c.check)).toEqual(["approvals", "from"]);
    const promoteV3 = (alias: string) =>
      fetch(`${BASE}/v1/models/payment-fraud/aliases/${alias}`, {
        method: "PUT",
        headers: promote,
        body: JSON.stringify({ version: 3 }),
      });
    expect((await promoteV3("staging")).status).toBe(200);
    const refused = await promoteV3("production");
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { code: string }).code).toBe("gate_failed");
    const approval = await fetch(`${BASE}/v1/models/payment-fraud/versions/3/approvals`, {
      method: "POST",
      headers: approver,
      body: JSON.stringify({ target: "production", comment: "eval report reviewed" }),
    });
    expect(approval.status).toBe(201);
    expect((await promoteV3("production")).status).toBe(200);
    const guard = await fetch(`${BASE}/v1/models/payment-fraud/aliases/production/guard`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ metric: "error_rate", max: 0.05, window_s: 300, min_samples: 20 }),
    });
    expect(guard.status).toBe(200);
    const signal = await fetch(`${BASE}/v1/models/payment-fraud/aliases/production/signals`, {
      method: "POST",
      headers: reporter,
      body: JSON.stringify({ version: 3, metrics: { error_rate: 0.2 }, count: 50 }),
    });
    expect(signal.status).toBe(202);
    // The guard rolls back asynchronously (signals are coalesced): wait for it, not for 2 s.
    await until(
      async () => {
        const after = await fetch(`${BASE}/v1/models/payment-fraud/aliases/production`, { headers: auth });
        return ((await after.json()) as { version: number }).version === 1;
      },
      "the guard to roll production back to v1",
      { intervalMs: 200 },
    );

    // Lineage: docs/api.md "Lineage".
    const get = async (path: string) => {
      const res = await fetch(`${BASE}${path}`, { headers: auth });
      expect(res.status, path).toBe(200);
      return (await res.json()) as Record<string, any>; // reason: each answer is checked by shape below
    };
    const graph = await get("/v1/models/payment-fraud/versions/3/lineage?depth=3");
    expect(graph.root).toEqual({ model: "payment-fraud", version: 3 });
    const versionsOf = (page: Record<string, any>) => page.items.map((i: { version: number }) => i.version); // reason: as above
    expect(
      versionsOf(await get(`/v1/lineage?dataset=${encodeURIComponent("s3://data/tx")}&snapshot=2026-11-01`)),
    ).toEqual([1]);
    expect(versionsOf(await get("/v1/lineage?git_sha=9b1c2d3"))).toEqual([3]);
    expect(versionsOf(await get("/v1/lineage?run_id=run-42"))).toEqual([1]);
    const provenance = await get("/v1/models/payment-fraud/aliases/production?include=lineage");
    expect(provenance).toMatchObject({
      version: 1,
      alias_detail: { updated_by: "guard" },
      version_detail: { lineage: { run_id: "run-42" } },
    });
    const diff = await get("/v1/models/payment-fraud/versions/1/diff/3");
    expect(diff.lineage.changed.git_sha).toEqual({ from: "3f2a9c1", to: "9b1c2d3" });
    expect(diff.metrics.changed.auc).toEqual({ from: 0.93, to: 0.95 });

    // Webhooks and retention: docs/webhooks.md and docs/retention.md, as the platform team runs them.
    const send = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const res = await fetch(`${BASE}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
      return res.status === 204 || res.status === 202 ? null : ((await res.json()) as Record<string, any>); // reason: checked by shape below
    };
    const created_hook = await send("POST", "/v1/webhooks", admin, {
      url: "https://hooks.example.com/mreg",
      events: ["alias.*", "rollback", "promotion_denied"],
      models: ["payment-*"],
    });
    expect(created_hook!.secret).toMatch(/^whsec_/);
    await send("POST", `/v1/webhooks/${created_hook!.id}/ping`, admin);
    await send("GET", `/v1/webhooks/${created_hook!.id}/deliveries?status=pending`, admin);
    expect((await send("PATCH", `/v1/webhooks/${created_hook!.id}`, admin, { rotate_secret: true }))!.secret).toMatch(
      /^whsec_/,
    );
    await send("DELETE", `/v1/webhooks/${created_hook!.id}`, admin);
    await send("PUT", "/v1/retention", admin, {
      keep_last: 20,
      max_age_days: 90,
      keep_tags: { keep: "true" },
      pending_max_age_days: 7,
      failed_max_age_days: 1,
    });
    await send("PUT", "/v1/models/payment-fraud/retention", admin, { keep_last: 50 });
    const preview = await send("POST", "/v1/models/payment-fraud/retention/preview", auth, {});
    expect(preview!.delete).toEqual([]);
    await send("POST", "/v1/models/payment-fraud/retention/preview", auth, { at: "2027-01-01T00:00:00Z" });
    await send("DELETE", "/v1/models/payment-fraud/retention", admin);

    const unauthenticated = await fetch(`${BASE}/v1/models`);
    expect(unauthenticated.status).toBe(401);
  });
});
