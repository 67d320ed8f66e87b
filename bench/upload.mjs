#!/usr/bin/env node
// bench/upload: mreg's multipart upload path against a minimal "stream the body into R2"
// Worker, both under the same wrangler dev, one after the other, for each file size.
//   node bench/upload.mjs [--sizes 1,2] [--parallel 4]        (sizes in GiB)
// mreg's side goes through the typed client (src/client), as users' code would.
// Reports upload throughput (and its ratio to the baseline), the peak RSS and the CPU time of
// the server's own workerd processes during each upload, then downloads mreg's copy and
// checks its sha256.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, openAsBlob, openSync, rmSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { blobSource } from "../dist/client.mjs";
import {
  GiB,
  MiB,
  apiClient,
  fmtMiB,
  mintToken,
  root,
  rssSampler,
  sendFileRegion,
  startServer,
  workerdCpuSeconds,
} from "./lib.mjs";

const { values } = parseArgs({
  options: { sizes: { type: "string", default: "1,2" }, parallel: { type: "string", default: "4" } },
});
const sizes = values.sizes.split(",").map((s) => Math.round(Number(s) * GiB));
const parallel = Number(values.parallel);
const work = mkdtempSync(join(tmpdir(), "mreg-bench-upload-"));

/** Writes `size` bytes of incompressible data and returns its sha256. */
function makeFile(path, size) {
  const block = randomBytes(64 * MiB);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < size; i++) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    chunk.writeUInt32LE(i, 0); // no two blocks alike
    writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  closeSync(fd);
  return hash.digest("hex");
}

async function baseline(file, size, reread) {
  const port = 8790;
  const server = await startServer(
    join(root, "node_modules", ".bin", "wrangler"),
    [
      "dev",
      "--config",
      "bench/baseline/wrangler.toml",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      join(work, "baseline-state"),
    ],
    { port, healthPath: "/" },
  );
  try {
    const rss = rssSampler(100, server.pid);
    const cpu = workerdCpuSeconds(server.pid);
    const started = performance.now();
    const url = `http://127.0.0.1:${port}/bench-object${reread ? "?reread=1" : ""}`;
    const res = await sendFileRegion({ method: "PUT", url, file, start: 0, length: size });
    const seconds = (performance.now() - started) / 1000;
    const peak = rss.stop();
    if (res.status !== 200) throw new Error(`baseline PUT: ${res.status} ${res.body}`);
    return { seconds, peak, cpu: workerdCpuSeconds(server.pid) - cpu };
  } finally {
    await server.stop();
    rmSync(join(work, "baseline-state"), { recursive: true, force: true });
  }
}

/** Streams a download through sha256 without holding it. */
async function downloadSha256(client, model, version, path) {
  const { body } = await client.files.download(model, version, path);
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  return { sha256: hash.digest("hex"), bytes };
}

