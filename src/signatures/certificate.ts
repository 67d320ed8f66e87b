/**
 * Certificate bundles (`x509CertificateChain`, leaf first): the envelope must verify with the
 * leaf's key; trust comes from a path to a registered CA. The bundle carries no trusted time
 * (no Rekor entry, no timestamp), so every certificate is checked at the leaf's notBefore, as
 * the reference verifier does. A chain that reaches no registered CA, or fails a check on the
 * way, leaves the signature valid but untrusted.
 */
import type { Envelope, Material } from "../domain/oms/bundle";
import { DerError } from "../domain/oms/der";
import { keyFingerprint } from "../domain/oms/keys";
import { parseCertificate, type Certificate } from "../domain/oms/x509";
import { certificateOrFail, searchPaths, type Anchor } from "./chain";
import { verifyEnvelope } from "./envelope";
import type { EnvelopeResult, TrustedCa } from "./verdict";

type CertificateMaterial = Extract<Material, { kind: "certificate" }>;

export async function verifyCertificateBundle(
  material: CertificateMaterial,
  envelope: Envelope,
  cas: readonly TrustedCa[],
): Promise<EnvelopeResult> {
  const [leafDer, ...rest] = material.chain;
  const leaf = certificateOrFail(leafDer!, "chain", "the leaf certificate");
  const pool = rest.map((der, i) => certificateOrFail(der, "chain", `certificate ${i + 1} of the chain`));
  await verifyEnvelope(envelope, leaf.publicKey, "the leaf certificate's key");

  const anchors: Anchor[] = [];
  for (const ca of cas) {
    let cert: Certificate;
    try {
      cert = parseCertificate(ca.certDer);
    } catch (error) {
      // A registered certificate this code cannot read vouches for nothing; registration refuses those.
      if (error instanceof DerError) continue;
      throw error;
    }
    anchors.push({ id: ca.id, cert });
  }
  const at = leaf.notBefore;
  const search = await searchPaths(leaf, pool, anchors, at, "oms");
  return {
    signer: {
      kind: "certificate",
      fingerprint: await keyFingerprint(leaf.publicKey.der),
      subject: leaf.subjectAltNames[0] ?? leaf.subjectText,
      issuer: leaf.issuerText,
    },
    // In the order the CAs were given, whichever path the search found first.
    trustedBy: anchors.filter((a) => search.reached.some((r) => r.anchor === a)).map((a) => a.id),
    signingTime: at,
    untrusted: anchors.length === 0 ? "no CA is registered" : search.failure,
  };
}
