#!/usr/bin/env node
// bench/resolve: the serving hot path against /healthz, in the same run, under `npm start`.
//   node bench/resolve.mjs [--seconds 10] [--connections 16]
// For a warm cache (RESOLVE_TTL_S=5) and with the cache off (RESOLVE_TTL_S=0): drives
// GET /healthz, then GET /v1/models/m/aliases/production with a valid read token, with
// autocannon, and reports requests/s and p99 latency with their ratios.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { mintToken, startServer } from "./lib.mjs";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" }, connections: { type: "string", default: "16" } } });
const duration = Number(values.seconds);
const connections = Number(values.connections);

function drive(url, headers) {
  return new Promise((resolve, reject) => {
    autocannon({ url, headers, connections, duration }, (err, result) => {
      if (err) return reject(err);
      const bad = result.non2xx + result.errors + result.timeouts;
      if (bad > 0) return reject(new Error(`${url}: ${bad} failed requests`));
      resolve({ rps: result.requests.average, p99: result.latency.p99, p50: result.latency.p50 });
    });
  });
}

async function api(base, token, method, path, body, contentType = "application/json") {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": contentType },
    body,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

async function run(ttl) {
  const port = 8792;
  const state = mkdtempSync(join(tmpdir(), "mreg-bench-resolve-"));
  const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state, "--var", `RESOLVE_TTL_S:${ttl}`], { port });
  const base = `http://127.0.0.1:${port}`;
  try {
    const admin = mintToken("read write promote admin");
    await api(base, admin, "POST", "/v1/models", JSON.stringify({ name: "m" }));
    await api(base, admin, "POST", "/v1/models/m/versions", "{}");
    await api(base, admin, "PUT", "/v1/models/m/versions/1/files/model.bin", "weights", "application/octet-stream");
    await api(base, admin, "POST", "/v1/models/m/versions/1/finalize");
    await api(base, admin, "PUT", "/v1/models/m/aliases/production", JSON.stringify({ version: 1 }));
    const read = { authorization: `Bearer ${mintToken("read")}` };
    // Warm both paths (isolate, token cache, resolve caches) before measuring.
    await drive(`${base}/healthz`, {}).catch(() => undefined);
    await drive(`${base}/v1/models/m/aliases/production`, read);
    const health = await drive(`${base}/healthz`, {});
    const resolve = await drive(`${base}/v1/models/m/aliases/production`, read);
    return { ttl, health, resolve };
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

const rows = [];
for (const ttl of [5, 0]) {
  const r = await run(ttl);
  const row = {
    cache: r.ttl > 0 ? `warm (RESOLVE_TTL_S=${r.ttl})` : "off (RESOLVE_TTL_S=0)",
    healthz_rps: Math.round(r.health.rps),
    resolve_rps: Math.round(r.resolve.rps),
    throughput_ratio: +(r.resolve.rps / r.health.rps).toFixed(2),
    healthz_p99_ms: r.health.p99,
    resolve_p99_ms: r.resolve.p99,
    p99_ratio: +(r.resolve.p99 / Math.max(r.health.p99, 1)).toFixed(2),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log(`\n${connections} connections, ${duration} s each\n`);
console.log("| cache | /healthz req/s | resolve req/s | throughput ratio | /healthz p99 | resolve p99 | p99 ratio |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.cache} | ${r.healthz_rps} | ${r.resolve_rps} | ${r.throughput_ratio}x | ${r.healthz_p99_ms} ms | ${r.resolve_p99_ms} ms | ${r.p99_ratio}x |`);
}
