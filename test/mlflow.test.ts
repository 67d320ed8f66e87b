/**
 * The MLflow Model Registry bridge (API.md "Bridges → MLflow"), through the Worker's fetch
 * handler: shapes, error codes, filters, paging tokens, auth, gate refusals and scopes.
 *
 * Shapes are checked against mlflow/mlflow `mlflow/protos/model_registry.proto` (as stored at
 * commit 05e6cc9b8487945522c87e3f1a9ffc04eb2ecc2d: ModelVersion fields 1-14 with `aliases`,
 * RegisteredModel fields 1-8) and `mlflow/protos/mlflow_artifacts.proto` (commit
 * 033a191493f276486dc59232958220b39261dabf); the requests are the Python client's
 * (`mlflow/store/model_registry/rest_store.py` and `mlflow/utils/rest_utils.py` at commit
 * 001cc178a1442b488da41853c497adc5285a284d: GET fields in the query string, others in a JSON
 * body, DELETE included; 200 and a JSON object on success, `{error_code, message}` otherwise).
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Visibility } from "../src/db/visibility";
import { ModelStore } from "../src/models/model-store";
import { FilterError } from "../src/domain/mlflow-filter";
import { call, createModel, hsToken, json, readyVersion } from "./helpers";
import { until } from "./until";

const API = "/api/2.0/mlflow";
const get = (path: string, params: Record<string, string | string[]>, token?: string | null) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
  return json("GET", `${API}/${path}?${q}`, { token });
};
const send = (method: string, path: string, body: unknown, token?: string | null) =>
  json(method, `${API}/${path}`, { body, token });
const bytes = (text: string) => new TextEncoder().encode(text);

/** ModelVersion as the proto types it: strings, int64 numbers, enum names, repeated lists. */
function expectModelVersion(mv: Record<string, unknown>) {
  expect(typeof mv.name).toBe("string");
  expect(typeof mv.version).toBe("string");
  expect(Number.isInteger(mv.creation_timestamp)).toBe(true);
  expect(Number.isInteger(mv.last_updated_timestamp)).toBe(true);
  expect(typeof mv.user_id).toBe("string");
  expect(["None", "Staging", "Production", "Archived"]).toContain(mv.current_stage);
  expect(typeof mv.source).toBe("string");
  expect(["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"]).toContain(mv.status);
  expect(Array.isArray(mv.tags) && Array.isArray(mv.aliases)).toBe(true);
  const known = [
    "name",
    "version",
    "creation_timestamp",
    "last_updated_timestamp",
    "user_id",
    "current_stage",
    "description",
    "source",
    "run_id",
    "status",
    "status_message",
    "tags",
    "run_link",
    "aliases",
  ];
  for (const key of Object.keys(mv)) expect(known, `ModelVersion has no field ${key}`).toContain(key);
  for (const value of Object.values(mv)) expect(value).not.toBeNull();
}

function expectRegisteredModel(rm: Record<string, unknown>) {
  expect(typeof rm.name).toBe("string");
  expect(Number.isInteger(rm.creation_timestamp)).toBe(true);
  expect(Number.isInteger(rm.last_updated_timestamp)).toBe(true);
  const known = [
    "name",
    "creation_timestamp",
    "last_updated_timestamp",
    "user_id",
    "description",
    "latest_versions",
    "tags",
    "aliases",
  ];
  for (const key of Object.keys(rm)) expect(known, `RegisteredModel has no field ${key}`).toContain(key);
  for (const mv of rm.latest_versions as Record<string, unknown>[]) expectModelVersion(mv);
  for (const a of rm.aliases as Record<string, unknown>[]) {
    expect(typeof a.alias).toBe("string");
    expect(typeof a.version).toBe("string");
  }
}

