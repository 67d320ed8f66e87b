/**
 * Signing and nodes that verify for themselves, with the real `mreg` bundle against the shared
 * `npm start`: `mreg sign` and `push --sign-key` upload bundles the registry accepts and that
 * `@sigstore/verify` (an independent implementation) verifies with the public key;
 * `mreg pull --verify` fetches nothing of a version no key it trusts signed; `mreg agent
 * --trust-key` refuses an unsigned version (its /status says why, `current` keeps serving) and
 * takes it once it is signed.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { Verifier, toSignedEntity, toTrustMaterial } from "@sigstore/verify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, untilStatus, type RunningAgent } from "./agent-helpers";
import { mreg, mregJson, sandbox, token } from "./helpers";

const { env, dir } = sandbox();
const agents: RunningAgent[] = [];
const run = Date.now().toString(36);
let admin: string;

/** A fresh P-256 key pair as PEM files under the sandbox: `<name>.key.pem`, `<name>.pub.pem`. */
function keyPair(name: string): { key: string; pub: string; spkiDer: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const key = join(dir, `${name}.key.pem`);
  const pub = join(dir, `${name}.pub.pem`);
  writeFileSync(key, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  return { key, pub, spkiDer: publicKey.export({ type: "spki", format: "der" }) };
}

let release: ReturnType<typeof keyPair>;
let stranger: ReturnType<typeof keyPair>;
let releaseId: string;
let strangerId: string;

/** Registers a public key with the registry (a v1.1 key bundle names its key by hint only: the registry must know it). */
async function register(name: string, pub: string): Promise<string> {
  const res = await fetch(`${env.MREG_URL}/v1/signing-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ name, public_key: readFileSync(pub, "utf8") }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

beforeAll(async () => {
  env.MREG_TOKEN = token(env, "signing-test", "read write promote");
  admin = token(env, "signing-admin", "read write promote admin");
  release = keyPair("release");
  stranger = keyPair("stranger");
  releaseId = await register(`cli-release-${run}`, release.pub);
  strangerId = await register(`cli-stranger-${run}`, stranger.pub);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const id of [releaseId, strangerId])
    await fetch(`${env.MREG_URL}/v1/signing-keys/${id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${admin}` },
    });
  rmSync(dir, { recursive: true, force: true });
});

let pushes = 0;
function source(files: Record<string, string>): string {
  const src = join(dir, `src-${++pushes}`);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(src, name, ".."), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  return src;
}

async function bundleText(model: string, version: number, id: string): Promise<string> {
  const res = await fetch(`${env.MREG_URL}/v1/models/${model}/versions/${version}/signatures/${id}`, {
    headers: { authorization: `Bearer ${env.MREG_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return res.text();
}

/** @sigstore/verify with one public key, as a key bundle needs (no log entry, no timestamp): "ok" or its error code. */
function sigstoreVerdict(bundle: string, spkiDer: Buffer): string {
  const json = JSON.parse(bundle) as { verificationMaterial: { publicKey: { hint: string } } };
  const trust = toTrustMaterial(
    TrustedRoot.fromJSON({ mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1" }),
    { [json.verificationMaterial.publicKey.hint]: { rawBytes: spkiDer, keyDetails: 5, validFor: undefined } },
  );
  try {
    new Verifier(trust, { tlogThreshold: 0, timestampThreshold: 0, ctlogThreshold: 0 }).verify(
      toSignedEntity(bundleFromJSON(json)),
    );
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe("mreg sign and push --sign-key", () => {
  it("upload bundles the registry trusts and @sigstore/verify verifies with the public key", async () => {
    const model = `sign-${run}`;
    const files = { "model.bin": "weights\n".repeat(1000), "config/tokenizer.json": '{"a": 1}\n', "a-b": "x" };
    const pushed = mregJson(env, ["push", model, source(files)]);
    const signed = mregJson(env, ["sign", `${model}/${pushed.version}`, "--key", release.key]);
    expect(signed.trusted_by).toEqual([releaseId]);
    const bundle = await bundleText(model, pushed.version, signed.id);
    expect(sigstoreVerdict(bundle, release.spkiDer)).toBe("ok");
    expect(sigstoreVerdict(bundle, stranger.spkiDer)).not.toBe("ok");

    // push --sign-key: signed before the command answers.
    const both = mregJson(env, ["push", model, source({ ...files, "model.bin": "other" }), "--sign-key", stranger.key]);
    expect(both.signature.trusted_by).toEqual([strangerId]);
    expect(sigstoreVerdict(await bundleText(model, both.version, both.signature.id), stranger.spkiDer)).toBe("ok");
  });

  it("refuse a missing or unreadable key before anything is sent, and an alias instead of a version", () => {
    const model = `sign-bad-${run}`;
    const garbage = join(dir, "garbage.pem");
    writeFileSync(garbage, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    const push = mreg(env, ["push", model, source({ f: "1" }), "--sign-key", garbage]);
    expect(push.code, push.stderr).toBe(2);
    expect(push.stderr).toContain("--sign-key");
    expect(mreg(env, ["models", "show", model]).code).toBe(5); // nothing was created
    expect(mreg(env, ["sign", `${model}@prod`, "--key", release.key]).code).toBe(2);
    expect(mreg(env, ["sign", `${model}/1`]).code).toBe(2);
  });
});

describe("mreg pull --verify", () => {
  it("pulls a version signed by a trusted key, and fetches nothing of one that is not", () => {
    const model = `pullv-${run}`;
    const v1 = mregJson(env, ["push", model, source({ "w.bin": "signed weights" }), "--sign-key", release.key]);
    const v2 = mregJson(env, ["push", model, source({ "w.bin": "unsigned weights" })]);
    const ok = mregJson(env, [
      "pull",
      `${model}/${v1.version}`,
      join(dir, "pulled-1"),
      "--verify",
      "--trust-key",
      release.pub,
    ]);
    expect(ok.signatures.map((s: { id: string }) => s.id)).toEqual([v1.signature.id]);
    expect(readFileSync(join(dir, "pulled-1", "w.bin"), "utf8")).toBe("signed weights");

    const other = mreg(env, [
      "pull",
      `${model}/${v1.version}`,
      join(dir, "pulled-2"),
      "--verify",
      "--trust-key",
      stranger.pub,
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("is signed by a key no --trust-key of this node is");
    // The registry trusts it: the node does not take that as proof, and says so as the registry's claim.
    expect(other.stderr).toContain(`the registry says ${releaseId} vouches; not taken on its word`);
    expect(existsSync(join(dir, "pulled-2"))).toBe(false);

    const unsigned = mreg(env, [
      "pull",
      `${model}/${v2.version}`,
      join(dir, "pulled-3"),
      "--verify",
      "--trust-key",
      release.pub,
    ]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain("not signed");
    expect(existsSync(join(dir, "pulled-3"))).toBe(false);

    expect(mreg(env, ["pull", `${model}/${v1.version}`, "--verify"]).code).toBe(2);
    expect(mreg(env, ["pull", `${model}/${v1.version}`, "--trust-key", release.pub]).code).toBe(2);
  });
});

describe("mreg agent --trust-key", () => {
  it("refuses an unsigned version (current keeps serving, /status says why) and takes it once signed", async () => {
    const model = `agentv-${run}`;
    const v1 = mregJson(env, ["push", model, source({ "w.bin": "one" }), "--sign-key", release.key]);
    mregJson(env, ["alias", "set", model, "prod", String(v1.version)]);
    const home = join(dir, "agent");
    const agent = await startAgent(env, `${model}@prod`, home, ["--trust-key", release.pub]);
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === v1.version, "v1 served");

    const v2 = mregJson(env, ["push", model, source({ "w.bin": "two" })]);
    mregJson(env, ["alias", "set", model, "prod", String(v2.version)]);
    const refused = await untilStatus(agent, (s) => s.retry?.version === v2.version, "v2 refused");
    expect(refused.version).toBe(v1.version);
    expect(refused.retry?.kind).toBe("signature");
    expect(refused.reasons.join("\n")).toContain("not signed");
    expect(refused.degraded).toBe(true);
    expect(readFileSync(join(home, "current", "w.bin"), "utf8")).toBe("one");
    expect(agent.out.stderr).toContain(`v${v2.version} refused: not signed`);

    // Signed by a key the node does not trust: still refused.
    mregJson(env, ["sign", `${model}/${v2.version}`, "--key", stranger.key]);
    await untilStatus(
      agent,
      (s) => (s.retry?.reason ?? "").includes("no --trust-key of this node"),
      "v2 refused again",
    );
    expect((await agent.status()).version).toBe(v1.version);

    // Signed with the trusted key: the signature event makes the node look again at once (no backoff to wait out).
    mregJson(env, ["sign", `${model}/${v2.version}`, "--key", release.key]);
    await untilStatus(agent, (s) => s.version === v2.version && s.retry === null, "v2 served once signed");
    expect(readlinkSync(join(home, "current"))).toContain(`v${v2.version}`);
    expect(readdirSync(join(home, "versions"))).toContain(`v${v2.version}`);
    expect(agent.out.stderr).toContain("signatures verified here");
  });
});
