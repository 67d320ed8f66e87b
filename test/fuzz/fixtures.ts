/**
 * What the fuzzer's valid requests name: two models, ready and pending versions with files,
 * aliases, a guard, an open upload, a webhook, minted tokens. Made through the API with the
 * admin token (the same on workerd and against a server), and made again every so often,
 * since the fuzzer's own valid DELETEs and PUTs take them apart.
 */
import type { Json } from "./schema-arb";
import { bytes, type Send, type Wire } from "./wire";

export const FUZZ_MODEL = "fz-model";
export const FUZZ_PROMPT = "fz-prompt";

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (data: Uint8Array) => hex(await crypto.subtle.digest("SHA-256", data));

const FILES: Record<string, string> = {
  "README.md": "---\nlibrary_name: transformers\npipeline_tag: text-classification\ntags: [fuzz]\n---\n# fuzz model\n",
  "weights.bin": "\u0000\u0001\u0002 weights",
  "dir/config.json": '{"hidden": 8}',
  "dir/sub/tokenizer.txt": "a b c\n",
};

export interface Fixtures {
  pools: Record<string, Json[]>;
  tokens: { reader: string; otherModels: string; stagingOnly: string };
}

/** Calls the API as the admin, recording each request; answers the parsed JSON (or null). */
function client(
  send: Send,
  admin: string,
  record: (wire: Wire, status: number, headers: Headers, body: string) => void,
) {
  return async (
    method: string,
    target: string,
    body?: Json | Uint8Array,
  ): Promise<{ status: number; json: Record<string, unknown> | null }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${admin}` };
    let payload: Uint8Array | undefined;
    if (body instanceof Uint8Array) payload = body;
    else if (body !== undefined) {
      payload = bytes(JSON.stringify(body));
      headers["content-type"] = "application/json";
    }
    const wire: Wire = { method, target, headers, ...(payload ? { body: payload } : {}) };
    const reply = await send(wire);
    record(wire, reply.status, reply.headers, reply.body);
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(reply.body) as Record<string, unknown>;
    } catch {
      json = null;
    }
    return { status: reply.status, json };
  };
}

/**
 * Builds (or rebuilds) the fixtures. `round` numbers each rebuild, so its names are new.
 * Failures (a model the fuzzer deleted, a gate it set) are tolerated: the pools keep what worked.
 */
export async function buildFixtures(
  send: Send,
  admin: string,
  round: number,
  previous: Fixtures | undefined,
  record: (wire: Wire, status: number, headers: Headers, body: string) => void,
): Promise<Fixtures> {
  const api = client(send, admin, record);
  const pools: Record<string, Json[]> = previous ? structuredClone(previous.pools) : {};
  const add = (name: string, ...values: Json[]) => {
    const pool = (pools[name] ??= []);
    for (const v of values) if (!pool.some((p) => JSON.stringify(p) === JSON.stringify(v))) pool.push(v);
    // Bounded: the newest values matter most.
    if (pool.length > 40) pool.splice(0, pool.length - 40);
  };

  await api("POST", "/v1/models", { name: FUZZ_MODEL, description: "fuzz fixture", tags: { team: "fuzz" } });
  await api("POST", "/v1/models", { name: FUZZ_PROMPT, kind: "prompt" });
  add("model", FUZZ_MODEL, FUZZ_PROMPT, "fz-missing");
  add("name", FUZZ_MODEL, `fz-new-${round}`);

  const v = await api("POST", `/v1/models/${FUZZ_MODEL}/versions`, {
    description: "ready",
    metrics: { auc: 0.9 },
    tags: { keep: "true" },
    lineage: {
      run_id: `run-${round}`,
      git_sha: "a".repeat(40),
      datasets: [{ uri: "s3://fuzz/data", snapshot: "1" }],
      params: { lr: 0.1 },
    },
  });
  const ready = typeof v.json?.version === "number" ? v.json.version : undefined;
  if (ready !== undefined) {
    for (const [path, text] of Object.entries(FILES)) {
      const data = bytes(text);
      await api("PUT", `/v1/models/${FUZZ_MODEL}/versions/${ready}/files/${path}`, data);
      add("path", path);
      add("sha256", await sha256(data));
    }
    const fin = await api("POST", `/v1/models/${FUZZ_MODEL}/versions/${ready}/finalize`);
    const digest = typeof fin.json?.digest === "string" ? fin.json.digest : undefined;
    if (digest) add("revision", digest.slice("sha256:".length, "sha256:".length + 40));
    add("version", ready);
    await api("PUT", `/v1/models/${FUZZ_MODEL}/aliases/production`, { version: ready, reason: "fixture" });
    await api("PUT", `/v1/models/${FUZZ_MODEL}/aliases/staging`, { version: ready });
    await api("PUT", `/v1/models/${FUZZ_MODEL}/aliases/production/guard`, {
      metric: "error_rate",
      max: 1e9,
      min_samples: 1000,
    });
  }

  const p = await api("POST", `/v1/models/${FUZZ_MODEL}/versions`, {
    description: "pending",
    lineage: ready ? { parents: [{ model: FUZZ_MODEL, version: ready }] } : {},
  });
  const pending = typeof p.json?.version === "number" ? p.json.version : undefined;
  if (pending !== undefined) {
    add("version", pending);
    await api("PUT", `/v1/models/${FUZZ_MODEL}/versions/${pending}/files/pending.txt`, bytes("pending"));
    const up = await api("POST", `/v1/models/${FUZZ_MODEL}/versions/${pending}/uploads`, {
      path: "big.bin",
      size: 12 * 1024 * 1024,
      sha256: "ab".repeat(32),
    });
    if (typeof up.json?.upload_id === "string") add("upload_id", up.json.upload_id);
  }
  add("version", 999_999);
  add("alias", "production", "staging", "canary", "latest", "v1");
  add("target", "production", "staging");
  add("repo", FUZZ_MODEL, `mreg/${FUZZ_MODEL}`, "other/fz-model", FUZZ_PROMPT);
  add("revision", "main", "HEAD", "production", "staging", "latest", "v1");
  add("uri", `registry://${FUZZ_MODEL}@production`, `registry://${FUZZ_MODEL}/1`, `registry://${FUZZ_MODEL}@staging`);
  add("metric", "error_rate", "auc");
  add("url", "http://127.0.0.1:9/fuzz", "https://hooks.example.com/fuzz");
  add("prefix", "fz");
  add("tag", "team:fuzz");
  add("run_id", `run-${round}`);
  add("git_sha", "a".repeat(40));
  add("dataset", "s3://fuzz/data");

  const hook = await api("POST", "/v1/webhooks", {
    url: "http://127.0.0.1:9/fuzz",
    events: ["alias.*"],
    description: "fuzz",
  });
  if (typeof hook.json?.id === "string") {
    add("webhook", hook.json.id);
    await api("POST", `/v1/webhooks/${hook.json.id}/ping`);
  }

  const mint = async (sub: string, extra: Record<string, Json>) => {
    const res = await api("POST", "/v1/tokens", { sub, ttl_s: 86_400, ...extra });
    if (typeof res.json?.id === "string") add("token", res.json.id);
    return typeof res.json?.token === "string" ? res.json.token : "";
  };
  const tokens = previous?.tokens ?? {
    reader: await mint("fuzz-reader", { scope: "read" }),
    otherModels: await mint("fuzz-other", { scope: "read write promote", models: ["other-*"] }),
    stagingOnly: await mint("fuzz-stager", { scope: "read write promote report", aliases: ["staging"] }),
  };
  // One more each round, for the fuzzer's own DELETE /v1/tokens/{id} to revoke.
  await mint(`fuzz-spare-${round}`, { scope: "read" });

  return { pools, tokens };
}
