#!/usr/bin/env node
// bench/hf: the Hugging Face bridge against the /v1 routes it mirrors, in one run, under `npm start`.
//   node bench/hf.mjs [--ttl 2] [--rounds 5] [--seconds 4] [--connections 16] [--size 1024] [--downloads 3]
// One server (RESOLVE_TTL_S=--ttl), one model `m` whose version 1 holds `weights.bin` (--size
// MiB of incompressible bytes, uploaded through the typed client's multipart path) and the
// alias `production`. Then, alternating which goes first in each round so that load from
// elsewhere on the machine falls on both alike:
// 1. metadata: autocannon for --seconds per round, --rounds rounds, of
//    `HEAD /m/resolve/production/weights.bin` (what hf_hub_download sends first: `Bearer hf_`
//    token, `Accept-Encoding: identity`) against `GET /v1/models/m/aliases/production`;
//    requests/s, p99 and the server's CPU time per request (wrangler + workerd, from /proc).
//    Targets: throughput >= 0.9x, p99 <= 1.2x.
// 2. bytes: --downloads rounds of the whole file through `GET /m/resolve/production/weights.bin`
//    against `GET /v1/models/m/versions/1/files/weights.bin`, MiB/s from the request to the
//    last byte. One unmeasured download through each first checks the sha256. Target >= 0.95x.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openAsBlob, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { blobSource } from "../dist/client.mjs";
import { MiB, apiClient, cpuOfGroup, freePort, mintToken, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    ttl: { type: "string", default: "2" },
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "4" },
    connections: { type: "string", default: "16" },
    size: { type: "string", default: "1024" },
    downloads: { type: "string", default: "3" },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.seconds);
const connections = Number(values.connections);
const size = Math.round(Number(values.size) * MiB);
const downloads = Number(values.downloads);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ratio = (a, b) => +(a / b).toFixed(2);

/** Writes `bytes` of incompressible data and returns its sha256. */
function makeFile(path, bytes) {
  const block = randomBytes(64 * MiB);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < bytes; i++) {
    const chunk = block.subarray(0, Math.min(block.length, bytes - written));
    chunk.writeUInt32LE(i, 0); // no two blocks alike
    writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  closeSync(fd);
  return hash.digest("hex");
}

/**
 * autocannon's HTTP parser (http-parser-js) is not told that a response to HEAD has no body,
 * so it would wait for `Content-Length` bytes that never come. Each client's parser is
 * wrapped, once the client has installed its handlers (after its constructor: the next tick,
 * before any byte arrives), to answer "skip the body" as Node's own HTTP client does for HEAD.
 */
function headAware(client) {
  process.nextTick(() => {
    const key = client.parser.constructor.kOnHeadersComplete;
    const onHeadersComplete = client.parser[key];
    client.parser[key] = (...info) => {
      onHeadersComplete(...info);
      return 1;
    };
  });
}

/** Drives `url` with autocannon; also the server's CPU ms per request over the same span. */
function drive(url, { method = "GET", headers }, seconds, pgid) {
  const cpuBefore = pgid ? cpuOfGroup(pgid) : 0;
  const setupClient = method === "HEAD" ? headAware : undefined;
  return new Promise((resolve, reject) => {
    autocannon({ url, method, headers, connections, duration: seconds, setupClient }, (err, result) => {
      if (err) return reject(err);
      const bad = result.non2xx + result.errors + result.timeouts;
      if (bad > 0) return reject(new Error(`${method} ${url}: ${bad} failed requests of ${result.requests.total}`));
      const cpu = pgid ? (cpuOfGroup(pgid) - cpuBefore) / result.requests.total : NaN;
      resolve({ rps: result.requests.average, p99: result.latency.p99, cpu });
    });
  });
}

/** Downloads `url` to the end; MiB/s, and the sha256 when asked. */
async function download(url, headers, hash = false) {
  const started = performance.now();
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  const digest = hash ? createHash("sha256") : undefined;
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += chunk.length;
    digest?.update(chunk);
  }
  const seconds = (performance.now() - started) / 1000;
  if (bytes !== size) throw new Error(`GET ${url}: ${bytes} bytes, expected ${size}`);
  return { mibps: bytes / MiB / seconds, seconds, sha256: digest?.digest("hex") };
}

