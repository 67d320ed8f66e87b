// Verifying OMS signatures in Node (what `mreg pull --verify` and `mreg agent` run, and the
// same code as the Worker): a 10,000-resource key bundle, the keyless and certificate
// fixtures, signing 10,000 files, and @sigstore/verify on the keyless fixture as the
// reference in the same run. Medians of --runs timed runs after --warmup untimed ones.
//
//   npx node bench/signatures.mjs --files 10000 --runs 21
//
// The server's figure (CPU per signature upload) comes from the upload bench against a real
// `npm start`; this measures the verifier alone.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { Verifier, toSignedEntity, toTrustMaterial } from "@sigstore/verify";
import { fixtures, loadOms } from "./oms.mjs";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "10000" },
    runs: { type: "string", default: "21" },
    warmup: { type: "string", default: "3" },
  },
});
const count = Number(values.files);
const runs = Number(values.runs);
const warmup = Number(values.warmup);

const oms = await loadOms();
const read = (path) => readFileSync(join(fixtures, path));
const IDENTITY = { issuer: "https://sigstore.verify.ibm.com/oauth2", subject: "stefanb@us.ibm.com" };

/**
 * Median wall time and median CPU time (user + system of this process) of `fn`. The CPU figure
 * is the one to read on a shared machine: a run preempted by other work takes longer on the
 * wall clock but not in CPU.
 */
async function median(label, fn) {
  for (let i = 0; i < warmup; i++) await fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < runs; i++) {
    const startCpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    await fn();
    wall.push(Number(process.hrtime.bigint() - start) / 1e6);
    const used = process.cpuUsage(startCpu);
    cpu.push((used.user + used.system) / 1000);
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const result = { label, wall: mid(wall), cpu: mid(cpu) };
  console.log(
    `${label.padEnd(62)} CPU ${result.cpu.toFixed(2).padStart(8)} ms   wall ${result.wall.toFixed(2).padStart(8)} ms`,
  );
  return result;
}

function expectOk(verdict, what) {
  if (!verdict.ok || verdict.trusted_by.length === 0) throw new Error(`${what}: ${JSON.stringify(verdict)}`);
}

const root = oms.parseTrustedRoot(JSON.parse(read("sigstore-public-good-trusted-root.json")));
const fixtureKey = await oms.spkiFromPem(read("keys/signing-key-pub.pem").toString());
const fixtureCa = await oms.certificateFromPem(read("keys/ca-cert.pem").toString());
const fixtureFiles = (folder) =>
  new Map(
    ["signme-1", "signme-2"].map((f) => [
      f,
      createHash("sha256")
        .update(read(`${folder}/${f}`))
        .digest("hex"),
    ]),
  );

console.log(`Node ${process.version}, ${count} files, ${runs} runs after ${warmup} warm-up\n`);

// 1. A statement of `count` resources, signed with a P-256 key.
const synthetic = await oms.syntheticFiles(count);
const key = await oms.generateSigningKey();
const list = synthetic.map((f) => ({ path: f.path, sha256: f.sha256 }));
const signing = await median(`sign ${count} files (statement + P-256)`, () =>
  oms.signStatement(list, { keyPair: key.keyPair }, "bench"),
);
const bundle = await oms.signStatement(list, { keyPair: key.keyPair }, "bench");
const fileMap = new Map(list.map((f) => [f.path, f.sha256]));
const keyTrust = { keys: [{ id: "k", name: "k", spkiDer: key.spkiDer }], cas: [], identities: [], sigstoreRoot: null };
expectOk(await oms.verifyBundle(bundle, fileMap, keyTrust), "synthetic");
const baseline = await median(`baseline: JSON.parse bundle + payload, sha256 of payload`, async () => {
  const json = JSON.parse(bundle);
  const payload = Buffer.from(json.dsseEnvelope.payload, "base64");
  JSON.parse(payload.toString("utf8"));
  await crypto.subtle.digest("SHA-256", payload);
});
const large = await median(`verify ${count}-resource key bundle (${(bundle.length / 1048576).toFixed(2)} MiB)`, () =>
  oms.verifyBundle(bundle, fileMap, keyTrust),
);

// 2. The fixtures: keyless (Rekor SET, proof, checkpoint, Fulcio chain, SCT, DSSE), certificate, key.
const trust = {
  keys: [{ id: "k", name: "k", spkiDer: fixtureKey.spkiDer }],
  cas: [{ id: "c", name: "c", certDer: fixtureCa.certDer }],
  identities: [{ id: "i", name: "i", ...IDENTITY }],
  sigstoreRoot: root,
};
const results = {};
for (const folder of ["v1.1.0-sigstore", "v1.0.1-sigstore", "v1.1.0-certificate", "v1.1.0-elliptic-key"]) {
  const text = read(`${folder}/model.sig`).toString();
  const files = fixtureFiles(folder);
  expectOk(await oms.verifyBundle(text, files, trust), folder);
  results[folder] = await median(`verify ${folder}`, () => oms.verifyBundle(text, files, trust));
}

// 3. The reference JavaScript verifier on the same keyless bundle, with the same trusted root and identity.
const sigstoreRoot = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(read("sigstore-public-good-trusted-root.json"))));
const policy = { subjectAlternativeName: IDENTITY.subject, extensions: { issuer: IDENTITY.issuer } };
const keyless = JSON.parse(read("v1.1.0-sigstore/model.sig"));
const reference = await median("@sigstore/verify v1.1.0-sigstore (verify only, TSA included)", () =>
  new Verifier(sigstoreRoot).verify(toSignedEntity(bundleFromJSON(keyless)), policy),
);

const row = (what, r, ratio = "") => `| ${what} | ${r.cpu.toFixed(2)} | ${r.wall.toFixed(2)} | ${ratio} |`;
console.log(`
| measure (Node ${process.version}) | CPU ms (median) | wall ms (median) | ratio (CPU) |
|---|---|---|---|
${row(`verify ${count}-resource key bundle`, large, `${(large.cpu / baseline.cpu).toFixed(2)}x the baseline (JSON.parse of bundle and payload + sha256 of the payload: ${baseline.cpu.toFixed(1)} ms)`)}
${row(`sign ${count} files`, signing)}
${row("verify v1.1.0-sigstore (keyless)", results["v1.1.0-sigstore"], `${(results["v1.1.0-sigstore"].cpu / reference.cpu).toFixed(2)}x @sigstore/verify (${reference.cpu.toFixed(2)} ms)`)}
${row("verify v1.0.1-sigstore (keyless)", results["v1.0.1-sigstore"])}
${row("verify v1.1.0-certificate (RSA-3072 chain, P-384 leaf)", results["v1.1.0-certificate"])}
${row("verify v1.1.0-elliptic-key (P-384)", results["v1.1.0-elliptic-key"])}`);
