/** Gates, approvals and their enforcement through the HTTP API, including races. */
import { describe, expect, it } from "vitest";
import { call, createModel, hsToken, json } from "./helpers";

let seq = 0;
/** A ready version with these fields, created by `creator`. */
async function ready(model: string, body: Record<string, unknown> = {}, creator = "trainer") {
  const token = await hsToken({ sub: creator });
  const v = await json("POST", `/v1/models/${model}/versions`, { token, body });
  expect(v.status).toBe(201);
  const put = await call("PUT", `/v1/models/${model}/versions/${v.body.version}/files/w.bin`, {
    token,
    rawBody: `weights ${++seq}`,
  });
  expect(put.status).toBe(201);
  expect((await json("POST", `/v1/models/${model}/versions/${v.body.version}/finalize`, { token })).status).toBe(200);
  return v.body.version as number;
}

const setGate = (model: string, target: string, policy: unknown, token?: string) =>
  json("PUT", `/v1/models/${model}/gates/${target}`, { body: policy, token });
const promote = (model: string, alias: string, version: number, token?: string) =>
  json("PUT", `/v1/models/${model}/aliases/${alias}`, { body: { version }, token });

describe("gate policies", () => {
  it("are set by admins only, validated, listed, deleted and audited", async () => {
    await createModel("g-crud");
    const promoter = await hsToken({ scope: "read promote" });
    expect((await setGate("g-crud", "production", { metrics: [{ name: "auc", min: 0.9 }] }, promoter)).status).toBe(
      403,
    );
    for (const bad of [
      { nope: 1 },
      { metrics: [{ name: "", min: 1 }] },
      { metrics: [{ name: "auc", min: 2, max: 1 }] },
      { approvals: 1.5 },
    ]) {
      const res = await setGate("g-crud", "production", bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await setGate("g-crud", "latest", {})).status).toBe(400);
    const set = await setGate("g-crud", "production", { metrics: [{ name: "auc", min: 0.9 }], approvals: 1 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ target: "production", policy: { approvals: 1 }, updated_by: "alice" });
    expect((await json("GET", "/v1/models/g-crud/gates")).body.items.map((g: { target: string }) => g.target)).toEqual([
      "production",
    ]);
    expect((await call("DELETE", "/v1/models/g-crud/gates/production")).status).toBe(204);
    expect((await call("DELETE", "/v1/models/g-crud/gates/production")).status).toBe(404);
    expect((await setGate("no-such-model", "production", {})).status).toBe(404);
    const events = (await json("GET", "/v1/audit?model=g-crud")).body.items.map((e: { action: string }) => e.action);
    expect(events.filter((a: string) => a.startsWith("gate."))).toEqual(["gate.delete", "gate.set"]);
  });
});

