/**
 * Signatures on versions and the keys that vouch for them (docs/signing.md):
 * the contract's shapes, and the rules the registry applies to them that need no
 * cryptography (the bundle itself is checked by src/signatures/verify.ts).
 */
import { z } from "zod";

/** Who signed a bundle, as its verification found it. */
export const Signer = z
  .object({
    kind: z.enum(["key", "certificate", "sigstore"]),
    fingerprint: z.string().nullable().describe("`sha256:<hex>` of the signing key's SPKI DER"),
    subject: z.string().optional().describe("The certificate's identity (a Sigstore certificate's SAN)"),
    issuer: z.string().optional().describe("The OIDC issuer of a Sigstore certificate"),
  })
  .meta({ id: "Signer" });
export type Signer = z.output<typeof Signer>;

/** The contract's Signature: a verified bundle on a version, and the registered keys that vouched for it. */
export const Signature = z
  .object({
    id: z.string(),
    signer: Signer,
    trusted_by: z.array(z.string()).describe("The ids of the signing keys that vouch for it; empty: valid, untrusted"),
    verified_at: z.string(),
    created_at: z.string(),
    created_by: z.string(),
    bundle_sha256: z.string(),
  })
  .meta({ id: "Signature" });
export type Signature = z.output<typeof Signature>;

/** What a Resolution and a watch message say of each signature of the version: enough to fetch and check it. */
export const SignatureRef = z
  .object({ id: z.string(), signer: Signer, trusted_by: z.array(z.string()) })
  .meta({ id: "SignatureRef" });
export type SignatureRef = z.output<typeof SignatureRef>;

/** A signing key that vouched for a signature: its id, and its name when it did (a gate names keys either way). */
export interface Voucher {
  id: string;
  name: string;
}

/** A version's signature as ModelState records it: the contract's fields, with the vouchers' names. */
export interface SignatureFacts {
  id: string;
  version: number;
  signer: Signer;
  vouchers: Voucher[];
  bundle_sha256: string;
  verified_at: string;
  created_at: string;
  created_by: string;
}

export function signatureBody(s: SignatureFacts): Signature {
  return {
    id: s.id,
    signer: s.signer,
    trusted_by: s.vouchers.map((v) => v.id),
    verified_at: s.verified_at,
    created_at: s.created_at,
    created_by: s.created_by,
    bundle_sha256: s.bundle_sha256,
  };
}

export const signatureRef = (s: SignatureFacts): SignatureRef => ({
  id: s.id,
  signer: s.signer,
  trusted_by: s.vouchers.map((v) => v.id),
});

/**
 * Who a signer is, for "each by a distinct trusted signer": two bundles made with one key
 * (or one certificate's key) are one signer; a Sigstore signer is its identity, since each
 * keyless signature has a key of its own.
 */
export function signerIdentity(signer: Signer): string {
  if (signer.kind === "sigstore") return `sigstore:${signer.issuer ?? ""}\n${signer.subject ?? ""}`;
  return `${signer.kind}:${signer.fingerprint ?? ""}`;
}

/** How a signer is named to people: the identity of a certificate, else the key's fingerprint, shortened. */
export function signerLabel(signer: Signer): string {
  if (signer.subject !== undefined) return signer.issuer ? `${signer.subject} (${signer.issuer})` : signer.subject;
  const fp = signer.fingerprint ?? "";
  return fp.length > 23 ? `${signer.kind} ${fp.slice(0, 23)}…` : `${signer.kind} ${fp}`;
}

/** The vouchers that stay after `revoked` keys are struck, in their order. */
export function withoutRevoked(vouchers: readonly Voucher[], revoked: ReadonlySet<string>): Voucher[] {
  return vouchers.filter((v) => !revoked.has(v.id));
}

/** The union of two voucher lists by key id: the first's order, then the second's new ones. */
export function mergeVouchers(held: readonly Voucher[], more: readonly Voucher[]): Voucher[] {
  const ids = new Set(held.map((v) => v.id));
  return [...held, ...more.filter((v) => !ids.has(v.id))];
}

// ---- signing keys --------------------------------------------------------------------------

export const SIGNING_KEY_ID = /^sk_[0-9A-Z]{26}$/;
export const SIGNATURE_ID = /^sig_[0-9A-Z]{26}$/;

/**
 * A signing key's name: what gates name it by, so no two live keys share one; nor may one look
 * like a key's id, since a gate names keys by name or id and one key must not answer for another.
 */
export const SigningKeyName = z
  .string()
  .min(1, "must not be empty")
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-', starting with a letter or digit")
  .refine(
    (name) => !SIGNING_KEY_ID.test(name),
    "must not have the shape of a signing key's id (sk_ and 26 characters)",
  );

/** The PEM text of a key or certificate: bounded so that no body nears a row limit (a certificate chain is a few KB). */
const Pem = z.string().min(1).max(65_536);

export const SigningIdentity = z.strictObject({
  issuer: z.string().min(1).max(1024).describe("The OIDC issuer, as Fulcio records it"),
  subject: z.string().min(1).max(1024).describe("The certificate's SAN: an email address or a URI"),
});

export const CreateSigningKeyBody = z
  .strictObject({
    name: SigningKeyName,
    public_key: Pem.optional().describe("A PEM public key (SubjectPublicKeyInfo)"),
    ca_certificate: Pem.optional().describe("A PEM certificate: a root of certificate chains"),
    identity: SigningIdentity.optional().describe("A Sigstore identity, checked against SIGSTORE_TRUSTED_ROOT"),
  })
  .refine(
    (b) => [b.public_key, b.ca_certificate, b.identity].filter((x) => x !== undefined).length === 1,
    "give exactly one of public_key, ca_certificate and identity",
  );

export const SigningKey = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(["key", "ca", "identity"]),
    fingerprint: z.string().nullable().describe("`sha256:<hex>` of the SPKI DER: the key's, or the CA certificate's"),
    identity: z.object({ issuer: z.string(), subject: z.string() }).nullable(),
    created_at: z.string(),
    created_by: z.string(),
  })
  .meta({ id: "SigningKey" });
export type SigningKey = z.output<typeof SigningKey>;