describe("registered models", () => {
  it("creates, gets, updates, tags and deletes with MLflow's shapes and codes", async () => {
    const created = await send("POST", "registered-models/create", {
      name: "mf-a",
      tags: [{ key: "team", value: "risk" }],
      description: "fraud",
    });
    expect(created.status).toBe(200);
    expectRegisteredModel(created.body.registered_model);
    expect(created.body.registered_model).toMatchObject({
      name: "mf-a",
      description: "fraud",
      tags: [{ key: "team", value: "risk" }],
      latest_versions: [],
      aliases: [],
    });

    const again = await send("POST", "registered-models/create", { name: "mf-a" });
    expect(again.status).toBe(400);
    expect(again.body.error_code).toBe("RESOURCE_ALREADY_EXISTS");
    expect(Object.keys(again.body).sort()).toEqual(["error_code", "message"]);

    const upper = await send("POST", "registered-models/create", { name: "Fraud Model" });
    expect(upper.status).toBe(400);
    expect(upper.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    const missing = await send("POST", "registered-models/create", {});
    expect(missing.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    expect(missing.body.message).toContain("Missing value for required parameter 'name'");

    expect(
      (await send("POST", "registered-models/set-tag", { name: "mf-a", key: "owner", value: "ann" })).body,
    ).toEqual({});
    expect((await send("DELETE", "registered-models/delete-tag", { name: "mf-a", key: "team" })).body).toEqual({});
    const updated = await send("PATCH", "registered-models/update", { name: "mf-a", description: "card fraud" });
    expect(updated.status).toBe(200);
    expect(updated.body.registered_model).toMatchObject({
      description: "card fraud",
      tags: [{ key: "owner", value: "ann" }],
    });
    const got = await get("registered-models/get", { name: "mf-a" });
    expect(got.body.registered_model).toEqual(updated.body.registered_model);
    // The same model through /v1.
    expect((await json("GET", "/v1/models/mf-a")).body).toMatchObject({
      description: "card fraud",
      tags: { owner: "ann" },
    });

    for (const name of ["nope", "Fraud"]) {
      const res = await get("registered-models/get", { name });
      expect(res.status).toBe(404);
      expect(res.body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    }
    expect((await send("DELETE", "registered-models/delete", { name: "mf-a" })).body).toEqual({});
    expect((await get("registered-models/get", { name: "mf-a" })).status).toBe(404);
  });

  it("answers ENDPOINT_NOT_FOUND for what mreg does not offer, and for a method the endpoint does not take", async () => {
    for (const [method, path] of [
      ["POST", "runs/create"],
      ["GET", "experiments/get-by-name"],
      ["POST", "registered-models/rename"],
      ["GET", "registered-models/create"],
    ] as const) {
      const res = method === "GET" ? await get(path, {}) : await send(method, path, {});
      expect(res.status, path).toBe(404);
      expect(res.body.error_code).toBe("ENDPOINT_NOT_FOUND");
    }
    // Paths the fuzzer found answered in the app's format: one that climbs out of the artifact
    // root (normalised to the prefix itself), and one with line breaks in it.
    for (const path of [
      "/api/2.0/mlflow-artifacts/artifacts/.%2e",
      "/api/2.0/mlflow/registered-models/%0A%0D",
      "/api/2.0/mlflow-artifacts%2Fartifacts",
    ]) {
      const res = await json("GET", path);
      expect([res.status, res.body.error_code], path).toEqual([404, "ENDPOINT_NOT_FOUND"]);
    }
  });
});

describe("model versions", () => {
  it("registers a pending version whose source and run_id go into its lineage; READY once finalized through /v1", async () => {
    await createModel("mf-v");
    const created = await send("POST", "model-versions/create", {
      name: "mf-v",
      source: "runs:/0123abcd/model",
      run_id: "0123abcd",
      run_link: "https://mlflow.example.com/#/experiments/1/runs/0123abcd",
      tags: [{ key: "framework", value: "sklearn" }],
      description: "first",
      model_id: "m-unknown-to-mreg",
    });
    expect(created.status).toBe(200);
    const mv = created.body.model_version;
    expectModelVersion(mv);
    expect(mv).toMatchObject({
      name: "mf-v",
      version: "1",
      status: "PENDING_REGISTRATION",
      current_stage: "None",
      run_id: "0123abcd",
      description: "first",
      source: "mlflow-artifacts:/models/mf-v/versions/1",
    });
    expect(mv.status_message).toContain("/v1/models/mf-v/versions/1/finalize");
    const v1 = (await json("GET", "/v1/models/mf-v/versions/1")).body;
    expect(v1.lineage).toEqual({
      source: "runs:/0123abcd/model",
      run_id: "0123abcd",
      run_url: "https://mlflow.example.com/#/experiments/1/runs/0123abcd",
    });
    expect(v1.tags).toEqual({ framework: "sklearn" });

    expect((await call("PUT", "/v1/models/mf-v/versions/1/files/MLmodel", { rawBody: "flavors: {}\n" })).status).toBe(
      201,
    );
    expect((await json("POST", "/v1/models/mf-v/versions/1/finalize")).status).toBe(200);
    const ready = await get("model-versions/get", { name: "mf-v", version: "1" });
    expect(ready.body.model_version.status).toBe("READY");
    expect(ready.body.model_version.status_message).toBeUndefined();
    expect((await get("model-versions/get-download-uri", { name: "mf-v", version: "1" })).body).toEqual({
      artifact_uri: "mlflow-artifacts:/models/mf-v/versions/1",
    });

    expect(
      (await send("POST", "model-versions/set-tag", { name: "mf-v", version: "1", key: "validated", value: "yes" }))
        .body,
    ).toEqual({});
    const updated = await send("PATCH", "model-versions/update", {
      name: "mf-v",
      version: "1",
      description: "checked",
    });
    expect(updated.body.model_version).toMatchObject({
      description: "checked",
      tags: [
        { key: "framework", value: "sklearn" },
        { key: "validated", value: "yes" },
      ],
    });
    expect(
      (await send("DELETE", "model-versions/delete-tag", { name: "mf-v", version: "1", key: "framework" })).body,
    ).toEqual({});

    for (const [params, code] of [
      [{ name: "mf-v", version: "9" }, "RESOURCE_DOES_NOT_EXIST"],
      [{ name: "mf-v", version: "one" }, "INVALID_PARAMETER_VALUE"],
      [{ name: "nope", version: "1" }, "RESOURCE_DOES_NOT_EXIST"],
    ] as const) {
      expect((await get("model-versions/get", params)).body.error_code).toBe(code);
    }
    const noSource = await send("POST", "model-versions/create", { name: "mf-v" });
    expect(noSource.body.message).toContain("Missing value for required parameter 'source'");
    expect(
      (await send("POST", "model-versions/create", { name: "mf-v", source: "s3://b/m", run_link: "not a url" })).body
        .error_code,
    ).toBe("INVALID_PARAMETER_VALUE");
    expect((await send("POST", "model-versions/create", { name: "ghost", source: "s3://b/m" })).body.error_code).toBe(
      "RESOURCE_DOES_NOT_EXIST",
    );
  });

  it("moves stages (archive_existing_versions), answers get-latest-versions per stage, and audits each move", async () => {
    await createModel("mf-s");
    const v1 = (await readyVersion("mf-s", { "m.bin": bytes("one") })).version as number;
    const v2 = (await readyVersion("mf-s", { "m.bin": bytes("two") })).version as number;
    const t1 = await send("POST", "model-versions/transition-stage", {
      name: "mf-s",
      version: String(v1),
      stage: "production",
      archive_existing_versions: false,
    });
    expect(t1.status).toBe(200);
    expect(t1.body.model_version.current_stage).toBe("Production");
    const t2 = await send("POST", "model-versions/transition-stage", {
      name: "mf-s",
      version: String(v2),
      stage: "Production",
      archive_existing_versions: true,
    });
    expect(t2.body.model_version.current_stage).toBe("Production");
    expect(
      (await get("model-versions/get", { name: "mf-s", version: String(v1) })).body.model_version.current_stage,
    ).toBe("Archived");

    const bad = await send("POST", "model-versions/transition-stage", {
      name: "mf-s",
      version: "1",
      stage: "Live",
      archive_existing_versions: false,
    });
    expect(bad.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    expect(bad.body.message).toContain("None, Staging, Production, Archived");
    const archiveToNone = await send("POST", "model-versions/transition-stage", {
      name: "mf-s",
      version: "1",
      stage: "None",
      archive_existing_versions: true,
    });
    expect(archiveToNone.body.error_code).toBe("INVALID_PARAMETER_VALUE");

    const latest = await send("POST", "registered-models/get-latest-versions", {
      name: "mf-s",
      stages: ["production"],
    });
    expect(latest.body.model_versions.map((v: { version: string }) => v.version)).toEqual([String(v2)]);
    const all = await get("registered-models/get-latest-versions", { name: "mf-s" });
    expect(all.body.model_versions.map((v: { current_stage: string }) => v.current_stage).sort()).toEqual([
      "Archived",
      "Production",
    ]);
    const rm = await get("registered-models/get", { name: "mf-s" });
    expectRegisteredModel(rm.body.registered_model);
    expect(rm.body.registered_model.latest_versions).toHaveLength(2);

    const events = (await json("GET", "/v1/audit?model=mf-s&action=version.stage")).body.items;
    expect(events).toHaveLength(3);
  });
});

describe("aliases", () => {
  it("sets, resolves (with a stage fallback) and deletes aliases; the same state as /v1", async () => {
    await createModel("mf-al");
    const v1 = (await readyVersion("mf-al", { MLmodel: bytes("a") })).version as number;
    expect(
      (await send("POST", "registered-models/alias", { name: "mf-al", alias: "Champion", version: String(v1) })).body,
    ).toEqual({});
    expect((await json("GET", "/v1/models/mf-al/aliases/champion")).body.version).toBe(v1);
    const byAlias = await get("registered-models/alias", { name: "mf-al", alias: "champion" });
    expect(byAlias.status).toBe(200);
    expectModelVersion(byAlias.body.model_version);
    expect(byAlias.body.model_version).toMatchObject({ version: String(v1), aliases: ["champion"] });
    expect((await get("registered-models/get", { name: "mf-al" })).body.registered_model.aliases).toEqual([
      { alias: "champion", version: String(v1) },
    ]);

    const reserved = await send("POST", "registered-models/alias", { name: "mf-al", alias: "latest", version: "1" });
    expect(reserved.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    const pending = (await json("POST", "/v1/models/mf-al/versions", { body: {} })).body.version as number;
    const notReady = await send("POST", "registered-models/alias", {
      name: "mf-al",
      alias: "challenger",
      version: String(pending),
    });
    expect(notReady.status).toBe(409);
    expect(notReady.body.error_code).toBe("INVALID_STATE");

    // No alias `staging`, but a version in that stage: resolved as /v1/resolve resolves it.
    await json("POST", `/v1/models/mf-al/versions/${v1}/stage`, { body: { stage: "staging" } });
    expect((await get("registered-models/alias", { name: "mf-al", alias: "staging" })).body.model_version.version).toBe(
      String(v1),
    );
    expect((await get("registered-models/alias", { name: "mf-al", alias: "shadow" })).body.error_code).toBe(
      "RESOURCE_DOES_NOT_EXIST",
    );

    expect((await send("DELETE", "registered-models/alias", { name: "mf-al", alias: "champion" })).body).toEqual({});
    expect((await get("registered-models/alias", { name: "mf-al", alias: "champion" })).status).toBe(404);
    const actions = (await json("GET", "/v1/audit?model=mf-al")).body.items.map(
      (e: { action: string; actor: string }) => `${e.action}:${e.actor}`,
    );
    expect(actions).toContain("alias.set:alice");
    expect(actions).toContain("alias.delete:alice");
  });

  it("reaches watchers of the alias: a set and a stage change made through MLflow arrive as watch events", async () => {
    await createModel("mf-watch");
    const v1 = (await readyVersion("mf-watch", { w: bytes("1") })).version as number;
    const v2 = (await readyVersion("mf-watch", { w: bytes("2") })).version as number;
    await send("POST", "registered-models/alias", { name: "mf-watch", alias: "production", version: String(v1) });
    const ws = (
      await exports.default.fetch(
        new Request("http://mreg.test/v1/models/mf-watch/aliases/production/watch", {
          headers: { upgrade: "websocket", authorization: `Bearer ${await hsToken({ scope: "read" })}` },
        }),
      )
    ).webSocket!;
    const events: { event: string; version: number | null }[] = [];
    ws.addEventListener("message", (e) => events.push(JSON.parse(e.data as string)));
    ws.accept();
    await send("POST", "registered-models/alias", { name: "mf-watch", alias: "production", version: String(v2) });
    const set = await until(() => events.find((e) => e.event === "set"), "the set message");
    expect(events[0]).toMatchObject({ event: "current", version: v1 });
    expect(set).toMatchObject({ version: v2 });
    ws.close();
  });

  it("refuses a promotion its gate fails with INVALID_STATE and the failed checks in the message, audited as promotion_denied", async () => {
    await createModel("mf-gate");
    const weak = (await readyVersion("mf-gate", { w: bytes("w") })).version as number;
    await json("PATCH", `/v1/models/mf-gate/versions/${weak}`, { body: { metrics: { auc: 0.85 } } });
    expect(
      (await json("PUT", "/v1/models/mf-gate/gates/production", { body: { metrics: [{ name: "auc", min: 0.9 }] } }))
        .status,
    ).toBe(200);
    for (const refused of [
      await send("POST", "registered-models/alias", { name: "mf-gate", alias: "production", version: String(weak) }),
      await send("POST", "model-versions/transition-stage", {
        name: "mf-gate",
        version: String(weak),
        stage: "Production",
        archive_existing_versions: false,
      }),
    ]) {
      expect(refused.status).toBe(409);
      expect(refused.body.error_code).toBe("INVALID_STATE");
      expect(refused.body.message).toContain("metrics.auc (expected >= 0.9, actual 0.85)");
    }
    expect((await json("GET", "/v1/audit?model=mf-gate&action=promotion_denied")).body.items).toHaveLength(2);
    expect(
      (await get("model-versions/get", { name: "mf-gate", version: String(weak) })).body.model_version.current_stage,
    ).toBe("None");
  });
});

describe("search", () => {
  it("filters registered models by name (=, LIKE, ILIKE) and tags, pages with tokens in any order, and refuses what it cannot parse", async () => {
    for (const [name, team] of [
      ["srch-alpha", "a"],
      ["srch-beta", "b"],
      ["srch-gamma", "a"],
      ["srch-delta", "b"],
      ["other-srch", "a"],
    ]) {
      await createModel(name!, { tags: { team: team! } });
    }
    const names = async (params: Record<string, string | string[]>) => {
      const res = await get("registered-models/search", params);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      for (const rm of res.body.registered_models) expectRegisteredModel(rm);
      return res.body.registered_models.map((m: { name: string }) => m.name);
    };
    expect(await names({ filter: "name = 'srch-beta'" })).toEqual(["srch-beta"]);
    expect(await names({ filter: "name LIKE 'srch-%'" })).toEqual([
      "srch-alpha",
      "srch-beta",
      "srch-delta",
      "srch-gamma",
    ]);
    expect(await names({ filter: "name LIKE 'SRCH-%'" })).toEqual([]);
    expect(await names({ filter: "name ilike 'SRCH-%A'" })).toEqual([
      "srch-alpha",
      "srch-beta",
      "srch-delta",
      "srch-gamma",
    ]);
    expect(await names({ filter: "name LIKE 'srch-_eta'" })).toEqual(["srch-beta"]);
    expect(await names({ filter: "name LIKE '%srch%' AND tags.team = 'a'" })).toEqual([
      "other-srch",
      "srch-alpha",
      "srch-gamma",
    ]);
    expect(await names({ filter: "tags.`team` != 'a' AND name LIKE 'srch%'" })).toEqual(["srch-beta", "srch-delta"]);

    // Pages of two, newest first by creation time: every model once, in order, then no token.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const res = await get("registered-models/search", {
        filter: "name LIKE '%srch%'",
        max_results: "2",
        order_by: ["creation_timestamp DESC"],
        ...(token ? { page_token: token } : {}),
      });
      expect(res.body.registered_models.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.registered_models.map((m: { name: string }) => m.name));
      token = res.body.next_page_token;
    } while (token);
    expect(seen).toEqual(["other-srch", "srch-delta", "srch-gamma", "srch-beta", "srch-alpha"]);

    const first = await get("registered-models/search", { filter: "name LIKE '%srch%'", max_results: "2" });
    const otherOrder = await get("registered-models/search", {
      max_results: "2",
      order_by: "name DESC",
      page_token: first.body.next_page_token,
    });
    expect(otherOrder.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    const refused: Record<string, string>[] = [
      { filter: "name = srch" },
      { filter: "name = 'a' OR name = 'b'" },
      { filter: "run_id = 'x'" },
      { filter: "name IN ('a')" },
      { filter: "name = 'unterminated" },
      { order_by: "size DESC" },
      { max_results: "1001" },
      { page_token: "not-a-token" },
    ];
    for (const bad of refused) {
      const res = await get("registered-models/search", bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error_code).toBe("INVALID_PARAMETER_VALUE");
    }
  });

  it("filters model versions by name and run_id (=, IN), across models, with keyset pages", async () => {
    await createModel("sv-one");
    await createModel("sv-two");
    for (const [model, run] of [
      ["sv-one", "run-a"],
      ["sv-one", "run-b"],
      ["sv-one", "run-a"],
      ["sv-two", "run-a"],
    ]) {
      expect((await json("POST", `/v1/models/${model}/versions`, { body: { lineage: { run_id: run } } })).status).toBe(
        201,
      );
    }
    const found = async (params: Record<string, string | string[]>) => {
      const res = await get("model-versions/search", params);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      for (const mv of res.body.model_versions) expectModelVersion(mv);
      return res.body.model_versions.map((v: { name: string; version: string }) => `${v.name}/${v.version}`);
    };
    expect(await found({ filter: "name='sv-one'" })).toEqual(["sv-one/3", "sv-one/2", "sv-one/1"]);
    expect(await found({ filter: "run_id = 'run-a'" })).toEqual(["sv-one/3", "sv-one/1", "sv-two/1"]);
    expect(await found({ filter: "run_id IN ('run-b', 'run-z') " })).toEqual(["sv-one/2"]);
    expect(await found({ filter: "name = 'sv-one' AND run_id != 'run-a'" })).toEqual(["sv-one/2"]);
    expect(await found({ filter: "name LIKE 'sv-%'", order_by: ["version_number ASC"] })).toEqual([
      "sv-one/1",
      "sv-two/1",
      "sv-one/2",
      "sv-one/3",
    ]);
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const res = await get("model-versions/search", {
        filter: "name LIKE 'sv-%'",
        max_results: "1",
        ...(token ? { page_token: token } : {}),
      });
      pages.push(res.body.model_versions.map((v: { name: string; version: string }) => `${v.name}/${v.version}`));
      token = res.body.next_page_token;
    } while (token);
    expect(pages).toEqual([["sv-one/3"], ["sv-one/2"], ["sv-one/1"], ["sv-two/1"]]);
    expect((await get("model-versions/search", { filter: "source_path = 'x'" })).body.error_code).toBe(
      "INVALID_PARAMETER_VALUE",
    );
    expect((await get("model-versions/search", { filter: "run_id LIKE 'run%'" })).body.error_code).toBe(
      "INVALID_PARAMETER_VALUE",
    );
  });
});

describe("long patterns (D1 refuses a LIKE or GLOB pattern over 50 bytes)", () => {
  it("answers LIKE filters with literal ends of any length, and refuses a pattern it cannot run with 400, never 500", async () => {
    const long = `lp-${"x".repeat(100)}`;
    await createModel(`${long}-one`, { tags: { note: "y".repeat(300) } });
    await createModel(`${long}-two`);
    await createModel("lp-short");
    const search = (filter: string, token?: string) => get("registered-models/search", { filter }, token);
    const names = async (filter: string) => {
      const res = await search(filter);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.registered_models.map((m: { name: string }) => m.name);
    };
    expect(await names(`name LIKE '${long}%'`)).toEqual([`${long}-one`, `${long}-two`]);
    expect(await names(`name LIKE '%${long.slice(3)}-one'`)).toEqual([`${long}-one`]);
    expect(await names(`name ILIKE '${long.toUpperCase()}-T_O'`)).toEqual([`${long}-two`]);
    expect(await names(`name LIKE 'lp-%${"x".repeat(40)}%-one'`)).toEqual([`${long}-one`]);
    expect(await names(`tags.note LIKE '${"y".repeat(300)}'`)).toEqual([`${long}-one`]);
    expect(await names(`tags.note LIKE '%${"y".repeat(299)}'`)).toEqual([`${long}-one`]);
    // The span between the first wildcard and the last is what D1 limits: refused at parse time.
    for (const filter of [
      `name LIKE '%${"x".repeat(60)}%'`,
      `name LIKE 'lp-${"%x".repeat(2000)}'`,
      `tags.note ILIKE '_${"y".repeat(60)}_'`,
    ]) {
      const res = await search(filter);
      expect([res.status, res.body.error_code], filter.slice(0, 40)).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(res.body.message).toContain("too complex");
    }
    const versions = await get("model-versions/search", { filter: `name LIKE '%${"x".repeat(60)}%'` });
    expect([versions.status, versions.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    // Should a pattern past the parser still reach D1, its refusal is the filter's error, not the store's.
    const unparsed = {
      field: { kind: "attribute" as const, name: "name" as const },
      comparator: "LIKE" as const,
      value: `%${"x".repeat(60)}%`,
    };
    await expect(
      new ModelStore(env.DB).search({ clauses: [unparsed], order: [], limit: 10, visibility: Visibility.EVERY }),
    ).rejects.toBeInstanceOf(FilterError);
    // A token whose model glob is long (a literal prefix past 50 bytes, and a `*` inside) searches as any other.
    for (const glob of [`${long}-*`, `lp-*${"x".repeat(100)}-one`]) {
      const limited = await hsToken({ scope: "read", models: [glob] });
      const res = await search("name LIKE 'lp-%'", limited);
      expect([glob, res.status, res.body.registered_models?.map((m: { name: string }) => m.name)]).toEqual([
        glob,
        200,
        glob.endsWith("*") ? [`${long}-one`, `${long}-two`] : [`${long}-one`],
      ]);
    }
  }, 60_000);
});

describe("auth and scopes", () => {
  it("takes the token as Bearer or as Basic's password (MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD)", async () => {
    await createModel("mf-auth");
    const token = await hsToken({ scope: "read" });
    const anonymous = await get("registered-models/get", { name: "mf-auth" }, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error_code).toBe("UNAUTHENTICATED");
    expect((await get("registered-models/get", { name: "mf-auth" }, token)).status).toBe(200);
    const basic = await call("GET", `${API}/registered-models/get?name=mf-auth`, {
      token: null,
      headers: { authorization: `Basic ${btoa(`anyone:${token}`)}` },
    });
    expect(basic.status).toBe(200);
    const wrong = await call("GET", `${API}/registered-models/get?name=mf-auth`, {
      token: null,
      headers: { authorization: `Basic ${btoa("anyone:not-a-token")}` },
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error_code: string }).error_code).toBe("UNAUTHENTICATED");
  });

  it("answers a model outside the token's models as missing, lists only its models, and needs the scope of each write", async () => {
    await createModel("team-x-model");
    await createModel("team-y-model");
    const limited = await hsToken({ scope: "read write", models: ["team-x-*"] });
    const hidden = await get("registered-models/get", { name: "team-y-model" }, limited);
    expect(hidden.status).toBe(404);
    expect(hidden.body).toEqual({
      error_code: "RESOURCE_DOES_NOT_EXIST",
      message: "Registered Model with name=team-y-model not found",
    });
    expect(await get("registered-models/get", { name: "no-such-model" }, limited)).toMatchObject({
      body: { error_code: "RESOURCE_DOES_NOT_EXIST", message: "Registered Model with name=no-such-model not found" },
    });
    const listed = await get("registered-models/search", { filter: "name LIKE 'team-%'" }, limited);
    expect(listed.body.registered_models.map((m: { name: string }) => m.name)).toEqual(["team-x-model"]);
    expect(
      (await send("POST", "model-versions/create", { name: "team-y-model", source: "s3://x" }, limited)).body
        .error_code,
    ).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((await send("POST", "registered-models/create", { name: "team-y-new" }, limited)).body.error_code).toBe(
      "PERMISSION_DENIED",
    );

    const promote = await send(
      "POST",
      "registered-models/alias",
      { name: "team-x-model", alias: "prod", version: "1" },
      limited,
    );
    expect(promote.status).toBe(403);
    expect(promote.body.error_code).toBe("PERMISSION_DENIED");
    expect((await send("DELETE", "registered-models/delete", { name: "team-x-model" }, limited)).body.error_code).toBe(
      "PERMISSION_DENIED",
    );
    const reader = await hsToken({ scope: "read" });
    expect(
      (await send("POST", "registered-models/set-tag", { name: "team-x-model", key: "k", value: "v" }, reader)).body
        .error_code,
    ).toBe("PERMISSION_DENIED");
  });

  it("checks a stage move against the token's aliases grant for the stage it enters", async () => {
    await createModel("mf-grant");
    const v = (await readyVersion("mf-grant", { w: bytes("g") })).version as number;
    const ci = await hsToken({ scope: "read promote", aliases: ["staging"] });
    expect(
      (
        await send(
          "POST",
          "model-versions/transition-stage",
          { name: "mf-grant", version: String(v), stage: "Staging", archive_existing_versions: false },
          ci,
        )
      ).status,
    ).toBe(200);
    const prod = await send(
      "POST",
      "model-versions/transition-stage",
      { name: "mf-grant", version: String(v), stage: "Production", archive_existing_versions: false },
      ci,
    );
    expect(prod.status).toBe(403);
    expect(prod.body.error_code).toBe("PERMISSION_DENIED");
    expect(
      (await send("POST", "registered-models/alias", { name: "mf-grant", alias: "production", version: String(v) }, ci))
        .body.error_code,
    ).toBe("PERMISSION_DENIED");
  });
});

describe("mlflow-artifacts", () => {
  it("lists a ready version's directories relative to the listed path, streams files with ranges, and refuses a pending version", async () => {
    await createModel("mf-art");
    const files = {
      MLmodel: bytes("artifact_path: model\n"),
      "model.pkl": bytes("pickle-bytes"),
      "code/util.py": bytes("x = 1\n"),
    };
    const v = (await readyVersion("mf-art", files)).version as number;
    const root = `models/mf-art/versions/${v}`;
    const list = async (path: string) =>
      json("GET", `/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(path)}`);
    expect((await list(root)).body).toEqual({
      files: [
        { path: "code", is_dir: true },
        { path: "MLmodel", is_dir: false, file_size: 21 },
        { path: "model.pkl", is_dir: false, file_size: 12 },
      ],
    });
    expect((await list(`${root}/code`)).body).toEqual({ files: [{ path: "util.py", is_dir: false, file_size: 6 }] });
    expect((await list(`${root}/MLmodel`)).body).toEqual({ files: [] });
    const file = await call("GET", `/api/2.0/mlflow-artifacts/artifacts/${root}/code/util.py`);
    expect(file.status).toBe(200);
    expect(await file.text()).toBe("x = 1\n");
    const range = await call("GET", `/api/2.0/mlflow-artifacts/artifacts/${root}/model.pkl`, {
      headers: { range: "bytes=0-5" },
    });
    expect(range.status).toBe(206);
    expect(await range.text()).toBe("pickle");
    const missing = await json("GET", `/api/2.0/mlflow-artifacts/artifacts/${root}/nope.bin`);
    expect(missing.body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((await list("runs/abc/artifacts")).body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    const upload = await call("PUT", `/api/2.0/mlflow-artifacts/artifacts/${root}/new.bin`, { rawBody: "x" });
    expect(upload.status).toBe(404);

    const pending = (await json("POST", "/v1/models/mf-art/versions", { body: {} })).body.version as number;
    const notReady = await list(`models/mf-art/versions/${pending}`);
    expect(notReady.status).toBe(409);
    expect(notReady.body.error_code).toBe("INVALID_STATE");
    const limited = await hsToken({ scope: "read", models: ["other-*"] });
    const hidden = await json("GET", `/api/2.0/mlflow-artifacts/artifacts?path=${root}`, { token: limited });
    expect(hidden.body.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
  });
});

describe("the OpenAPI document", () => {
  it("lists the bridge's routes", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    expect(doc.paths["/api/2.0/mlflow/registered-models/alias"]).toHaveProperty("post");
    expect(doc.paths["/api/2.0/mlflow/model-versions/search"]).toHaveProperty("get");
    expect(doc.paths["/api/2.0/mlflow-artifacts/artifacts/{path}"]).toHaveProperty("get");
  });
});
