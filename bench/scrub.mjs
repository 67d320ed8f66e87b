#!/usr/bin/env node
// bench/scrub: the scheduled scrub's throughput per run (src/artifacts/scrub.ts).
//   node bench/scrub.mjs [--size 1] [--budgets 128,1024] [--hash-mib 256]    (size in GiB, budgets in MiB)
//
// 1. The resumable SHA-256 (src/domain/sha256.ts, from the built client) against Node's
//    `crypto.subtle.digest`, on the same bytes, in CPU time: what a byte costs through each.
// 2. For each budget: `npm start` with `--test-scheduled`, SCRUB_BYTES_PER_RUN=<budget> and
//    SCRUB_DAYS=0 (no pacing: each run takes its whole budget), one blob of `--size` GiB
//    uploaded through the typed client, then `/__scheduled` runs until the scrub has verified
//    it: the runs needed, each run's wall time, bytes and the server's workerd CPU time. A
//    budget below the blob's size hashes it range by range through the resumable hash, its
//    state saved in D1; one at least its size hashes it natively in one run (the baseline,
//    same server, same blob). Half way through, the server is killed (SIGKILL) and started
//    again on the same state: the next run must go on from the saved state, so the runs
//    needed stay ceil(size / budget).
// 3. The baseline, same server, same bytes: a plain download of the blob
//    (`GET /v1/.../files/weights.bin`, the body drained, not hashed, by the client) from the
//    Worker's own workerd (past wrangler's dev proxy, which would otherwise add its own copy of
//    every byte to the CPU measured; a scheduled run sends none through it): MiB/s and workerd
//    CPU s/GiB, three rounds, the best. Each scrub row is given as a ratio to it.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openAsBlob, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { blobSource, Sha256 } from "../dist/client.mjs";
import { GiB, MiB, apiClient, freePort, mintToken, startServer, workerOrigin, workerdCpuSeconds } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "1" },
    budgets: { type: "string", default: "128,1024" },
    "hash-mib": { type: "string", default: "256" },
  },
});
const size = Math.round(Number(values.size) * GiB);
const budgets = values.budgets.split(",").map((b) => Math.round(Number(b) * MiB));
const work = mkdtempSync(join(tmpdir(), "mreg-bench-scrub-"));

/** CPU milliseconds (this process) that `fn` takes. */
async function cpuMs(fn) {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** Part 1: MB/s of CPU through the resumable hash (saving and restoring its state every 16 MiB) and through Web Crypto. */
async function hashSpeed(bytes) {
  const data = randomBytes(bytes);
  const rows = [];
  for (let round = 0; round < 3; round++) {
    let resumable;
    const ts = await cpuMs(() => {
      let hash = new Sha256();
      for (let at = 0; at < data.length; at += 16 * MiB) {
        hash.update(data.subarray(at, at + 16 * MiB));
        hash = Sha256.restore(hash.save());
      }
      resumable = hash.digestHex();
    });
    let native;
    const webcrypto = await cpuMs(async () => {
      native = Buffer.from(await crypto.subtle.digest("SHA-256", data)).toString("hex");
    });
    if (resumable !== native) throw new Error(`the hashes differ: ${resumable} ${native}`);
    rows.push({ resumable_mb_s: bytes / 1e6 / (ts / 1000), webcrypto_mb_s: bytes / 1e6 / (webcrypto / 1000) });
  }
  const best = (k) => Math.max(...rows.map((r) => r[k]));
  return {
    mib: bytes / MiB,
    resumable_mb_s: +best("resumable_mb_s").toFixed(0),
    webcrypto_mb_s: +best("webcrypto_mb_s").toFixed(0),
    ratio: +(best("webcrypto_mb_s") / best("resumable_mb_s")).toFixed(1),
  };
}

/** Writes `size` bytes of incompressible data and returns its sha256. */
function makeFile(path, size) {
  const block = randomBytes(64 * MiB);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < size; i++) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  closeSync(fd);
  return hash.digest("hex");
}

/** The scrub's log line of each scheduled run in the server's output (`scrub {...}`, src/index.ts), in order. */
const scrubLines = (output) => [...output.matchAll(/scrub (\{"target".*\})/g)].map((m) => JSON.parse(m[1]));

/** Plain downloads of the blob from the Worker's own workerd: the best of three rounds, MiB/s and workerd CPU s/GiB. */
async function plainDownload(server, port, token, version) {
  const origin = await workerOrigin(server, port);
  const rounds = [];
  for (let round = 0; round < 3; round++) {
    const cpu = workerdCpuSeconds(server.pid);
    const started = performance.now();
    const res = await fetch(`${origin}/v1/models/bench-scrub/versions/${version}/files/weights.bin`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 200) throw new Error(`download: ${res.status} ${await res.text()}`);
    let bytes = 0;
    for await (const chunk of res.body) bytes += chunk.byteLength;
    const seconds = (performance.now() - started) / 1000;
    const cpuS = workerdCpuSeconds(server.pid) - cpu;
    if (bytes !== size) throw new Error(`download: ${bytes} bytes, not ${size}`);
    rounds.push({ mib_s: bytes / MiB / seconds, cpu_s_per_gib: cpuS / (bytes / GiB) });
  }
  return {
    mib_s: +Math.max(...rounds.map((r) => r.mib_s)).toFixed(1),
    workerd_cpu_s_per_gib: +Math.min(...rounds.map((r) => r.cpu_s_per_gib)).toFixed(2),
  };
}

