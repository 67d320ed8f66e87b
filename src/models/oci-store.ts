/**
 * D1's reads of kept OCI manifests (`oci_manifests`, `oci_blobs`: projections of each
 * ModelState's, written by the outbox flush): a pushed manifest by digest or by version, the
 * attachments of a subject, and the blobs they keep. What the OCI bridge reads for pulls and
 * the referrers index.
 */
import { and, asc, eq } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { orm, type D1Handle } from "../db/session";
import { ociBlobs, ociManifests } from "../db/schema";
import type { StoredManifest } from "../domain/oci-push";

/** A kept manifest as D1 shows it (without its blobs), and the version it is the own manifest of (null: an attachment). */
export type KeptManifest = Omit<StoredManifest, "blobs"> & { version: number | null };

/** Attachments one referrers answer lists at most (the spec lets a registry page; none of mreg's models comes near). */
export const MAX_REFERRERS = 1000;

type Row = typeof ociManifests.$inferSelect;

const kept = (r: Row): KeptManifest => ({
  digest: r.digest,
  mediaType: r.mediaType,
  size: r.size,
  artifactType: r.artifactType,
  subject: r.subject,
  annotations: JSON.parse(r.annotations) as Record<string, string>,
  version: r.version,
});

export class OciManifestStore {
  private readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  async get(model: string, digest: string): Promise<KeptManifest | null> {
    const row = await this.db
      .select()
      .from(ociManifests)
      .where(and(eq(ociManifests.model, model), eq(ociManifests.digest, digest)))
      .get();
    return row ? kept(row) : null;
  }

  /** The manifest pushed as `version`'s own, if it was made by a push. */
  async ofVersion(model: string, version: number): Promise<KeptManifest | null> {
    const row = await this.db
      .select()
      .from(ociManifests)
      .where(and(eq(ociManifests.model, model), eq(ociManifests.version, version)))
      .get();
    return row ? kept(row) : null;
  }

  /** The attachments whose subject is `digest`, by digest. */
  async referrers(model: string, digest: string): Promise<KeptManifest[]> {
    const rows = await this.db
      .select()
      .from(ociManifests)
      .where(and(eq(ociManifests.model, model), eq(ociManifests.subject, digest)))
      .orderBy(asc(ociManifests.digest))
      .limit(MAX_REFERRERS)
      .all();
    return rows.map(kept);
  }

  /** The size of bytes a kept manifest of `model` needs besides version files (a config, an attachment's layer), or null. */
  async blobSize(model: string, sha256: string): Promise<number | null> {
    const row = await this.db
      .select({ size: ociBlobs.size })
      .from(ociBlobs)
      .where(and(eq(ociBlobs.sha256, sha256), eq(ociBlobs.model, model)))
      .limit(1)
      .get();
    return row?.size ?? null;
  }
}
