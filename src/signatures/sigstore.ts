/**
 * Keyless Sigstore bundles (`certificate` + `tlogEntries`), offline against the trusted root
 * the operator configures, in this order: every Rekor entry (SET, inclusion proof and
 * checkpoint, body bound to this envelope and certificate), which gives the signing time;
 * the Fulcio chain at that time; the leaf's code-signing use; at least one embedded SCT
 * verified with a CT log key; the DSSE signature with the leaf's key. All of that makes the
 * signature valid; it is trusted when a registered identity is the certificate's SAN and
 * OIDC issuer, exactly.
 */
import type { Envelope, Material, TlogEntry } from "../domain/oms/bundle";
import { bytesEqual, sha256 } from "../domain/oms/bytes";
import { DerError } from "../domain/oms/der";
import { keyFingerprint, type SignatureAlgorithm } from "../domain/oms/keys";
import { fail } from "../domain/oms/problem";
import { parseSctList, sctSignedData } from "../domain/oms/sct";
import { within, type TrustedRoot } from "../domain/oms/trusted-root";
import { ExtensionOid, precertificateTbs, type Certificate } from "../domain/oms/x509";
import { certificateOrFail, searchPaths } from "./chain";
import { verifySignature } from "./crypto";
import { verifyEnvelope } from "./envelope";
import { verifyTlogEntry } from "./rekor";
import type { EnvelopeResult, TrustedIdentity } from "./verdict";

type SigstoreMaterial = Extract<Material, { kind: "sigstore" }>;

/** How far past `now` a log's integrated time may lie (clocks differ); later is refused. */
const CLOCK_SKEW_MS = 24 * 60 * 60 * 1000;

export async function verifySigstoreBundle(
  material: SigstoreMaterial,
  tlogEntries: readonly TlogEntry[],
  envelope: Envelope,
  root: TrustedRoot,
  identities: readonly TrustedIdentity[],
  now: Date,
): Promise<EnvelopeResult> {
  const leaf = certificateOrFail(material.certificate, "chain", "the bundle's certificate");
  if (tlogEntries.length === 0) {
    fail("tlog", "the bundle has no Rekor entry (a bundle timed only by RFC 3161 timestamps is not supported)");
  }
  let signingTime: Date | null = null;
  for (const [i, entry] of tlogEntries.entries()) {
    const time = await verifyTlogEntry(entry, i, root, envelope, leaf.der);
    if (signingTime === null || time < signingTime) signingTime = time;
  }
  const at = signingTime!;
  if (at.getTime() > now.getTime() + CLOCK_SKEW_MS)
    fail("tlog", `the log entry's time ${at.toISOString()} is in the future`);

  const issuer = await fulcioIssuerOf(leaf, root, at);
  await verifyScts(leaf, issuer, root);
  await verifyEnvelope(envelope, leaf.publicKey, "the certificate's key");

  const subjects = leaf.subjectAltNames;
  const oidcIssuer = leaf.fulcioIssuer;
  const trustedBy = identities.filter(
    (i) => oidcIssuer !== null && i.issuer === oidcIssuer && subjects.includes(i.subject),
  );
  return {
    signer: {
      kind: "sigstore",
      fingerprint: await keyFingerprint(leaf.publicKey.der),
      subject: subjects[0] ?? "",
      issuer: oidcIssuer ?? "",
    },
    trustedBy: trustedBy.map((i) => i.id),
    signingTime: at,
    untrusted:
      trustedBy.length > 0
        ? null
        : `no registered identity is ${subjects[0] ?? "(no SAN)"} from ${oidcIssuer ?? "(no issuer)"}`,
  };
}

/** The certificate that issued the leaf, on a path to a Fulcio CA of the trusted root valid at `at`. */
async function fulcioIssuerOf(leaf: Certificate, root: TrustedRoot, at: Date): Promise<Certificate> {
  let failure = "no Fulcio CA of the trusted root is valid at that time";
  for (const [i, authority] of root.certificateAuthorities.entries()) {
    if (!within(authority.validFor, at)) continue;
    const anchorCert = authority.chain[authority.chain.length - 1]!;
    const search = await searchPaths(
      leaf,
      authority.chain.slice(0, -1),
      [{ id: `ca${i}`, cert: anchorCert }],
      at,
      "fulcio",
    );
    const path = search.reached[0]?.path;
    if (path) return path[1]!;
    failure = search.failure ?? failure;
  }
  fail("chain", `the certificate does not chain to a Fulcio CA of the trusted root at ${at.toISOString()}: ${failure}`);
}

async function verifyScts(leaf: Certificate, issuer: Certificate, root: TrustedRoot): Promise<void> {
  const extension = leaf.extensions.find((e) => e.oid === ExtensionOid.sctList);
  if (!extension) fail("sct", "the certificate carries no signed certificate timestamp");
  let scts;
  try {
    scts = parseSctList(extension.value);
  } catch (error) {
    if (error instanceof DerError) fail("sct", `the certificate's SCT list is malformed: ${error.message}`);
    throw error;
  }
  const issuerKeyHash = await sha256(issuer.publicKey.der);
  const tbs = precertificateTbs(leaf);
  for (const sct of scts) {
    const log = root.ctlogs.find((l) => bytesEqual(l.logId, sct.logId) && within(l.validFor, new Date(sct.timestamp)));
    if (!log || log.key === null || sct.hash === null) continue;
    const algorithm: SignatureAlgorithm | null =
      sct.signatureKind === 3
        ? { kind: "ecdsa", hash: sct.hash }
        : sct.signatureKind === 1
          ? { kind: "rsa-pkcs1", hash: sct.hash }
          : null;
    if (algorithm && (await verifySignature(log.key, algorithm, sct.signature, sctSignedData(sct, issuerKeyHash, tbs))))
      return;
  }
  fail("sct", "no embedded SCT verifies with a CT log key of the trusted root");
}