async function scrubRuns(file, sha256, budget) {
  const port = await freePort();
  const state = join(work, `state-${budget}`);
  const args = [
    "start",
    "--",
    "--port",
    String(port),
    "--persist-to",
    state,
    "--inspector-port",
    "0",
    "--test-scheduled",
    "--verbose",
    "--var",
    `SCRUB_BYTES_PER_RUN:${budget}`,
    "--var",
    "SCRUB_DAYS:0",
  ];
  const base = `http://127.0.0.1:${port}`;
  let server = await startServer("npm", args, { port });
  const logged = [];
  const token = mintToken();
  try {
    const client = apiClient(base, token);
    await client.models.create({ name: "bench-scrub" });
    const { version } = await client.versions.create("bench-scrub");
    await client.upload("bench-scrub", version, "weights.bin", blobSource(await openAsBlob(file)), {
      sha256,
      parallel: 4,
      multipartThreshold: 0,
    });
    await client.versions.finalize("bench-scrub", version);
    const expected = Math.ceil(size / budget);
    const runs = [];
    let restarted = false;
    for (let run = 1; run <= expected + 3; run++) {
      if (!restarted && expected > 1 && run === Math.ceil(expected / 2) + 1) {
        // A crash between two runs: the next run must go on from what D1 holds.
        logged.push(...scrubLines(server.output()));
        process.kill(-server.pid, "SIGKILL");
        await new Promise((r) => setTimeout(r, 1000));
        server = await startServer("npm", args, { port });
        restarted = true;
      }
      const cpu = workerdCpuSeconds(server.pid);
      const started = performance.now();
      const res = await fetch(`${base}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`);
      await res.text();
      const seconds = (performance.now() - started) / 1000;
      if (res.status !== 200) throw new Error(`/__scheduled: ${res.status}`);
      const cpuS = workerdCpuSeconds(server.pid) - cpu;
      // The run's log line may trail its answer by a moment.
      let line;
      for (let waited = 0; waited < 10_000; waited += 100) {
        line = scrubLines(server.output()).at(runs.length - logged.length);
        if (line) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!line) throw new Error(`no scrub line after run ${run}:\n${server.output().slice(-2000)}`);
      runs.push({ seconds, cpuS, ...line });
      if (line.corrupt.length > 0) throw new Error(`the scrub marked the blob corrupt: ${JSON.stringify(line)}`);
      if (line.verified > 0) break;
    }
    const download = await plainDownload(server, port, token, version);
    const done = runs.at(-1)?.verified > 0;
    const bytes = runs.reduce((n, r) => n + r.bytes, 0);
    const seconds = runs.reduce((n, r) => n + r.seconds, 0);
    const cpuS = runs.reduce((n, r) => n + r.cpuS, 0);
    return {
      budget_mib: budget / MiB,
      size_mib: size / MiB,
      path: budget >= size ? "native (one run)" : "resumable (ranges, state in D1)",
      verified: done,
      runs: runs.length,
      runs_expected: expected,
      restarted,
      bytes_hashed_mib: +(bytes / MiB).toFixed(0),
      mib_s: +(bytes / MiB / seconds).toFixed(1),
      run_s_max: +Math.max(...runs.map((r) => r.seconds)).toFixed(1),
      workerd_cpu_s_per_gib: +(cpuS / (bytes / GiB)).toFixed(2),
      workerd_cpu_s_per_run_max: +Math.max(...runs.map((r) => r.cpuS)).toFixed(1),
      calls_per_run_max: Math.max(...runs.map((r) => r.calls.r2 + r.calls.other)),
      download_mib_s: download.mib_s,
      download_workerd_cpu_s_per_gib: download.workerd_cpu_s_per_gib,
    };
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

try {
  const hash = await hashSpeed(Number(values["hash-mib"]) * MiB);
  console.log(JSON.stringify({ sha256: hash }));
  const file = join(work, "blob.bin");
  const sha256 = makeFile(file, size);
  const rows = [];
  for (const budget of budgets) {
    const row = await scrubRuns(file, sha256, budget);
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  for (const r of rows)
    console.log(
      `budget ${r.budget_mib} MiB, ${r.path}: ${r.runs} runs (${r.runs_expected} expected${r.restarted ? ", killed and restarted half way" : ""}); ` +
        `${r.mib_s} MiB/s (${(r.mib_s / r.download_mib_s).toFixed(2)}x a plain download's ${r.download_mib_s}), ` +
        `${r.workerd_cpu_s_per_gib} workerd CPU s/GiB (${(r.workerd_cpu_s_per_gib / r.download_workerd_cpu_s_per_gib).toFixed(2)}x the download's ${r.download_workerd_cpu_s_per_gib})`,
    );
} finally {
  rmSync(work, { recursive: true, force: true });
}
