/**
 * A node that verifies trusts nothing the registry says: `mreg pull --verify` and `mreg agent
 * --trust-key` (the real bundle) against a registry that lies (./fake-registry.ts) about
 * signatures. A bundle signed over other bytes, a `trusted_by` claimed for a version no
 * trusted key signed, and bytes that differ from the signed sha256 are each refused: `pull`
 * writes nothing, the agent keeps serving what it had and says why.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signStatement } from "../../src/signatures/verify";
import { startAgent, untilStatus, type RunningAgent } from "./agent-helpers";
import { FakeRegistry, sha256, type FakeFile } from "./fake-registry";
import { mregSpawn, sandbox } from "./helpers";

const MODEL = "signed-hostile";
const ALIAS = "prod";
const weights: FakeFile = { path: "model.bin", bytes: Buffer.from("the signed weights\n".repeat(300)) };
const config: FakeFile = { path: "config.json", bytes: Buffer.from('{"threshold": 0.7}\n') };

const { env, dir: home } = sandbox();
const work = mkdtempSync(join(tmpdir(), "mreg-verify-hostile-"));
let reg: FakeRegistry;
/** Bytes other than the sha256 listed (and signed): caught by the header that names them, or by hashing them. */
const BYTES_NOT_SIGNED = /sha256 mismatch|the registry serves bytes of sha256 [0-9a-f]+, not the/;
const agents: RunningAgent[] = [];

/** A P-256 key pair: the private PEM text, and the public key's PEM file (what a node is given). */
function keyPair(name: string): { privateKeyPem: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pub = join(work, `${name}.pub.pem`);
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  return { privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, pub };
}
const release = keyPair("release");
const attacker = keyPair("attacker");

/** A bundle over `files` (path and the sha256 it signs), as `mreg sign` makes it. */
const bundleOver = (files: readonly FakeFile[], key = release) =>
  signStatement(
    files.map((f) => ({ path: f.path, sha256: sha256(f.bytes) })),
    { privateKeyPem: key.privateKeyPem },
    MODEL,
  );

beforeAll(async () => {
  reg = await new FakeRegistry().start();
  env.MREG_URL = reg.url;
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

let pulls = 0;
/** `mreg pull --verify` as a child process (not spawnSync: the fake registry answers from this process's event loop). */
async function pullVerify(): Promise<{ code: number | null; stderr: string; dir: string }> {
  const dir = join(work, `pull-${++pulls}`);
  reg.downloads.length = 0;
  const run = mregSpawn(env, ["pull", `${MODEL}@${ALIAS}`, dir, "--verify", "--trust-key", release.pub]);
  const code = await run.exited;
  return { code, stderr: run.out.stderr, dir };
}

describe("mreg pull --verify against a lying registry", () => {
  it("pulls an honestly signed version (the control case)", async () => {
    reg.serve(MODEL, ALIAS, 1, 1, [weights, config]);
    reg.signatures = [{ id: "sig_good", trusted_by: ["sk_release"], bundle: await bundleOver([weights, config]) }];
    const r = await pullVerify();
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(r.dir, "model.bin"))).toEqual(weights.bytes);
  });

  it("refuses a bundle signed over other bytes, and fetches nothing", async () => {
    reg.serve(MODEL, ALIAS, 2, 2, [weights, config]);
    const other: FakeFile = { path: "model.bin", bytes: Buffer.from("some other weights") };
    reg.signatures = [{ id: "sig_other", trusted_by: ["sk_release"], bundle: await bundleOver([other, config]) }];
    const r = await pullVerify();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sig_other is invalid \(files: [^)]*model\.bin/);
    expect(r.stderr).toContain("the registry says sk_release vouches; not taken on its word");
    expect(reg.downloads).toEqual([]);
    expect(existsSync(r.dir)).toBe(false);
  });

  it("refuses a version the registry says is trusted when no bundle of it shows that", async () => {
    reg.serve(MODEL, ALIAS, 3, 3, [weights, config]);
    const claims = [
      { id: "sig_attacker", trusted_by: ["sk_release"], bundle: await bundleOver([weights, config], attacker) },
      { id: "sig_garbage", trusted_by: ["sk_release"], bundle: '{"mediaType": "not a bundle"}' },
    ];
    for (const listed of [claims, []]) {
      reg.signatures = listed;
      // The resolution says the version is signed and trusted too: a node never reads that as proof.
      reg.resolution = {
        ...(reg.resolution as object),
        signatures: claims.map(({ id, trusted_by }) => ({
          id,
          trusted_by,
          signer: { kind: "key", fingerprint: null },
        })),
      };
      const r = await pullVerify();
      expect(r.code).toBe(1);
      if (listed.length === 0) expect(r.stderr).toContain("not signed: the registry lists no signature for it");
      else {
        expect(r.stderr).toContain("sig_attacker is signed by a key no --trust-key of this node is");
        expect(r.stderr).toMatch(/sig_garbage is invalid \(envelope: /);
      }
      expect(reg.downloads).toEqual([]);
      expect(existsSync(join(r.dir, "model.bin"))).toBe(false);
    }
  });

  it("refuses bytes that differ from the signed sha256: the file never lands", async () => {
    const resolution = reg.serve(MODEL, ALIAS, 4, 4, [weights, config]);
    reg.signatures = [{ id: "sig_good", trusted_by: [], bundle: await bundleOver([weights, config]) }];
    // The resolution and the bundle agree; the bytes served are others.
    reg.files.set("model.bin", Buffer.from("tampered weights of the same length!".padEnd(weights.bytes.length, "!")));
    expect(resolution.files.find((f) => f.path === "model.bin")?.sha256).toBe(sha256(weights.bytes));
    const r = await pullVerify();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(BYTES_NOT_SIGNED);
    expect(existsSync(join(r.dir, "model.bin"))).toBe(false);
  });
});

