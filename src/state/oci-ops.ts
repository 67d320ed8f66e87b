/**
 * What a ModelState decides about OCI attachments: manifests pushed with a `subject`, kept by
 * the digest they refer to (which may name no manifest yet: the spec lets the subject arrive
 * later). A version's own pushed manifest is kept by `createReadyVersion` (./version-ops.ts).
 */
import type { StoredBlob, StoredManifest } from "../domain/oci-push";
import { heldSize } from "./blob-session-ops";
import { fail, type Outcome } from "./outcome";
import { appendAudit, modelNotFound, type Actor, type Rooms } from "./rooms";

export type Attached =
  { kind: "attached"; manifest: StoredManifest; existing: boolean } | { kind: "unknown_blobs"; blobs: StoredBlob[] };

/** Keeps an attachment whose blobs (config, layers) this model holds; the same digest again is the one kept. */
export function attachManifest(r: Rooms, input: Actor & { manifest: StoredManifest }): Outcome<Attached> {
  if (!r.model.get()) return modelNotFound(input);
  const { manifest } = input;
  if (manifest.subject === null) return fail("validation_failed", "An attachment names its subject");
  const stored = r.oci.get(manifest.digest);
  if (stored) return { ok: true, value: { kind: "attached", manifest: stored.manifest, existing: true } };
  const unknown = manifest.blobs.filter((b) => heldSize(r, b.sha256, input.at) !== b.size);
  if (unknown.length > 0) return { ok: true, value: { kind: "unknown_blobs", blobs: unknown } };
  r.oci.put(input.model, manifest, null, input.at);
  appendAudit(r, input, {
    action: "oci.attach",
    detail: { digest: manifest.digest, subject: manifest.subject, artifact_type: manifest.artifactType },
  });
  return { ok: true, value: { kind: "attached", manifest, existing: false } };
}

/** Removes an attachment; a version's own manifest is not one (a version is deleted through `/v1`). */
export function deleteAttachment(r: Rooms, input: Actor & { digest: string }): Outcome<StoredManifest> {
  if (!r.model.get()) return modelNotFound(input);
  const stored = r.oci.get(input.digest);
  if (!stored || stored.manifest.subject === null)
    return fail("not_found", `No attachment ${input.digest} in '${input.model}'`);
  r.oci.delete(input.model, input.digest);
  appendAudit(r, input, {
    action: "oci.detach",
    detail: { digest: input.digest, subject: stored.manifest.subject },
  });
  return { ok: true, value: stored.manifest };
}