describe("enforcement", () => {
  it("refuses a promotion that fails its gate with 409 gate_failed and the checks, audited; the dry run says the same", async () => {
    await createModel("g-enf");
    const weak = await ready("g-enf", { metrics: { auc: 0.85 } });
    const strong = await ready("g-enf", {
      metrics: { auc: 0.95 },
      tags: { validation: "passed" },
      lineage: { git_sha: "abc123", run_id: "r1" },
    });
    await setGate("g-enf", "production", {
      metrics: [{ name: "auc", min: 0.9 }],
      required_tags: { validation: "passed" },
      required_lineage: ["git_sha", "run_id"],
    });
    const dry = await json("POST", "/v1/models/g-enf/gates/production/check", { body: { version: weak } });
    expect(dry.status).toBe(200);
    expect(dry.body.passed).toBe(false);
    const refused = await promote("g-enf", "production", weak);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("gate_failed");
    expect(refused.body.checks).toEqual(dry.body.checks);
    expect(refused.body.checks[0]).toEqual({
      check: "metrics.auc",
      passed: false,
      expected: ">= 0.9",
      actual: 0.85,
      detail: null,
    });
    expect((await json("GET", "/v1/models/g-enf/aliases/production")).status).toBe(404);
    const denied = await json("GET", "/v1/audit?model=g-enf&action=promotion_denied");
    expect(denied.body.items).toHaveLength(1);
    expect(denied.body.items[0]).toMatchObject({
      alias: "production",
      version: weak,
      detail: { target: "production", checks: dry.body.checks },
    });

    expect(
      (await json("POST", "/v1/models/g-enf/gates/production/check", { body: { version: strong } })).body.passed,
    ).toBe(true);
    expect((await promote("g-enf", "production", strong)).status).toBe(200);
    // No gate on another alias: nothing is checked there.
    expect((await promote("g-enf", "shadow", weak)).status).toBe(200);
    expect((await json("POST", "/v1/models/g-enf/gates/shadow/check", { body: { version: weak } })).body).toEqual({
      passed: true,
      checks: [],
    });
    expect((await json("POST", "/v1/models/g-enf/gates/production/check", { body: { version: 99 } })).status).toBe(404);
  });

  it("gates stage moves and swaps; rollback skips them and says so", async () => {
    await createModel("g-paths");
    const v1 = await ready("g-paths", { metrics: { auc: 0.95 } });
    const v2 = await ready("g-paths", { metrics: { auc: 0.8 } });
    await promote("g-paths", "production", v1);
    await promote("g-paths", "challenger", v2);
    await setGate("g-paths", "production", { no_regression: [{ metric: "auc" }] });
    const stage = await json("POST", `/v1/models/g-paths/versions/${v2}/stage`, { body: { stage: "production" } });
    expect(stage.status).toBe(409);
    expect(stage.body.checks[0]).toMatchObject({
      check: "no_regression.auc",
      passed: false,
      expected: ">= 0.95",
      actual: 0.8,
    });
    const swap = await json("POST", "/v1/models/g-paths/aliases:swap", {
      body: { aliases: ["production", "challenger"] },
    });
    expect(swap.status).toBe(409);
    expect((await json("GET", "/v1/models/g-paths/aliases/production")).body.version).toBe(v1);
    // Rollback is the emergency path.
    await call("DELETE", "/v1/models/g-paths/gates/production");
    expect((await promote("g-paths", "production", v2)).status).toBe(200);
    await setGate("g-paths", "production", { metrics: [{ name: "auc", min: 0.99 }] });
    const back = await json("POST", "/v1/models/g-paths/aliases/production/rollback", {
      body: { reason: "bad deploy" },
    });
    expect(back.status).toBe(200);
    expect(back.body.version).toBe(v1);
    const event = (await json("GET", "/v1/audit?model=g-paths&action=rollback")).body.items[0];
    expect(event.detail).toMatchObject({ gates: "skipped" });
  });

  it("requires `from`: a candidate that has held staging", async () => {
    await createModel("g-from");
    const v = await ready("g-from", { metrics: { auc: 0.9 } });
    await setGate("g-from", "production", { from: "staging" });
    const first = await promote("g-from", "production", v);
    expect(first.status).toBe(409);
    expect(first.body.checks).toEqual([
      {
        check: "from",
        passed: false,
        expected: "staging",
        actual: null,
        detail: `version ${v} has never held 'staging'`,
      },
    ]);
    await promote("g-from", "staging", v);
    await call("DELETE", "/v1/models/g-from/aliases/staging");
    expect((await promote("g-from", "production", v)).status).toBe(200);
    // Stage history counts too.
    const w = await ready("g-from", { metrics: { auc: 0.9 } });
    await json("POST", `/v1/models/g-from/versions/${w}/stage`, { body: { stage: "staging" } });
    expect((await promote("g-from", "production", w)).status).toBe(200);
  });
});

