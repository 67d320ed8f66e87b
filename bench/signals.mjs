#!/usr/bin/env node
// bench/signals: production signals under load, against `npm start`.
//   node bench/signals.mjs [--seconds 10] [--connections 16] [--min-nodes 1] [--nodes 0]
// A model whose alias `production` serves version 2 (version 1 before it) carries a guard
// (error_rate max 0.05, 20 samples). autocannon posts signals with 16 connections: after a
// 2 s warm-up, for half the run spread over 500 unguarded aliases and versions (`u<k>`,
// version k + 1: what a client naming many of them sends; no guard counts them), then half
// the run healthy (error_rate 0.01) to production, then half bad (0.5). Reports, per
// phase, requests, failures and the server's CPU time per request (wrangler + workerd,
// from /proc, which other load on the machine moves less than throughput); the calls that
// reached the model's Durable Object (the guard's window counts the batches) against
// requests, and per second; and how long after the bad half began a watcher heard of the
// rollback (event `guard`), with the moment the window's mean crossed the bound computed
// from the request rate. With --min-nodes N the guard waits for N distinct nodes; with
// --nodes K each request names one of K nodes in turn (`node-<i>`), so the Worker's batches
// and the object's window carry node names (the window keeps at most N per bucket).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createHash } from "node:crypto";
import { bytesSource } from "../dist/client.mjs";
import { apiClient, cpuOfGroup, freePort, mintToken, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "16" },
    "min-nodes": { type: "string", default: "1" },
    nodes: { type: "string", default: "0" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const minNodes = Number(values["min-nodes"]);
const nodes = Number(values.nodes);

/**
 * One phase of posting signals to `path` for `duration` s: autocannon's result plus the
 * server's CPU ms per request over it. With `spread`, each request names the next of
 * `spread` aliases (`u0`, `u1`, …) and the version of the same number, none of them guarded.
 */
function drive(path, token, errorRate, duration, { version = 2, spread = 0 } = {}) {
  const before = cpuOfGroup(server.pid);
  let next = 0;
  const setupRequest = (req) => {
    const i = next++;
    const node = nodes > 0 ? { node: `node-${i % nodes}` } : {};
    if (spread === 0) return { ...req, body: JSON.stringify({ version, ...node, metrics: { error_rate: errorRate } }) };
    const k = i % spread;
    return {
      ...req,
      path: `/v1/models/m/aliases/u${k}/signals`,
      body: JSON.stringify({ version: k + 1, ...node, metrics: { error_rate: errorRate } }),
    };
  };
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${base}${path}`,
        method: "POST",
        connections,
        duration,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ version, metrics: { error_rate: errorRate } }),
        ...(spread > 0 || nodes > 0 ? { requests: [{ setupRequest }] } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        result.cpuMsPerRequest = (cpuOfGroup(server.pid) - before) / Math.max(1, result.requests.total);
        resolve(result);
      },
    );
  });
}

const port = await freePort();
const state = mkdtempSync(join(tmpdir(), "mreg-bench-signals-"));
const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], { port });
const base = `http://127.0.0.1:${port}`;
try {
  const admin = apiClient(base, mintToken("read write promote admin"));
  await admin.models.create({ name: "m" });
  for (const v of [1, 2]) {
    const bytes = new TextEncoder().encode(`weights ${v}`);
    await admin.versions.create("m");
    await admin.upload("m", v, "model.bin", bytesSource(bytes), {
      sha256: createHash("sha256").update(bytes).digest("hex"),
    });
    await admin.versions.finalize("m", v);
    await admin.aliases.set("m", "production", { version: v });
  }
  await admin.guards.set("m", "production", {
    metric: "error_rate",
    max: 0.05,
    window_s: 300,
    min_samples: 20,
    min_nodes: minNodes,
  });
  const reporter = mintToken("report", "node");
  const path = "/v1/models/m/aliases/production/signals";
  const half = Math.max(1, Math.round(seconds / 2));

  // Warm-up (JIT, connections), not reported: signals for version 1, which production does not serve.
  await drive(path, reporter, 0.5, 2, { version: 1 });
  const unguarded = await drive(path, reporter, 0.5, half, { spread: 500 });
  const healthy = await drive(path, reporter, 0.01, half);
  await new Promise((r) => setTimeout(r, 1500)); // the last batch of the healthy half
  const { window } = await admin.guards.get("m", "production");

  // How serving nodes hear of it: the watch socket's `guard` event (a GET would wait out the
  // resolve cache's TTL in this isolate).
  let rolledBackAt = null;
  const watch = await admin.aliases.watch("m", "production");
  const events = watch[Symbol.asyncIterator]();
  await events.next(); // the socket is open once its first message (the current state) is here
  const watching = (async () => {
    for (let e = await events.next(); !e.done; e = await events.next())
      if (rolledBackAt === null && e.value.event === "guard") rolledBackAt = Date.now();
  })();
  const badStart = Date.now();
  const bad = await drive(path, reporter, 0.5, half);
  await new Promise((r) => setTimeout(r, 2500));
  watch.close();
  await watching;

  const failed = (r) => r.non2xx + r.errors + r.timeouts;
  const rate = bad.requests.total / half; // bad signals per second
  // The mean of n healthy samples at 0.01 and m bad ones at 0.5 passes 0.05 once m > 0.04 n / 0.45.
  const crossingS = (0.04 * window.samples) / 0.45 / rate;
  const rollbackS = rolledBackAt === null ? null : (rolledBackAt - badStart) / 1000;
  const report = {
    connections,
    min_nodes: minNodes,
    nodes,
    nodes_counted_healthy: window.nodes,
    unguarded_requests: unguarded.requests.total,
    unguarded_failed: failed(unguarded),
    cpu_ms_per_request_unguarded: +unguarded.cpuMsPerRequest.toFixed(3),
    cpu_ms_per_request_healthy: +healthy.cpuMsPerRequest.toFixed(3),
    cpu_ms_per_request_bad: +bad.cpuMsPerRequest.toFixed(3),
    healthy_requests: healthy.requests.total,
    healthy_failed: failed(healthy),
    bad_requests: bad.requests.total,
    bad_failed: failed(bad),
    samples_counted_healthy: window.samples,
    object_calls_healthy: window.batches,
    object_calls_per_second: +(window.batches / half).toFixed(2),
    requests_per_object_call: +(window.samples / Math.max(1, window.batches)).toFixed(1),
    crossing_after_s: +crossingS.toFixed(2),
    rollback_after_s: rollbackS,
    rollback_after_crossing_s: rollbackS === null ? null : +(rollbackS - crossingS).toFixed(2),
  };
  console.log(JSON.stringify(report));
  console.log(
    `\n| requests | failed | CPU ms/request unguarded / healthy / bad | object calls (healthy half) | calls/s | requests per call | crossing after | rolled back after | rollback − crossing |`,
  );
  console.log(`|---|---|---|---|---|---|---|---|---|`);
  console.log(
    `| ${report.unguarded_requests + report.healthy_requests + report.bad_requests} | ${report.unguarded_failed + report.healthy_failed + report.bad_failed} | ${report.cpu_ms_per_request_unguarded} / ${report.cpu_ms_per_request_healthy} / ${report.cpu_ms_per_request_bad} | ${report.object_calls_healthy} over ${half} s | ${report.object_calls_per_second} | ${report.requests_per_object_call} | ${report.crossing_after_s} s | ${rollbackS ?? "never"} s | ${report.rollback_after_crossing_s ?? "—"} s |`,
  );
} finally {
  await server.stop();
  rmSync(state, { recursive: true, force: true });
}
