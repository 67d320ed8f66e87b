/** What a ModelState decides about versions and their files. */
import type { ManifestEntry } from "../domain/manifest";
import { manifestText } from "../domain/manifest";
import type { ManifestSource } from "../domain/oci";
import type { StoredBlob, StoredManifest } from "../domain/oci-push";
import { collidingPaths, collisionProblem } from "../domain/file-path-rule";
import { heldSize } from "./blob-session-ops";
import { stagesTouched } from "../domain/stage";
import {
  applyVersionPatch,
  type Lineage,
  type VersionHead,
  type VersionPatch,
  type VersionRecord,
} from "../domain/version";
import { sameModelParentsRefusal } from "./lineage-ops";
import { fail, type Outcome } from "./outcome";
import {
  appendAudit,
  attach,
  closeUploads,
  immutable,
  modelNotFound,
  pathCollision,
  tooLarge,
  versionNotFound,
  type Actor,
  type Rooms,
} from "./rooms";
import type { R2Aborts } from "./upload-table";

export interface CreateVersionInput extends Actor {
  description: string | null;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  lineage: Lineage;
  /** `Idempotency-Key` and the hash of the request body it came with. */
  idempotency?: { key: string; requestHash: string };
}

export function createVersion(r: Rooms, input: CreateVersionInput): Outcome<VersionRecord> {
  // Checked in this transaction: a create racing the model's deletion lands before it or not at all.
  if (!r.model.get()) return modelNotFound(input);
  if (input.idempotency) {
    const seen = r.versions.idempotent(input.idempotency.key);
    if (seen) {
      if (seen.request_hash !== input.idempotency.requestHash) {
        return fail("idempotency_conflict", "This Idempotency-Key was used with a different request body");
      }
      const record = r.versions.get(seen.version);
      if (record) return { ok: true, value: record, replayed: true };
      return fail("not_found", `Version ${seen.version}, created with this key, has since been deleted`);
    }
  }
  const refused = sameModelParentsRefusal(r, input.model, input.lineage.parents, input.at);
  if (refused) return refused;
  const version = r.meta.bump("last_version");
  const head: VersionHead = {
    model: input.model,
    version,
    status: "pending",
    stage: "none",
    description: input.description,
    tags: input.tags,
    metrics: input.metrics,
    lineage: input.lineage,
    digest: null,
    created_at: input.at,
    created_by: input.actor,
    updated_at: input.at,
    ready_at: null,
    revision: 1,
  };
  r.versions.put(head);
  if (input.idempotency)
    r.versions.rememberIdempotent(input.idempotency.key, input.idempotency.requestHash, version, input.at);
  appendAudit(r, input, { action: "version.create", version });
  return { ok: true, value: { ...head, files: [] } };
}

export function patchVersion(
  r: Rooms,
  input: Actor & { version: number; patch: VersionPatch },
): Outcome<VersionRecord> {
  const current = r.versions.head(input.version);
  if (!current) return versionNotFound(input);
  const patched = applyVersionPatch(current, input.patch, input.at);
  if (!patched.ok && patched.reason === "too_large") return tooLarge(patched);
  if (!patched.ok)
    return fail("immutable", `Version ${input.version} is ${current.status}: its lineage can no longer change`);
  const refused = sameModelParentsRefusal(r, input.model, input.patch.lineage?.parents, current.created_at);
  if (refused) return refused;
  r.versions.put(patched.record);
  appendAudit(r, input, { action: "version.update", version: input.version, detail: { fields: patched.changed } });
  return { ok: true, value: { ...patched.record, files: r.versions.files(input.version) } };
}

/**
 * Deletes a version: refused (409 `in_use`) while an alias or the `production` stage holds
 * it. Its number is never reused. Open uploads end with it. `reason` and `detail` go into
 * the audit event (retention names the rule that deleted it there).
 */
export function deleteVersion(
  r: Rooms,
  input: Actor & { version: number; reason?: string; detail?: unknown },
): Outcome<R2Aborts> {
  const current = r.versions.head(input.version);
  if (!current) return versionNotFound(input);
  if (current.stage === "production") {
    return fail("in_use", `Version ${input.version} is in the production stage; move it out first`);
  }
  const holders = r.aliases.holding(input.version);
  if (holders.length > 0)
    return fail("in_use", `Version ${input.version} is held by the aliases ${holders.join(", ")}`);
  const aborts = closeUploads(r, { ...input, reason: "version deleted" }, r.uploads.open(input.version), "aborted");
  r.uploads.deleteOfVersion(input.version);
  r.versions.delete(input.version);
  r.oci.forgetVersion(input.version);
  r.gates.forgetVersion(input.version);
  r.signatures.forgetVersion(input.version);
  r.outbox.enqueue({ kind: "version_deleted", payload: { model: input.model, version: input.version } });
  appendAudit(r, input, {
    action: "version.delete",
    version: input.version,
    from: { digest: current.digest },
    ...(input.reason !== undefined ? { reason: input.reason } : {}),
    ...(input.detail !== undefined ? { detail: input.detail } : {}),
  });
  r.changes.changed(["latest", `v${input.version}`, ...stagesTouched(current.stage, "none", false)], "delete");
  return { ok: true, value: { aborts } };
}

