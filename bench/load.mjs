#!/usr/bin/env node
// Mixed load against a real `npm start` (issue 19): `--connections` clients (default 64) for
// `--seconds` (default 60) of reads and writes — resolve, alias reads, lists, get version,
// audit, signals, small uploads + finalize, patches, downloads — while a promoter moves
// `production` of one model or another every second. Reports p50/p99 per route and every
// 5xx; exits 1 on any 5xx or failed promotion.
//   npm run bench:load -- [--connections 64] [--seconds 60] [--models 8] [--out load.json]
// The load generator is raw HTTP (keep-alive, one socket per client), like autocannon; the
// server is started on a spare port with a throw-away persist dir, and its process group is
// stopped at the end, on failure, on a timeout and on Ctrl-C.
import http from "node:http";
import { execSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuOfGroup, freePort, mintToken, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "64" },
    seconds: { type: "string", default: "60" },
    models: { type: "string", default: "8" },
    out: { type: "string" },
  },
});
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);
const MODELS = Number(values.models);

const work = mkdtempSync(join(tmpdir(), "mreg-load-"));
let server;
const stop = async () => {
  await server?.stop();
  server = undefined;
  rmSync(work, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => void stop().then(() => process.exit(130)));
// A hung run must not leave a server behind: setup (≤ 3 min) + the run + the drain.
const watchdog = setTimeout(
  () => {
    console.error("load: timed out");
    void stop().then(() => process.exit(1));
  },
  (240 + SECONDS * 2) * 1000,
);
watchdog.unref();

const machine = () =>
  `${execSync("uptime", { encoding: "utf8" }).trim()}; workerd processes on the machine: ${execSync("ps -eo comm | grep -c '^workerd' || true", { encoding: "utf8" }).trim()}`;

/** A keep-alive HTTP client with at most `sockets` connections. */
function client(base, token, sockets) {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const request = (method, path, { json, bytes, headers = {} } = {}) =>
    new Promise((resolve) => {
      const body = json !== undefined ? Buffer.from(JSON.stringify(json)) : bytes;
      const h = { authorization: `Bearer ${token}`, ...headers };
      if (json !== undefined) h["content-type"] = "application/json";
      if (body) h["content-length"] = String(body.length);
      const started = performance.now();
      const req = http.request(
        { agent, host: url.hostname, port: url.port, method, path, headers: h, timeout: 60_000 },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed = null;
            try {
              parsed = JSON.parse(text);
            } catch {}
            resolve({ status: res.statusCode, body: parsed, text, ms: performance.now() - started });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => resolve({ status: 0, body: null, text: String(err), ms: performance.now() - started }));
      req.end(body);
    });
  return { request, close: () => agent.destroy() };
}

const stats = new Map();
const errors = [];
function record(route, res) {
  let s = stats.get(route);
  if (!s) stats.set(route, (s = { ms: [], statuses: {} }));
  s.ms.push(res.ms);
  s.statuses[res.status] = (s.statuses[res.status] ?? 0) + 1;
  if (res.status >= 500 || res.status === 0) errors.push({ route, status: res.status, body: res.text.slice(0, 300) });
}
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function must(res, what, ...ok) {
  if (!ok.includes(res.status)) throw new Error(`${what}: ${res.status} ${res.text.slice(0, 300)}`);
  return res.body;
}

try {
  console.log(`load: at start: ${machine()}`);
  const port = await freePort();
  server = await startServer(
    "node",
    ["scripts/start.mjs", "--port", String(port), "--persist-to", join(work, "state")],
    { port },
  );
  const base = `http://127.0.0.1:${port}`;
  const token = mintToken("read write promote approve report admin", "load");
  const setup = client(base, token, 8);
  const api = setup.request;

  // Models, each with three ready versions, `production` set, and a guard so signals reach its object.
  const models = Array.from({ length: MODELS }, (_, i) => `load-${i}`);
  const ready = new Map(); // model → ready version numbers
  const upload = async (model, tag) => {
    const v = await must(
      await api("POST", `/v1/models/${model}/versions`, { json: { metrics: { auc: 0.9 }, tags: { tag } } }),
      "create version",
      201,
    );
    await must(
      await api("PUT", `/v1/models/${model}/versions/${v.version}/files/weights.bin`, {
        bytes: Buffer.from(`weights ${model} ${tag}`),
      }),
      "put file",
      201,
    );
    await must(await api("POST", `/v1/models/${model}/versions/${v.version}/finalize`), "finalize", 200);
    return v.version;
  };
  await Promise.all(
    models.map(async (model) => {
      await must(
        await api("POST", "/v1/models", { json: { name: model, tags: { bench: "load" } } }),
        "create model",
        201,
      );
      const versions = [];
      for (let i = 0; i < 3; i++) versions.push(await upload(model, `seed-${i}`));
      ready.set(model, versions);
      await must(
        await api("PUT", `/v1/models/${model}/aliases/production`, { json: { version: versions[0] } }),
        "set production",
        200,
      );
      await must(
        await api("PUT", `/v1/models/${model}/aliases/production/guard`, {
          json: { metric: "latency_ms", max: 1e9, min_samples: 1_000_000 },
        }),
        "guard",
        200,
      );
    }),
  );
  setup.close();

  const load = client(base, token, CONNECTIONS);
  // The promoter's own connections: it does not queue behind the 64 clients' sockets.
  const promote = client(base, token, 4);
  const pick = (items) => items[Math.floor(Math.random() * items.length)];
  const deadline = Date.now() + SECONDS * 1000;

  /** One operation of the mix; the weights sum to 100. */
  const ops = [
    [
      30,
      "GET /v1/resolve",
      (m) => load.request("GET", `/v1/resolve?uri=${encodeURIComponent(`registry://${m}@production`)}`),
    ],
    [8, "GET alias", (m) => load.request("GET", `/v1/models/${m}/aliases/production`)],
    [8, "GET /v1/models (list)", () => load.request("GET", "/v1/models?limit=50&prefix=load-")],
    [5, "GET versions (list)", (m) => load.request("GET", `/v1/models/${m}/versions?limit=20`)],
    [10, "GET version", (m) => load.request("GET", `/v1/models/${m}/versions/${pick(ready.get(m))}`)],
    [5, "GET /v1/audit", (m) => load.request("GET", `/v1/audit?model=${m}&limit=20`)],
    [
      12,
      "POST signals",
      (m) =>
        load.request("POST", `/v1/models/${m}/aliases/production/signals`, {
          json: { version: pick(ready.get(m)), metrics: { latency_ms: Math.random() * 50 }, count: 10 },
        }),
    ],
    [
      6,
      "PATCH version",
      (m) =>
        load.request("PATCH", `/v1/models/${m}/versions/${pick(ready.get(m))}`, {
          json: { tags: { load: String(Math.random()) }, metrics: { qps: Math.random() * 1000 } },
        }),
    ],
    [
      2,
      "PATCH model",
      (m) => load.request("PATCH", `/v1/models/${m}`, { json: { description: `load ${Date.now()}` } }),
    ],
    [4, "GET file", (m) => load.request("GET", `/v1/models/${m}/versions/${pick(ready.get(m))}/files/weights.bin`)],
    [10, "upload (create + put + finalize)", null],
  ];
  const total = ops.reduce((n, [w]) => n + w, 0);

  async function uploadOp(model) {
    const created = await load.request("POST", `/v1/models/${model}/versions`, { json: { tags: { load: "upload" } } });
    record("POST versions", created);
    if (created.status !== 201) return;
    const version = created.body.version;
    const put = await load.request("PUT", `/v1/models/${model}/versions/${version}/files/weights.bin`, {
      bytes: Buffer.from(`load ${version} ${Math.random()}`),
    });
    record("PUT file", put);
    if (put.status !== 201) return;
    const fin = await load.request("POST", `/v1/models/${model}/versions/${version}/finalize`);
    record("POST finalize", fin);
    if (fin.status === 200) ready.get(model).push(version);
  }

  async function clientLoop() {
    while (Date.now() < deadline) {
      const model = pick(models);
      let x = Math.random() * total;
      const op = ops.find(([w]) => (x -= w) < 0) ?? ops[0];
      if (op[2] === null) await uploadOp(model);
      else record(op[1], await op[2](model));
    }
  }

  /**
   * A promotion every second, to a random other ready version of a random model: started on
   * the second whether or not the one before has answered (a slow answer must not thin them out).
   */
  let promotions = 0;
  let failedPromotions = 0;
  async function promoter() {
    const inFlight = [];
    for (let next = Date.now(); next < deadline; next += 1000) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      const model = pick(models);
      inFlight.push(
        promote
          .request("PUT", `/v1/models/${model}/aliases/production`, {
            json: { version: pick(ready.get(model)), reason: "load" },
          })
          .then((res) => {
            record("PUT alias (promotion)", res);
            promotions++;
            if (res.status !== 200) failedPromotions++;
          }),
      );
    }
    await Promise.all(inFlight);
  }

  console.log(`load: ${CONNECTIONS} connections for ${SECONDS} s against ${base}, ${MODELS} models`);
  const started = Date.now();
  // The server's CPU time over the run: a figure the machine's other load disturbs far less than latency.
  const cpuBefore = cpuOfGroup(server.pid);
  await Promise.all([...Array.from({ length: CONNECTIONS }, clientLoop), promoter()]);
  const elapsed = (Date.now() - started) / 1000;
  const cpuMs = cpuOfGroup(server.pid) - cpuBefore;
  load.close();
  promote.close();
  const atEnd = machine();

  const rows = [...stats].map(([route, s]) => {
    const sorted = s.ms.sort((a, b) => a - b);
    return {
      route,
      count: sorted.length,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted[sorted.length - 1],
      statuses: s.statuses,
    };
  });
  rows.sort((a, b) => b.count - a.count);
  const requests = rows.reduce((n, r) => n + r.count, 0);
  const fivexx = errors.length;
  console.log(
    `\n${requests} requests in ${elapsed.toFixed(1)} s (${(requests / elapsed).toFixed(0)}/s); ${promotions} promotions (${failedPromotions} refused); ${fivexx} 5xx or connection errors`,
  );
  console.log(
    `server CPU (wrangler + workerd): ${(cpuMs / 1000).toFixed(1)} s, ${(cpuMs / requests).toFixed(1)} ms per request`,
  );
  console.log(`at end: ${atEnd}\n`);
  console.log("| route | requests | p50 ms | p99 ms | max ms | statuses |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.route} | ${r.count} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(0)} | ${Object.entries(
        r.statuses,
      )
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ")} |`,
    );
  for (const e of errors.slice(0, 10)) console.log(`5xx: ${JSON.stringify(e)}`);
  if (values.out)
    writeFileSync(
      values.out,
      JSON.stringify(
        { connections: CONNECTIONS, seconds: elapsed, requests, cpuMs, promotions, failedPromotions, errors, rows },
        null,
        2,
      ),
    );
  if (fivexx > 0 || failedPromotions > 0) process.exitCode = 1;
} catch (err) {
  console.error(err);
  if (server) console.error(server.output().slice(-4000));
  process.exitCode = 1;
} finally {
  await stop();
  clearTimeout(watchdog);
}
