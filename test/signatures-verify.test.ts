/**
 * OMS signature verification inside workerd (src/signatures/verify.ts): the reference
 * implementation's six signed models accepted and trusted with the right key, CA or identity,
 * valid but untrusted (or refused, for hint-only bundles) with another, refused after one byte
 * of `signme-1` changes; the tampering the report lists (payload, SET, proof, checkpoint,
 * dropped intermediate, extra and ignored files); the path rules on certificates made here;
 * bundles `signStatement` makes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { base64Decode, base64Encode, hexOf, sha256, utf8 } from "../src/domain/oms/bytes";
import { encodeOid, encodeTlv, Tag } from "../src/domain/oms/der";
import { pemEncode } from "../src/domain/oms/pem";
import { CODE_SIGNING } from "../src/domain/oms/x509";
import {
  certificateFromPem,
  isRefusal,
  keyHint,
  parseTrustedRoot,
  signStatement,
  spkiFromPem,
  verifyBundle,
  type Refusal,
  type Trust,
  type TrustedRoot,
  type Verdict,
} from "../src/signatures/verify";
import { certificateBundle, generateP256, issue, keyBundle, pki, statementPayload } from "./oms-make";
import {
  FOLDERS,
  IDENTITY,
  bundleJson,
  bundleText,
  caCertificatePem,
  intermediateCertificatePem,
  kindOf,
  oneByteChanged,
  signingKeyPem,
  trustedRootJson,
  versionFiles,
  type EditableJson,
  type Folder,
} from "./oms-fixtures";
import { generateSigningKey } from "./oms-synthetic";

const hexBytes = (hex: string) => Uint8Array.from(hex.match(/../g)!, (pair) => parseInt(pair, 16));

let root: TrustedRoot;
let rightTrust: Trust;
let otherTrust: Trust;

function must<T extends object>(value: T): Exclude<T, Refusal> {
  if (isRefusal(value)) throw new Error(`unexpected refusal: ${JSON.stringify(value.problem)}`);
  return value as Exclude<T, Refusal>;
}

beforeAll(async () => {
  root = must(parseTrustedRoot(trustedRootJson()));
  const key = must(await spkiFromPem(signingKeyPem));
  const ca = must(await certificateFromPem(caCertificatePem));
  rightTrust = {
    keys: [{ id: "sk_key", name: "release", spkiDer: key.spkiDer }],
    cas: [{ id: "sk_ca", name: "corp-ca", certDer: ca.certDer }],
    identities: [{ id: "sk_id", name: "stefan", ...IDENTITY }],
    sigstoreRoot: root,
  };
  const otherKey = await generateSigningKey();
  const otherCa = await issue({ subject: "another-root", ca: true });
  otherTrust = {
    keys: [{ id: "sk_other_key", name: "other", spkiDer: otherKey.spkiDer }],
    cas: [{ id: "sk_other_ca", name: "other-ca", certDer: otherCa.der }],
    identities: [{ id: "sk_other_id", name: "other", issuer: IDENTITY.issuer, subject: "someone-else@example.com" }],
    sigstoreRoot: root,
  };
});

const verify = async (
  folder: Folder,
  bundle: string = bundleText(folder),
  trust = rightTrust,
  files?: Map<string, string>,
) => verifyBundle(bundle, files ?? (await versionFiles(folder)), trust);

function expectRefused(verdict: Verdict, check: string, detail: RegExp) {
  expect(verdict).toMatchObject({ ok: false, check });
  if (!verdict.ok) expect(verdict.detail).toMatch(detail);
}

/** The bundle's JSON with `edit` applied (a deep copy: fixtures stay as written). */
function edited(folder: Folder, edit: (bundle: EditableJson) => void): string {
  const copy = bundleJson(folder);
  edit(copy);
  return JSON.stringify(copy);
}

/** Base64 text with one byte of what it encodes flipped. */
function flipBase64(text: string, index: number): string {
  const bytes = base64Decode(text)!;
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = bytes[at]! ^ 0x01;
  return base64Encode(bytes);
}

