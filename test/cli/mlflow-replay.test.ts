/**
 * MLflow's Python client, replayed by HTTP against the real `npm start` the CLI tests share
 * (test/cli/global-setup.ts; the client itself cannot be installed here). Each sequence is the requests `MlflowClient` sends, written from
 * mlflow/mlflow at these stored versions:
 *
 * - `mlflow/store/model_registry/rest_store.py` and `mlflow/utils/rest_utils.py`, commit
 *   001cc178a1442b488da41853c497adc5285a284d: every call goes to `/api/2.0/mlflow/<path>`;
 *   `message_to_json` of the request proto, then `requests` with `params=` for GET (repeated
 *   fields repeat the key; `urlencode` with `quote_plus`) and `json=` otherwise (DELETE too),
 *   Python's `json.dumps` separators; `Authorization: Bearer $MLFLOW_TRACKING_TOKEN`, or
 *   Basic when MLFLOW_TRACKING_USERNAME/PASSWORD are set; `verify_rest_response` wants 200
 *   and a JSON object; `get_latest_versions` tries POST, then GET (`call_endpoints`).
 * - `mlflow/protos/model_registry.proto`, commit 05e6cc9b8487945522c87e3f1a9ffc04eb2ecc2d:
 *   field names and types of every answer (ModelVersion 1-14, RegisteredModel 1-8).
 * - `mlflow/protos/mlflow_artifacts.proto`, commit 033a191493f276486dc59232958220b39261dabf,
 *   and `mlflow/store/artifact/{models,mlflow_artifacts,http}_artifact_repo.py`: `models:/m@a`
 *   is alias → `get-download-uri` → `mlflow-artifacts:/…` resolved against the tracking URI
 *   → `GET /api/2.0/mlflow-artifacts/artifacts?path=…` (recursively, an empty list meaning a
 *   file) → a GET per file under the artifact URI.
 */
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { sandbox, token } from "./helpers";

const BASE = inject("mregUrl");
let TOKEN = "";
let ADMIN = "";

beforeAll(() => {
  const { env } = sandbox();
  TOKEN = token(env, "deployer", "read write promote");
  ADMIN = token(env, "admin", "admin");
});