/** Attaches verified bytes to a pending version at `file.path` (replacing what was there). */
export function attachFile(
  r: Rooms,
  input: Actor & { version: number; file: ManifestEntry; deduplicated: boolean },
): Outcome<ManifestEntry> {
  const current = r.versions.head(input.version);
  if (!current) return versionNotFound(input);
  if (current.status !== "pending") return immutable(current);
  const collision = pathCollision(r, input.version, input.file.path);
  if (collision) return collision;
  attach(r, current, input, input.file, { deduplicated: input.deduplicated });
  return { ok: true, value: input.file };
}

export function detachFile(r: Rooms, input: Actor & { version: number; path: string }): Outcome<null> {
  const current = r.versions.head(input.version);
  if (!current) return versionNotFound(input);
  if (current.status !== "pending") return immutable(current);
  const file = r.versions.file(input.version, input.path);
  if (!file) return fail("not_found", `Version ${input.version} has no file '${input.path}'`);
  r.versions.removeFile(current, input.path);
  r.versions.put({ ...current, updated_at: input.at, revision: current.revision + 1 });
  appendAudit(r, input, { action: "file.delete", version: input.version, from: file });
  return { ok: true, value: null };
}

export function finalizeRefusal(r: Rooms, record: VersionHead) {
  if (record.status !== "pending") return immutable(record);
  if (!r.versions.hasFiles(record.version)) return fail("conflict", `Version ${record.version} has no files`);
  const open = r.uploads.open(record.version);
  if (open.length > 0) {
    return fail(
      "conflict",
      `Version ${record.version} has unfinished uploads: ${open.map((u) => u.upload_id).join(", ")}`,
    );
  }
  return null;
}

/** Whether files of the version (at `path`, when given) may be written now: a fast check before bytes are sent. */
export function checkWritable(r: Rooms, input: { model: string; version: number; path?: string }): Outcome<null> {
  const current = r.versions.head(input.version);
  if (!current) return versionNotFound(input);
  if (current.status !== "pending") return immutable(current);
  return (input.path !== undefined && pathCollision(r, input.version, input.path)) || { ok: true, value: null };
}

/** The manifest a finalize would hash now, or why the version cannot be finalized. */
export function manifestToFinalize(r: Rooms, input: { model: string; version: number }): Outcome<string> {
  const current = r.versions.head(input.version);
  const refused = current ? finalizeRefusal(r, current) : versionNotFound(input);
  if (refused) return refused;
  return { ok: true, value: manifestText(r.versions.files(input.version)) };
}

/**
 * Makes the version `ready` with `digest`, the hash of `manifest`; "retry" when its files
 * changed since that manifest was read (the hashes were computed outside the transaction).
 * `ociDigest` is its OCI manifest's digest, built from those files and `input.at` as
 * `ready_at`: projected to D1 for `@sha256:` pulls.
 */
export function finalize(
  r: Rooms,
  input: Actor & { version: number },
  manifest: string,
  digest: string,
  ociDigest: string,
): Outcome<VersionRecord> | "retry" {
  const now = r.versions.head(input.version);
  const refused = now ? finalizeRefusal(r, now) : versionNotFound(input);
  if (refused) return refused;
  const files = r.versions.files(input.version);
  if (manifestText(files) !== manifest) return "retry";
  const ready: VersionHead = {
    ...now!,
    status: "ready",
    digest,
    ready_at: input.at,
    updated_at: input.at,
    revision: now!.revision + 1,
  };
  r.versions.put(ready);
  r.outbox.enqueue({
    kind: "oci_manifest",
    payload: { model: input.model, version: input.version, digest: ociDigest },
  });
  appendAudit(r, input, { action: "version.finalize", version: input.version, to: { digest } });
  r.changes.changed(["latest", `v${input.version}`], "finalize");
  return { ok: true, value: { ...ready, files } };
}

