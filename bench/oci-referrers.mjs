#!/usr/bin/env node
// bench/oci-referrers: what the OCI referrers index costs now that it lists signatures uploaded
// through /v1 as computed manifests (src/bridges/oci/referrers.ts), under `npm start`.
//   node bench/oci-referrers.mjs [--versions 100] [--rounds 7]
// One server, one model `m` with --versions ready versions (one small file each), each signed
// once through POST .../signatures (a fresh key's bundle, registered). Then, wall ms (medians
// of --rounds), each answer checked (a fetched manifest's bytes hash to its digest):
// - baseline: GET /v2/m/manifests/<digest> of a version's own manifest (built, by digest);
// - GET /v2/m/manifests/<digest> of the referrer manifest of the oldest version within the
//   model's 200 newest signatures, its digest computed here as @sigstore/oci would push it and
//   never listed: the first request computes the colo's map of those signatures (up to 200),
//   then warm (the map read from the Cache API, the one signature computed again);
// - the referrers index of v1 (one signature: its bundle read, the version's manifest built,
//   the referrer manifest hashed), then GET of the digest it listed (remembered by the colo,
//   however old the signature).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bytesSource } from "../dist/client.mjs";
import { apiClient, freePort, median, mintToken, ratio, startRegistry } from "./lib.mjs";
import { loadOms } from "./oms.mjs";

const { values } = parseArgs({
  options: { versions: { type: "string", default: "100" }, rounds: { type: "string", default: "7" } },
});
const versions = Number(values.versions);
const rounds = Number(values.rounds);
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

const work = mkdtempSync(join(tmpdir(), "mreg-bench-oci-referrers-"));
const port = await freePort();
const server = await startRegistry({ port, state: join(work, "state") });
const base = `http://127.0.0.1:${port}`;
try {
  const admin = apiClient(base, mintToken("read write promote admin"));
  await admin.models.create({ name: "m" });
  const oms = await loadOms();
  const key = await oms.generateSigningKey();
  await admin.signingKeys.create({ name: "bench", public_key: key.publicKeyPem });
  const madeAt = performance.now();
  const signed = new Map();
  for (let i = 1; i <= versions; i++) {
    const bytes = new TextEncoder().encode(`weights ${i}`);
    const { version } = await admin.versions.create("m");
    await admin.upload("m", version, "model.bin", bytesSource(bytes), { sha256: sha256(bytes) });
    await admin.versions.finalize("m", version);
    const bundle = await oms.signStatement(
      [{ path: "model.bin", sha256: sha256(bytes) }],
      { keyPair: key.keyPair },
      "m",
    );
    const signature = await admin.signatures.add("m", version, bundle);
    signed.set(version, { bundle: Buffer.from(bundle), createdAt: signature.created_at });
  }
  console.log(`${versions} signed versions made in ${((performance.now() - madeAt) / 1000).toFixed(1)} s`);

  const read = { authorization: `Bearer ${mintToken("read")}` };
  const get = async (path) => {
    const started = performance.now();
    const res = await fetch(`${base}${path}`, { headers: read });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${bytes}`);
    const digest = res.headers.get("docker-content-digest");
    if (path.includes("/manifests/sha256:") && digest !== `sha256:${sha256(bytes)}`)
      throw new Error(`${path}: the bytes are not the digest's`);
    return { ms: performance.now() - started, bytes, digest };
  };
  const timed = async (path) => {
    const ms = [];
    for (let i = 0; i < rounds; i++) ms.push((await get(path)).ms);
    return median(ms);
  };
  /** The manifest @sigstore/oci pushes for a version's bundle, as GitHub's attest calls it (docs/oci.md). */
  const referrerOf = async (version) => {
    const subject = await get(`/v2/m/manifests/v${version}`);
    const { bundle, createdAt } = signed.get(version);
    const type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: type,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: `sha256:${sha256("{}")}`, size: 2 },
      layers: [{ mediaType: type, digest: `sha256:${sha256(bundle)}`, size: bundle.byteLength }],
      subject: {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: subject.digest,
        size: subject.bytes.byteLength,
      },
      annotations: {
        "org.opencontainers.image.created": createdAt,
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://model_signing/signature/v1.0",
      },
    });
    return { subject: subject.digest, digest: `sha256:${sha256(body)}` };
  };

  const windowed = await referrerOf(Math.max(1, versions - 199));
  const baseline = await timed(`/v2/m/manifests/${windowed.subject}`);
  const cold = (await get(`/v2/m/manifests/${windowed.digest}`)).ms;
  const warm = await timed(`/v2/m/manifests/${windowed.digest}`);
  const oldest = await referrerOf(1);
  const listing = await timed(`/v2/m/referrers/${oldest.subject}`);
  const index = JSON.parse((await get(`/v2/m/referrers/${oldest.subject}`)).bytes.toString("utf8"));
  if (index.manifests.length !== 1 || index.manifests[0].digest !== oldest.digest)
    throw new Error(`v1's index: ${JSON.stringify(index)}`);
  const listed = await timed(`/v2/m/manifests/${oldest.digest}`);
  const rows = [
    ["version manifest by digest (baseline)", baseline],
    [`referrer manifest by digest, first (${Math.min(versions, 200)} signatures computed)`, cold],
    ["referrer manifest by digest, warm (the colo's map)", warm],
    ["referrers index of v1 (1 signature)", listing],
    ["v1's referrer manifest by digest, after its index (remembered)", listed],
  ];
  for (const [label, ms] of rows)
    console.log(`${label.padEnd(72)} ${ms.toFixed(1).padStart(8)} ms  ${ratio(ms, baseline)}x`);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