describe("no_regression cannot be dodged", () => {
  it("by deleting the alias and setting it again: the last holder is compared, and deleting a gated alias needs admin", async () => {
    await createModel("g-dodge");
    const good = await ready("g-dodge", { metrics: { auc: 0.95 } });
    const worse = await ready("g-dodge", { metrics: { auc: 0.8 } });
    await setGate("g-dodge", "production", { no_regression: [{ metric: "auc" }] });
    expect((await promote("g-dodge", "production", good)).status).toBe(200);
    const promoter = await hsToken({ scope: "read promote" });

    // A promote token may not delete a gated alias; an admin may.
    const denied = await call("DELETE", "/v1/models/g-dodge/aliases/production", { token: promoter });
    expect(denied.status).toBe(403);
    expect((await json("GET", "/v1/models/g-dodge/aliases/production")).body.version).toBe(good);
    expect((await call("DELETE", "/v1/models/g-dodge/aliases/production?reason=maintenance")).status).toBe(204);

    // Nothing holds production now: the worse version is compared with the last holder.
    const refused = await promote("g-dodge", "production", worse, promoter);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("gate_failed");
    const check = refused.body.checks.find((c: { check: string }) => c.check === "no_regression.auc");
    expect(check).toMatchObject({ passed: false, expected: ">= 0.95", actual: 0.8 });
    expect(check.detail).toMatch(/last holder, v1=0.95/);
    // The dry run says the same.
    const dry = await json("POST", "/v1/models/g-dodge/gates/production/check", { body: { version: worse } });
    expect(dry.body.checks).toEqual(refused.body.checks);
    // A better one passes.
    const better = await ready("g-dodge", { metrics: { auc: 0.96 } });
    expect((await promote("g-dodge", "production", better, promoter)).status).toBe(200);
    // An ungated alias is still the promote token's to delete.
    expect((await promote("g-dodge", "canary", worse, promoter)).status).toBe(200);
    expect((await call("DELETE", "/v1/models/g-dodge/aliases/canary", { token: promoter })).status).toBe(204);
  });

  it("by moving the version out of the stage first: the last version in the stage is compared", async () => {
    await createModel("g-dodge-stage");
    const good = await ready("g-dodge-stage", { metrics: { auc: 0.95 } });
    const worse = await ready("g-dodge-stage", { metrics: { auc: 0.8 } });
    await setGate("g-dodge-stage", "production", { no_regression: [{ metric: "auc" }] });
    const stage = (version: number, to: string) =>
      json("POST", `/v1/models/g-dodge-stage/versions/${version}/stage`, { body: { stage: to } });
    expect((await stage(good, "production")).status).toBe(200);
    expect((await stage(good, "archived")).status).toBe(200);
    const refused = await stage(worse, "production");
    expect(refused.status).toBe(409);
    expect(refused.body.checks[0]).toMatchObject({ check: "no_regression.auc", passed: false, actual: 0.8 });
  });

  it("passes only for a target that never held anything, and fails once every former holder is deleted", async () => {
    await createModel("g-fresh");
    const first = await ready("g-fresh", { metrics: { auc: 0.5 } });
    await setGate("g-fresh", "canary", { no_regression: [{ metric: "auc" }] });
    const fresh = await promote("g-fresh", "canary", first);
    expect(fresh.status).toBe(200);
    expect((await call("DELETE", "/v1/models/g-fresh/aliases/canary")).status).toBe(204);
    expect((await call("DELETE", `/v1/models/g-fresh/versions/${first}`)).status).toBe(204);
    const next = await ready("g-fresh", { metrics: { auc: 0.9 } });
    const refused = await promote("g-fresh", "canary", next);
    expect(refused.status).toBe(409);
    expect(refused.body.checks[0]).toMatchObject({ check: "no_regression.auc", passed: false });
    expect(refused.body.checks[0].detail).toMatch(/every version that held the target has been deleted/);
  });
});

describe("approvals", () => {
  it("are four-eyes, one per approver, and need the approve scope", async () => {
    await createModel("g-appr");
    const v = await ready("g-appr", {}, "carol");
    await setGate("g-appr", "production", { approvals: 2 });
    const self = await json("POST", `/v1/models/g-appr/versions/${v}/approvals`, {
      token: await hsToken({ sub: "carol", scope: "approve" }),
      body: { target: "production" },
    });
    expect(self.status).toBe(403);
    const promoter = await hsToken({ sub: "dave", scope: "read promote" });
    expect(
      (
        await json("POST", `/v1/models/g-appr/versions/${v}/approvals`, {
          token: promoter,
          body: { target: "production" },
        })
      ).status,
    ).toBe(403);
    const bob = await hsToken({ sub: "bob", scope: "approve" });
    const first = await json("POST", `/v1/models/g-appr/versions/${v}/approvals`, {
      token: bob,
      body: { target: "production", comment: "lgtm" },
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ target: "production", approver: "bob", comment: "lgtm" });
    const again = await json("POST", `/v1/models/g-appr/versions/${v}/approvals`, {
      token: bob,
      body: { target: "production" },
    });
    expect(again.body).toEqual(first.body);
    const refused = await promote("g-appr", "production", v);
    expect(refused.status).toBe(409);
    expect(refused.body.checks).toEqual([
      { check: "approvals", passed: false, expected: ">= 2", actual: 1, detail: "approved by bob" },
    ]);
    // An approval for another target does not count here.
    const erin = await hsToken({ sub: "erin", scope: "approve" });
    await json("POST", `/v1/models/g-appr/versions/${v}/approvals`, { token: erin, body: { target: "staging" } });
    expect((await promote("g-appr", "production", v)).status).toBe(409);
    await json("POST", `/v1/models/g-appr/versions/${v}/approvals`, { token: erin, body: { target: "production" } });
    expect((await promote("g-appr", "production", v)).status).toBe(200);
    const listed = await json("GET", `/v1/models/g-appr/versions/${v}/approvals`);
    expect(
      listed.body.items.map((a: { approver: string; target: string }) => `${a.approver}:${a.target}`).sort(),
    ).toEqual(["bob:production", "erin:production", "erin:staging"]);
    expect((await json("GET", "/v1/audit?model=g-appr&action=approval.add")).body.items).toHaveLength(3);
  });
});

