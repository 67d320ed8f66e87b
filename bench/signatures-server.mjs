#!/usr/bin/env node
// bench/signatures-server: uploading a signature of a 10,000-file version to `npm start`.
//   node bench/signatures-server.mjs [--files 10000] [--uploads 9] [--parallel 16]
// One server, fresh state. A model whose version holds --files small files (uploaded with the
// typed client, --parallel at a time), a P-256 key registered as a signing key, and --uploads
// distinct bundles the verifier's own signer (src/signatures/sign.ts, through bench/oms.mjs)
// made over the version's file list (each ECDSA signature differs, so each upload is a new
// signature: verified, stored in R2, recorded in the model's Durable Object, projected to D1).
// In the same run, for comparison: the same number of uploads of a bundle over a 2-file
// version, and of GETs of the 10,000-file version (the Version with its files, from D1).
// Reports the server's CPU time per request (wrangler + workerd, from /proc: what other load
// on the machine disturbs least), the wall time per request (median), and their ratios.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bytesSource } from "../dist/client.mjs";
import { apiClient, cpuOfGroup, freePort, mintToken, startServer } from "./lib.mjs";
import { loadOms } from "./oms.mjs";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "10000" },
    uploads: { type: "string", default: "9" },
    parallel: { type: "string", default: "16" },
  },
});
const count = Number(values.files);
/** Requests of each kind per half of the run (the halves alternate which kind goes first). */
const half = Math.ceil(Number(values.uploads) / 2);
const parallel = Number(values.parallel);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs `fn` `n` times one after the other: the server's CPU ms per call, and the median wall ms. */
async function measure(pgid, n, fn) {
  const walls = [];
  const before = cpuOfGroup(pgid);
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn(i);
    walls.push(performance.now() - start);
  }
  return { cpu: (cpuOfGroup(pgid) - before) / n, wall: median(walls) };
}

/** A ready version of `model` holding `files`, uploaded `parallel` at a time. */
async function readyVersion(api, model, files) {
  const { version } = await api.versions.create(model);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, files.length) }, async () => {
      while (next < files.length) {
        const f = files[next++];
        await api.upload(model, version, f.path, bytesSource(f.bytes), { sha256: f.sha256 });
      }
    }),
  );
  await api.versions.finalize(model, version);
  return version;
}

const oms = await loadOms();
const port = await freePort();
const state = mkdtempSync(join(tmpdir(), "mreg-bench-signatures-"));
const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], { port });
const base = `http://127.0.0.1:${port}`;
try {
  const api = apiClient(base, mintToken("read write promote admin"));
  const key = await oms.generateSigningKey();
  await api.signingKeys.create({ name: "bench", public_key: key.publicKeyPem });

  const big = await oms.syntheticFiles(count);
  const small = await oms.syntheticFiles(2);
  await api.models.create({ name: "big" });
  await api.models.create({ name: "small" });
  const started = performance.now();
  const bigVersion = await readyVersion(api, "big", big);
  console.log(`uploaded ${count} files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const smallVersion = await readyVersion(api, "small", small);

  const sign = (files, name) =>
    oms.signStatement(
      files.map((f) => ({ path: f.path, sha256: f.sha256 })),
      { keyPair: key.keyPair },
      name,
    );
  // One more of each for the warm-up (the isolate, the key cache, the first D1 and R2 calls).
  const bigBundles = [];
  const smallBundles = [];
  for (let i = 0; i <= 2 * half; i++) {
    bigBundles.push(await sign(big, "big"));
    smallBundles.push(await sign(small, "small"));
  }
  const check = (signature, what) => {
    if (signature.trusted_by.length !== 1) throw new Error(`${what}: not trusted: ${JSON.stringify(signature)}`);
  };
  check(await api.signatures.add("big", bigVersion, bigBundles[2 * half]), "warm-up");
  check(await api.signatures.add("small", smallVersion, smallBundles[2 * half]), "warm-up");
  await api.versions.get("big", bigVersion);
  console.log(`bundle over ${count} files: ${(bigBundles[0].length / 1024).toFixed(0)} KiB`);

  const rows = [];
  // Alternating which goes first, so other load on the machine falls on each alike.
  for (const order of [0, 1]) {
    const runs = {
      bigUpload: () =>
        measure(server.pid, half, async (i) =>
          check(await api.signatures.add("big", bigVersion, bigBundles[order * half + i]), "big"),
        ),
      smallUpload: () =>
        measure(server.pid, half, async (i) =>
          check(await api.signatures.add("small", smallVersion, smallBundles[order * half + i]), "small"),
        ),
      versionRead: () =>
        measure(server.pid, half, async () => {
          const v = await api.versions.get("big", bigVersion);
          if (v.files.length !== count) throw new Error(`the version lists ${v.files.length} files`);
        }),
    };
    const names = order === 0 ? Object.keys(runs) : Object.keys(runs).reverse();
    const row = {};
    for (const name of names) row[name] = await runs[name]();
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const listed = await api.signatures.list("big", bigVersion);
  if (listed.length !== 2 * half + 1) throw new Error(`${listed.length} signatures listed`);

  const avg = (key, field) => rows.reduce((s, r) => s + r[key][field], 0) / rows.length;
  const fmt = (n) => n.toFixed(1);
  console.log(`\n${count} files, ${2 * half} requests of each kind (two halves, alternating)\n`);
  console.log("| request | server CPU / request | wall / request (median) |");
  console.log("|---|---|---|");
  console.log(
    `| signature upload, ${count} files | ${fmt(avg("bigUpload", "cpu"))} ms | ${fmt(avg("bigUpload", "wall"))} ms |`,
  );
  console.log(
    `| signature upload, 2 files | ${fmt(avg("smallUpload", "cpu"))} ms | ${fmt(avg("smallUpload", "wall"))} ms |`,
  );
  console.log(
    `| GET the ${count}-file version | ${fmt(avg("versionRead", "cpu"))} ms | ${fmt(avg("versionRead", "wall"))} ms |`,
  );
  console.log(
    `\nratios (CPU): upload ${count} / upload 2 = ${(avg("bigUpload", "cpu") / avg("smallUpload", "cpu")).toFixed(2)}x; upload ${count} / GET version = ${(avg("bigUpload", "cpu") / avg("versionRead", "cpu")).toFixed(2)}x`,
  );
} finally {
  await server.stop();
  rmSync(state, { recursive: true, force: true });
}
