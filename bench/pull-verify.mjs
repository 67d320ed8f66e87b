#!/usr/bin/env node
// bench/pull-verify: what `mreg pull --verify` adds to a pull, in the same run against one
// `npm start`. A version of --size GiB (default 1; --files files of equal size) is pushed,
// signed with `mreg sign` (a registered P-256 key), then pulled --rounds times each way,
// alternating plain and --verify into fresh folders, with the real CLI bundle (dist/mreg.mjs).
//   node bench/pull-verify.mjs [--size 1] [--files 4] [--rounds 5]
// Reports the median wall time of each, the ratio, and the median time the verification step
// itself takes (--verify against a version folder already pulled, so only the bundle's fetch
// and check and the files' sha256 run: the pull finds every file in place).
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { GiB, MiB, freePort, mintToken, root, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "1" },
    files: { type: "string", default: "4" },
    rounds: { type: "string", default: "5" },
  },
});
const total = Math.round(Number(values.size) * GiB);
const fileCount = Number(values.files);
const rounds = Number(values.rounds);
const work = mkdtempSync(join(tmpdir(), "mreg-bench-pull-verify-"));
const bin = join(root, "dist", "mreg.mjs");

function makeFile(path, size) {
  const block = randomBytes(16 * MiB);
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < size; i++) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    chunk.writeUInt32LE(i, 0); // no two blocks alike
    writeSync(fd, chunk);
    written += chunk.length;
  }
  closeSync(fd);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const port = await freePort();
const state = join(work, "state");
const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], { port });
const env = { ...process.env, MREG_URL: `http://127.0.0.1:${port}`, MREG_TOKEN: mintToken("read write admin") };
const mreg = (args) => execFileSync(process.execPath, [bin, ...args], { env, encoding: "utf8", maxBuffer: 64 << 20 });
try {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const key = join(work, "release.key.pem");
  const pub = join(work, "release.pub.pem");
  writeFileSync(key, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  const registered = await fetch(`${env.MREG_URL}/v1/signing-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.MREG_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench-release", public_key: readFileSync(pub, "utf8") }),
  });
  if (registered.status !== 201) throw new Error(`register key: ${registered.status} ${await registered.text()}`);

  const src = join(work, "src");
  mkdirSync(src);
  for (let i = 0; i < fileCount; i++) makeFile(join(src, `shard-${i}.bin`), Math.ceil(total / fileCount));
  let t = performance.now();
  const pushed = JSON.parse(mreg(["push", "bench-model", src, "--sign-key", key, "--json", "-q"]));
  console.log(
    `pushed and signed ${values.size} GiB in ${fileCount} files in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  rmSync(src, { recursive: true, force: true });
  const uri = `bench-model/${pushed.version}`;

  const plain = [];
  const verified = [];
  for (let round = 0; round < rounds; round++) {
    for (const [times, extra] of [
      [plain, []],
      [verified, ["--verify", "--trust-key", pub]],
    ]) {
      const dir = join(work, `pull-${round}-${extra.length}`);
      t = performance.now();
      mreg(["pull", uri, dir, "-q", ...extra]);
      times.push((performance.now() - t) / 1000);
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`round ${round + 1}: plain ${plain.at(-1).toFixed(2)} s, --verify ${verified.at(-1).toFixed(2)} s`);
  }
  // The verification alone: the same pull into a folder that already holds the version (files
  // checked in place, nothing fetched), with and without --verify.
  const held = join(work, "held");
  mreg(["pull", uri, held, "-q"]);
  const again = [];
  const againVerified = [];
  for (let round = 0; round < rounds; round++) {
    for (const [times, extra] of [
      [again, []],
      [againVerified, ["--verify", "--trust-key", pub]],
    ]) {
      t = performance.now();
      mreg(["pull", uri, held, "-q", ...extra]);
      times.push((performance.now() - t) / 1000);
    }
  }
  const p = median(plain);
  const v = median(verified);
  console.log(
    `\n${values.size} GiB in ${fileCount} files, ${rounds} rounds, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} (medians):`,
  );
  console.log(`pull            ${p.toFixed(2)} s`);
  console.log(`pull --verify   ${v.toFixed(2)} s   ratio ${(v / p).toFixed(3)}  (+${((v - p) * 1000).toFixed(0)} ms)`);
  console.log(
    `re-pull (all files in place, hashed): ${median(again).toFixed(2)} s; with --verify ${median(againVerified).toFixed(2)} s (+${((median(againVerified) - median(again)) * 1000).toFixed(0)} ms)`,
  );
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
