/**
 * R2 key prefixes. This module's artifacts code is their only writer (see README "Where
 * state lives").
 *
 * - `blobs/sha256/<hex>`: verified content, one object per distinct sha256. Only bytes whose
 *   sha256 was checked on the way in are ever written here (a single PUT with R2's own
 *   sha256 check, or a copy hashed as it is written).
 * - `uploads/<upload_id>`: a multipart upload's assembled object, from `complete` until its
 *   bytes are verified and copied to `blobs/`; then deleted.
 * - `staging/<uuid>`: a single PUT sent without `x-mreg-sha256`, until its hash is known and
 *   it is copied to `blobs/`; then deleted.
 */
export const blobKey = (sha256: string) => `blobs/sha256/${sha256}`;
export const uploadKey = (uploadId: string) => `uploads/${uploadId}`;
export const stagingKey = (id: string) => `staging/${id}`;
export const TRANSIENT_PREFIXES = ["uploads/", "staging/"] as const;
