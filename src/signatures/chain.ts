/**
 * Certificate paths: from a leaf, through the certificates a bundle (or a Fulcio CA) supplies,
 * to a trust anchor; every link's signature verified, every certificate valid at the given
 * time, issuers CAs allowed to sign certificates within their pathLen, no critical extension
 * left unread, the leaf allowed to sign code. A certificate whose subject equals its issuer
 * is not taken for a root (the OMS fixture leaf is one): only an anchor ends a path.
 */
import { bytesEqual } from "../domain/oms/bytes";
import { DerError } from "../domain/oms/der";
import { fail, type Check } from "../domain/oms/problem";
import { CODE_SIGNING, parseCertificate, validAt, type Certificate } from "../domain/oms/x509";
import { verifySignature } from "./crypto";

/** Longer paths than any real PKI; bounds the search. */
const MAX_PATH = 8;
/** Signature checks one path search may make, whatever certificates it is handed. */
const MAX_LINK_CHECKS = 32;

export interface Anchor {
  readonly id: string;
  readonly cert: Certificate;
}

/** What the leaf must be allowed to do: OMS's rule (digitalSignature or codeSigning) or Fulcio's (codeSigning). */
export type LeafRule = "oms" | "fulcio";

export interface PathSearch {
  /** Each anchor reached by a path that passes every check, with that path (leaf first, anchor last). */
  readonly reached: { readonly anchor: Anchor; readonly path: readonly Certificate[] }[];
  /** Why no path passed, when none did. */
  readonly failure: string | null;
}

/** Reads a certificate, or refuses with `check`. */
export function certificateOrFail(der: Uint8Array, check: Check, what: string): Certificate {
  try {
    return parseCertificate(der);
  } catch (error) {
    if (error instanceof DerError) fail(check, `${what} is not a certificate this verifier reads: ${error.message}`);
    throw error;
  }
}

const iso = (at: Date) => at.toISOString();
const selfIssued = (cert: Certificate) => bytesEqual(cert.issuer, cert.subject);

/** Why this path (leaf first, anchor last) fails, or null when it passes. */
function pathProblem(path: readonly Certificate[], at: Date, leafRule: LeafRule): string | null {
  for (const [i, cert] of path.entries()) {
    const who = i === 0 ? "the leaf" : `${cert.subjectText || "an issuer"}`;
    if (!validAt(cert, at)) {
      return `${who} is not valid at ${iso(at)} (valid ${iso(cert.notBefore)} to ${iso(cert.notAfter)})`;
    }
    if (cert.unknownCritical.length > 0)
      return `${who} has critical extensions this verifier does not check: ${cert.unknownCritical.join(", ")}`;
    if (i === 0) continue;
    if (!cert.basicConstraints?.ca) return `${who} signs a certificate but is not a CA`;
    if (cert.keyUsage !== null && !cert.keyUsage.keyCertSign)
      return `${who} is not allowed to sign certificates (keyCertSign)`;
    // pathLen counts the CA certificates below this one, leaf and self-issued ones excepted (RFC 5280 §4.2.1.9).
    const below = path.slice(1, i).filter((c) => !selfIssued(c)).length;
    const pathLen = cert.basicConstraints.pathLen;
    if (pathLen !== null && below > pathLen)
      return `${who} allows ${pathLen} CA certificates below it, the path has ${below}`;
  }
  const leaf = path[0]!;
  const codeSigning = leaf.extKeyUsage?.includes(CODE_SIGNING) ?? false;
  if (leafRule === "fulcio" && !codeSigning)
    return "the leaf is not a code-signing certificate (extended key usage codeSigning)";
  if (leafRule === "oms" && !codeSigning && !leaf.keyUsage?.digitalSignature) {
    return "the leaf may not sign (neither key usage digitalSignature nor extended key usage codeSigning)";
  }
  return null;
}

/**
 * Every anchor the leaf reaches through `pool` (in any order) by a path that passes at `at`.
 * Links are tried by name (issuer = subject, and key identifiers when both are present), then
 * by signature; each certificate is used once per path.
 */
export async function searchPaths(
  leaf: Certificate,
  pool: readonly Certificate[],
  anchors: readonly Anchor[],
  at: Date,
  leafRule: LeafRule,
): Promise<PathSearch> {
  const reached: PathSearch["reached"] = [];
  let failure: string | null = null;
  let checks = 0;
  const verdicts = new Map<Certificate, Map<Certificate, boolean>>();

  async function issues(issuer: Certificate, child: Certificate): Promise<boolean> {
    if (!bytesEqual(child.issuer, issuer.subject)) return false;
    if (child.authorityKeyId && issuer.subjectKeyId && !bytesEqual(child.authorityKeyId, issuer.subjectKeyId))
      return false;
    const byChild = verdicts.get(issuer) ?? verdicts.set(issuer, new Map()).get(issuer)!;
    const known = byChild.get(child);
    if (known !== undefined) return known;
    if (checks >= MAX_LINK_CHECKS) return false;
    checks++;
    const ok = await verifySignature(issuer.publicKey, child.signatureAlgorithm, child.signature, child.tbs);
    byChild.set(child, ok);
    if (!ok)
      failure ??= `the signature of ${child === leaf ? "the leaf" : child.subjectText} by ${issuer.subjectText} does not verify`;
    return ok;
  }

  function finish(anchor: Anchor, path: readonly Certificate[]): void {
    if (reached.some((r) => r.anchor.id === anchor.id)) return;
    const problem = pathProblem(path, at, leafRule);
    if (problem === null) reached.push({ anchor, path });
    else failure = problem;
  }

  async function extend(path: readonly Certificate[]): Promise<void> {
    const last = path[path.length - 1]!;
    for (const anchor of anchors) {
      // The path may already end in the anchor itself (a bundle that carries its root), or the anchor signed its last certificate.
      if (bytesEqual(anchor.cert.der, last.der)) finish(anchor, path);
      else if (await issues(anchor.cert, last)) finish(anchor, [...path, anchor.cert]);
    }
    if (path.length >= MAX_PATH) return;
    for (const next of pool) {
      if (path.some((c) => bytesEqual(c.der, next.der))) continue;
      if (await issues(next, last)) await extend([...path, next]);
    }
  }

  await extend([leaf]);
  if (reached.length === 0 && failure === null)
    failure = `no certificate path from ${leaf.issuerText || "the leaf's issuer"} to a trusted CA`;
  return { reached, failure: reached.length > 0 ? null : failure };
}
