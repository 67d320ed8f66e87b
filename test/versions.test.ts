import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createModel, createVersion, hsToken, json } from "./helpers";

const lineage = {
  run_id: "run-42",
  run_url: "https://ci.example/runs/42",
  git_repo: "https://git.example/fraud",
  git_sha: "3f2a9c1d",
  datasets: [{ uri: "s3://data/tx", snapshot: "2026-11-01", digest: "sha256:abc" }],
  params: { lr: 0.001, epochs: 10, optimizer: "adam", early_stop: true },
  framework: { name: "pytorch", version: "2.9" },
  signature: { inputs: [{ name: "amount", type: "float" }] },
};

async function auditCount(model: string, action: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE model = ? AND action = ?")
    .bind(model, action)
    .first<{ n: number }>();
  return row!.n;
}

describe("POST /v1/models/{model}/versions", () => {
  it("creates version 1 as pending with lineage and metrics, and audits it", async () => {
    await createModel("v-create");
    const res = await json("POST", "/v1/models/v-create/versions", {
      body: { description: "first", tags: { data: "nov" }, metrics: { auc: 0.93, loss: -1.5e-3 }, lineage },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      model: "v-create",
      version: 1,
      status: "pending",
      stage: "none",
      description: "first",
      tags: { data: "nov" },
      metrics: { auc: 0.93, loss: -1.5e-3 },
      lineage,
      files: [],
      digest: null,
      aliases: [],
      created_by: "alice",
      ready_at: null,
    });
    // The D1 projection has it, and the audit event, by the time the create answered.
    expect((await json("GET", "/v1/models/v-create/versions/1")).body).toEqual(res.body);
    expect(await auditCount("v-create", "version.create")).toBe(1);
  });

  it("404s an unknown model", async () => {
    const res = await json("POST", "/v1/models/ghost/versions", { body: {} });
    expect(res.status).toBe(404);
  });

  it("accepts a bodiless create", async () => {
    await createModel("v-empty");
    const res = await call("POST", "/v1/models/v-empty/versions");
    expect(res.status).toBe(201);
  });

  it("rejects metrics that are not finite numbers", async () => {
    await createModel("v-metrics");
    for (const raw of [
      '{"metrics":{"auc":1e999}}',
      '{"metrics":{"auc":"0.9"}}',
      '{"metrics":{"auc":null}}',
      '{"metrics":{"auc":NaN}}',
    ]) {
      const res = await json("POST", "/v1/models/v-metrics/versions", {
        body: undefined,
        ...{ rawBody: raw, headers: { "content-type": "application/json" } },
      });
      expect(res.status, raw).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("rejects malformed lineage", async () => {
    await createModel("v-lineage");
    for (const bad of [
      { git_sha: "not hex!" },
      { params: { lr: [1] } },
      { datasets: [{ snapshot: "x" }] },
      { parents: [{ model: "X", version: 1 }] },
      { unknown_field: 1 },
    ]) {
      const res = await json("POST", "/v1/models/v-lineage/versions", { body: { lineage: bad } });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
  });

  it("requires parents to exist (400) and records parent edges", async () => {
    await createModel("v-parent");
    await createModel("v-child");
    const parent = await createVersion("v-parent");
    const missing = await json("POST", "/v1/models/v-child/versions", {
      body: {
        lineage: {
          parents: [
            { model: "v-parent", version: 99 },
            { model: "nowhere", version: 1 },
          ],
        },
      },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toHaveLength(2);
    const child = await json("POST", "/v1/models/v-child/versions", {
      body: { lineage: { parents: [{ model: "v-parent", version: parent.version }] } },
    });
    expect(child.status).toBe(201);
    const edges = await env.DB.prepare("SELECT * FROM version_parents WHERE model = 'v-child'").all();
    expect(edges.results).toEqual([{ model: "v-child", version: 1, parent_model: "v-parent", parent_version: 1 }]);
  });

  it("numbers 50 concurrent creates 1..50 with no gap or repeat", async () => {
    await createModel("v-race");
    const results = await Promise.all(
      Array.from({ length: 50 }, () => json("POST", "/v1/models/v-race/versions", { body: {} })),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const numbers = results.map((r) => r.body.version as number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await auditCount("v-race", "version.create")).toBe(50);
    const listed = await json("GET", "/v1/models/v-race/versions?limit=200");
    expect(listed.body.items).toHaveLength(50);
  });

  it("makes 20 concurrent creates with one Idempotency-Key yield exactly one version", async () => {
    await createModel("v-idem");
    const body = { metrics: { auc: 0.9 } };
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        json("POST", "/v1/models/v-idem/versions", { body, headers: { "idempotency-key": "job-7" } }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.version))).toEqual(new Set([1]));
    expect((await json("GET", "/v1/models/v-idem/versions")).body.items).toHaveLength(1);
    expect(await auditCount("v-idem", "version.create")).toBe(1);
  });

  it("answers a reused Idempotency-Key with another body with 409 idempotency_conflict", async () => {
    await createModel("v-idem2");
    const first = await json("POST", "/v1/models/v-idem2/versions", {
      body: { tags: { a: "1" } },
      headers: { "idempotency-key": "k" },
    });
    expect(first.status).toBe(201);
    const again = await json("POST", "/v1/models/v-idem2/versions", {
      body: { tags: { a: "1" } },
      headers: { "idempotency-key": "k" },
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await json("POST", "/v1/models/v-idem2/versions", {
      body: { tags: { a: "2" } },
      headers: { "idempotency-key": "k" },
    });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe("idempotency_conflict");
    const badKey = await json("POST", "/v1/models/v-idem2/versions", {
      body: {},
      headers: { "idempotency-key": "has space" },
    });
    expect(badKey.status).toBe(400);
  });
});

describe("GET /v1/models/{model}/versions", () => {
  it("lists newest first, filters by status and stage, and pages", async () => {
    await createModel("v-list");
    for (let i = 0; i < 5; i++) await createVersion("v-list");
    const first = await json("GET", "/v1/models/v-list/versions?limit=2");
    expect(first.body.items.map((v: { version: number }) => v.version)).toEqual([5, 4]);
    const second = await json("GET", `/v1/models/v-list/versions?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.items.map((v: { version: number }) => v.version)).toEqual([3, 2]);
    const third = await json("GET", `/v1/models/v-list/versions?limit=2&cursor=${second.body.next_cursor}`);
    expect(third.body.items.map((v: { version: number }) => v.version)).toEqual([1]);
    expect(third.body.next_cursor).toBeNull();
    expect((await json("GET", "/v1/models/v-list/versions?status=pending")).body.items).toHaveLength(5);
    expect((await json("GET", "/v1/models/v-list/versions?status=ready")).body.items).toHaveLength(0);
    expect((await json("GET", "/v1/models/v-list/versions?stage=none")).body.items).toHaveLength(5);
    expect((await json("GET", "/v1/models/v-list/versions?status=gone")).status).toBe(400);
    expect((await json("GET", "/v1/models/ghost/versions")).status).toBe(404);
  });
});

describe("GET /v1/models/{model}/versions/{version}", () => {
  it("404s an unknown version and 400s a malformed number", async () => {
    await createModel("v-get");
    expect((await json("GET", "/v1/models/v-get/versions/1")).body.code).toBe("not_found");
    for (const v of ["0", "-1", "1.5", "01", "abc", "1e3"]) {
      expect((await json("GET", `/v1/models/v-get/versions/${v}`)).status, v).toBe(400);
    }
  });
});

describe("PATCH /v1/models/{model}/versions/{version}", () => {
  it("merges tags and metrics, replaces lineage fields while pending, and audits", async () => {
    await createModel("v-patch");
    await createVersion("v-patch", {
      tags: { a: "1", b: "2" },
      metrics: { auc: 0.9, f1: 0.8 },
      lineage: { run_id: "r1", git_sha: "abcd" },
    });
    const res = await json("PATCH", "/v1/models/v-patch/versions/1", {
      body: {
        description: "tuned",
        tags: { b: null, c: "3" },
        metrics: { f1: null, auc: 0.95 },
        lineage: { run_id: "r2", git_sha: null },
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      description: "tuned",
      tags: { a: "1", c: "3" },
      metrics: { auc: 0.95 },
      lineage: { run_id: "r2" },
    });
    expect(res.body.lineage.git_sha).toBeUndefined();
    expect((await json("GET", "/v1/models/v-patch/versions/1")).body).toEqual(res.body);
    expect(await auditCount("v-patch", "version.update")).toBe(1);
    // The projection lifts run_id for lineage queries.
    const row = await env.DB.prepare("SELECT run_id, git_sha FROM versions WHERE model = 'v-patch'").first();
    expect(row).toEqual({ run_id: "r2", git_sha: null });
  });

  it("404s unknown versions and models, and 400s bad patches", async () => {
    await createModel("v-patch2");
    expect((await json("PATCH", "/v1/models/v-patch2/versions/7", { body: { description: "x" } })).status).toBe(404);
    expect((await json("PATCH", "/v1/models/ghost/versions/1", { body: { description: "x" } })).status).toBe(404);
    await createVersion("v-patch2");
    expect((await json("PATCH", "/v1/models/v-patch2/versions/1", { body: { metrics: { auc: "high" } } })).status).toBe(
      400,
    );
    expect((await json("PATCH", "/v1/models/v-patch2/versions/1", { body: { status: "ready" } })).status).toBe(400);
    const parent = await json("PATCH", "/v1/models/v-patch2/versions/1", {
      body: { lineage: { parents: [{ model: "v-patch2", version: 9 }] } },
    });
    expect(parent.status).toBe(400);
  });

  it("needs the write scope", async () => {
    await createModel("v-patch3");
    await createVersion("v-patch3");
    const token = await hsToken({ scope: "read" });
    expect((await json("PATCH", "/v1/models/v-patch3/versions/1", { token, body: { description: "x" } })).status).toBe(
      403,
    );
  });
});