async function mreg(file, size, sha256) {
  const port = 8791;
  const state = join(work, "mreg-state");
  const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], {
    port,
    log: process.env.BENCH_LOG ? (output) => console.error(output) : undefined,
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    const client = apiClient(base, mintToken());
    const model = `bench-${size}`;
    await client.models.create({ name: model });
    const { version } = await client.versions.create(model);
    const rss = rssSampler(100, server.pid);
    const cpu = workerdCpuSeconds(server.pid);
    const started = performance.now();
    // The client's multipart upload: POST uploads, `parallel` parts in flight, complete. The
    // parts phase ends when the last part has landed, which splits the RSS and CPU figures.
    let partsDone = 0;
    let partsPeak = 0;
    let partsCpu = 0;
    let completeRss;
    let landed = 0;
    const { file: stored, uploadId } = await client.upload(
      model,
      version,
      "weights.bin",
      blobSource(await openAsBlob(file)),
      {
        sha256,
        parallel,
        multipartThreshold: 0,
        onPart: (_part, upload) => {
          if (++landed < upload.part_count) return;
          partsDone = performance.now();
          partsPeak = rss.stop();
          partsCpu = workerdCpuSeconds(server.pid) - cpu;
          completeRss = rssSampler(100, server.pid);
        },
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const completePeak = completeRss.stop();
    const completeCpu = workerdCpuSeconds(server.pid) - cpu - partsCpu;
    const peak = Math.max(partsPeak, completePeak);
    if (!uploadId || stored.sha256 !== sha256) throw new Error(`upload: ${JSON.stringify(stored)}`);
    const { part_size: partSize } = await client.uploads.get(model, version, uploadId);
    const download = await downloadSha256(client, model, version, "weights.bin");
    if (download.sha256 !== sha256 || download.bytes !== size)
      throw new Error(`download mismatch: ${JSON.stringify(download)}`);
    return {
      seconds,
      partsSeconds: (partsDone - started) / 1000,
      peak,
      partsPeak,
      completePeak,
      partsCpu,
      completeCpu,
      partSize,
      verified: true,
    };
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

const rows = [];
try {
  for (const size of sizes) {
    const file = join(work, `file-${size}.bin`);
    const sha256 = makeFile(file, size);
    const b = await baseline(file, size, false);
    const v = await baseline(file, size, true);
    const m = await mreg(file, size, sha256);
    rmSync(file, { force: true });
    const row = {
      size_mib: Number(fmtMiB(size)),
      baseline_mib_s: +(size / MiB / b.seconds).toFixed(1),
      mreg_mib_s: +(size / MiB / m.seconds).toFixed(1),
      throughput_ratio: +(b.seconds / m.seconds).toFixed(2),
      reread_baseline_mib_s: +(size / MiB / v.seconds).toFixed(1),
      reread_baseline_ratio: +(b.seconds / v.seconds).toFixed(2),
      reread_baseline_peak_rss_mib: Number(fmtMiB(v.peak)),
      mreg_parts_s: +m.partsSeconds.toFixed(1),
      mreg_total_s: +m.seconds.toFixed(1),
      baseline_s: +b.seconds.toFixed(1),
      baseline_peak_rss_mib: Number(fmtMiB(b.peak)),
      mreg_peak_rss_mib: Number(fmtMiB(m.peak)),
      mreg_parts_peak_rss_mib: Number(fmtMiB(m.partsPeak)),
      mreg_complete_peak_rss_mib: Number(fmtMiB(m.completePeak)),
      rss_ratio: +(m.peak / b.peak).toFixed(2),
      baseline_cpu_s: +b.cpu.toFixed(1),
      reread_baseline_cpu_s: +v.cpu.toFixed(1),
      mreg_parts_cpu_s: +m.partsCpu.toFixed(1),
      mreg_complete_cpu_s: +m.completeCpu.toFixed(1),
      download_sha256_ok: m.verified,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(
  "\n| size | baseline MiB/s | mreg MiB/s | mreg / baseline | baseline + re-read / baseline | baseline peak RSS | baseline + re-read peak RSS | mreg peak RSS (parts / complete) | mreg / baseline RSS | workerd CPU s: baseline / + re-read / mreg parts + complete | download sha256 |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.size_mib} MiB | ${r.baseline_mib_s} | ${r.mreg_mib_s} | ${r.throughput_ratio}x | ${r.reread_baseline_ratio}x | ${r.baseline_peak_rss_mib} MiB | ${r.reread_baseline_peak_rss_mib} MiB | ${r.mreg_peak_rss_mib} MiB (${r.mreg_parts_peak_rss_mib} / ${r.mreg_complete_peak_rss_mib}) | ${r.rss_ratio}x | ${r.baseline_cpu_s} / ${r.reread_baseline_cpu_s} / ${r.mreg_parts_cpu_s} + ${r.mreg_complete_cpu_s} | ${r.download_sha256_ok ? "ok" : "MISMATCH"} |`,
  );
}