/** What the OCI manifests of those of `versions` that are ready are built from (the others have none). */
export function manifestSources(r: Rooms, input: { model: string; versions: readonly number[] }): ManifestSource[] {
  return [...new Set(input.versions)].flatMap((version) => {
    const head = r.versions.head(version);
    if (!head || head.status !== "ready" || head.digest === null || head.ready_at === null) return [];
    // A pushed manifest's digest was recorded with its version; mreg builds none for it.
    if (r.oci.ofVersion(version)) return [];
    return [
      { model: input.model, version, digest: head.digest, readyAt: head.ready_at, files: r.versions.files(version) },
    ];
  });
}

/**
 * Records OCI manifest digests hashed outside the transaction (Web Crypto is async) for the
 * versions that are still ready, as the same outbox item finalize queues. A ready version's
 * manifest never changes, so a digest hashed a moment ago is still its own; a version deleted
 * meanwhile is left out.
 */
export function recordOciDigests(
  r: Rooms,
  input: { model: string },
  digests: { version: number; digest: string }[],
): Outcome<{ version: number; digest: string }[]> {
  const recorded = digests.filter((d) => r.versions.head(d.version)?.status === "ready");
  for (const { version, digest } of recorded)
    r.outbox.enqueue({ kind: "oci_manifest", payload: { model: input.model, version, digest } });
  return { ok: true, value: recorded };
}

/** What making a ready version from held blobs came to. */
export type ReadyVersion =
  | { kind: "created"; record: VersionRecord }
  /** A version of this model was made from this very manifest already: that one. */
  | { kind: "existing"; record: VersionRecord }
  /** Bytes this model does not hold (no loose blob, file or stored manifest of that sha256 and size): nothing was made. */
  | { kind: "unknown_blobs"; blobs: StoredBlob[] };

export interface ReadyVersionInput extends Actor {
  files: ManifestEntry[];
  description: string | null;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  lineage: Lineage;
  /** The version's digest, hashed from `files` outside the transaction. */
  digest: string;
  /** Its OCI manifest's digest: the stored manifest's when one was pushed, else the one mreg builds. */
  ociDigest: string;
  /** The pushed manifest it is made from, kept as the version's own (its pulls answer those bytes). */
  manifest?: StoredManifest;
}

/**
 * Makes a ready version in one step from bytes this model holds already (uploaded to it, or
 * in its files): no pending state, no upload. Paths no disk can hold side by side, or bytes
 * the model does not hold, refuse it before anything is written. A manifest stored already as
 * a version's own names that version instead (the same push, repeated).
 */
export function createReadyVersion(r: Rooms, input: ReadyVersionInput): Outcome<ReadyVersion> {
  if (!r.model.get()) return modelNotFound(input);
  if (input.manifest) {
    const stored = r.oci.get(input.manifest.digest);
    const record = stored?.version != null ? r.versions.get(stored.version) : null;
    if (record) return { ok: true, value: { kind: "existing", record } };
  }
  const twins = collidingPaths(input.files.map((f) => f.path));
  if (twins)
    return fail("validation_failed", collisionProblem(twins[0], twins[1]), {
      errors: [{ path: "files", message: collisionProblem(twins[0], twins[1]) }],
    });
  const needed = [...input.files, ...(input.manifest?.blobs ?? [])];
  const unknown = needed.filter((b) => heldSize(r, b.sha256, input.at) !== b.size);
  if (unknown.length > 0)
    return {
      ok: true,
      value: { kind: "unknown_blobs", blobs: unknown.map((b) => ({ sha256: b.sha256, size: b.size })) },
    };
  const refused = sameModelParentsRefusal(r, input.model, input.lineage.parents, input.at);
  if (refused) return refused;
  const version = r.meta.bump("last_version");
  const head: VersionHead = {
    model: input.model,
    version,
    status: "ready",
    stage: "none",
    description: input.description,
    tags: input.tags,
    metrics: input.metrics,
    lineage: input.lineage,
    digest: input.digest,
    created_at: input.at,
    created_by: input.actor,
    updated_at: input.at,
    ready_at: input.at,
    revision: 1,
  };
  r.versions.put(head);
  for (const file of input.files) r.versions.putFile(head, file);
  if (input.manifest) r.oci.put(input.model, input.manifest, version, input.at);
  r.outbox.enqueue({ kind: "oci_manifest", payload: { model: input.model, version, digest: input.ociDigest } });
  appendAudit(r, input, {
    action: "version.create",
    version,
    detail: { files: input.files.length, ...(input.manifest ? { oci_manifest: input.manifest.digest } : {}) },
  });
  appendAudit(r, input, { action: "version.finalize", version, to: { digest: input.digest } });
  r.changes.changed(["latest", `v${version}`], "finalize");
  const files = r.versions.files(version);
  return { ok: true, value: { kind: "created", record: { ...head, files } } };
}