/** Python's `json.dumps` with its default separators, as `requests` sends `json=`. */
function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`)
      .join(", ")}}`;
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `urllib.parse.urlencode(params, doseq=True)`: `quote_plus`, so spaces are `+` and `'()*!` are escaped. */
function pyQuery(params: Record<string, string | string[]>): string {
  const quote = (s: string) =>
    encodeURIComponent(s)
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, "+");
  return Object.entries(params)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${quote(k)}=${quote(x)}`))
    .join("&");
}

type Auth = { bearer: string } | { basic: [string, string] };

function headers(auth: Auth, json: boolean): Record<string, string> {
  const h: Record<string, string> = {
    "user-agent": "mlflow-python-client/2.22.0",
    accept: "*/*",
    "accept-encoding": "gzip, deflate",
  };
  h.authorization =
    "bearer" in auth
      ? `Bearer ${auth.bearer}`
      : `Basic ${Buffer.from(`${auth.basic[0]}:${auth.basic[1]}`).toString("base64")}`;
  if (json) h["content-type"] = "application/json";
  return h;
}

/** One `call_endpoint`: the status and the parsed JSON object (the client refuses anything else). */
async function callEndpoint(
  method: string,
  path: string,
  body: Record<string, unknown>,
  auth: Auth = { bearer: TOKEN },
) {
  const url = `${BASE}/api/2.0/mlflow/${path}`;
  const res =
    method === "GET"
      ? await fetch(`${url}?${pyQuery(body as Record<string, string | string[]>)}`, { headers: headers(auth, false) })
      : await fetch(url, { method, headers: headers(auth, true), body: pyJson(body) });
  const text = await res.text();
  const parsed = JSON.parse(text) as Record<string, unknown>;
  expect(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), text).toBe(true);
  return { status: res.status, body: parsed as Record<string, any> }; // reason: answers are checked against the proto below
}

/** The proto's fields and their JSON types (int64 as numbers, enums by name, repeated as lists). */
const MODEL_VERSION: Record<string, string> = {
  name: "string",
  version: "string",
  creation_timestamp: "int64",
  last_updated_timestamp: "int64",
  user_id: "string",
  current_stage: "string",
  description: "string",
  source: "string",
  run_id: "string",
  status: "enum",
  status_message: "string",
  tags: "tags",
  run_link: "string",
  aliases: "strings",
};
const REGISTERED_MODEL: Record<string, string> = {
  name: "string",
  creation_timestamp: "int64",
  last_updated_timestamp: "int64",
  user_id: "string",
  description: "string",
  latest_versions: "versions",
  tags: "tags",
  aliases: "aliases",
};

function checkMessage(message: Record<string, unknown>, fields: Record<string, string>, what: string) {
  for (const [key, value] of Object.entries(message)) {
    const type = fields[key];
    expect(type, `${what} has no field ${key}`).toBeDefined();
    switch (type) {
      case "string":
        expect(typeof value, `${what}.${key}`).toBe("string");
        break;
      case "int64":
        expect(Number.isSafeInteger(value), `${what}.${key}`).toBe(true);
        break;
      case "enum":
        expect(["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"]).toContain(value);
        break;
      case "strings":
        expect((value as unknown[]).every((v) => typeof v === "string")).toBe(true);
        break;
      case "tags":
        for (const t of value as Record<string, unknown>[]) expect(Object.keys(t).sort()).toEqual(["key", "value"]);
        break;
      case "aliases":
        for (const a of value as Record<string, unknown>[])
          expect(typeof a.alias === "string" && typeof a.version === "string").toBe(true);
        break;
      case "versions":
        for (const v of value as Record<string, unknown>[]) checkMessage(v, MODEL_VERSION, `${what}.latest_versions[]`);
        break;
    }
  }
}
const checkVersion = (mv: Record<string, unknown>) => checkMessage(mv, MODEL_VERSION, "ModelVersion");
const checkModel = (rm: Record<string, unknown>) => checkMessage(rm, REGISTERED_MODEL, "RegisteredModel");

const FILES: Record<string, string> = {
  MLmodel:
    "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n",
  "model.pkl": "\u0080\u0004pickled-estimator",
  "requirements.txt": "scikit-learn==1.5.0\n",
  "code/features.py": "def features(x):\n    return x\n",
};

/** What `mreg push` does for the files of a pending version: PUT each through /v1, then finalize. */
async function pushFiles(model: string, version: string) {
  for (const [path, text] of Object.entries(FILES)) {
    const put = await fetch(`${BASE}/v1/models/${model}/versions/${version}/files/${path}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: Buffer.from(text, "utf8"),
    });
    expect(put.status).toBe(201);
  }
  expect(
    (
      await fetch(`${BASE}/v1/models/${model}/versions/${version}/finalize`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    ).status,
  ).toBe(200);
}

