/**
 * mreg's OMS verifier in plain Node 22, against independent implementations: `@sigstore/verify`
 * (the reference JavaScript verifier) on the keyless fixtures and on bundles `signStatement`
 * makes, and Debian's openssl on the DSSE signatures and certificate chains of the key and
 * certificate fixtures. Also the verifier as esbuild bundles it for the CLI (dist/mreg.mjs is
 * built the same way), imported and run from the bundle.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { Verifier, toSignedEntity, toTrustMaterial } from "@sigstore/verify";
import { build } from "esbuild";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDebianPackages, OPENSSL } from "../e2e/debian";
import { base64Decode, base64Encode } from "../../src/domain/oms/bytes";
import { pae } from "../../src/domain/oms/bundle";
import { pemEncode } from "../../src/domain/oms/pem";
import * as oms from "../../src/signatures/verify";
import {
  FOLDERS,
  IDENTITY,
  bundleJson,
  bundleText,
  caCertificatePem,
  intermediateCertificatePem,
  kindOf,
  leafCertificatePem,
  signingKeyPem,
  trustedRootJson,
  versionFiles,
  type EditableJson,
} from "../oms-fixtures";
import { generateSigningKey } from "../oms-synthetic";

const work = mkdtempSync(join(tmpdir(), "mreg-oms-oracle-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const POLICY = { subjectAlternativeName: IDENTITY.subject, extensions: { issuer: IDENTITY.issuer } };
const EMPTY_ROOT = TrustedRoot.fromJSON({ mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1" });
const sigstoreRoot = TrustedRoot.fromJSON(trustedRootJson());

/** @sigstore/verify's answer: "ok" or its error code. */
function sigstoreVerdict(
  bundle: unknown,
  trust: ReturnType<typeof toTrustMaterial>,
  policy?: object,
  keyBundle = false,
): string {
  try {
    const verifier = new Verifier(
      trust,
      keyBundle ? { tlogThreshold: 0, timestampThreshold: 0, ctlogThreshold: 0 } : {},
    );
    verifier.verify(toSignedEntity(bundleFromJSON(bundle)), policy);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** @sigstore/verify with one public key, found by the bundle's hint. */
function sigstoreKeyVerdict(
  bundle: { verificationMaterial: { publicKey: { hint: string } } },
  spkiDer: Uint8Array,
): string {
  const trust = toTrustMaterial(EMPTY_ROOT, {
    [bundle.verificationMaterial.publicKey.hint]: {
      rawBytes: Buffer.from(spkiDer),
      keyDetails: 5,
      validFor: undefined,
    },
  });
  return sigstoreVerdict(bundle, trust, undefined, true);
}

let trust: oms.Trust;
beforeAll(async () => {
  // openssl is one of the two oracles: installed when missing, so a fresh machine runs this too.
  ensureDebianPackages([OPENSSL]);
  const root = oms.parseTrustedRoot(trustedRootJson());
  const key = await oms.spkiFromPem(signingKeyPem);
  const ca = await oms.certificateFromPem(caCertificatePem);
  if (oms.isRefusal(root) || oms.isRefusal(key) || oms.isRefusal(ca)) throw new Error("fixtures unreadable");
  trust = {
    keys: [{ id: "sk_key", name: "k", spkiDer: key.spkiDer }],
    cas: [{ id: "sk_ca", name: "ca", certDer: ca.certDer }],
    identities: [{ id: "sk_id", name: "id", ...IDENTITY }],
    sigstoreRoot: root,
  };
});

function flipPayload(bundle: EditableJson): EditableJson {
  const copy = structuredClone(bundle);
  const payload = base64Decode(copy.dsseEnvelope.payload)!;
  payload[30] = payload[30]! ^ 1;
  copy.dsseEnvelope.payload = base64Encode(payload);
  return copy;
}

describe("keyless fixtures: @sigstore/verify and mreg agree", () => {
  const keyless = FOLDERS.filter((f) => kindOf(f) === "sigstore");

  it.each(keyless)(
    "%s: both accept it for the identity, offline, with the public-good trusted root",
    async (folder) => {
      expect(sigstoreVerdict(bundleJson(folder), toTrustMaterial(sigstoreRoot), POLICY)).toBe("ok");
      expect(await oms.verifyBundle(bundleText(folder), await versionFiles(folder), trust)).toMatchObject({
        ok: true,
        trusted_by: ["sk_id"],
        signer: { kind: "sigstore", subject: IDENTITY.subject, issuer: IDENTITY.issuer },
      });
    },
  );

  it.each(keyless)("%s: both refuse another identity (mreg: valid, trusted by nobody)", async (folder) => {
    const policy = { ...POLICY, subjectAlternativeName: "eve@example.com" };
    expect(sigstoreVerdict(bundleJson(folder), toTrustMaterial(sigstoreRoot), policy)).toBe("UNTRUSTED_SIGNER_ERROR");
    const others = {
      ...trust,
      identities: [{ id: "sk_eve", name: "eve", issuer: IDENTITY.issuer, subject: "eve@example.com" }],
    };
    expect(await oms.verifyBundle(bundleText(folder), await versionFiles(folder), others)).toMatchObject({
      ok: true,
      trusted_by: [],
    });
  });

  it.each(keyless)("%s: both refuse a flipped payload byte", async (folder) => {
    const bad = flipPayload(bundleJson(folder));
    expect(sigstoreVerdict(bad, toTrustMaterial(sigstoreRoot), POLICY)).not.toBe("ok");
    expect(await oms.verifyBundle(JSON.stringify(bad), await versionFiles(folder), trust)).toMatchObject({
      ok: false,
      check: "tlog",
    });
  });

  it.each(keyless)("%s: both refuse a flipped signed entry timestamp", async (folder) => {
    const bad = structuredClone(bundleJson(folder));
    const promise = bad.verificationMaterial.tlogEntries[0].inclusionPromise;
    const set = base64Decode(promise.signedEntryTimestamp)!;
    set[15] = set[15]! ^ 1;
    promise.signedEntryTimestamp = base64Encode(set);
    expect(sigstoreVerdict(bad, toTrustMaterial(sigstoreRoot), POLICY)).toBe("TLOG_INCLUSION_PROMISE_ERROR");
    expect(await oms.verifyBundle(JSON.stringify(bad), await versionFiles(folder), trust)).toMatchObject({
      ok: false,
      check: "tlog",
    });
  });
});

describe("bundles signStatement makes verify with @sigstore/verify", () => {
  const files = [
    { path: "model.safetensors", sha256: "a1".repeat(32) },
    { path: "tokenizer/vocab.json", sha256: "b2".repeat(32) },
    { path: "tokenizer-config.json", sha256: "c3".repeat(32) },
  ];
  const version = new Map(files.map((f) => [f.path, f.sha256]));

  it("a PKCS#8 P-256 key: @sigstore/verify accepts it with the public key, and mreg trusts it with that key registered", async () => {
    const key = await generateSigningKey();
    const bundle = JSON.parse(await oms.signStatement(files, { privateKeyPem: key.privateKeyPem }, "demo"));
    expect(sigstoreKeyVerdict(bundle, key.spkiDer)).toBe("ok");
    const mine = { ...trust, keys: [{ id: "sk_mine", name: "mine", spkiDer: key.spkiDer }] };
    expect(await oms.verifyBundle(JSON.stringify(bundle), version, mine)).toMatchObject({
      ok: true,
      trusted_by: ["sk_mine"],
    });
    // Another key: both refuse.
    const other = await generateSigningKey();
    expect(sigstoreKeyVerdict(bundle, other.spkiDer)).toBe("SIGNATURE_ERROR");
    const others = { ...trust, keys: [{ id: "sk_other", name: "other", spkiDer: other.spkiDer }] };
    expect(await oms.verifyBundle(JSON.stringify(bundle), version, others)).toMatchObject({ ok: false, check: "key" });
  });

  it("a SEC1 key that openssl made (EC PRIVATE KEY) signs a bundle @sigstore/verify accepts", async () => {
    const keyPath = join(work, "sec1.pem");
    execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyPath]);
    const pem = readFileSync(keyPath, "utf8");
    expect(pem).toContain("BEGIN EC PRIVATE KEY");
    const publicPem = execFileSync("openssl", ["ec", "-in", keyPath, "-pubout"], {
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
    const publicKey = await oms.spkiFromPem(publicPem);
    if (oms.isRefusal(publicKey)) throw new Error(publicKey.problem.detail);
    const bundle = JSON.parse(await oms.signStatement(files, { privateKeyPem: pem }, "demo"));
    expect(bundle.verificationMaterial.publicKey.hint).toBe(publicKey.hint);
    expect(sigstoreKeyVerdict(bundle, publicKey.spkiDer)).toBe("ok");
  });

  it("whatever byte of the signature or payload changes, both refuse it", async () => {
    const key = await generateSigningKey();
    const bundle = JSON.parse(await oms.signStatement(files, { keyPair: key.keyPair }, "demo"));
    const mine = { ...trust, keys: [{ id: "sk_mine", name: "mine", spkiDer: key.spkiDer }] };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("payload", "sig"),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (field, at, xor) => {
          const bad = structuredClone(bundle);
          const holder = field === "payload" ? bad.dsseEnvelope : bad.dsseEnvelope.signatures[0];
          const bytes = base64Decode(holder[field])!;
          bytes[at % bytes.length] = bytes[at % bytes.length]! ^ xor;
          holder[field] = base64Encode(bytes);
          expect(sigstoreKeyVerdict(bad, key.spkiDer)).not.toBe("ok");
          expect(await oms.verifyBundle(JSON.stringify(bad), version, mine)).toMatchObject({ ok: false });
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("openssl as a second oracle", () => {
  function write(name: string, data: string | Uint8Array): string {
    const path = join(work, name);
    writeFileSync(path, data);
    return path;
  }

  /** `openssl dgst -<hash> -verify` over the DSSE PAE with the envelope's DER signature. */
  function opensslDsse(bundle: EditableJson, publicPem: string, hash: string): boolean {
    const payload = base64Decode(bundle.dsseEnvelope.payload)!;
    const result = spawnSync("openssl", [
      "dgst",
      `-${hash}`,
      "-verify",
      write("pub.pem", publicPem),
      "-signature",
      write("sig.der", base64Decode(bundle.dsseEnvelope.signatures[0].sig)!),
      write("pae.bin", pae(bundle.dsseEnvelope.payloadType, payload)),
    ]);
    return result.status === 0 && result.stdout.toString().includes("Verified OK");
  }

  it.each(FOLDERS.filter((f) => kindOf(f) !== "sigstore"))(
    "%s: openssl verifies the DSSE signature with SHA-384 (the curve's hash), not SHA-256",
    async (folder) => {
      const publicPem =
        kindOf(folder) === "key"
          ? signingKeyPem
          : execFileSync("openssl", [
              "x509",
              "-pubkey",
              "-noout",
              "-in",
              write("leaf.pem", leafCertificatePem),
            ]).toString();
      expect(opensslDsse(bundleJson(folder), publicPem, "sha384")).toBe(true);
      expect(opensslDsse(bundleJson(folder), publicPem, "sha256")).toBe(false);
      expect(opensslDsse(flipPayload(bundleJson(folder)), publicPem, "sha384")).toBe(false);
      expect(await oms.verifyBundle(bundleText(folder), await versionFiles(folder), trust)).toMatchObject({ ok: true });
    },
  );

  it("openssl verifies the DSSE signature of a bundle signStatement makes", async () => {
    const key = await generateSigningKey();
    const bundle = JSON.parse(
      await oms.signStatement([{ path: "w.bin", sha256: "d4".repeat(32) }], { keyPair: key.keyPair }, "m"),
    );
    expect(opensslDsse(bundle, key.publicKeyPem, "sha256")).toBe(true);
  });

  it("openssl and mreg agree on the certificate chain, checked at the leaf's notBefore", async () => {
    const notBefore = Date.parse("2025-05-02T23:36:28Z") / 1000;
    const verifyChain = (untrusted: boolean) =>
      spawnSync("openssl", [
        "verify",
        "-attime",
        String(notBefore),
        "-CAfile",
        write("ca.pem", caCertificatePem),
        ...(untrusted ? ["-untrusted", write("int.pem", intermediateCertificatePem)] : []),
        write("leaf.pem", leafCertificatePem),
      ]).status;
    expect(verifyChain(true)).toBe(0);
    expect(
      await oms.verifyBundle(bundleText("v1.1.0-certificate"), await versionFiles("v1.1.0-certificate"), trust),
    ).toMatchObject({
      trusted_by: ["sk_ca"],
    });
    // Without the intermediate neither finds a path.
    expect(verifyChain(false)).not.toBe(0);
    const bundle = bundleJson("v1.1.0-certificate");
    bundle.verificationMaterial.x509CertificateChain.certificates.splice(1);
    expect(
      await oms.verifyBundle(JSON.stringify(bundle), await versionFiles("v1.1.0-certificate"), trust),
    ).toMatchObject({
      ok: true,
      trusted_by: [],
    });
    // Long before the leaf was made, openssl refuses; mreg never checks at any other time than notBefore.
    expect(
      spawnSync("openssl", [
        "verify",
        "-attime",
        String(notBefore - 86_400 * 400),
        "-CAfile",
        join(work, "ca.pem"),
        "-untrusted",
        join(work, "int.pem"),
        join(work, "leaf.pem"),
      ]).status,
    ).not.toBe(0);
  });
});

describe("the verifier as esbuild bundles it for the CLI", () => {
  it("builds for Node with no Node built-in, and verifies a fixture and signs from the bundle", async () => {
    const result = await build({
      entryPoints: [join(import.meta.dirname, "../../src/signatures/verify.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports).toEqual([]);
    const url = `data:text/javascript;base64,${Buffer.from(result.outputFiles[0]!.text).toString("base64")}`;
    const bundled = (await import(url)) as typeof oms;
    expect(
      await bundled.verifyBundle(bundleText("v1.0.1-sigstore"), await versionFiles("v1.0.1-sigstore"), trust),
    ).toMatchObject({
      ok: true,
      trusted_by: ["sk_id"],
    });
    const key = await generateSigningKey();
    const signed = await bundled.signStatement(
      [{ path: "x", sha256: "e5".repeat(32) }],
      { privateKeyPem: key.privateKeyPem },
      "m",
    );
    expect(sigstoreKeyVerdict(JSON.parse(signed), key.spkiDer)).toBe("ok");
    expect(pemEncode(key.spkiDer, "PUBLIC KEY")).toBe(key.publicKeyPem);
  });
});
