/**
 * Verifying an OMS signature (`model.sig`) over a version's files, on Web Crypto alone, for
 * the Worker and for nodes (the CLI bundle): the bundle's shape, its envelope by the kind of
 * material it carries (key, certificate chain, keyless Sigstore), the OMS statement, the
 * subject digest and the version's files. Refusals name the check that failed; a valid
 * signature says who signed it and which registered keys, CAs or identities vouch for it.
 * docs/signing.md ("How verification works") says what each kind checks and what it does not.
 */
import { MAX_BUNDLE_BYTES, parseBundle, type Bundle } from "../domain/oms/bundle";
import { utf8, utf8Decode } from "../domain/oms/bytes";
import { DerError } from "../domain/oms/der";
import { keyFingerprint, keyHint, parseSpki, spkiPem, type Curve } from "../domain/oms/keys";
import { pemBlocks } from "../domain/oms/pem";
import { OmsFailure, fail, isRefusal, type Check, type Problem, type Refusal } from "../domain/oms/problem";
import { compareResources, readStatement, subjectDigest } from "../domain/oms/statement";
import { parseTrustedRoot, type TrustedRoot } from "../domain/oms/trusted-root";
import { parseCertificate } from "../domain/oms/x509";
import { verifyCertificateBundle } from "./certificate";
import { verifyKeyBundle } from "./key";
import { verifySigstoreBundle } from "./sigstore";
import type { EnvelopeResult, Trust, Verdict } from "./verdict";

export type { Check, Problem, Refusal, TrustedRoot };
export type { Signer, Trust, TrustedCa, TrustedIdentity, TrustedKey, Verdict } from "./verdict";
export { isRefusal, keyFingerprint, keyHint, parseTrustedRoot, spkiPem };
export { readSigningKey, signStatement, SigningError, type SignedFile, type SigningKey } from "./sign";

/**
 * Verifies a bundle (its bytes or text, at most 4 MiB) against a version's files (path →
 * sha256 hex) and a trust: never throws for bad input, answers the first check that failed.
 * `now` only bounds how far in the future a Rekor entry's time may lie.
 */
export async function verifyBundle(
  bundleBytes: Uint8Array | string,
  files: ReadonlyMap<string, string>,
  trust: Trust,
  now: Date = new Date(),
): Promise<Verdict> {
  try {
    const bundle = readBundleBytes(bundleBytes);
    const envelope = await verifyEnvelopeOf(bundle, trust, now);
    const statement = readStatement(bundle.envelope.payload);
    if (isRefusal(statement)) return refusal(statement.problem);
    if ((await subjectDigest(statement)) !== statement.subjectSha256) {
      fail(
        "statement",
        "the subject digest does not match the resources (SHA-256 over their digests in the order listed)",
      );
    }
    const problems = compareResources(statement, files);
    if (problems.length > 0) fail("files", problems.join("; "));
    return {
      ok: true,
      signer: envelope.signer,
      trusted_by: envelope.trustedBy,
      signing_time: envelope.signingTime?.toISOString() ?? null,
      resources: statement.resources.length,
      ...(envelope.trustedBy.length === 0 && envelope.untrusted !== null ? { untrusted: envelope.untrusted } : {}),
    };
  } catch (error) {
    if (error instanceof OmsFailure) return { ok: false, check: error.check, detail: error.detail };
    throw error;
  }
}

const refusal = (problem: Problem): Verdict => ({ ok: false, check: problem.check, detail: problem.detail });

function readBundleBytes(input: Uint8Array | string): Bundle {
  const bytes = typeof input === "string" ? utf8.encode(input) : input;
  if (bytes.length > MAX_BUNDLE_BYTES)
    fail("envelope", `the bundle is ${bytes.length} bytes, more than ${MAX_BUNDLE_BYTES}`);
  const text = utf8Decode(bytes);
  if (text === null) fail("envelope", "the bundle is not UTF-8 text");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    fail("envelope", "the bundle is not JSON");
  }
  const bundle = parseBundle(json);
  if (isRefusal(bundle)) fail(bundle.problem.check, bundle.problem.detail);
  return bundle;
}

function verifyEnvelopeOf(bundle: Bundle, trust: Trust, now: Date): Promise<EnvelopeResult> {
  const { material, envelope } = bundle;
  switch (material.kind) {
    case "key":
      return verifyKeyBundle(material, envelope, trust.keys);
    case "certificate":
      return verifyCertificateBundle(material, envelope, trust.cas);
    case "sigstore":
      if (trust.sigstoreRoot === null) {
        fail(
          "trusted_root",
          "keyless Sigstore bundles need a Sigstore trusted root, and none is configured (SIGSTORE_TRUSTED_ROOT)",
        );
      }
      return verifySigstoreBundle(material, bundle.tlogEntries, envelope, trust.sigstoreRoot, trust.identities, now);
  }
}

/** A public key to register or trust: its SPKI, fingerprint and OMS hint. */
export interface PublicKeyDescription {
  readonly spkiDer: Uint8Array;
  readonly fingerprint: string;
  readonly hint: string;
  readonly curve: Curve;
}

/** Reads a `PUBLIC KEY` PEM as a signing key OMS can use (EC P-256, P-384 or P-521); `{problem}` (check `key`) otherwise. */
export async function spkiFromPem(pem: string): Promise<PublicKeyDescription | Refusal> {
  const blocks = pemBlocks(pem, "PUBLIC KEY");
  if (blocks.length !== 1) return { problem: { check: "key", detail: "expected exactly one PUBLIC KEY PEM block" } };
  const spkiDer = blocks[0]!;
  try {
    const key = parseSpki(spkiDer);
    if (key.kind !== "ec")
      return { problem: { check: "key", detail: "OMS signing keys are EC keys (P-256, P-384, P-521)" } };
    return { spkiDer, fingerprint: await keyFingerprint(spkiDer), hint: await keyHint(spkiDer), curve: key.curve };
  } catch (error) {
    if (error instanceof DerError)
      return { problem: { check: "key", detail: `not a public key this verifier reads: ${error.message}` } };
    throw error;
  }
}

/** A certificate to register as a CA (or trust on a node): its DER, subject and whether it may issue. */
export interface CertificateDescription {
  readonly certDer: Uint8Array;
  /** `sha256:<hex of the certificate's SPKI DER>`. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly ca: boolean;
  readonly notBefore: string;
  readonly notAfter: string;
}

/** Reads one `CERTIFICATE` PEM block; `{problem}` (check `chain`) when it is not a certificate this verifier reads. */
export async function certificateFromPem(pem: string): Promise<CertificateDescription | Refusal> {
  const blocks = pemBlocks(pem, "CERTIFICATE");
  if (blocks.length !== 1) return { problem: { check: "chain", detail: "expected exactly one CERTIFICATE PEM block" } };
  const certDer = blocks[0]!;
  try {
    const cert = parseCertificate(certDer);
    return {
      certDer,
      fingerprint: await keyFingerprint(cert.publicKey.der),
      subject: cert.subjectText,
      ca: cert.basicConstraints?.ca ?? false,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
    };
  } catch (error) {
    if (error instanceof DerError)
      return { problem: { check: "chain", detail: `not a certificate this verifier reads: ${error.message}` } };
    throw error;
  }
}
