/**
 * What a ModelState decides about a version's signatures. The bundle was verified by the
 * Worker (src/signing/routes.ts) against this version's files as this object answered them
 * (a ready version's files never change); what is decided here is whether the version is
 * still there and ready, which registered keys still vouch (a key deleted meanwhile is
 * struck), and whether the bundle is new. The gate reads the result in the same object
 * (./gate-ops.ts), so a promotion and a signature or key change never interleave.
 */
import {
  mergeVouchers,
  signatureBody,
  withoutRevoked,
  type Signature,
  type SignatureFacts,
  type Signer,
  type Voucher,
} from "../domain/signature";
import { fail, type Outcome } from "./outcome";
import { appendAudit, modelNotFound, versionNotFound, type Actor, type Rooms } from "./rooms";

export interface AddSignatureInput extends Actor {
  version: number;
  /** The id a new signature gets (`sig_<ULID>`); unused when the version has the bundle already. */
  id: string;
  bundleSha256: string;
  signer: Signer;
  /** The registered keys that vouched for it when it was verified. */
  vouchers: Voucher[];
  verifiedAt: string;
}

/** The signature, and whether this upload made it (a repeat of the same bundle answers the one there). */
export interface AddedSignature {
  signature: Signature;
  created: boolean;
}

export function addSignature(r: Rooms, input: AddSignatureInput): Outcome<AddedSignature> {
  if (!r.model.get()) return modelNotFound(input);
  const head = r.versions.head(input.version);
  if (!head) return versionNotFound(input);
  if (head.status !== "ready")
    return fail(
      "version_not_ready",
      `Version ${input.version} is ${head.status}: only a ready version's files are signed`,
    );
  // A key deleted after the upload read it: this model was told, and it no longer vouches.
  const vouchers = withoutRevoked(input.vouchers, r.signatures.revoked(input.vouchers.map((v) => v.id)));
  const held = r.signatures.byBundle(input.version, input.bundleSha256);
  if (held) {
    // The same bundle again: one signature. Keys registered since it was first verified vouch
    // for it now too (a voucher is a fact about the bundle, true until its key is deleted).
    const merged = mergeVouchers(held.vouchers, vouchers);
    if (merged.length === held.vouchers.length)
      return { ok: true, value: { signature: signatureBody(held), created: false } };
    const refreshed: SignatureFacts = { ...held, vouchers: merged, verified_at: input.verifiedAt };
    r.signatures.put(input.model, refreshed);
    appendAudit(r, input, {
      action: "signature.add",
      version: input.version,
      from: { trusted_by: held.vouchers.map((v) => v.id) },
      to: audited(refreshed),
      detail: { refreshed: true },
    });
    signaturesChanged(r, [input.version]);
    return { ok: true, value: { signature: signatureBody(refreshed), created: false } };
  }
  const signature: SignatureFacts = {
    id: input.id,
    version: input.version,
    signer: input.signer,
    vouchers,
    bundle_sha256: input.bundleSha256,
    verified_at: input.verifiedAt,
    created_at: input.at,
    created_by: input.actor,
  };
  r.signatures.put(input.model, signature);
  appendAudit(r, input, { action: "signature.add", version: input.version, to: audited(signature) });
  signaturesChanged(r, [input.version]);
  return { ok: true, value: { signature: signatureBody(signature), created: true } };
}

export function deleteSignature(r: Rooms, input: Actor & { version: number; id: string }): Outcome<null> {
  if (!r.versions.head(input.version)) return versionNotFound(input);
  const held = r.signatures.get(input.version, input.id);
  if (!held) return fail("not_found", `Version ${input.version} has no signature '${input.id}'`);
  r.signatures.delete(held);
  appendAudit(r, input, { action: "signature.delete", version: input.version, from: audited(held) });
  signaturesChanged(r, [input.version]);
  return { ok: true, value: null };
}

/**
 * A signing key was deleted (src/signing/revocation.ts tells every model it vouched for a
 * signature of): from now on it vouches for nothing here, now or later. Idempotent. The
 * registry's `signing_key.delete` event is the audit record; the lists hear of it through
 * the outbox, watchers through a `signature` message.
 */
export function revokeKey(r: Rooms, input: { keyId: string; model: string; at: string }): Outcome<{ struck: number }> {
  r.signatures.revoke(input.keyId, input.at);
  const vouched = r.signatures.vouchedBy(input.keyId);
  const versions = new Set<number>();
  for (const s of vouched) {
    r.signatures.put(input.model, { ...s, vouchers: s.vouchers.filter((v) => v.id !== input.keyId) });
    versions.add(s.version);
  }
  if (versions.size > 0) signaturesChanged(r, versions);
  return { ok: true, value: { struck: vouched.length } };
}

/** A version's signatures, for the gate and the resolution (a missing version has none). */
export function signaturesOf(r: Rooms, version: number): SignatureFacts[] {
  return r.signatures.ofVersion(version);
}

/**
 * After a change to `versions`' signatures: the Worker forgets, and watchers hear of, the names
 * showing them, and the ETag of every resolution listing signatures moves on (a node
 * revalidating with `If-None-Match` is not told 304 over a signature it has not seen).
 */
function signaturesChanged(r: Rooms, versions: Iterable<number>): void {
  r.meta.bump("signatures");
  for (const version of versions) r.changes.changed(namesShowing(r, version), "signature");
}

/** What an audit event says of a signature: everything but who made and verified it (the event says that). */
function audited(s: SignatureFacts) {
  return { id: s.id, signer: s.signer, trusted_by: s.vouchers.map((v) => v.id), bundle_sha256: s.bundle_sha256 };
}

/**
 * The names whose resolution shows `version`, so its signatures in them: `v<n>`, `latest` when
 * it is the highest ready version, the aliases holding it (splits included), and its stage
 * when it is the highest there. The Worker forgets exactly these, and their watchers hear of it.
 */
function namesShowing(r: Rooms, version: number): string[] {
  const names = [`v${version}`, ...r.aliases.holding(version)];
  if (r.versions.highestReadyVersion() === version) names.push("latest");
  const stage = r.versions.head(version)?.stage;
  if (stage !== undefined && stage !== "none" && r.versions.inStage(stage)[0]?.version === version) names.push(stage);
  return names;
}