describe("the aliases grant covers what decides a move", () => {
  it("a token scoped to staging may not approve for production, nor set or remove production's gate", async () => {
    await createModel("g-grant");
    const v = await ready("g-grant", {}, "carol");
    const stagingApprover = await hsToken({ sub: "bob", scope: "approve", aliases: ["staging"] });
    expect(
      (
        await json("POST", `/v1/models/g-grant/versions/${v}/approvals`, {
          token: stagingApprover,
          body: { target: "production" },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await json("POST", `/v1/models/g-grant/versions/${v}/approvals`, {
          token: stagingApprover,
          body: { target: "staging" },
        })
      ).status,
    ).toBe(201);
    const stagingAdmin = await hsToken({ scope: "admin", aliases: ["staging"] });
    expect((await setGate("g-grant", "production", { approvals: 1 }, stagingAdmin)).status).toBe(403);
    expect((await setGate("g-grant", "staging", { approvals: 1 }, stagingAdmin)).status).toBe(200);
    expect((await setGate("g-grant", "production", { approvals: 1 })).status).toBe(200);
    expect((await call("DELETE", "/v1/models/g-grant/gates/production", { token: stagingAdmin })).status).toBe(403);
    expect(
      (await json("GET", "/v1/models/g-grant/gates")).body.items.map((g: { target: string }) => g.target).sort(),
    ).toEqual(["production", "staging"]);
  });
});

describe("races", () => {
  it("never ends with the worse version holding the alias after the better one was accepted (50 rounds)", async () => {
    await createModel("g-race");
    let champion = await ready("g-race", { metrics: { auc: 0.5 } });
    await promote("g-race", "production", champion);
    await setGate("g-race", "production", { no_regression: [{ metric: "auc" }] });
    for (let round = 0; round < 50; round++) {
      const base = 0.5 + round * 0.002;
      const candidate = await ready("g-race", { metrics: { auc: base + 0.0005 } });
      const rival = await ready("g-race", { metrics: { auc: base + 0.001 } });
      const [a, b] = await Promise.all([
        promote("g-race", "production", candidate),
        promote("g-race", "production", rival),
      ]);
      // The rival is never refused (it beats both); the candidate only when the rival went first.
      expect(b.status, `round ${round}`).toBe(200);
      expect([200, 409]).toContain(a.status);
      if (a.status === 200) expect(a.body.generation).toBeLessThan(b.body.generation);
      const holder = await json("GET", "/v1/models/g-race/aliases/production");
      expect(holder.body.version, `round ${round}`).toBe(rival);
      champion = rival;
    }
    expect(champion).toBeGreaterThan(0);
  });

  it("decides on the metrics it reads in the same step, whatever a concurrent patch does", async () => {
    await createModel("g-patch");
    await setGate("g-patch", "production", { metrics: [{ name: "auc", min: 0.9 }] });
    for (let round = 0; round < 15; round++) {
      const v = await ready("g-patch", { metrics: { auc: 0.85 } });
      const [patched, promoted] = await Promise.all([
        json("PATCH", `/v1/models/g-patch/versions/${v}`, { body: { metrics: { auc: 0.95 } } }),
        promote("g-patch", "production", v),
      ]);
      expect(patched.status).toBe(200);
      if (promoted.status === 409) expect(promoted.body.checks[0].actual).toBe(0.85);
      else expect(promoted.status).toBe(200);
    }
  });
});
