/**
 * Model and version writes as every protocol makes them (`/v1`, and the MLflow bridge's
 * registered-model and model-version calls): the grant, the lineage parents held in their
 * own models' objects before the child is written (./parents.ts), the one ModelState call
 * that decides, and what follows it in R2 (the multipart uploads a deletion ended are
 * aborted here, so no caller can forget them). What a write moved for serving is forgotten
 * by the ModelState stub itself (src/model-writes/stub.ts). Errors are ProblemErrors with the
 * contract's codes.
 */
import { requireAuthorized } from "../auth/authorize";
import type { Principal, Scope } from "../auth/principal";
import { abortR2Uploads } from "../model-writes/r2-aborts";
import type { ModelKind, ModelPatch, ModelRecord } from "../domain/model";
import type { ManifestEntry } from "../domain/manifest";
import type { StoredManifest } from "../domain/oci-push";
import type { Lineage, VersionPatch, VersionRecord } from "../domain/version";
import type { Attached, ReadyVersion } from "../state/model-state";
import type { Env } from "../env";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import { holdParents } from "./parents";

/** Who writes, and to which model. */
export interface ModelWriter {
  env: Env;
  principal: Principal;
  model: string;
}

const granted = (w: ModelWriter, scope: Scope) => requireAuthorized(w.principal, { scope, model: w.model });

export async function createModel(
  w: ModelWriter,
  input: { kind: ModelKind; description: string | null; tags: Record<string, string> },
): Promise<ModelRecord> {
  granted(w, "write");
  return unwrap(await modelState(w.env, w.model).createModel({ ...actorFor(w.model, w.principal), ...input }));
}

export async function patchModel(w: ModelWriter, patch: ModelPatch): Promise<ModelRecord> {
  granted(w, "write");
  return unwrap(await modelState(w.env, w.model).patchModel({ ...actorFor(w.model, w.principal), patch }));
}

/** Deletes the model (409 `in_use` while an alias is set) and aborts its open multipart uploads in R2. */
export async function dropModel(w: ModelWriter): Promise<void> {
  granted(w, "admin");
  const { aborts } = unwrap(await modelState(w.env, w.model).dropModel(actorFor(w.model, w.principal)));
  await abortR2Uploads(w.env.ARTIFACTS, aborts);
}

export interface NewVersion {
  description: string | null;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  lineage: Lineage;
  /** `Idempotency-Key` and the hash of the request body it came with. */
  idempotency?: { key: string; requestHash: string };
}

/** Creates a pending version; `replayed` when an earlier request with the same Idempotency-Key created it. */
export async function createVersion(
  w: ModelWriter,
  input: NewVersion,
): Promise<{ record: VersionRecord; replayed: boolean }> {
  granted(w, "write");
  const actor = actorFor(w.model, w.principal);
  await holdParents(w.env, w.principal, { model: w.model, createdAt: () => actor.at }, input.lineage.parents, actor.at);
  const outcome = await modelState(w.env, w.model).createVersion({ ...actor, ...input });
  return { record: unwrap(outcome), replayed: outcome.ok && outcome.replayed === true };
}

export async function patchVersion(w: ModelWriter, version: number, patch: VersionPatch): Promise<VersionRecord> {
  granted(w, "write");
  const actor = actorFor(w.model, w.principal);
  const createdAt = async () => unwrap(await modelState(w.env, w.model).versionCreatedAt({ model: w.model, version }));
  await holdParents(w.env, w.principal, { model: w.model, createdAt }, patch.lineage?.parents, actor.at);
  return unwrap(await modelState(w.env, w.model).patchVersion({ ...actor, version, patch }));
}

export async function finalizeVersion(w: ModelWriter, version: number): Promise<VersionRecord> {
  granted(w, "write");
  return unwrap(await modelState(w.env, w.model).finalize({ ...actorFor(w.model, w.principal), version }));
}

/**
 * Has the model's object record the OCI manifest digests D1 lacks for those of `versions` that
 * are ready (made ready before the column existed), and answers them. It changes no fact, only
 * fills in one derived from facts fixed at ready: any reader of the model may ask.
 */
export async function recordOciDigests(
  w: ModelWriter,
  versions: number[],
): Promise<{ version: number; digest: string }[]> {
  granted(w, "read");
  return unwrap(await modelState(w.env, w.model).recordOciDigests({ model: w.model, versions }));
}

/** Deletes a version (409 `in_use` while an alias or the production stage holds it) and aborts its open multipart uploads in R2. */
export async function deleteVersion(w: ModelWriter, version: number): Promise<void> {
  granted(w, "admin");
  const { aborts } = unwrap(
    await modelState(w.env, w.model).deleteVersion({ ...actorFor(w.model, w.principal), version }),
  );
  await abortR2Uploads(w.env.ARTIFACTS, aborts);
}

/**
 * Makes a ready version in one step from bytes the model holds (uploaded to it as loose blobs,
 * or in its files), with `files` at their paths: no pending state, no upload. With `manifest`
 * (a pushed OCI manifest whose layers are those files) the manifest is kept as the version's
 * own, and the same manifest pushed again names that version. Bytes the model does not hold
 * make nothing (`unknown_blobs`).
 */
export async function createReadyVersion(
  w: ModelWriter,
  input: NewVersion & { files: ManifestEntry[]; manifest?: StoredManifest },
): Promise<ReadyVersion> {
  granted(w, "write");
  const actor = actorFor(w.model, w.principal);
  const { idempotency: _none, ...rest } = input;
  await holdParents(w.env, w.principal, { model: w.model, createdAt: () => actor.at }, input.lineage.parents, actor.at);
  return unwrap(await modelState(w.env, w.model).createReadyVersion({ ...actor, ...rest }));
}

/** Keeps an attachment (a manifest referring to another by digest) whose blobs the model holds. */
export async function attachManifest(w: ModelWriter, manifest: StoredManifest): Promise<Attached> {
  granted(w, "write");
  return unwrap(await modelState(w.env, w.model).attachManifest({ ...actorFor(w.model, w.principal), manifest }));
}

/** Removes an attachment (`admin`): the versions it referred to stay as they are. */
export async function deleteAttachment(w: ModelWriter, digest: string): Promise<StoredManifest> {
  granted(w, "admin");
  return unwrap(await modelState(w.env, w.model).deleteAttachment({ ...actorFor(w.model, w.principal), digest }));
}
