/**
 * What the registry trusts to vouch for a signature, in the shape verification takes
 * (./verify.ts `Trust`): the registered signing keys, CAs and identities (D1, ./keys-store.ts)
 * and the operator's Sigstore trusted root (`SIGSTORE_TRUSTED_ROOT`, parsed once per isolate).
 * Also how a registration's PEM becomes what is stored: the DER verification uses, and its
 * fingerprint, checked here so a bad PEM is a 400 at registration, never a surprise at upload.
 */
import { base64Decode, base64Encode } from "../domain/oms/bytes";
import { ProblemError } from "../domain/problem";
import type { SigningKeyRow } from "../db/schema";
import { config, type Env } from "../env";
import { validationFailed } from "../http/validation";
import {
  certificateFromPem,
  isRefusal,
  parseTrustedRoot,
  spkiFromPem,
  type Trust,
  type TrustedRoot,
} from "../signatures/verify";

/** What a registration stores: the kind, the DER verification uses (base64), the fingerprint, the identity. */
export interface KeyMaterial {
  kind: "key" | "ca" | "identity";
  fingerprint: string | null;
  material: string | null;
  identity: { issuer: string; subject: string } | null;
}

const invalid = (field: string, message: string) => validationFailed(`Invalid ${field}`, [{ path: field, message }]);

/**
 * The material of a registration: a public key's SPKI DER (a PEM `PUBLIC KEY` of an EC key,
 * as OMS signs with), a CA certificate's DER (fingerprinted by its SPKI; it must be a CA), or
 * an identity as given. A PEM verification could not use is a 400 here, not a surprise later.
 */
export async function keyMaterial(body: {
  public_key?: string;
  ca_certificate?: string;
  identity?: { issuer: string; subject: string };
}): Promise<KeyMaterial> {
  if (body.public_key !== undefined) {
    const key = await spkiFromPem(body.public_key);
    if (isRefusal(key)) throw invalid("public_key", key.problem.detail);
    return { kind: "key", fingerprint: key.fingerprint, material: base64Encode(key.spkiDer), identity: null };
  }
  if (body.ca_certificate !== undefined) {
    const cert = await certificateFromPem(body.ca_certificate);
    if (isRefusal(cert)) throw invalid("ca_certificate", cert.problem.detail);
    if (!cert.ca)
      throw invalid("ca_certificate", `'${cert.subject}' is not a CA certificate (basicConstraints CA is not set)`);
    return { kind: "ca", fingerprint: cert.fingerprint, material: base64Encode(cert.certDer), identity: null };
  }
  return { kind: "identity", fingerprint: null, material: null, identity: body.identity! };
}

/**
 * The registered keys (live rows) as verification takes them, with the operator's trusted
 * root; `rootProblem` says why a configured root could not be read (keyless bundles then fail
 * on the operator's error, not their own: the route answers 503, see ./routes.ts).
 */
export function trustOf(env: Env, rows: readonly SigningKeyRow[]): { trust: Trust; rootProblem: string | null } {
  const der = (row: SigningKeyRow) => base64Decode(row.material ?? "") ?? new Uint8Array();
  const { root, problem } = sigstoreRoot(env);
  return {
    trust: {
      keys: rows.filter((r) => r.kind === "key").map((r) => ({ id: r.id, name: r.name, spkiDer: der(r) })),
      cas: rows.filter((r) => r.kind === "ca").map((r) => ({ id: r.id, name: r.name, certDer: der(r) })),
      identities: rows
        .filter((r) => r.kind === "identity")
        .map((r) => ({ id: r.id, name: r.name, issuer: r.identityIssuer!, subject: r.identitySubject! })),
      sigstoreRoot: root,
    },
    rootProblem: problem,
  };
}

/** The last trusted root read in this isolate, by its text: parsed once, not per upload. */
let lastRead: { text: string; root: TrustedRoot | null; problem: string | null } | null = null;

/**
 * The operator's Sigstore trusted root: null when none is configured (keyless bundles are
 * then refused by verification), or when the value is not a trusted root (`problem` says why,
 * logged once per isolate: the operator's error to fix).
 */
export function sigstoreRoot(env: Env): { root: TrustedRoot | null; problem: string | null } {
  const text = config(env).SIGSTORE_TRUSTED_ROOT;
  if (text === undefined) return { root: null, problem: null };
  if (lastRead?.text === text) return lastRead;
  let json: unknown;
  let problem: string | null = null;
  let root: TrustedRoot | null = null;
  try {
    json = JSON.parse(text);
  } catch {
    problem = "it is not JSON";
  }
  if (problem === null) {
    const read = parseTrustedRoot(json);
    if (isRefusal(read)) problem = read.problem.detail;
    else root = read;
  }
  if (problem !== null) console.error(`SIGSTORE_TRUSTED_ROOT is not a Sigstore trusted root: ${problem}`);
  lastRead = { text, root, problem };
  return lastRead;
}

/** The answer to a keyless bundle while the operator's trusted root cannot be read: retry once it is fixed. */
export function rootMisconfigured(): ProblemError {
  return new ProblemError(
    "unavailable",
    "This registry's Sigstore trusted root (SIGSTORE_TRUSTED_ROOT) is misconfigured, so keyless signatures cannot be verified; the operator must fix it",
    {},
    { "retry-after": "3600" },
  );
}