describe("mreg agent --trust-key against a lying registry", () => {
  it("keeps serving the signed version through each lie and says why", async () => {
    reg.serve(MODEL, ALIAS, 1, 10, [weights, config]);
    reg.signatures = [{ id: "sig_good", trusted_by: ["sk_release"], bundle: await bundleOver([weights, config]) }];
    const agentDir = join(work, "agent");
    const agent = await startAgent(env, `${MODEL}@${ALIAS}`, agentDir, ["--trust-key", release.pub]);
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === 1, "v1 served");

    // Other bytes for each version: a version's files already held would be linked, not fetched.
    const weightsOf = (n: number): FakeFile => ({
      path: "model.bin",
      bytes: Buffer.from(`the weights of v${n}\n`.repeat(200)),
    });
    let generation = 10;
    const lies = [
      {
        name: "a bundle over other bytes",
        signatures: async () => [
          { id: "sig_other", trusted_by: ["sk_release"], bundle: await bundleOver([weights, config]) },
        ],
        reason: /sig_other is invalid \(files: /,
      },
      {
        name: "trusted_by claimed for an unsigned version",
        signatures: async (n: number) => [
          {
            id: "sig_attacker",
            trusted_by: ["sk_release"],
            bundle: await bundleOver([weightsOf(n), config], attacker),
          },
        ],
        reason: /sig_attacker is signed by a key no --trust-key of this node is/,
      },
    ];
    let version = 1;
    for (const lie of lies) {
      const n = ++version;
      reg.serve(MODEL, ALIAS, n, ++generation, [weightsOf(n), config]);
      reg.signatures = await lie.signatures(n);
      const s = await untilStatus(
        agent,
        (st) => st.retry?.version === n && lie.reason.test(st.retry.reason),
        `v${n} refused (${lie.name})`,
      );
      expect(s.version, lie.name).toBe(1);
      expect(s.retry?.kind, lie.name).toBe("signature");
      expect(s.reasons.join("\n"), lie.name).toMatch(lie.reason);
      expect(readlinkSync(join(agentDir, "current")), lie.name).toBe("versions/v1");
      expect(agent.out.stderr, lie.name).toMatch(new RegExp(`v${n} refused: .*still serving v1`));
    }

    // Bytes that differ from the signed sha256: never installed, whatever the bundle says.
    const n = ++version;
    const next = weightsOf(n);
    reg.serve(MODEL, ALIAS, n, ++generation, [next, config]);
    reg.signatures = [{ id: "sig_next", trusted_by: [], bundle: await bundleOver([next, config]) }];
    reg.files.set("model.bin", Buffer.from("tampered".padEnd(next.bytes.length, "!")));
    const s = await untilStatus(
      agent,
      (st) => st.retry?.version === n && BYTES_NOT_SIGNED.test(st.retry.reason),
      `v${n} refused (bytes other than signed)`,
    );
    expect(s.version).toBe(1);
    expect(readFileSync(join(agentDir, "current", "model.bin"))).toEqual(weights.bytes);

    // The honest bytes come back: the signed version is taken (the registry never said it was trusted).
    reg.files.set("model.bin", next.bytes);
    await untilStatus(agent, (st) => st.version === n, `v${n} served once its bytes are the signed ones`, 120_000);
    expect(readFileSync(join(agentDir, "current", "model.bin"))).toEqual(next.bytes);
  });
});
