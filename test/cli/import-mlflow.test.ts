/**
 * `mreg import mlflow --from <url>` against a small fake MLflow server that answers with the
 * shapes MLflow's server writes (`model_registry.proto` / `mlflow_artifacts.proto` through
 * `message_to_json`: int64 as numbers, versions as strings, tags as lists, empty fields left
 * out), paged as MLflow pages, and checks the source credentials MLflow's clients send.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mregSpawn, sandbox, token } from "./helpers";

const SOURCE_TOKEN = "source-secret";
const now = 1_764_547_200_000;

const artifacts: Record<string, Record<string, string>> = {
  "1/run1/artifacts/model": {
    MLmodel: "artifact_path: model\nflavors: {python_function: {}}\n",
    "model.pkl": "weights-v1",
  },
  "1/run2/artifacts/model": {
    MLmodel: "artifact_path: model\n",
    "model.pkl": "weights-v2",
    "extra/schema.json": '{"cols": 3}',
  },
  "1/run4/artifacts/model": { MLmodel: "artifact_path: model\n", "model.pkl": "weights-v1" },
};

const version = (name: string, v: number, stage: string, run: string, extra: Record<string, unknown> = {}) => ({
  name,
  version: String(v),
  creation_timestamp: now + v,
  last_updated_timestamp: now + v,
  current_stage: stage,
  source: `mlflow-artifacts:/1/${run}/artifacts/model`,
  run_id: run,
  status: "READY",
  tags: [{ key: "mlflow.user", value: "ann" }],
  run_link: `http://mlflow.local/#/experiments/1/runs/${run}`,
  ...extra,
});

const models = [
  {
    name: "Payment Fraud",
    creation_timestamp: now,
    last_updated_timestamp: now,
    description: "card fraud",
    tags: [{ key: "team", value: "risk" }],
    aliases: [{ alias: "Champion", version: "4" }],
    versions: [
      version("Payment Fraud", 1, "Archived", "run1"),
      version("Payment Fraud", 2, "None", "run2", { description: "second" }),
      version("Payment Fraud", 4, "Production", "run4"),
    ],
  },
  {
    name: "churn",
    creation_timestamp: now,
    last_updated_timestamp: now,
    versions: [{ ...version("churn", 1, "Staging", "runc"), source: "s3://bucket/churn/1" }],
  },
];

/** Answers the calls the import makes, as an MLflow 2.x tracking server with `--serve-artifacts` does. */
function fakeMlflow(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url!, "http://fake");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${SOURCE_TOKEN}`)
      return send(401, { error_code: "UNAUTHENTICATED", message: "no" });
    const q = url.searchParams;
    const byName = (name: string | null) => models.find((m) => m.name === name);
    switch (url.pathname) {
      case "/api/2.0/mlflow/registered-models/search": {
        // One model a page, to make the import follow next_page_token.
        const at = q.get("page_token") ? Number(q.get("page_token")) : 0;
        const { versions: _versions, ...model } = models[at]!;
        return send(200, {
          registered_models: [model],
          ...(at + 1 < models.length ? { next_page_token: String(at + 1) } : {}),
        });
      }
      case "/api/2.0/mlflow/model-versions/search": {
        const name = /^name = '(.*)'$/.exec(q.get("filter") ?? "")?.[1] ?? null;
        return send(200, { model_versions: [...(byName(name)?.versions ?? [])].reverse() });
      }
      case "/api/2.0/mlflow/model-versions/get-download-uri": {
        const v = byName(q.get("name"))?.versions.find((x) => x.version === q.get("version"));
        return v
          ? send(200, { artifact_uri: v.source })
          : send(404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "no version" });
      }
      case "/api/2.0/mlflow-artifacts/artifacts": {
        const path = q.get("path") ?? "";
        const root = Object.keys(artifacts).find((r) => path === r || path.startsWith(r + "/"));
        if (!root) return send(200, {});
        const dir = path.slice(root.length).replace(/^\//, "");
        const prefix = dir ? dir + "/" : "";
        const seen = new Set<string>();
        const files = [];
        for (const [file, text] of Object.entries(artifacts[root]!)) {
          if (!file.startsWith(prefix)) continue;
          const rest = file.slice(prefix.length);
          const slash = rest.indexOf("/");
          if (slash < 0) files.push({ path: rest, is_dir: false, file_size: Buffer.byteLength(text) });
          else if (!seen.has(rest.slice(0, slash))) {
            seen.add(rest.slice(0, slash));
            files.push({ path: rest.slice(0, slash), is_dir: true });
          }
        }
        return send(200, files.length ? { files } : {});
      }
    }
    const file = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/.exec(url.pathname);
    if (file) {
      const path = decodeURIComponent(file[1]!);
      const root = Object.keys(artifacts).find((r) => path.startsWith(r + "/"));
      const text = root ? artifacts[root]![path.slice(root.length + 1)] : undefined;
      if (text === undefined) return send(404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: path });
      res.writeHead(200, { "content-type": "application/octet-stream" });
      return res.end(text);
    }
    send(404, { error_code: "ENDPOINT_NOT_FOUND", message: url.pathname });
  });
}

let fake: Server;
let from = "";
const base = inject("mregUrl");
const { env } = sandbox();

beforeAll(async () => {
  fake = fakeMlflow();
  await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
  from = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
  env.MREG_TOKEN = token(env, "importer", "admin");
  env.MLFLOW_TRACKING_TOKEN = SOURCE_TOKEN;
});

afterAll(() => new Promise<void>((r) => fake.close(() => r())));

const v1 = async (path: string) => {
  const res = await fetch(`${base}/v1${path}`, { headers: { authorization: `Bearer ${env.MREG_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // reason: /v1 answers are checked field by field below
};
/** Runs `mreg args…` in the background: the fake server answers from this same process, so a blocking run would starve it. */
async function mreg(environment: NodeJS.ProcessEnv, args: string[]) {
  const { out, exited } = mregSpawn(environment, args);
  const code = await exited;
  return { code, stdout: out.stdout, stderr: out.stderr };
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("mreg import mlflow", () => {
  it("says what it would copy under which names with --dry-run, and writes nothing", async () => {
    const run = await mreg(env, ["import", "mlflow", "--from", from, "--dry-run", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.models.map((m: { mlflow_name: string; name: string }) => [m.mlflow_name, m.name])).toEqual([
      ["Payment Fraud", "payment-fraud"],
      ["churn", "churn"],
    ]);
  });

  it("copies models, versions under MLflow's numbers, files, stages, aliases and tags; a second run copies nothing again", async () => {
    const run = await mreg(env, ["import", "mlflow", "--from", from, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    // churn's files live in S3, out of reach: it stays pending, so its stage cannot be set either.
    expect(out.warnings).toEqual([
      expect.stringContaining("s3://bucket/churn/1 are not served through mlflow-artifacts"),
      expect.stringContaining("churn version 1: stage Staging not set"),
    ]);

    const model = await v1("/models/payment-fraud");
    expect(model.body).toMatchObject({
      description: "card fraud",
      tags: { team: "risk" },
      aliases: { champion: 4 },
      latest_version: 4,
    });
    const versions = (await v1("/models/payment-fraud/versions")).body.items as Record<string, any>[];
    expect(versions.map((v) => [v.version, v.status, v.stage])).toEqual([
      [4, "ready", "production"],
      [2, "ready", "none"],
      [1, "ready", "archived"],
    ]);
    const second = versions.find((v) => v.version === 2)!;
    expect(second).toMatchObject({
      description: "second",
      tags: { "mlflow.user": "ann", mlflow_version: "2" },
      lineage: {
        source: "mlflow-artifacts:/1/run2/artifacts/model",
        run_id: "run2",
        run_url: "http://mlflow.local/#/experiments/1/runs/run2",
      },
    });
    expect(Object.fromEntries(second.files.map((f: { path: string; sha256: string }) => [f.path, f.sha256]))).toEqual(
      Object.fromEntries(Object.entries(artifacts["1/run2/artifacts/model"]!).map(([p, t]) => [p, sha(t)])),
    );
    // Version 3 was deleted in MLflow: its number is skipped in mreg too.
    expect((await v1("/models/payment-fraud/versions/3")).status).toBe(404);
    const audit = (await v1("/audit?model=payment-fraud&action=version.delete")).body.items as {
      version: number;
      actor: string;
    }[];
    expect(audit.map((e) => [e.version, e.actor])).toEqual([[3, "importer"]]);

    const churn = (await v1("/models/churn/versions/1")).body;
    expect(churn).toMatchObject({ status: "pending", lineage: { source: "s3://bucket/churn/1" } });

    const again = await mreg(env, ["import", "mlflow", "--from", from, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    const rerun = JSON.parse(again.stdout);
    expect(rerun.models[0].versions.map((v: { version: number; bytes: number }) => [v.version, v.bytes])).toEqual([
      [1, 0],
      [2, 0],
      [4, 0],
    ]);
    expect(((await v1("/models/payment-fraud/versions")).body.items as unknown[]).length).toBe(3);
  });

  it("fails clearly when the source refuses the credentials", async () => {
    const run = await mreg({ ...env, MLFLOW_TRACKING_TOKEN: "wrong" }, ["import", "mlflow", "--from", from]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("answered 401: UNAUTHENTICATED");
  });
});
