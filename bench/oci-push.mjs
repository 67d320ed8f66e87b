#!/usr/bin/env node
// bench/oci-push: pushing a file with skopeo through the OCI bridge against `mreg push` of the
// same size, in one run, under `npm start`.
//   node bench/oci-push.mjs [--size 1024] [--rounds 3]
// Each round makes two files of --size MiB of incompressible bytes that differ from each
// other and from every earlier round's (so neither push finds its bytes held already), then,
// alternating which goes first so that load from elsewhere on the machine falls on both alike:
// - `skopeo copy --dest-creds x:<token> oci:<layout>:m docker://127.0.0.1:PORT/s<round>:staging`
//   from an OCI image layout holding one artifact manifest whose one layer is the file (as
//   containers/image pushes a blob: HEAD, POST, one PATCH with the whole body, PUT ?digest=;
//   then the manifest, which makes the version and moves `staging`);
// - `mreg push p<round> <dir> --alias staging` (the CLI: multipart, 4 parts in flight, the
//   sha256 computed first, verified by the server at `complete`).
// MiB/s from the command's start to its exit; beside it the CPU seconds of the server (wrangler
// and workerd, which the machine's other load disturbs far less than wall time) and of the
// client while each ran, and skopeo's phases from its --debug log. Each pushed version's file
// is then checked: its sha256 is the file's (outside the timing). Target: skopeo >= 0.9x.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MiB, apiClient, cpuOfGroup, freePort, mintToken, root, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: { size: { type: "string", default: "1024" }, rounds: { type: "string", default: "3" } },
});
const size = Math.round(Number(values.size) * MiB);
const rounds = Number(values.rounds);
if (!existsSync("/usr/bin/skopeo")) throw new Error("skopeo is missing: apt-get install -y skopeo");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ratio = (a, b) => +(a / b).toFixed(2);

/** Writes `bytes` of incompressible data (`seed` makes it unlike any other) and returns its sha256. */
function makeFile(path, bytes, seed) {
  const block = randomBytes(64 * MiB);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < bytes; i++) {
    const chunk = block.subarray(0, Math.min(block.length, bytes - written));
    chunk.writeUInt32LE(i, 0);
    chunk.writeUInt32LE(seed, 4);
    writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  closeSync(fd);
  return hash.digest("hex");
}

