/**
 * What verification is given (the registry's or a node's trust) and what it answers. Kept
 * apart from verify.ts so the checks of each kind can name these types without importing
 * the module that imports them.
 */
import type { Check } from "../domain/oms/problem";
import type { TrustedRoot } from "../domain/oms/trusted-root";

/** A registered public key (SigningKey kind `key`). */
export interface TrustedKey {
  readonly id: string;
  readonly name: string;
  readonly spkiDer: Uint8Array;
}

/** A registered CA certificate (SigningKey kind `ca`): a trust anchor for certificate bundles. */
export interface TrustedCa {
  readonly id: string;
  readonly name: string;
  readonly certDer: Uint8Array;
}

/** A registered Sigstore identity (SigningKey kind `identity`): the Fulcio certificate's issuer and SAN, exactly. */
export interface TrustedIdentity {
  readonly id: string;
  readonly name: string;
  readonly issuer: string;
  readonly subject: string;
}

export interface Trust {
  readonly keys: readonly TrustedKey[];
  readonly cas: readonly TrustedCa[];
  readonly identities: readonly TrustedIdentity[];
  /** The Sigstore trusted root (parseTrustedRoot); null refuses keyless bundles. */
  readonly sigstoreRoot: TrustedRoot | null;
}

export interface Signer {
  readonly kind: "key" | "certificate" | "sigstore";
  /** `sha256:<hex of the signing key's SPKI DER>` (for certificates, the leaf's key). */
  readonly fingerprint: string;
  /** Certificate: the leaf's first SAN, else its subject name; Sigstore: the SAN (email or URI). */
  readonly subject?: string;
  /** Certificate: the leaf's issuer name; Sigstore: the OIDC issuer. */
  readonly issuer?: string;
}

export type Verdict =
  | {
      readonly ok: true;
      readonly signer: Signer;
      /** Ids of the registered keys, CAs or identities that vouch for the signer; empty: valid but untrusted. */
      readonly trusted_by: string[];
      /** Sigstore: the Rekor entry's integrated time; certificate: the leaf's notBefore (the time the chain is checked at, as the reference does); key: null. */
      readonly signing_time: string | null;
      /** How many resources the statement lists. */
      readonly resources: number;
      /** When `trusted_by` is empty: why no registered signer vouches (for people; not a refusal). */
      readonly untrusted?: string;
    }
  | { readonly ok: false; readonly check: Check; readonly detail: string };

/** What the check of one kind of bundle establishes about its envelope. */
export interface EnvelopeResult {
  readonly signer: Signer;
  readonly trustedBy: string[];
  readonly signingTime: Date | null;
  readonly untrusted: string | null;
}
