/**
 * A version's signature as every protocol adds one (`POST .../signatures`, and a Sigstore
 * bundle attached over OCI as a referrer, src/bridges/oci/push.ts): the bundle is verified
 * (src/signatures/verify.ts) against the version's files as its ModelState holds them (their
 * sha256s are the registry's own, computed as the bytes arrived: no blob is read again) and the
 * registered keys; only a bundle that verifies is stored (R2, src/artifacts/signature-bundles.ts,
 * under its lease) and recorded in the model's ModelState, with its audit event, where the gate
 * reads it. Errors are ProblemErrors with the contract's codes (`signature_invalid` names the
 * failed check in `detail` and `check`).
 *
 * The reads below are what the OCI bridge lists and serves of signatures however they arrived
 * (its referrers index, src/bridges/oci/referrers.ts): D1's projection of the signatures and
 * the bundles' bytes in R2.
 */
import { requireAuthorized } from "../auth/authorize";
import type { Principal } from "../auth/principal";
import { readBundle, storeBundle } from "../artifacts/signature-bundles";
import type { D1Handle } from "../db/session";
import { sortableId, timestamp, toHex } from "../domain/ids";
import { ProblemError } from "../domain/problem";
import type { Signature, Voucher } from "../domain/signature";
import type { Env } from "../env";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import { verifyBundle } from "../signatures/verify";
import type { AddedSignature } from "../state/signature-ops";
import { SigningKeyStore } from "./keys-store";
import { signatureOfRow, SignatureStore } from "./store";
import { rootMisconfigured, trustOf } from "./trust";

/** Who signs, and which model; `db` reads the registered keys and records their uses. */
export interface SignatureWriter {
  env: Env;
  db: D1Handle;
  principal: Principal;
  model: string;
}

/**
 * Verifies `bundleBytes` against `version`'s files and stores it as the version's signature;
 * 422 `signature_invalid` (nothing stored) when a check fails, 409 `version_not_ready` for a
 * version still uploading. The same bundle again is the same signature, with any key
 * registered since added to its vouchers.
 */
export async function addSignature(
  w: SignatureWriter,
  version: number,
  bundleBytes: Uint8Array,
): Promise<AddedSignature> {
  requireAuthorized(w.principal, { scope: "write", model: w.model });
  const state = modelState(w.env, w.model);
  const files = unwrap(await state.signingSubject({ model: w.model, version }));
  const keys = new SigningKeyStore(w.db);
  const { trust, rootProblem } = trustOf(w.env, await keys.live());
  const verdict = await verifyBundle(bundleBytes, new Map(files.map((f) => [f.path, f.sha256])), trust, new Date());
  if (!verdict.ok) {
    if (rootProblem !== null && verdict.check === "trusted_root") throw rootMisconfigured();
    throw new ProblemError("signature_invalid", `${verdict.check}: ${verdict.detail}`, { check: verdict.check });
  }
  // Recorded against live keys only (one D1 batch): a key deleted since it was read here does not vouch.
  const live = await keys.recordUses(verdict.trusted_by, w.model);
  const names = new Map(trust.keys.map((k) => [k.id, k.name]));
  for (const ca of trust.cas) names.set(ca.id, ca.name);
  for (const identity of trust.identities) names.set(identity.id, identity.name);
  const vouchers: Voucher[] = verdict.trusted_by
    .filter((id) => live.has(id))
    .map((id) => ({ id, name: names.get(id)! }));
  const bundleSha256 = toHex(await crypto.subtle.digest("SHA-256", bundleBytes));
  return storeBundle(w.env, { sha256: bundleSha256, bytes: bundleBytes, model: w.model }, async () =>
    unwrap(
      await state.addSignature({
        ...actorFor(w.model, w.principal),
        version,
        id: `sig_${sortableId()}`,
        bundleSha256,
        signer: verdict.signer,
        vouchers,
        verifiedAt: timestamp(),
      }),
    ),
  );
}

/** A version's signatures as `GET .../signatures` lists them, oldest first. */
export async function versionSignatures(db: D1Handle, model: string, version: number): Promise<Signature[]> {
  return (await new SignatureStore(db).ofVersion(model, version)).map(signatureOfRow);
}

/** A model's newest signatures (highest version first), at most `limit`, each with its version. */
export async function newestSignatures(
  db: D1Handle,
  model: string,
  limit: number,
): Promise<(Signature & { version: number })[]> {
  return (await new SignatureStore(db).newestOfModel(model, limit)).map((row) => ({
    ...signatureOfRow(row),
    version: row.version,
  }));
}

/** A signature's bundle, byte for byte as uploaded; null when R2 no longer has it (the signature was deleted meanwhile). */
export async function signatureBundleBytes(env: Env, bundleSha256: string): Promise<Uint8Array | null> {
  const object = await readBundle(env, bundleSha256);
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}

/** The stored bundle with this sha256 when a signature of `model` holds it, else null: another model's bundle is not this one's to serve. */
export async function heldSignatureBundle(
  env: Env,
  db: D1Handle,
  model: string,
  bundleSha256: string,
): Promise<R2ObjectBody | null> {
  if (!(await new SignatureStore(db).holdsBundle(model, bundleSha256))) return null;
  return readBundle(env, bundleSha256);
}
