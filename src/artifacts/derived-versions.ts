/**
 * A ready version made in one request from verified blobs and paths: the files of a starting
 * version (`latest`, an alias, `v<n>`) changed by edits, some of which name bytes by sha256
 * (sent before, by ./blob-uploads.ts, or held already) and some carry small files in the
 * request itself. What a Hugging Face commit is (src/bridges/hf/), and what any protocol that
 * writes a whole version at once needs. The model's ModelState applies the edits to the
 * start as it is at that instant and makes the version ready in one transaction
 * (src/state/derive-ops.ts); this module checks, first, that every sha256 named is bytes the
 * caller may attach: held in a model it sees or claimed by its model's blob upload, verified,
 * of the size named (`/v1`'s rule, ./upload-workflow.ts `callerHolds`).
 */
import { requireAuthorized } from "../auth/authorize";
import { timestamp, toHex } from "../domain/ids";
import type { ManifestEntry } from "../domain/manifest";
import type { FileChange } from "../domain/version-changes";
import { validationFailed } from "../http/validation";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import type { Derived, DeriveStart } from "../state/model-state";
import { BlobStore } from "./blob-store";
import { heldBlobs, type BlobWriter } from "./blob-uploads";
import { storeSingle } from "./bytes";

/** An edit naming bytes by sha256 instead of carrying them: the file at `path` is those bytes (`size` checked when given). */
export interface BlobPut {
  kind: "putBlob";
  path: string;
  sha256: string;
  size: number | null;
}

export type VersionEdit = FileChange | BlobPut;

export interface NewDerivedVersion {
  start: DeriveStart;
  /** The start's commit must still begin with this (lower-case hex, 5..40 digits); 409 `conflict` with `start_commit` otherwise. */
  expectCommit?: string;
  edits: VersionEdit[];
  description: string | null;
}

/**
 * Stores bytes the request carries itself (a small file inline in a commit): hashed, then
 * written to their content address with R2 checking the hash. Answers the file at `path`.
 */
export async function storeSentFile(w: BlobWriter, path: string, bytes: Uint8Array): Promise<ManifestEntry> {
  requireAuthorized(w.principal, { scope: "write", model: w.model });
  const sha256 = toHex(await crypto.subtle.digest("SHA-256", bytes));
  const body = new Blob([bytes]).stream();
  const stored = await storeSingle(
    w.env.ARTIFACTS,
    new BlobStore(w.db, w.model),
    body,
    bytes.byteLength,
    sha256,
    timestamp(),
  );
  return { path, size: stored.size, sha256: stored.sha256 };
}

/**
 * Makes the version (or none, when the edits change nothing: `record` null). 400 when an edit
 * names bytes the caller does not hold, or holds with another size; the start's own errors
 * (404 for a missing file or folder, with `entry`; 409 `conflict` for a moved start) come
 * from the model's ModelState.
 */
export async function deriveVersion(w: BlobWriter, input: NewDerivedVersion): Promise<Derived> {
  requireAuthorized(w.principal, { scope: "write", model: w.model });
  const named = input.edits.filter((e): e is BlobPut => e.kind === "putBlob");
  const held = await heldBlobs(
    w,
    named.map((e) => e.sha256),
  );
  for (const edit of named) {
    const size = held.get(edit.sha256);
    if (size === undefined) {
      throw validationFailed(
        `'${edit.path}' names the bytes ${edit.sha256}, which were not uploaded for this model: upload them first (the LFS batch API)`,
        [{ path: edit.path, message: "bytes not uploaded" }],
      );
    }
    if (edit.size !== null && edit.size !== size) {
      throw validationFailed(`'${edit.path}' names ${edit.sha256} with ${edit.size} bytes; those bytes have ${size}`, [
        { path: edit.path, message: "size mismatch" },
      ]);
    }
  }
  const wanted = [...new Map(named.map((e) => [e.sha256, { sha256: e.sha256, size: held.get(e.sha256)! }])).values()];
  const kept = await new BlobStore(w.db, w.model).reuseAll(wanted);
  const gone = named.find((e) => !kept.has(e.sha256));
  if (gone) {
    throw validationFailed(`The bytes ${gone.sha256} of '${gone.path}' are no longer held: upload them again`, [
      { path: gone.path, message: "bytes collected" },
    ]);
  }
  const changes: FileChange[] = input.edits.map((e) =>
    e.kind === "putBlob" ? { kind: "put", file: { path: e.path, size: held.get(e.sha256)!, sha256: e.sha256 } } : e,
  );
  return unwrap(
    await modelState(w.env, w.model).deriveVersion({
      ...actorFor(w.model, w.principal),
      start: input.start,
      ...(input.expectCommit !== undefined ? { expectCommit: input.expectCommit } : {}),
      changes,
      description: input.description,
    }),
  );
}
