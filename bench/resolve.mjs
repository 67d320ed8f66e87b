#!/usr/bin/env node
// bench/resolve: the serving hot path against /healthz, in the same run, under `npm start`.
//   node bench/resolve.mjs [--ttl 2] [--rounds 5] [--seconds 4] [--connections 16] [--signatures 0]
// Two servers, one after the other: the cache warm (RESOLVE_TTL_S=--ttl) and off
// (RESOLVE_TTL_S=0). On each, after a warm-up, `--rounds` rounds of GET /healthz and
// GET /v1/models/m/aliases/production (valid read token) for `--seconds` each, alternating
// which goes first, so load from elsewhere on the machine falls on both alike. With the
// defaults a warm run resolves for 20 s across ~10 TTLs of 2 s: a miss storm at expiry
// would show in its p99. Reports, per round and as medians, requests/s, p99 and the
// server's CPU time per request (wrangler + workerd, from /proc), with their ratios. With
// --signatures N, the version carries N signatures (a registered key's), which every
// Resolution lists.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createHash } from "node:crypto";
import { bytesSource } from "../dist/client.mjs";
import { apiClient, cpuOfGroup, freePort, mintToken, startServer } from "./lib.mjs";
import { loadOms } from "./oms.mjs";

const WEIGHTS_SHA256 = createHash("sha256").update("weights").digest("hex");

const { values } = parseArgs({
  options: {
    ttl: { type: "string", default: "2" },
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "4" },
    connections: { type: "string", default: "16" },
    signatures: { type: "string", default: "0" },
  },
});
const warmTtl = Number(values.ttl);
const rounds = Number(values.rounds);
const duration = Number(values.seconds);
const connections = Number(values.connections);
const signatures = Number(values.signatures);

/** Drives `url`; with `pgid`, also the server's CPU ms per request over the same span. */
function drive(url, headers, seconds = duration, pgid = undefined) {
  const cpuBefore = pgid ? cpuOfGroup(pgid) : 0;
  return new Promise((resolve, reject) => {
    autocannon({ url, headers, connections, duration: seconds }, (err, result) => {
      if (err) return reject(err);
      const bad = result.non2xx + result.errors + result.timeouts;
      if (bad > 0) return reject(new Error(`${url}: ${bad} failed requests`));
      const cpu = pgid ? (cpuOfGroup(pgid) - cpuBefore) / result.requests.total : NaN;
      resolve({ rps: result.requests.average, p99: result.latency.p99, cpu });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function run(ttl) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "mreg-bench-resolve-"));
  const server = await startServer(
    "npm",
    ["start", "--", "--port", String(port), "--persist-to", state, "--var", `RESOLVE_TTL_S:${ttl}`],
    { port },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    const admin = apiClient(base, mintToken("read write promote admin"));
    await admin.models.create({ name: "m" });
    const { version } = await admin.versions.create("m");
    await admin.upload("m", version, "model.bin", bytesSource(new TextEncoder().encode("weights")), {
      sha256: WEIGHTS_SHA256,
    });
    await admin.versions.finalize("m", version);
    await admin.aliases.set("m", "production", { version });
    if (signatures > 0) {
      const oms = await loadOms();
      const key = await oms.generateSigningKey();
      await admin.signingKeys.create({ name: "bench", public_key: key.publicKeyPem });
      for (let i = 0; i < signatures; i++) {
        const bundle = await oms.signStatement(
          [{ path: "model.bin", sha256: WEIGHTS_SHA256 }],
          { keyPair: key.keyPair },
          "m",
        );
        await admin.signatures.add("m", version, bundle);
      }
      const listed = (await admin.aliases.resolve("m", "production")).signatures;
      if (listed.length !== signatures) throw new Error(`the Resolution lists ${listed.length} signatures`);
    }
    const read = { authorization: `Bearer ${mintToken("read")}` };
    const health = () => drive(`${base}/healthz`, {}, duration, server.pid);
    const resolve = () => drive(`${base}/v1/models/m/aliases/production`, read, duration, server.pid);
    // Warm both paths (isolate, token cache, resolve caches) before measuring.
    await drive(`${base}/healthz`, {}, 2).catch(() => undefined);
    await drive(`${base}/v1/models/m/aliases/production`, read, 2);
    const out = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        const h = await health();
        out.push({ health: h, resolve: await resolve() });
      } else {
        const r = await resolve();
        out.push({ health: await health(), resolve: r });
      }
    }
    return out;
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

const table = [];
for (const ttl of [warmTtl, 0]) {
  const cache = ttl > 0 ? `warm (RESOLVE_TTL_S=${ttl})` : "off (RESOLVE_TTL_S=0)";
  const results = await run(ttl);
  const rows = results.map((r, i) => ({
    cache,
    round: i + 1,
    healthz_rps: Math.round(r.health.rps),
    resolve_rps: Math.round(r.resolve.rps),
    throughput_ratio: +(r.resolve.rps / r.health.rps).toFixed(2),
    healthz_p99_ms: r.health.p99,
    resolve_p99_ms: r.resolve.p99,
    p99_ratio: +(r.resolve.p99 / Math.max(r.health.p99, 1)).toFixed(2),
    healthz_cpu_ms: +r.health.cpu.toFixed(2),
    resolve_cpu_ms: +r.resolve.cpu.toFixed(2),
    cpu_ratio: +(r.resolve.cpu / r.health.cpu).toFixed(2),
  }));
  for (const row of rows) console.log(JSON.stringify(row));
  table.push(...rows, {
    cache,
    round: "median",
    healthz_rps: Math.round(median(rows.map((r) => r.healthz_rps))),
    resolve_rps: Math.round(median(rows.map((r) => r.resolve_rps))),
    throughput_ratio: median(rows.map((r) => r.throughput_ratio)),
    healthz_p99_ms: median(rows.map((r) => r.healthz_p99_ms)),
    resolve_p99_ms: median(rows.map((r) => r.resolve_p99_ms)),
    p99_ratio: median(rows.map((r) => r.p99_ratio)),
    healthz_cpu_ms: median(rows.map((r) => r.healthz_cpu_ms)),
    resolve_cpu_ms: median(rows.map((r) => r.resolve_cpu_ms)),
    cpu_ratio: median(rows.map((r) => r.cpu_ratio)),
  });
}
console.log(
  `\n${connections} connections, ${rounds} rounds of ${duration} s per path and cache setting, ${signatures} signatures\n`,
);
console.log(
  "| cache | round | /healthz req/s | resolve req/s | throughput ratio | /healthz p99 | resolve p99 | p99 ratio | server CPU/req /healthz, resolve | CPU ratio |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of table) {
  console.log(
    `| ${r.cache} | ${r.round} | ${r.healthz_rps} | ${r.resolve_rps} | ${r.throughput_ratio}x | ${r.healthz_p99_ms} ms | ${r.resolve_p99_ms} ms | ${r.p99_ratio}x | ${r.healthz_cpu_ms}, ${r.resolve_cpu_ms} ms | ${r.cpu_ratio}x |`,
  );
}