describe("MlflowClient against npm start", () => {
  it("create_registered_model, create_model_version (with its wait for READY), aliases, stages, searches, get_latest_versions", async () => {
    // mlflow.register_model: create_registered_model, then on a re-run RESOURCE_ALREADY_EXISTS is its cue to go on.
    const created = await callEndpoint("POST", "registered-models/create", {
      name: "fraud-e2e",
      tags: [{ key: "team", value: "risk" }],
      description: "card fraud",
    });
    expect(created.status).toBe(200);
    checkModel(created.body.registered_model);
    const again = await callEndpoint("POST", "registered-models/create", { name: "fraud-e2e" });
    expect(again).toEqual({
      status: 400,
      body: { error_code: "RESOURCE_ALREADY_EXISTS", message: expect.any(String) },
    });

    // create_model_version: CreateModelVersion's fields in proto order, then `_await_model_version_creation` polls get.
    const mv = await callEndpoint("POST", "model-versions/create", {
      name: "fraud-e2e",
      source: "mlflow-artifacts:/1/4f2c/artifacts/model",
      run_id: "4f2c",
      tags: [{ key: "mlflow.user", value: "ann" }],
      run_link: "https://mlflow.example.com/#/experiments/1/runs/4f2c",
      description: "gbm",
    });
    expect(mv.status).toBe(200);
    checkVersion(mv.body.model_version);
    expect(mv.body.model_version).toMatchObject({
      name: "fraud-e2e",
      version: "1",
      status: "PENDING_REGISTRATION",
      run_id: "4f2c",
    });
    const polled = await callEndpoint("GET", "model-versions/get", { name: "fraud-e2e", version: "1" });
    expect(polled.body.model_version.status).toBe("PENDING_REGISTRATION");
    await pushFiles("fraud-e2e", "1");
    const ready = await callEndpoint("GET", "model-versions/get", { name: "fraud-e2e", version: "1" });
    checkVersion(ready.body.model_version);
    expect(ready.body.model_version.status).toBe("READY");

    // set_registered_model_alias / get_model_version_by_alias.
    expect(
      await callEndpoint("POST", "registered-models/alias", { name: "fraud-e2e", alias: "champion", version: "1" }),
    ).toEqual({ status: 200, body: {} });
    const byAlias = await callEndpoint("GET", "registered-models/alias", { name: "fraud-e2e", alias: "champion" });
    checkVersion(byAlias.body.model_version);
    expect(byAlias.body.model_version).toMatchObject({ version: "1", aliases: ["champion"] });

    // search_model_versions: the client's default max_results (10000); filters by name and by run_id.
    const byName = await callEndpoint("GET", "model-versions/search", {
      filter: "name='fraud-e2e'",
      max_results: "10000",
    });
    expect(byName.body.model_versions.map((v: { version: string }) => v.version)).toEqual(["1"]);
    byName.body.model_versions.forEach(checkVersion);
    const byRun = await callEndpoint("GET", "model-versions/search", {
      filter: "run_id = '4f2c'",
      max_results: "10000",
      order_by: ["version_number DESC"],
    });
    expect(byRun.body.model_versions.map((v: { name: string }) => v.name)).toEqual(["fraud-e2e"]);
    const models = await callEndpoint("GET", "registered-models/search", {
      filter: "name LIKE 'fraud%'",
      max_results: "100",
    });
    expect(models.body.registered_models.map((m: { name: string }) => m.name)).toEqual(["fraud-e2e"]);
    models.body.registered_models.forEach(checkModel);

    // transition_model_version_stage: archive_existing_versions is always sent.
    const moved = await callEndpoint("POST", "model-versions/transition-stage", {
      name: "fraud-e2e",
      version: "1",
      stage: "Production",
      archive_existing_versions: false,
    });
    expect(moved.status).toBe(200);
    checkVersion(moved.body.model_version);
    expect(moved.body.model_version.current_stage).toBe("Production");

    // get_latest_versions: POST first; the GET form answers the same.
    const latest = await callEndpoint("POST", "registered-models/get-latest-versions", {
      name: "fraud-e2e",
      stages: ["Production"],
    });
    expect(
      latest.body.model_versions.map((v: { version: string; current_stage: string }) => [v.version, v.current_stage]),
    ).toEqual([["1", "Production"]]);
    latest.body.model_versions.forEach(checkVersion);
    expect(
      (
        await callEndpoint("GET", "registered-models/get-latest-versions", {
          name: "fraud-e2e",
          stages: ["Production"],
        })
      ).body,
    ).toEqual(latest.body);
    const model = await callEndpoint("GET", "registered-models/get", { name: "fraud-e2e" });
    checkModel(model.body.registered_model);
    expect(model.body.registered_model.aliases).toEqual([{ alias: "champion", version: "1" }]);

    // The same writes as /v1: audited, by the token's subject.
    const audit = (await (
      await fetch(`${BASE}/v1/audit?model=fraud-e2e`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json()) as { items: { action: string; actor: string }[] };
    expect(audit.items.map((e) => `${e.action}:${e.actor}`)).toEqual(
      expect.arrayContaining([
        "alias.set:deployer",
        "version.stage:deployer",
        "version.create:deployer",
        "model.create:deployer",
      ]),
    );
  });

  it("downloads models:/fraud-e2e@champion as ModelsArtifactRepository does, with Basic credentials", async () => {
    const basic: Auth = { basic: ["ann", TOKEN] };
    const { body: aliased } = await callEndpoint(
      "GET",
      "registered-models/alias",
      { name: "fraud-e2e", alias: "champion" },
      basic,
    );
    const { body: uri } = await callEndpoint(
      "GET",
      "model-versions/get-download-uri",
      { name: "fraud-e2e", version: aliased.model_version.version },
      basic,
    );
    expect(uri.artifact_uri).toBe("mlflow-artifacts:/models/fraud-e2e/versions/1");
    // MlflowArtifactsRepository.resolve_uri: the tracking URI's scheme and host, /api/2.0/mlflow-artifacts/artifacts, the URI's path.
    const artifactUri = `${BASE}/api/2.0/mlflow-artifacts/artifacts${new URL(uri.artifact_uri as string).pathname}`;
    const root = artifactUri.split("/mlflow-artifacts/artifacts")[1]!.replace(/^\//, "");

    const list = async (path: string): Promise<{ path: string; is_dir: boolean; file_size?: number }[]> => {
      const res = await fetch(
        `${BASE}/api/2.0/mlflow-artifacts/artifacts?${pyQuery({ path: path ? `${root}/${path}` : root })}`,
        { headers: headers(basic, false) },
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { files?: { path: string; is_dir: boolean; file_size?: number }[] };
      for (const f of body.files ?? []) {
        expect(Object.keys(f).every((k) => ["path", "is_dir", "file_size"].includes(k))).toBe(true);
        expect(f.path.includes("/")).toBe(false);
      }
      return (body.files ?? []).map((f) => ({ ...f, path: path ? `${path}/${f.path}` : f.path }));
    };
    // ArtifactRepository.download_artifacts(""): _iter_artifacts_recursive, then _download_file per file.
    const files: string[] = [];
    const walk = async (path: string) => {
      for (const entry of await list(path)) {
        if (entry.is_dir) await walk(entry.path);
        else files.push(entry.path);
      }
    };
    await walk("");
    expect(files.sort()).toEqual(Object.keys(FILES).sort());
    expect(await list("MLmodel")).toEqual([]);
    for (const path of files) {
      const res = await fetch(`${artifactUri}/${path}`, { headers: headers(basic, false) });
      expect(res.status).toBe(200);
      const got = Buffer.from(await res.arrayBuffer());
      const want = Buffer.from(FILES[path]!, "utf8");
      expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(want).digest("hex"));
    }
    const mlmodel = await (await fetch(`${artifactUri}/MLmodel`, { headers: headers(basic, false) })).text();
    expect(mlmodel).toContain("python_function");
  });

  it("answers without a token, with a bad one, and for runs in MLflow's error format", async () => {
    const anonymous = await fetch(`${BASE}/api/2.0/mlflow/registered-models/get?name=fraud-e2e`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error_code: string }).error_code).toBe("UNAUTHENTICATED");
    const bad = await callEndpoint("GET", "registered-models/get", { name: "fraud-e2e" }, { basic: ["ann", "wrong"] });
    expect(bad.body.error_code).toBe("UNAUTHENTICATED");
    const runs = await callEndpoint("GET", "runs/get", { run_id: "4f2c" });
    expect(runs).toMatchObject({ status: 404, body: { error_code: "ENDPOINT_NOT_FOUND" } });
  });
});