/** An OCI image layout whose one manifest has the file (hard-linked, not copied) as its one layer. */
function layoutOf(dir, file, sha256) {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  linkSync(file, join(dir, "blobs", "sha256", sha256));
  writeFileSync(join(dir, "blobs", "sha256", createHash("sha256").update("{}").digest("hex")), "{}");
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.example.model.v1",
    config: {
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: `sha256:${createHash("sha256").update("{}").digest("hex")}`,
      size: 2,
    },
    layers: [
      {
        mediaType: "application/octet-stream",
        digest: `sha256:${sha256}`,
        size,
        annotations: { "org.opencontainers.image.title": "weights.bin" },
      },
    ],
  });
  const digest = createHash("sha256").update(manifest).digest("hex");
  writeFileSync(join(dir, "blobs", "sha256", digest), manifest);
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${digest}`,
          size: Buffer.byteLength(manifest),
          annotations: { "org.opencontainers.image.ref.name": "m" },
        },
      ],
    }),
  );
}

/**
 * Runs a command to its exit under /usr/bin/time: the seconds it took, its own CPU seconds,
 * the server's CPU seconds meanwhile (its process group: wrangler and workerd), and its stderr.
 */
function timed(command, args, serverGroup, env = process.env) {
  const started = performance.now();
  const serverBefore = cpuOfGroup(serverGroup);
  return new Promise((resolve, reject) => {
    execFile(
      "/usr/bin/time",
      ["-f", "cpu %U %S", command, ...args],
      { env, maxBuffer: 64 * MiB },
      (err, _stdout, stderr) => {
        if (err) return reject(new Error(`${command} ${args.join(" ")} failed: ${stderr.slice(-4000)}`));
        const [user, system] = /cpu ([0-9.]+) ([0-9.]+)\s*$/.exec(stderr).slice(1).map(Number);
        resolve({
          seconds: (performance.now() - started) / 1000,
          clientCpu: user + system,
          serverCpu: (cpuOfGroup(serverGroup) - serverBefore) / 1000,
          stderr,
        });
      },
    );
  });
}

/**
 * Where skopeo's time went, from its --debug log (times to the second): sending the layer (its
 * one PATCH), the blob's finish (PUT ?digest=: mreg assembles and verifies the bytes) and the rest.
 */
function skopeoPhases(log, total) {
  const at = (pattern) => {
    const line = log.split("\n").find((l) => pattern.test(l));
    const time = line && /time="([^"]+)"/.exec(line);
    return time ? Date.parse(time[1]) / 1000 : NaN;
  };
  const patch = at(/msg="PATCH /);
  const finish = at(/msg="PUT [^"]*\/blobs\/uploads\//);
  const manifest = at(/msg="PUT [^"]*\/manifests\//);
  return { patch_s: finish - patch, finish_s: manifest - finish, other_s: +(total - (manifest - patch)).toFixed(0) };
}

const work = mkdtempSync(join(tmpdir(), "mreg-bench-oci-push-"));
const port = await freePort();
const state = join(work, "state");
// skopeo sends a blob in one PATCH, which a zone's default 100 MB body limit refuses
// (docs/oci.md, "Which clients chunk"): the server runs as behind an Enterprise zone's 5 GB.
const server = await startServer(
  "npm",
  ["start", "--", "--port", String(port), "--persist-to", state, "--var", "ZONE_BODY_LIMIT:5000000000"],
  { port },
);
const base = `http://127.0.0.1:${port}`;
try {
  const jwt = mintToken("read write promote admin");
  const admin = apiClient(base, jwt);
  const cliEnv = {
    ...process.env,
    MREG_URL: base,
    MREG_TOKEN: jwt,
    MREG_CONFIG_DIR: join(work, "cfg"),
    MREG_STATE_DIR: join(work, "st"),
  };
  /** The one file of the version `staging` names in `model`: its sha256 must be the pushed file's. */
  const check = async (model, sha256) => {
    const alias = (await admin.aliases.list(model)).find((a) => a.alias === "staging");
    if (!alias) throw new Error(`${model}: staging is not set`);
    const version = alias.version;
    const record = await admin.versions.get(model, version);
    if (record.files.length !== 1 || record.files[0].sha256 !== sha256)
      throw new Error(`${model}: ${JSON.stringify(record.files)}`);
  };

  // Up front: a request made after minutes of making files may meet a kept-alive socket the server closed.
  for (let i = 0; i < rounds; i++) await admin.models.create({ name: `s${i}` });
  const rows = [];
  for (let i = 0; i < rounds; i++) {
    const round = join(work, `round-${i}`);
    const pushDir = join(round, "push");
    const layout = join(round, "layout");
    mkdirSync(pushDir, { recursive: true });
    const skopeoFile = join(round, "skopeo.bin");
    const skopeoSha = makeFile(skopeoFile, size, 2 * i + 1);
    layoutOf(layout, skopeoFile, skopeoSha);
    const pushSha = makeFile(join(pushDir, "weights.bin"), size, 2 * i + 2);

    const skopeo = async () => {
      const run = await timed(
        "skopeo",
        [
          "--debug",
          "--insecure-policy",
          "copy",
          "--dest-tls-verify=false",
          "--dest-creds",
          `x:${jwt}`,
          `oci:${layout}:m`,
          `docker://127.0.0.1:${port}/s${i}:staging`,
        ],
        server.pid,
      );
      return { ...run, phases: skopeoPhases(run.stderr, run.seconds) };
    };
    const push = () =>
      timed(
        "node",
        [join(root, "dist", "mreg.mjs"), "push", `p${i}`, pushDir, "--alias", "staging"],
        server.pid,
        cliEnv,
      );
    let s;
    let p;
    if (i % 2 === 0) {
      s = await skopeo();
      p = await push();
    } else {
      p = await push();
      s = await skopeo();
    }
    await check(`s${i}`, skopeoSha);
    await check(`p${i}`, pushSha);
    rmSync(round, { recursive: true, force: true });
    const mibps = (run) => +(size / MiB / run.seconds).toFixed(1);
    const cpu = (seconds) => +seconds.toFixed(1);
    rows.push({
      round: i + 1,
      push_mibps: mibps(p),
      skopeo_mibps: mibps(s),
      ratio: ratio(p.seconds, s.seconds),
      server_cpu_s: { push: cpu(p.serverCpu), skopeo: cpu(s.serverCpu) },
      client_cpu_s: { push: cpu(p.clientCpu), skopeo: cpu(s.clientCpu) },
      skopeo_phases_s: s.phases,
    });
    console.error(JSON.stringify(rows[rows.length - 1]));
  }
  const summary = {
    size_mib: size / MiB,
    rounds,
    push_mibps: +median(rows.map((r) => r.push_mibps)).toFixed(1),
    skopeo_mibps: +median(rows.map((r) => r.skopeo_mibps)).toFixed(1),
    ratio: ratio(median(rows.map((r) => r.skopeo_mibps)), median(rows.map((r) => r.push_mibps))),
    server_cpu_s: {
      push: +median(rows.map((r) => r.server_cpu_s.push)).toFixed(1),
      skopeo: +median(rows.map((r) => r.server_cpu_s.skopeo)).toFixed(1),
    },
    rows,
  };
  console.log(JSON.stringify(summary, null, 2));
} catch (err) {
  console.error(`the server's last words:\n${server.output().slice(-4000)}`);
  throw err;
} finally {
  server.stop();
  rmSync(work, { recursive: true, force: true });
}