describe("the six reference fixtures", () => {
  it.each(FOLDERS)("%s is accepted and trusted with the right key, CA or identity", async (folder) => {
    const verdict = await verify(folder);
    const kind = kindOf(folder);
    const id = { key: "sk_key", certificate: "sk_ca", sigstore: "sk_id" }[kind];
    expect(verdict).toMatchObject({ ok: true, signer: { kind }, trusted_by: [id], resources: 2 });
    if (!verdict.ok) return;
    expect(verdict.signer.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(verdict.untrusted).toBeUndefined();
    if (kind === "sigstore")
      expect(verdict.signer).toMatchObject({ subject: IDENTITY.subject, issuer: IDENTITY.issuer });
    if (kind === "certificate") expect(verdict.signing_time).toBe("2025-05-02T23:36:28.000Z");
    if (kind === "key") expect(verdict.signing_time).toBeNull();
  });

  it("give the signing times their Rekor entries record", async () => {
    expect(await verify("v1.0.1-sigstore")).toMatchObject({ signing_time: "2025-10-07T15:33:48.000Z" });
    expect(await verify("v1.1.0-sigstore")).toMatchObject({ signing_time: "2025-10-10T02:12:20.000Z" });
  });

  it.each(FOLDERS.filter((f) => f !== "v1.1.0-elliptic-key"))(
    "%s with another key, CA or identity registered is valid but untrusted, and says why",
    async (folder) => {
      const verdict = await verify(folder, bundleText(folder), otherTrust);
      expect(verdict).toMatchObject({ ok: true, trusted_by: [], resources: 2 });
      if (verdict.ok) expect(verdict.untrusted).toBeTruthy();
    },
  );

  it("v1.1.0-elliptic-key carries only a hint: with another key registered it is refused, not guessed", async () => {
    const verdict = await verify("v1.1.0-elliptic-key", undefined, otherTrust);
    expectRefused(verdict, "key", /this bundle carries no key; register its public key first/);
    // With nothing registered at all, the same.
    expectRefused(await verify("v1.1.0-elliptic-key", undefined, { ...otherTrust, keys: [] }), "key", /carries no key/);
  });

  it.each(FOLDERS)("%s is refused once one byte of signme-1 changes", async (folder) => {
    const files = await versionFiles(folder, { change: { name: "signme-1", bytes: oneByteChanged(folder) } });
    expectRefused(
      await verify(folder, undefined, rightTrust, files),
      "files",
      /^signme-1: sha256 [0-9a-f]{64} differs/,
    );
  });

  it.each(FOLDERS)(
    "%s: a version that also holds ignore-me passes only where the statement ignores it",
    async (folder) => {
      const verdict = await verify(folder, undefined, rightTrust, await versionFiles(folder, { withIgnoreMe: true }));
      if (folder.startsWith("v1.1.0")) expect(verdict).toMatchObject({ ok: true, resources: 2 });
      else expectRefused(verdict, "files", /extra file ignore-me/);
    },
  );

  it.each(FOLDERS)("%s: a file missing from the version is refused", async (folder) => {
    const files = await versionFiles(folder);
    files.delete("signme-2");
    expectRefused(await verify(folder, undefined, rightTrust, files), "files", /missing file signme-2/);
  });

  it.each(FOLDERS)("%s: one byte of the payload flipped is refused", async (folder) => {
    const bundle = edited(folder, (b) => (b.dsseEnvelope.payload = flipBase64(b.dsseEnvelope.payload, 40)));
    const verdict = await verify(folder, bundle);
    // Keyless: the logged payload hash differs before any signature is tried.
    if (kindOf(folder) === "sigstore") expectRefused(verdict, "tlog", /payload's hash differs/);
    else expectRefused(verdict, "signature", /DSSE signature does not verify .*P-384, SHA-384/);
  });

  it.each(FOLDERS)("%s: one byte of the DSSE signature flipped is refused", async (folder) => {
    const bundle = edited(
      folder,
      (b) => (b.dsseEnvelope.signatures[0].sig = flipBase64(b.dsseEnvelope.signatures[0].sig, 20)),
    );
    const verdict = await verify(folder, bundle);
    if (kindOf(folder) === "sigstore") expectRefused(verdict, "tlog", /signatures differ from the logged ones/);
    else expectRefused(verdict, "signature", /does not verify/);
  });
});

describe("keyless bundles, tampered", () => {
  const sigstore = ["v1.0.1-sigstore", "v1.1.0-sigstore"] as const;

  it.each(sigstore)("%s: the signed entry timestamp flipped is refused", async (folder) => {
    const bundle = edited(folder, (b) => {
      const entry = b.verificationMaterial.tlogEntries[0];
      entry.inclusionPromise.signedEntryTimestamp = flipBase64(entry.inclusionPromise.signedEntryTimestamp, 12);
    });
    expectRefused(await verify(folder, bundle), "tlog", /signed entry timestamp does not verify/);
  });

  it.each(sigstore)("%s: the integrated time moved is refused (the SET covers it)", async (folder) => {
    const bundle = edited(folder, (b) => {
      const entry = b.verificationMaterial.tlogEntries[0];
      entry.integratedTime = String(Number(entry.integratedTime) + 1);
    });
    expectRefused(await verify(folder, bundle), "tlog", /signed entry timestamp does not verify/);
  });

  it.each(sigstore)("%s: a hash of the inclusion proof flipped is refused", async (folder) => {
    const bundle = edited(folder, (b) => {
      const proof = b.verificationMaterial.tlogEntries[0].inclusionProof;
      proof.hashes[0] = flipBase64(proof.hashes[0], 0);
    });
    expectRefused(await verify(folder, bundle), "tlog", /inclusion proof does not lead to its root hash/);
  });

  it.each(sigstore)("%s: the proof's tree index taken for the global log index is refused", async (folder) => {
    const bundle = edited(folder, (b) => {
      const entry = b.verificationMaterial.tlogEntries[0];
      entry.inclusionProof.logIndex = entry.logIndex;
    });
    expectRefused(await verify(folder, bundle), "tlog", /inclusion proof/);
  });

  it.each(sigstore)("%s: the checkpoint's signature flipped is refused", async (folder) => {
    const bundle = edited(folder, (b) => {
      const checkpoint = b.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
      checkpoint.envelope = checkpoint.envelope.replace(
        /(\u2014 \S+ )(\S+)\n/,
        (_: string, head: string, sig: string) => `${head}${flipBase64(sig, -3)}\n`,
      );
    });
    expectRefused(await verify(folder, bundle), "tlog", /no checkpoint signature verifies/);
  });

  it.each(sigstore)("%s: a checkpoint for another tree size is refused", async (folder) => {
    const bundle = edited(folder, (b) => {
      const checkpoint = b.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
      const [origin, size, ...rest] = checkpoint.envelope.split("\n");
      checkpoint.envelope = [origin, String(Number(size) + 1), ...rest].join("\n");
    });
    expectRefused(await verify(folder, bundle), "tlog", /checkpoint is for another tree/);
  });

  it("another Fulcio certificate in the bundle than the one Rekor logged is refused", async () => {
    const other = bundleJson("v1.0.1-sigstore").verificationMaterial.certificate;
    const bundle = edited("v1.1.0-sigstore", (b) => (b.verificationMaterial.certificate = other));
    expectRefused(await verify("v1.1.0-sigstore", bundle), "tlog", /logged verifier is not the bundle's certificate/);
  });

  it("without a configured trusted root a keyless bundle is refused, and says what to configure", async () => {
    expectRefused(
      await verify("v1.1.0-sigstore", undefined, { ...rightTrust, sigstoreRoot: null }),
      "trusted_root",
      /SIGSTORE_TRUSTED_ROOT/,
    );
  });

  it("without any Rekor entry (time only from RFC 3161 timestamps) it is refused as not supported", async () => {
    const bundle = edited("v1.1.0-sigstore", (b) => (b.verificationMaterial.tlogEntries = []));
    expectRefused(await verify("v1.1.0-sigstore", bundle), "tlog", /RFC 3161 timestamps is not supported/);
  });

  it("a Rekor v2 entry (dsse 0.0.2, no SET) is refused as not supported, not accepted", async () => {
    const bundle = edited("v1.1.0-sigstore", (b) => {
      const entry = b.verificationMaterial.tlogEntries[0];
      entry.kindVersion.version = "0.0.2";
      delete entry.inclusionPromise;
    });
    expectRefused(await verify("v1.1.0-sigstore", bundle), "tlog", /Rekor v2 entries are not supported/);
  });

  it("an entry of another kind (hashedrekord) is refused as not supported", async () => {
    const bundle = edited(
      "v1.0.1-sigstore",
      (b) => (b.verificationMaterial.tlogEntries[0].kindVersion.kind = "hashedrekord"),
    );
    expectRefused(await verify("v1.0.1-sigstore", bundle), "tlog", /hashedrekord 0\.0\.1 entries are not supported/);
  });

  it("a trusted root without the CT logs refuses the certificate's timestamps", async () => {
    const json = trustedRootJson() as { ctlogs: unknown[] };
    json.ctlogs = [];
    const trust = { ...rightTrust, sigstoreRoot: must(parseTrustedRoot(json)) };
    expectRefused(await verify("v1.1.0-sigstore", undefined, trust), "sct", /no embedded SCT verifies/);
  });

  it("a trusted root without the Fulcio CA refuses the certificate", async () => {
    const json = trustedRootJson() as { certificateAuthorities: unknown[] };
    json.certificateAuthorities = json.certificateAuthorities.slice(0, 1); // the 2021–2022 CA only
    const trust = { ...rightTrust, sigstoreRoot: must(parseTrustedRoot(json)) };
    expectRefused(await verify("v1.1.0-sigstore", undefined, trust), "chain", /does not chain to a Fulcio CA/);
  });

  it("a trusted root without the Rekor key refuses the entry", async () => {
    const json = trustedRootJson() as { tlogs: unknown[] };
    json.tlogs = json.tlogs.slice(1);
    const trust = { ...rightTrust, sigstoreRoot: must(parseTrustedRoot(json)) };
    expectRefused(await verify("v1.1.0-sigstore", undefined, trust), "tlog", /from no log of the trusted root/);
  });

  it("an entry whose time lies in the verifier's future is refused", async () => {
    const verdict = await verifyBundle(
      bundleText("v1.1.0-sigstore"),
      await versionFiles("v1.1.0-sigstore"),
      rightTrust,
      new Date("2025-01-01T00:00:00Z"),
    );
    expectRefused(verdict, "tlog", /in the future/);
  });

  it("the identity must match both SAN and issuer exactly", async () => {
    for (const identity of [
      { issuer: "https://accounts.google.com", subject: IDENTITY.subject },
      { issuer: IDENTITY.issuer, subject: "STEFANB@us.ibm.com" },
    ]) {
      const trust = { ...rightTrust, identities: [{ id: "sk_x", name: "x", ...identity }] };
      expect(await verify("v1.0.1-sigstore", undefined, trust)).toMatchObject({ ok: true, trusted_by: [] });
    }
  });
});

describe("certificate bundles", () => {
  it("with the intermediate dropped from the chain, v1.1.0-certificate is valid but untrusted", async () => {
    const bundle = edited("v1.1.0-certificate", (b) =>
      b.verificationMaterial.x509CertificateChain.certificates.splice(1),
    );
    const verdict = await verify("v1.1.0-certificate", bundle);
    expect(verdict).toMatchObject({ ok: true, trusted_by: [] });
    if (verdict.ok) expect(verdict.untrusted).toMatch(/no certificate path from CN=intermediate-ca/);
  });

  it("a registered intermediate is an anchor too; both CAs vouch when both are registered", async () => {
    const intermediate = must(await certificateFromPem(intermediateCertificatePem));
    const cas = [...rightTrust.cas, { id: "sk_int", name: "int", certDer: intermediate.certDer }];
    expect(await verify("v1.0.1-certificate", undefined, { ...rightTrust, cas })).toMatchObject({
      ok: true,
      trusted_by: ["sk_ca", "sk_int"],
    });
  });

  it("a leaf that is not the envelope's signer is refused, whatever CA is registered", async () => {
    const { root, intermediate, leaf } = await pki();
    const stranger = await generateP256();
    const bundle = await certificateBundle([leaf.der, intermediate.der], stranger.privateKey, [
      { name: "w", sha256: "ab".repeat(32) },
    ]);
    const trust = { ...rightTrust, cas: [{ id: "sk_r", name: "r", certDer: root.der }] };
    expectRefused(
      await verifyBundle(bundle, new Map([["w", "ab".repeat(32)]]), trust),
      "signature",
      /leaf certificate's key/,
    );
  });

  const files = [{ name: "weights.bin", sha256: "cd".repeat(32) }];
  const version = new Map([["weights.bin", "cd".repeat(32)]]);

  /** Verifies a chain made here against its root registered. */
  async function verdictFor(chain: { der: Uint8Array }[], rootDer: Uint8Array, leafKey: CryptoKey) {
    const bundle = await certificateBundle(
      chain.map((c) => c.der),
      leafKey,
      files,
    );
    return verifyBundle(bundle, version, { ...rightTrust, cas: [{ id: "sk_root", name: "root", certDer: rootDer }] });
  }

  it("a made chain root → intermediate → leaf is trusted by its root", async () => {
    const { root, intermediate, leaf } = await pki();
    expect(await verdictFor([leaf, intermediate], root.der, leaf.keyPair.privateKey)).toMatchObject({
      ok: true,
      signer: { kind: "certificate", subject: "CN=test-leaf", issuer: "CN=test-intermediate" },
      trusted_by: ["sk_root"],
    });
    // The bundle may carry its root too, and the intermediates in any order.
    expect(await verdictFor([leaf, root, intermediate], root.der, leaf.keyPair.privateKey)).toMatchObject({
      trusted_by: ["sk_root"],
    });
  });

  it.each([
    ["an issuer that is not a CA", { ca: false }, /signs a certificate but is not a CA/],
    ["an issuer without keyCertSign", { keyUsage: { digitalSignature: true } }, /not allowed to sign certificates/],
    [
      "an issuer expired before the leaf was made",
      { notAfter: new Date("2025-01-15T00:00:00Z") },
      /not valid at 2025-02-01/,
    ],
    [
      "an issuer with a critical extension nobody reads",
      { extra: [{ oid: "1.3.6.1.4.1.99999.1", critical: true, value: new Uint8Array([5, 0]) }] },
      /critical extensions this verifier does not check: 1\.3\.6\.1\.4\.1\.99999\.1/,
    ],
  ])("%s leaves the signature valid but untrusted", async (_, intermediateOptions, reason) => {
    const root = await issue({ subject: "test-root", ca: true });
    const intermediate = await issue({ subject: "test-intermediate", issuer: root, ca: true, ...intermediateOptions });
    const leaf = await issue({
      subject: "test-leaf",
      issuer: intermediate,
      extKeyUsage: [CODE_SIGNING],
      notBefore: new Date("2025-02-01T00:00:00Z"),
    });
    const verdict = await verdictFor([leaf, intermediate], root.der, leaf.keyPair.privateKey);
    expect(verdict).toMatchObject({ ok: true, trusted_by: [] });
    if (verdict.ok) expect(verdict.untrusted).toMatch(reason);
  });

  it("validity is checked at the leaf's notBefore, as the reference does: a chain expired since still verifies", async () => {
    const root = await issue({
      subject: "old-root",
      ca: true,
      notBefore: new Date("2015-01-01T00:00:00Z"),
      notAfter: new Date("2020-01-01T00:00:00Z"),
    });
    const leaf = await issue({
      subject: "old-leaf",
      issuer: root,
      notBefore: new Date("2016-01-01T00:00:00Z"),
      notAfter: new Date("2017-01-01T00:00:00Z"),
    });
    expect(await verdictFor([leaf], root.der, leaf.keyPair.privateKey)).toMatchObject({
      ok: true,
      trusted_by: ["sk_root"],
      signing_time: "2016-01-01T00:00:00.000Z",
    });
  });

  it("pathLen 0 on the root refuses a path through an intermediate; pathLen 1 allows it", async () => {
    for (const [pathLen, trusted] of [
      [0, false],
      [1, true],
    ] as const) {
      const root = await issue({ subject: "test-root", ca: true, pathLen });
      const intermediate = await issue({ subject: "test-intermediate", issuer: root, ca: true });
      const leaf = await issue({ subject: "test-leaf", issuer: intermediate });
      const verdict = await verdictFor([leaf, intermediate], root.der, leaf.keyPair.privateKey);
      expect(verdict).toMatchObject({ ok: true, trusted_by: trusted ? ["sk_root"] : [] });
      if (!trusted && verdict.ok)
        expect(verdict.untrusted).toMatch(/allows 0 CA certificates below it, the path has 1/);
    }
  });

  it("the leaf must be allowed to sign: digitalSignature or codeSigning, as the reference rules", async () => {
    const root = await issue({ subject: "test-root", ca: true });
    const cases = [
      [{ keyUsage: { digitalSignature: true } }, true],
      [{ keyUsage: null, extKeyUsage: [CODE_SIGNING] }, true],
      [{ keyUsage: { keyCertSign: true } }, false],
      [{ keyUsage: null, extKeyUsage: ["1.3.6.1.5.5.7.3.1"] }, false],
    ] as const;
    for (const [options, trusted] of cases) {
      const leaf = await issue({ subject: "test-leaf", issuer: root, ...options });
      const verdict = await verdictFor([leaf], root.der, leaf.keyPair.privateKey);
      expect(verdict).toMatchObject({ ok: true, trusted_by: trusted ? ["sk_root"] : [] });
      if (!trusted && verdict.ok) expect(verdict.untrusted).toMatch(/the leaf may not sign/);
    }
  });

  it("a leaf whose issuer signature does not verify is not chained (same names, another key)", async () => {
    const root = await issue({ subject: "test-root", ca: true });
    const impostor = await issue({ subject: "test-root", ca: true }); // same name, its own key
    const leaf = await issue({ subject: "test-leaf", issuer: impostor });
    const verdict = await verdictFor([leaf], root.der, leaf.keyPair.privateKey);
    expect(verdict).toMatchObject({ ok: true, trusted_by: [] });
    if (verdict.ok) expect(verdict.untrusted).toMatch(/signature of the leaf by CN=test-root does not verify/);
  });

  it("certificates that issue each other in a circle end the search without an anchor", async () => {
    const keyA = await generateP256();
    const keyB = await generateP256();
    const a0 = await issue({ subject: "a", ca: true, keyPair: keyA });
    const b = await issue({ subject: "b", issuer: a0, ca: true, keyPair: keyB });
    const a = await issue({ subject: "a", issuer: b, ca: true, keyPair: keyA });
    const leaf = await issue({ subject: "leaf", issuer: a });
    const elsewhere = await issue({ subject: "elsewhere", ca: true });
    const verdict = await verdictFor([leaf, a, b, a0], elsewhere.der, leaf.keyPair.privateKey);
    expect(verdict).toMatchObject({ ok: true, trusted_by: [] });
  });
});

describe("key bundles", () => {
  const files = [
    { name: "model.safetensors", sha256: "11".repeat(32) },
    { name: "config.json", sha256: "22".repeat(32) },
  ];
  const version = new Map(files.map((f) => [f.name, f.sha256]));

  it.each([
    ["as PEM text (OMS v1.0.1)", { pem: true } as const],
    ["as DER (the Sigstore spec)", { der: true } as const],
  ])("a carried key %s verifies; trusted only by a registered key with the same SPKI", async (_, carry) => {
    const key = await generateSigningKey();
    const bundle = await keyBundle(await statementPayload(files), key.keyPair, carry);
    expect(await verifyBundle(bundle, version, { ...rightTrust, keys: [] })).toMatchObject({
      ok: true,
      trusted_by: [],
    });
    const trust = { ...rightTrust, keys: [...rightTrust.keys, { id: "sk_mine", name: "mine", spkiDer: key.spkiDer }] };
    expect(await verifyBundle(bundle, version, trust)).toMatchObject({ ok: true, trusted_by: ["sk_mine"] });
  });

  it("a hint that disagrees with the carried key is refused", async () => {
    const key = await generateSigningKey();
    const bundle = JSON.parse(await keyBundle(await statementPayload(files), key.keyPair, { pem: true }));
    bundle.verificationMaterial.publicKey.hint = await keyHint(rightTrust.keys[0]!.spkiDer);
    expectRefused(
      await verifyBundle(JSON.stringify(bundle), version, rightTrust),
      "key",
      /hint is not the hint of the key/,
    );
  });

  it("the hint is recomputed from DER: a registered PEM with CRLF and another width still matches", async () => {
    const key = await generateSigningKey();
    const bundle = await signStatement(
      files.map((f) => ({ path: f.name, sha256: f.sha256 })),
      { privateKeyPem: key.privateKeyPem },
      "m",
    );
    const oddPem = key.publicKeyPem.replace(/\n/g, "\r\n").replace(/^(-----BEGIN PUBLIC KEY-----\r\n)/, "$1\r\n");
    const registered = must(await spkiFromPem(oddPem));
    const trust = { ...rightTrust, keys: [{ id: "sk_crlf", name: "crlf", spkiDer: registered.spkiDer }] };
    expect(await verifyBundle(bundle, version, trust)).toMatchObject({ ok: true, trusted_by: ["sk_crlf"] });
  });

  it("a registered key that is not EC is refused when its hint is what the bundle names", async () => {
    const rsa = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const spkiDer = new Uint8Array((await crypto.subtle.exportKey("spki", rsa.publicKey)) as ArrayBuffer);
    const p256 = await generateP256();
    const bundle = await keyBundle(await statementPayload(files), p256, { hint: await keyHint(spkiDer) });
    const trust = { ...rightTrust, keys: [{ id: "sk_rsa", name: "rsa", spkiDer }] };
    expectRefused(await verifyBundle(bundle, version, trust), "key", /OMS signs with EC keys .* RSA-2048/);
    expect(await spkiFromPem(pemEncode(spkiDer, "PUBLIC KEY"))).toMatchObject({ problem: { check: "key" } });
  });
});

describe("statements that break a rule, validly signed", () => {
  const files = [
    { name: "b/weights.bin", sha256: "33".repeat(32) },
    { name: "a.json", sha256: "44".repeat(32) },
  ];
  const version = new Map(files.map((f) => [f.name, f.sha256]));

  async function verdictFor(edit: (statement: EditableJson) => void) {
    const key = await generateSigningKey();
    const bundle = await keyBundle(await statementPayload(files, edit), key.keyPair, { pem: true });
    return verifyBundle(bundle, version, rightTrust);
  }

  it.each([
    [
      "the v0.2 predicate",
      (s: EditableJson) => (s.predicateType = "https://model_signing/Digests/v0.1"),
      /v0\.2 predicate .* is not supported/,
    ],
    [
      "shard serialization",
      (s: EditableJson) => (s.predicate.serialization.method = "shards"),
      /"shards" is not supported/,
    ],
    [
      "another hash type",
      (s: EditableJson) => (s.predicate.serialization.hash_type = "blake2"),
      /hash_type "blake2" is not supported/,
    ],
    [
      "a resource of another algorithm",
      (s: EditableJson) => (s.predicate.resources[0].algorithm = "blake3"),
      /algorithm is not sha256/,
    ],
    ["two subjects", (s: EditableJson) => s.subject.push(s.subject[0]), /exactly one subject/],
    [
      "a resource listed twice",
      (s: EditableJson) => s.predicate.resources.push(s.predicate.resources[0]),
      /listed twice/,
    ],
    [
      "a subject digest that is not the resources'",
      (s: EditableJson) => (s.subject[0].digest.sha256 = "00".repeat(32)),
      /subject digest does not match/,
    ],
    [
      "an ignore path covering the whole model",
      (s: EditableJson) => (s.predicate.serialization.ignore_paths = ["./"]),
      /covers the whole model/,
    ],
    [
      "a resource under an ignored path",
      (s: EditableJson) => (s.predicate.serialization.ignore_paths = ["b"]),
      /resource b\/weights\.bin lies under an ignored path/,
    ],
    ["another statement type", (s: EditableJson) => (s._type = "https://in-toto.io/Statement/v0.1"), /_type is not/],
  ])("%s is refused (statement)", async (_, edit, detail) => {
    expectRefused(await verdictFor(edit), "statement", detail);
  });

  it("the subject digest is taken in the order listed, not re-sorted", async () => {
    // The signer's order is a.json, b/weights.bin. Listed the other way round, with the digest
    // left as it was, the statement must fail: a verifier that re-sorted would accept it.
    expectRefused(
      await verdictFor((s) => s.predicate.resources.reverse()),
      "statement",
      /subject digest does not match/,
    );
    // With the digest taken over the order listed, it is valid: that order is the one that counts.
    const listed = new Uint8Array([...hexBytes("33".repeat(32)), ...hexBytes("44".repeat(32))]);
    const digest = hexOf(await sha256(listed));
    expect(
      await verdictFor((s) => {
        s.predicate.resources.reverse();
        s.subject[0].digest.sha256 = digest;
      }),
    ).toMatchObject({ ok: true, resources: 2 });
  });

  it("a payload that is not JSON is refused after its signature verifies", async () => {
    const key = await generateSigningKey();
    const bundle = await keyBundle(utf8.encode("not json"), key.keyPair, { pem: true });
    expectRefused(await verifyBundle(bundle, version, rightTrust), "statement", /not JSON/);
  });
});

describe("bundles signStatement makes", () => {
  const files = [
    { path: "a-b", sha256: "55".repeat(32) },
    { path: "a/b", sha256: "66".repeat(32) },
    { path: "config.json", sha256: "77".repeat(32) },
  ];
  const version = new Map(files.map((f) => [f.path, f.sha256]));

  it.each(["P-256", "P-384", "P-521"] as const)(
    "a %s key signs a bundle the registered key verifies and trusts",
    async (namedCurve) => {
      const keyPair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve }, true, [
        "sign",
        "verify",
      ])) as CryptoKeyPair;
      const spkiDer = new Uint8Array((await crypto.subtle.exportKey("spki", keyPair.publicKey)) as ArrayBuffer);
      const bundle = await signStatement(files, { keyPair }, "my-model");
      const trust = { ...rightTrust, keys: [{ id: "sk_mine", name: "mine", spkiDer }] };
      expect(await verifyBundle(bundle, version, trust)).toMatchObject({
        ok: true,
        trusted_by: ["sk_mine"],
        resources: 3,
      });
    },
  );

  it('is in the reference\'s layout: hint, empty tlogEntries, keyid "", resources in PurePosixPath order', async () => {
    const key = await generateSigningKey();
    const bundle = JSON.parse(await signStatement(files, { privateKeyPem: key.privateKeyPem }, "my-model"));
    expect(Object.keys(bundle)).toEqual(["mediaType", "verificationMaterial", "dsseEnvelope"]);
    expect(bundle.verificationMaterial).toEqual({ publicKey: { hint: await keyHint(key.spkiDer) }, tlogEntries: [] });
    expect(bundle.dsseEnvelope.signatures).toEqual([{ sig: expect.any(String), keyid: "" }]);
    const statement = JSON.parse(new TextDecoder().decode(base64Decode(bundle.dsseEnvelope.payload)!));
    expect(statement.subject[0].name).toBe("my-model");
    expect(statement.predicate.resources.map((r: { name: string }) => r.name)).toEqual(["a/b", "a-b", "config.json"]);
    expect(statement.predicate.serialization).toEqual({
      method: "files",
      hash_type: "sha256",
      allow_symlinks: false,
      ignore_paths: ["model.sig", ".git", ".gitattributes", ".github", ".gitignore"],
    });
  });

  it("lists no ignore path that would hide one of its own files", async () => {
    const key = await generateSigningKey();
    const withGit = [...files, { path: ".gitattributes", sha256: "88".repeat(32) }];
    const bundle = JSON.parse(await signStatement(withGit, { keyPair: key.keyPair }, "m"));
    const statement = JSON.parse(new TextDecoder().decode(base64Decode(bundle.dsseEnvelope.payload)!));
    expect(statement.predicate.serialization.ignore_paths).not.toContain(".gitattributes");
  });

  it("reads a SEC1 EC PRIVATE KEY (openssl ecparam's output) as well as PKCS#8", async () => {
    const key = await generateSigningKey();
    const jwk = (await crypto.subtle.exportKey("jwk", key.keyPair.privateKey)) as JsonWebKey;
    const d = base64Decode(jwk.d!)!;
    const point = new Uint8Array([4, ...base64Decode(jwk.x!)!, ...base64Decode(jwk.y!)!]);
    for (const withPublic of [true, false]) {
      const sec1 = encodeTlv(
        Tag.sequence,
        encodeTlv(Tag.integer, new Uint8Array([1])),
        encodeTlv(Tag.octetString, d),
        encodeTlv(0xa0, encodeOid("1.2.840.10045.3.1.7")),
        ...(withPublic ? [encodeTlv(0xa1, encodeTlv(Tag.bitString, new Uint8Array([0]), point))] : []),
      );
      const bundle = await signStatement(files, { privateKeyPem: pemEncode(sec1, "EC PRIVATE KEY") }, "m");
      const trust = { ...rightTrust, keys: [{ id: "sk_mine", name: "mine", spkiDer: key.spkiDer }] };
      expect(await verifyBundle(bundle, version, trust)).toMatchObject({ ok: true, trusted_by: ["sk_mine"] });
    }
  });

  it("refuses an encrypted key, a public key and a file list with a bad digest, in words", async () => {
    const key = await generateSigningKey();
    await expect(
      signStatement(
        files,
        { privateKeyPem: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n" },
        "m",
      ),
    ).rejects.toThrow(/encrypted: decrypt it first/);
    await expect(signStatement(files, { privateKeyPem: key.publicKeyPem }, "m")).rejects.toThrow(
      /no PRIVATE KEY or EC PRIVATE KEY block/,
    );
    await expect(signStatement([{ path: "x", sha256: "zz" }], { keyPair: key.keyPair }, "m")).rejects.toThrow(
      /sha256 of x is not 64 hex digits/,
    );
  });

  it("verifies a 10,000-file statement whole, and names what differs", async () => {
    const { signedSyntheticModel } = await import("./oms-synthetic");
    const model = await signedSyntheticModel(10_000);
    const trust = { ...rightTrust, keys: [{ id: "sk_bench", name: "bench", spkiDer: model.key.spkiDer }] };
    expect(await verifyBundle(model.bundle, model.fileMap, trust)).toMatchObject({
      ok: true,
      trusted_by: ["sk_bench"],
      resources: 10_000,
    });
    const changed = new Map(model.fileMap);
    for (const path of [...changed.keys()].slice(0, 30)) changed.set(path, "00".repeat(32));
    const verdict = await verifyBundle(model.bundle, changed, trust);
    expectRefused(verdict, "files", /and 10 more$/);
  });
});