/** Runs `a` and `b` once each per round, alternating which goes first. */
async function alternate(n, a, b) {
  const out = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      const x = await a();
      out.push({ a: x, b: await b() });
    } else {
      const y = await b();
      out.push({ a: await a(), b: y });
    }
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "mreg-bench-hf-"));
const port = await freePort();
const state = join(work, "state");
const file = join(work, "weights.bin");
const server = await startServer(
  "npm",
  ["start", "--", "--port", String(port), "--persist-to", state, "--var", `RESOLVE_TTL_S:${values.ttl}`],
  { port },
);
const base = `http://127.0.0.1:${port}`;
try {
  const sha256 = makeFile(file, size);
  const admin = apiClient(base, mintToken("read write promote admin"));
  await admin.models.create({ name: "m" });
  const { version } = await admin.versions.create("m");
  const { file: stored } = await admin.upload("m", version, "weights.bin", blobSource(await openAsBlob(file)), {
    sha256,
    parallel: 4,
  });
  if (stored.sha256 !== sha256) throw new Error(`upload: ${JSON.stringify(stored)}`);
  await admin.versions.finalize("m", version);
  await admin.aliases.set("m", "production", { version });
  rmSync(file);

  const jwt = mintToken("read");
  const v1Headers = { authorization: `Bearer ${jwt}` };
  const hfHeaders = { authorization: `Bearer hf_${jwt}`, "accept-encoding": "identity" };
  const resolveUrl = `${base}/v1/models/m/aliases/production`;
  const headUrl = `${base}/m/resolve/production/weights.bin`;
  const fileUrl = `${base}/v1/models/m/versions/${version}/files/weights.bin`;

  // 1. Metadata: warm both paths (isolate, token cache, resolve caches) first.
  await drive(resolveUrl, { headers: v1Headers }, 2);
  await drive(headUrl, { method: "HEAD", headers: hfHeaders }, 2);
  const meta = await alternate(
    rounds,
    () => drive(headUrl, { method: "HEAD", headers: hfHeaders }, duration, server.pid),
    () => drive(resolveUrl, { headers: v1Headers }, duration, server.pid),
  );
  const metaRows = meta.map(({ a: hf, b: v1 }, i) => ({
    round: i + 1,
    v1_rps: Math.round(v1.rps),
    hf_rps: Math.round(hf.rps),
    throughput_ratio: ratio(hf.rps, v1.rps),
    v1_p99: v1.p99,
    hf_p99: hf.p99,
    p99_ratio: ratio(hf.p99, Math.max(v1.p99, 1)),
    v1_cpu: +v1.cpu.toFixed(2),
    hf_cpu: +hf.cpu.toFixed(2),
    cpu_ratio: ratio(hf.cpu, v1.cpu),
  }));
  const metaMedian = { round: "median" };
  for (const key of Object.keys(metaRows[0]).filter((k) => k !== "round"))
    metaMedian[key] = median(metaRows.map((r) => r[key]));

  // 2. Bytes: one checked download through each (unmeasured), then the measured rounds.
  for (const [url, headers] of [
    [fileUrl, v1Headers],
    [headUrl, hfHeaders],
  ]) {
    const checked = await download(url, headers, true);
    if (checked.sha256 !== sha256) throw new Error(`GET ${url}: sha256 ${checked.sha256}, expected ${sha256}`);
  }
  const bytes = await alternate(
    downloads,
    () => download(headUrl, hfHeaders),
    () => download(fileUrl, v1Headers),
  );
  const byteRows = bytes.map(({ a: hf, b: v1 }, i) => ({
    round: i + 1,
    v1_mibps: +v1.mibps.toFixed(1),
    hf_mibps: +hf.mibps.toFixed(1),
    ratio: ratio(hf.mibps, v1.mibps),
  }));
  const byteMedian = { round: "median" };
  for (const key of ["v1_mibps", "hf_mibps", "ratio"]) byteMedian[key] = median(byteRows.map((r) => r[key]));

  console.log(
    `\nHEAD /m/resolve/production/weights.bin vs GET /v1/models/m/aliases/production: ${connections} connections, ${rounds} rounds of ${duration} s, RESOLVE_TTL_S=${values.ttl}\n`,
  );
  console.log(
    "| round | /v1 resolve req/s | HF HEAD req/s | throughput ratio | /v1 p99 | HF p99 | p99 ratio | server CPU/req /v1, HF | CPU ratio |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of [...metaRows, metaMedian]) {
    console.log(
      `| ${r.round} | ${r.v1_rps} | ${r.hf_rps} | ${r.throughput_ratio}x | ${r.v1_p99} ms | ${r.hf_p99} ms | ${r.p99_ratio}x | ${r.v1_cpu}, ${r.hf_cpu} ms | ${r.cpu_ratio}x |`,
    );
  }
  console.log(
    `\nGET of a ${values.size} MiB file: /m/resolve/production/weights.bin vs /v1/models/m/versions/${version}/files/weights.bin (sha256 checked once each)\n`,
  );
  console.log("| round | /v1 MiB/s | HF MiB/s | ratio |");
  console.log("|---|---|---|---|");
  for (const r of [...byteRows, byteMedian])
    console.log(`| ${r.round} | ${r.v1_mibps} | ${r.hf_mibps} | ${r.ratio}x |`);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
