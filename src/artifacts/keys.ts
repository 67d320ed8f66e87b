/**
 * R2 key prefixes; src/artifacts/ is their only writer and reader (see docs/architecture.md "Where state lives"):
 * others name bytes by sha256 (src/artifacts/blob-text.ts).
 *
 * - `blobs/sha256/<hex>`: content, one object per distinct sha256. A multipart upload of a
 *   declared sha256 assembles here, under the lease on that address (src/artifacts/bytes.ts),
 *   and is deleted if its bytes do not hash to it. Bytes count as a blob only once D1's
 *   `blobs` row says the registry verified them; the cleanup deletes those never registered.
 * - `staging/<uuid>`: a single PUT sent without `x-mreg-sha256`, until its hash is known and
 *   it is copied to its content address; and a multipart upload started while a verified
 *   blob of its sha256 existed (its parts must never assemble over that blob), until it is
 *   verified at `complete`. Deleted then; leftovers of crashed requests by the cleanup.
 *   A blob session's (src/artifacts/blob-sessions.ts) multipart upload assembles here too
 *   (`staging/session-<id>`: the digest is known only at its end), and the bytes after its last
 *   full part wait in `staging/session-<id>-<offset>` until the next chunk.
 * - `signatures/sha256/<hex>`: a signature bundle's bytes exactly as uploaded, one object per
 *   distinct bundle, written under the address's lease (./signature-bundles.ts) once
 *   verified; the cleanup deletes those no signature holds any more.
 * - `oci/manifests/sha256/<hex>`: the bytes of OCI manifests pushed and kept, by their digest
 *   (src/artifacts/stored-manifests.ts); a manifest no `oci_manifests` row names is removed by
 *   the cleanup after a day.
 */
export const BLOB_PREFIX = "blobs/sha256/";
export const blobKey = (sha256: string) => `${BLOB_PREFIX}${sha256}`;
export const stagingKey = (id: string) => `staging/${id}`;
export const STAGING_PREFIX = "staging/";
export const SIGNATURE_PREFIX = "signatures/sha256/";
export const signatureKey = (sha256: string) => `${SIGNATURE_PREFIX}${sha256}`;
export const sessionKey = (id: string) => stagingKey(`session-${id}`);
export const sessionTailKey = (id: string, offset: number) => stagingKey(`session-${id}-${offset}`);
export const OCI_MANIFEST_PREFIX = "oci/manifests/sha256/";
export const ociManifestKey = (sha256: string) => `${OCI_MANIFEST_PREFIX}${sha256}`;
