#!/usr/bin/env node
// bench/oci: copying a version with skopeo through the OCI bridge against `mreg pull` of the
// same version, in one run, under `npm start`.
//   node bench/oci.mjs [--size 1024] [--rounds 3] [--target oci|dir]
// One server, one model `m` whose version 1 holds `weights.bin` (--size MiB of incompressible
// bytes, uploaded through the typed client's multipart path) and the alias `production`.
// Then --rounds rounds, alternating which goes first so that load from elsewhere on the
// machine falls on both alike, each into a fresh directory:
// - `skopeo copy --src-creds x:<token> docker://127.0.0.1:PORT/m:production oci:<dir>:m`
//   (Debian's skopeo; it verifies every blob's digest as it writes it);
// - `mreg pull m@production <dir>` (the CLI: ranged, several in flight, sha256-verified).
// MiB/s from the command's start to its exit. The first round's outputs are also checked
// with sha256 against the uploaded file (outside the timing). Target: skopeo >= 0.9x.
// Then what the OCI blob route's read-ahead (src/artifacts/read-ahead.ts) does for a client
// that sends one GET without Range: --rounds single GETs of the blob route against the /v1
// file route (which reads R2 in one get), time to first byte and MiB/s.
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, existsSync, mkdtempSync, openAsBlob, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { blobSource } from "../dist/client.mjs";
import { MiB, apiClient, freePort, mintToken, root, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "1024" },
    rounds: { type: "string", default: "3" },
    target: { type: "string", default: "oci" },
  },
});
const size = Math.round(Number(values.size) * MiB);
const rounds = Number(values.rounds);
if (values.target !== "oci" && values.target !== "dir") throw new Error("--target is oci or dir");
if (!existsSync("/usr/bin/skopeo")) throw new Error("skopeo is missing: apt-get install -y skopeo");

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

async function sha256File(path) {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

/** Runs a command to its exit; seconds it took. */
function timed(command, args, env = process.env) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 16 * MiB }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`${command} ${args.join(" ")} failed: ${stderr}`));
      resolve((performance.now() - started) / 1000);
    });
  });
}

const work = mkdtempSync(join(tmpdir(), "mreg-bench-oci-"));
const port = await freePort();
const state = join(work, "state");
const file = join(work, "weights.bin");
const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], { port });
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
  const cliEnv = {
    ...process.env,
    MREG_URL: base,
    MREG_TOKEN: jwt,
    MREG_CONFIG_DIR: join(work, "cfg"),
    MREG_STATE_DIR: join(work, "st"),
  };
  let n = 0;
  const skopeo = async (check) => {
    const out = join(work, `skopeo-${n++}`);
    const dest = values.target === "oci" ? `oci:${out}:m` : `dir:${out}`;
    const seconds = await timed("skopeo", [
      "--insecure-policy",
      "copy",
      "--src-tls-verify=false",
      "--src-creds",
      `x:${jwt}`,
      `docker://127.0.0.1:${port}/m:production`,
      dest,
    ]);
    if (check) {
      const blob = values.target === "oci" ? join(out, "blobs", "sha256", sha256) : join(out, sha256);
      if ((await sha256File(blob)) !== sha256) throw new Error("skopeo's copy has the wrong bytes");
    }
    rmSync(out, { recursive: true, force: true });
    return { mibps: size / MiB / seconds, seconds };
  };
  const pull = async (check) => {
    const out = join(work, `pull-${n++}`);
    const seconds = await timed("node", [join(root, "dist", "mreg.mjs"), "pull", "m@production", out], cliEnv);
    if (check && (await sha256File(join(out, "weights.bin"))) !== sha256)
      throw new Error("mreg pull has the wrong bytes");
    rmSync(out, { recursive: true, force: true });
    return { mibps: size / MiB / seconds, seconds };
  };

  const rows = [];
  for (let i = 0; i < rounds; i++) {
    const check = i === 0;
    let s;
    let p;
    if (i % 2 === 0) {
      s = await skopeo(check);
      p = await pull(check);
    } else {
      p = await pull(check);
      s = await skopeo(check);
    }
    rows.push({
      round: i + 1,
      pull_mibps: +p.mibps.toFixed(1),
      skopeo_mibps: +s.mibps.toFixed(1),
      ratio: ratio(s.mibps, p.mibps),
    });
  }
  const med = { round: "median" };
  for (const key of ["pull_mibps", "skopeo_mibps", "ratio"]) med[key] = +median(rows.map((r) => r[key])).toFixed(2);

  /** One GET without Range to the last byte: seconds to the first byte, and MiB/s. */
  const single = async (url) => {
    const started = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${jwt}` } });
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
    let first = null;
    let bytes = 0;
    for await (const chunk of res.body) {
      first ??= performance.now();
      bytes += chunk.length;
    }
    if (bytes !== size) throw new Error(`GET ${url}: ${bytes} bytes`);
    return { ttfb: (first - started) / 1000, mibps: size / MiB / ((performance.now() - started) / 1000) };
  };
  const blobUrl = `${base}/v2/m/blobs/sha256:${sha256}`;
  const fileUrl = `${base}/v1/models/m/versions/${version}/files/weights.bin`;
  const gets = [];
  for (let i = 0; i < rounds; i++) {
    const [a, b] = i % 2 === 0 ? [await single(blobUrl), await single(fileUrl)] : [null, await single(fileUrl)];
    const blob = a ?? (await single(blobUrl));
    gets.push({
      round: i + 1,
      file_ttfb: +b.ttfb.toFixed(2),
      blob_ttfb: +blob.ttfb.toFixed(2),
      file_mibps: +b.mibps.toFixed(1),
      blob_mibps: +blob.mibps.toFixed(1),
    });
  }
  const getMed = { round: "median" };
  for (const key of ["file_ttfb", "blob_ttfb", "file_mibps", "blob_mibps"])
    getMed[key] = +median(gets.map((r) => r[key])).toFixed(2);

  const skopeoVersion = execFileSync("skopeo", ["--version"], { encoding: "utf8" }).trim();
  console.log(
    `\n${skopeoVersion}: copy docker://…/m:production ${values.target}: vs mreg pull m@production, one ${values.size} MiB file (sha256 checked in round 1)\n`,
  );
  console.log("| round | mreg pull MiB/s | skopeo copy MiB/s | ratio |");
  console.log("|---|---|---|---|");
  for (const r of [...rows, med]) console.log(`| ${r.round} | ${r.pull_mibps} | ${r.skopeo_mibps} | ${r.ratio}x |`);
  console.log(
    `\nOne GET without Range: /v1/models/m/versions/${version}/files/weights.bin (one R2 get) vs /v2/m/blobs/sha256:… (read-ahead)\n`,
  );
  console.log("| round | /v1 first byte s | /v2 blob first byte s | /v1 MiB/s | /v2 blob MiB/s |");
  console.log("|---|---|---|---|---|");
  for (const r of [...gets, getMed])
    console.log(`| ${r.round} | ${r.file_ttfb} | ${r.blob_ttfb} | ${r.file_mibps} | ${r.blob_mibps} |`);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
