/**
 * R2 key prefixes; src/artifacts/ is their only writer and reader (see docs/architecture.md "Where state lives"):
 * others name bytes by sha256 (src/artifacts/blob-text.ts).
 *
 * - `blobs/sha256/<hex>`: content, one object per distinct sha256. A multipart upload of a
 *   declared sha256 assembles here, under the lease on that address (src/artifacts/bytes.ts),
 *   and is deleted if its bytes do not hash to it. Bytes count as a blob only once D1's
 *   `blobs` row says the registry verified them; the cleanup deletes those never registered.
 *   A blob's bytes lie here unless its row names another key (`blobLocation`).
 * - `sessions/<id>` and `sessions/<id>-<offset>-<random>`: a blob session's bytes
 *   (src/artifacts/blob-sessions.ts, their only writer: the OCI bridge's chunked uploads). The
 *   digest is known only at the session's end, so its multipart upload assembles at
 *   `sessions/<id>`, and the bytes after its last full part wait in a scratch object
 *   `sessions/<id>-<offset>-<random>` until the next chunk. Once verified, the assembled object (or, for a session smaller than
 *   one part, its one scratch object) *is* the blob: its `blobs` row names the key and the
 *   bytes are never written twice. The cleanup deletes an object here that no `blobs` row names
 *   once its session is past any use (`UPLOAD_TTL_S` and a day): a session's leftovers, and an
 *   assembly whose finish died before its row was written.
 * - `staging/<uuid>`: a single PUT sent without `x-mreg-sha256`, until its hash is known and
 *   it is copied to its content address; and a multipart upload started while a verified
 *   blob of its sha256 existed (its parts must never assemble over that blob), until it is
 *   verified at `complete`. Deleted then; leftovers of crashed requests by the cleanup.
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
export const SESSION_PREFIX = "sessions/";
export const sessionKey = (id: string) => `${SESSION_PREFIX}${id}`;
/** Unique per write: a scratch object that became a blob is never written over by a repeated request. */
export const sessionTailKey = (id: string, offset: number) =>
  `${SESSION_PREFIX}${id}-${offset}-${crypto.randomUUID().slice(0, 8)}`;
export const OCI_MANIFEST_PREFIX = "oci/manifests/sha256/";
export const ociManifestKey = (sha256: string) => `${OCI_MANIFEST_PREFIX}${sha256}`;

/**
 * Where the bytes of the blob `sha256` lie: the key its `blobs` row names (`r2_key`), or its
 * content address when the row names none. Every reader and writer of a blob's bytes asks this.
 */
export const blobLocation = (sha256: string, r2Key: string | null): string => r2Key ?? blobKey(sha256);

/** What a `blobs` row records for bytes at `key`: null for the content address, the key otherwise. */
export const recordedKey = (sha256: string, key: string): string | null => (key === blobKey(sha256) ? null : key);
