/**
 * D1's record of verified blobs (`blobs`; this module writes it, but for the projection of a
 * file, which clears its `unreferenced_since`, and the scrub's marks, src/artifacts/scrub-store.ts)
 * and the reads of `version_files` that downloads and garbage collection need. A row names
 * where its bytes lie when that is not their content address (`r2_key`, ./keys.ts
 * `blobLocation`); the reads here answer locations through that one mapping.
 *
 * One rule for every upload path (single PUT, multipart, and any bridge's own): bytes a scrub
 * found corrupt are never deduplicated against. `reuse` and `verifiedSize`, which every such
 * decision goes through, see only sound blobs, so an upload of a corrupt blob's sha256 writes
 * its bytes to the address under the lease (where verified bytes would be refused) and, once
 * they are verified, `register` clears the mark: the blob is healed.
 */
import { and, eq, isNull, lte, or, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { orm, type D1Handle } from "../db/session";
import { blobLeases, blobs, ociBlobs, ociManifests, openUploads, versionFiles, versions } from "../db/schema";
import type { Visibility } from "../db/visibility";
import { BLOB_PREFIX, blobKey, blobLocation, recordedKey } from "./keys";

/** A blob no scrub has found corrupt: the only kind an upload may be deduplicated against. */
const sound = isNull(blobs.corruptAt);

/** No version's file and no kept OCI manifest (its config, an attachment's layer) needs the bytes. */
const unreferenced = sql`NOT EXISTS (SELECT 1 FROM ${versionFiles} WHERE ${versionFiles.sha256} = ${blobs.sha256})
  AND NOT EXISTS (SELECT 1 FROM ${ociBlobs} WHERE ${ociBlobs.sha256} = ${blobs.sha256})`;

export interface StoredFile {
  sha256: string;
  size: number;
  status: "pending" | "ready" | "failed";
}

export class BlobStore {
  private readonly db: DrizzleD1Database;

  /** `claimant`: the model whose upload uses this store; recorded on the blobs it stores or reuses. */
  constructor(
    d1: D1Handle,
    private readonly claimant: string | null = null,
  ) {
    this.db = orm(d1);
  }

  /**
   * Takes a verified blob for a new reference without sending bytes: true when a sound one
   * with this sha256 and size exists. Clearing `unreferenced_since` in the same statement
   * keeps the collector from deleting it while the new reference is being projected.
   */
  async reuse(sha256: string, size: number): Promise<boolean> {
    const rows = await this.db
      .update(blobs)
      .set({ unreferencedSince: null, claimedBy: this.claimant })
      .where(and(eq(blobs.sha256, sha256), eq(blobs.size, size), sound))
      .returning({ sha256: blobs.sha256 });
    return rows.length > 0;
  }

  /**
   * Which of these R2 keys hold a registered blob's bytes (`blobLocation`): a content address
   * whose row names no other key, or a key a row names. One query for a page of them.
   */
  async namedKeys(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const addressed = keys.filter((k) => k.startsWith(BLOB_PREFIX)).map((k) => k.slice(BLOB_PREFIX.length));
    const rows = await this.db
      .select({ sha256: blobs.sha256, r2Key: blobs.r2Key })
      .from(blobs)
      .where(
        or(
          and(sql`${blobs.sha256} IN (SELECT value FROM json_each(${JSON.stringify(addressed)}))`, isNull(blobs.r2Key)),
          sql`${blobs.r2Key} IN (SELECT value FROM json_each(${JSON.stringify(keys)}))`,
        ),
      )
      .all();
    return new Set(rows.map((r) => blobLocation(r.sha256, r.r2Key)));
  }

  /** Which of these manifest sha256s (hex) a kept OCI manifest of any model has: one query for a page of them. */
  async manifestsKept(sha256s: string[]): Promise<Set<string>> {
    if (sha256s.length === 0) return new Set();
    const digests = sha256s.map((h) => `sha256:${h}`);
    const rows = await this.db
      .selectDistinct({ digest: ociManifests.digest })
      .from(ociManifests)
      .where(sql`${ociManifests.digest} IN (SELECT value FROM json_each(${JSON.stringify(digests)}))`)
      .all();
    return new Set(rows.map((r) => r.digest.slice("sha256:".length)));
  }

  /**
   * The size of the sound verified blob with this sha256, or null when the registry holds none
   * (or only bytes a scrub found corrupt, which an upload may write over).
   */
  async verifiedSize(sha256: string): Promise<number | null> {
    const row = await this.db
      .select({ size: blobs.size })
      .from(blobs)
      .where(and(eq(blobs.sha256, sha256), sound))
      .get();
    return row?.size ?? null;
  }

  /**
   * Where the bytes of a registered blob lie (`blobLocation`) and when a scrub found them
   * corrupt (null: sound), or null when no blob of this sha256 is registered.
   */
  async location(sha256: string): Promise<{ key: string; corruptAt: string | null } | null> {
    const row = await this.db
      .select({ r2Key: blobs.r2Key, corruptAt: blobs.corruptAt })
      .from(blobs)
      .where(eq(blobs.sha256, sha256))
      .get();
    return row ? { key: blobLocation(sha256, row.r2Key), corruptAt: row.corruptAt } : null;
  }

  /** The blob registered at one of these keys (not content addresses), if any: which bytes lie there. */
  async registeredAt(keys: readonly string[]): Promise<{ sha256: string; size: number } | null> {
    if (keys.length === 0) return null;
    const row = await this.db
      .select({ sha256: blobs.sha256, size: blobs.size })
      .from(blobs)
      .where(sql`${blobs.r2Key} IN (SELECT value FROM json_each(${JSON.stringify(keys)}))`)
      .get();
    return row ?? null;
  }

  /** The size and location of the sound verified blob with this sha256, or null (as `verifiedSize`). */
  async soundBlob(sha256: string): Promise<{ size: number; key: string } | null> {
    const row = await this.db
      .select({ size: blobs.size, r2Key: blobs.r2Key })
      .from(blobs)
      .where(and(eq(blobs.sha256, sha256), sound))
      .get();
    return row ? { size: row.size, key: blobLocation(sha256, row.r2Key) } : null;
  }

  /**
   * The size of the bytes of `sha256` in a file of a model the caller sees, or null when no
   * such model holds them: what a caller may learn of bytes, so no token can attach, and then
   * read, bytes only models it may not act on hold, nor learn that the registry holds a hash
   * (src/artifacts/upload-workflow.ts, `callerHolds`).
   */
  async heldSize(sha256: string, visibility: Visibility): Promise<number | null> {
    const row = await this.db
      .select({ size: versionFiles.size })
      .from(versionFiles)
      .where(and(eq(versionFiles.sha256, sha256), visibility.sql(versionFiles.model)))
      .limit(1)
      .get();
    return row?.size ?? null;
  }

  /**
   * `heldSize` for many sha256s at once: each one's size in a file of a model the caller
   * sees, for those some such model holds. One query for a batch of them.
   */
  async heldSizes(sha256s: readonly string[], visibility: Visibility): Promise<Map<string, number>> {
    if (sha256s.length === 0) return new Map();
    const rows = await this.db
      .selectDistinct({ sha256: versionFiles.sha256, size: versionFiles.size })
      .from(versionFiles)
      .where(
        and(
          sql`${versionFiles.sha256} IN (SELECT value FROM json_each(${JSON.stringify([...new Set(sha256s)])}))`,
          visibility.sql(versionFiles.model),
        ),
      )
      .all();
    return new Map(rows.map((r) => [r.sha256, r.size]));
  }

  /**
   * `reuse` for many blobs at once: takes those that are verified with the size given and not
   * found corrupt by a scrub (those must be sent again, which heals them), and answers their
   * sha256s. One statement.
   */
  async reuseAll(wanted: readonly { sha256: string; size: number }[]): Promise<Set<string>> {
    if (wanted.length === 0) return new Set();
    const pairs = JSON.stringify(wanted.map((w) => [w.sha256, w.size]));
    const rows = await this.db
      .update(blobs)
      .set({ unreferencedSince: null, claimedBy: this.claimant })
      .where(
        // The IN is a primary-key search; the size is then checked against the pair of that sha256.
        sql`${blobs.sha256} IN (SELECT json_extract(value, '$[0]') FROM json_each(${pairs}))
            AND ${blobs.size} = (SELECT json_extract(w.value, '$[1]') FROM json_each(${pairs}) AS w WHERE json_extract(w.value, '$[0]') = ${blobs.sha256} LIMIT 1)
            AND ${sound}`,
      )
      .returning({ sha256: blobs.sha256 });
    return new Set(rows.map((r) => r.sha256));
  }

  /**
   * Records bytes the registry has verified at `key` (their content address unless given):
   * verified now, so sound (a corrupt blob's mark is cleared: healed) and any scrub of the bytes
   * that were there before starts again. Answers the key the row named before when the bytes
   * now lie elsewhere (a corrupt blob healed by bytes uploaded to another key): the caller
   * deletes that object (src/artifacts/bytes.ts `registerAt`, the one caller).
   */
  async register(sha256: string, size: number, at: string, key: string = blobKey(sha256)): Promise<string | null> {
    const r2Key = recordedKey(sha256, key);
    const before = await this.db.select({ r2Key: blobs.r2Key }).from(blobs).where(eq(blobs.sha256, sha256)).get();
    await this.db
      .insert(blobs)
      .values({ sha256, size, createdAt: at, claimedBy: this.claimant, verifiedAt: at, r2Key })
      .onConflictDoUpdate({
        target: blobs.sha256,
        set: {
          unreferencedSince: null,
          claimedBy: this.claimant,
          verifiedAt: at,
          corruptAt: null,
          scrubOffset: null,
          scrubEtag: null,
          scrubState: null,
          r2Key,
        },
      });
    if (!before) return null;
    const previous = blobLocation(sha256, before.r2Key);
    return previous === key ? null : previous;
  }

  /**
   * Takes the lease on a content address for `holder`, if it is free, its lease has run out, or
   * `holder` holds it already (then it is extended: a verification over several invocations
   * renews its lease at each step). One statement, so two writers cannot both win.
   */
  async lease(sha256: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = new Date();
    const rows = await this.db
      .insert(blobLeases)
      .values({ sha256, holder, expiresAt: new Date(now.getTime() + ttlMs).toISOString() })
      .onConflictDoUpdate({
        target: blobLeases.sha256,
        set: { holder: sql`excluded.holder`, expiresAt: sql`excluded.expires_at` },
        setWhere: or(lte(blobLeases.expiresAt, now.toISOString()), eq(blobLeases.holder, holder)),
      })
      .returning({ holder: blobLeases.holder });
    return rows[0]?.holder === holder;
  }

  async release(sha256: string, holder: string): Promise<void> {
    await this.db.delete(blobLeases).where(and(eq(blobLeases.sha256, sha256), eq(blobLeases.holder, holder)));
  }

  /** Runs `work` holding the lease on `sha256`'s address; `held: false` when another holds it. */
  async withLease<T>(
    sha256: string,
    ttlMs: number,
    work: () => Promise<T>,
  ): Promise<{ held: false } | { held: true; value: T }> {
    const holder = crypto.randomUUID();
    if (!(await this.lease(sha256, holder, ttlMs))) return { held: false };
    try {
      return { held: true, value: await work() };
    } finally {
      await this.release(sha256, holder);
    }
  }

  async file(model: string, version: number, path: string): Promise<StoredFile | null> {
    const row = await this.db
      .select({ sha256: versionFiles.sha256, size: versionFiles.size, status: versions.status })
      .from(versionFiles)
      .innerJoin(versions, and(eq(versions.model, versionFiles.model), eq(versions.version, versionFiles.version)))
      .where(and(eq(versionFiles.model, model), eq(versionFiles.version, version), eq(versionFiles.path, path)))
      .get();
    return row ?? null;
  }

  /**
   * Marks blobs no file references (from now), and returns those marked at least `graceS`
   * ago, with the model that last claimed each: the candidates for deletion.
   */
  async unreferencedSince(
    now: Date,
    graceS: number,
    limit: number,
  ): Promise<{ sha256: string; claimedBy: string | null }[]> {
    await this.db
      .update(blobs)
      .set({ unreferencedSince: now.toISOString() })
      .where(and(sql`${blobs.unreferencedSince} IS NULL`, unreferenced));
    const cutoff = new Date(now.getTime() - graceS * 1000).toISOString();
    return this.db
      .select({ sha256: blobs.sha256, claimedBy: blobs.claimedBy })
      .from(blobs)
      .where(and(lte(blobs.unreferencedSince, cutoff), unreferenced))
      .orderBy(blobs.unreferencedSince)
      .limit(limit)
      .all();
  }

  /**
   * Forgets a blob if it is still an unreferenced candidate: a dedup since then has cleared
   * `unreferenced_since`, a new reference shows in version_files. Answers where its bytes lie
   * (for the caller to delete them) when it was removed, else null.
   */
  async forget(sha256: string, now: Date, graceS: number): Promise<string | null> {
    const cutoff = new Date(now.getTime() - graceS * 1000).toISOString();
    const rows = await this.db
      .delete(blobs)
      .where(and(eq(blobs.sha256, sha256), lte(blobs.unreferencedSince, cutoff), unreferenced))
      .returning({ r2Key: blobs.r2Key });
    return rows[0] ? blobLocation(sha256, rows[0].r2Key) : null;
  }

  /** The models that have open uploads past their expiry (at most `limit` of them). */
  async modelsWithExpiredUploads(now: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ model: openUploads.model })
      .from(openUploads)
      .where(lte(openUploads.expiresAt, now))
      .limit(limit)
      .all();
    return rows.map((r) => r.model);
  }
}
