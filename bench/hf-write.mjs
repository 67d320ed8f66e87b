#!/usr/bin/env node
// bench/hf-write: publishing through the Hugging Face Hub write protocol against `mreg push`,
// the same file in the same run, under `npm start` (default MAX_SINGLE_PUT and UPLOAD_PART_SIZE).
//   node bench/hf-write.mjs [--size 1024] [--rounds 3]        (size in MiB; run `npm run build:cli` first)
// One file of --size MiB of incompressible bytes. Each round publishes it once each way,
// alternating which goes first so that load from elsewhere on the machine falls on both alike:
// - hub: `@huggingface/hub`'s `uploadFiles` (what `hfjs upload` and training scripts call), into
//   a repo of its own; the file goes in HF's `multipart` LFS transfer (5 parts in flight, the
//   client's own setting), then the NDJSON commit makes the version.
// - push: `mreg push` (the CLI, as a pipeline runs it; 4 parts in flight, its default) into a
//   model of its own, with a fresh state directory (no hash cache, no resume).
// Both hash the file, send it and wait for a ready version; the wall time of each, from the call
// to the ready version, gives MiB/s. Before each upload the file's first 8 bytes are rewritten
// (the round and side), so no upload finds its bytes already on the registry. Target: hub >= 0.9x push.
import { execFile } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openAsBlob, openSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { createRepo, uploadFiles } from "@huggingface/hub";
import { MiB, apiClient, freePort, mintToken, root, startServer } from "./lib.mjs";

const run = promisify(execFile);
const { values } = parseArgs({
  options: { size: { type: "string", default: "1024" }, rounds: { type: "string", default: "3" } },
});
let size = Math.round(Number(values.size) * MiB);
const rounds = Number(values.rounds);
const ratio = (a, b) => +(a / b).toFixed(2);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Writes `bytes` of incompressible data (no two 64 MiB blocks alike). */
function makeFile(path, bytes) {
  const block = randomBytes(64 * MiB);
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < bytes; i++) {
    const chunk = block.subarray(0, Math.min(block.length, bytes - written));
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk);
    written += chunk.length;
  }
  closeSync(fd);
}

/** Makes the file's bytes new: its first 8 bytes name the round and the side. */
function stamp(path, round, side) {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(round, 0);
  head.writeUInt32LE(side === "hub" ? 1 : 2, 4);
  const fd = openSync(path, "r+");
  writeSync(fd, head, 0, 8, 0);
  closeSync(fd);
}

const work = mkdtempSync(join(tmpdir(), "mreg-bench-hf-write-"));
const port = await freePort();
const file = join(work, "weights.bin");
const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", join(work, "state")], {
  port,
});
const base = `http://127.0.0.1:${port}`;
try {
  const jwt = mintToken("read write", "trainer");
  const admin = apiClient(base, mintToken("read write admin"));

  /** The version a model's newest upload made, checked ready with the file's size. */
  async function readyVersion(model) {
    const { items } = await admin.versions.list(model, { limit: 1 });
    const v = items[0];
    if (v?.status !== "ready") throw new Error(`${model}: ${JSON.stringify(v)}`);
    const [f] = (await admin.versions.get(model, v.version)).files;
    if (f.size !== size) throw new Error(`${model}: ${JSON.stringify(f)}`);
    return v.version;
  }

  async function hub(round) {
    const repo = `mreg/hub-${round}`;
    await createRepo({ repo, accessToken: `hf_${jwt}`, hubUrl: base });
    stamp(file, round, "hub");
    const started = performance.now();
    await uploadFiles({
      repo,
      accessToken: `hf_${jwt}`,
      hubUrl: base,
      files: [{ path: "weights.bin", content: await openAsBlob(file) }],
    });
    const seconds = (performance.now() - started) / 1000;
    await readyVersion(`hub-${round}`);
    return seconds;
  }

  async function push(round) {
    const state = join(work, `push-state-${round}`);
    mkdirSync(state);
    stamp(file, round, "push");
    const started = performance.now();
    await run(process.execPath, [join(root, "dist", "mreg.mjs"), "push", `push-${round}`, file, "-q"], {
      env: { ...process.env, MREG_URL: base, MREG_TOKEN: jwt, MREG_STATE_DIR: state, MREG_CONFIG_DIR: state },
    });
    const seconds = (performance.now() - started) / 1000;
    await readyVersion(`push-${round}`);
    return seconds;
  }

  // One unmeasured upload each way (of a smaller file, still multipart) warms both paths.
  const measured = size;
  size = Math.min(size, 128 * MiB);
  makeFile(file, size);
  await hub(0);
  await push(0);
  size = measured;
  makeFile(file, size);
  const rows = [];
  for (let round = 1; round <= rounds; round++) {
    let hubS, pushS;
    if (round % 2 === 1) {
      hubS = await hub(round);
      pushS = await push(round);
    } else {
      pushS = await push(round);
      hubS = await hub(round);
    }
    const mib = size / MiB;
    rows.push({
      round,
      push_mibps: +(mib / pushS).toFixed(1),
      hub_mibps: +(mib / hubS).toFixed(1),
      ratio: ratio(pushS, hubS),
    });
  }
  const med = { round: "median" };
  for (const key of ["push_mibps", "hub_mibps", "ratio"]) med[key] = median(rows.map((r) => r[key]));
  console.log(`uploadFiles (Hub protocol) against mreg push, ${values.size} MiB, ${rounds} rounds`);
  console.table([...rows, med]);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
