/**
 * The scrub's side of D1 (src/artifacts/scrub.ts): which blobs come next, its progress through
 * a blob larger than one run (kept on the blob's own row, so a blob deleted takes it along), its
 * verdicts, and the log of runs it paces itself by. Every method is one round trip (a query or
 * one batch), which it reports through `counted`: a run keeps to its cap on subrequests.
 */
import { and, asc, eq, isNull, lt, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { blobs, scrubRuns, versionFiles } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import type { AuditEvent } from "../domain/audit";
import { commitEventsIf } from "../events/registry";
import { blobLocation } from "./keys";

/** A blob as the scrub takes it up: its progress when a run left it part way. */
export interface ScrubBlob {
  sha256: string;
  size: number;
  /** Where its bytes lie (./keys.ts `blobLocation`). */
  key: string;
  verifiedAt: string;
  /** Bytes hashed so far, the etag they were read under and the hash state after them; null when not under way. */
  progress: { offset: number; etag: string; state: string } | null;
}

/** A file holding a blob's bytes. */
export interface Holder {
  model: string;
  version: number;
  path: string;
}

export interface RunRecord {
  at: string;
  target: number;
  bytes: number;
  verified: number;
  corrupt: number;
  calls: number;
  oldestCheck: string | null;
}

const sound = isNull(blobs.corruptAt);

export class ScrubStore {
  private readonly db: DrizzleD1Database;

  constructor(
    private readonly d1: D1Handle,
    private readonly counted: () => void,
  ) {
    this.db = orm(d1);
  }

  /** What a run paces itself by: the sound blobs' total size and oldest check, and when the last run was. */
  async plan(): Promise<{ storedBytes: number; oldestCheck: string | null; lastRun: string | null }> {
    this.counted();
    const row = await this.db.get<{ storedBytes: number; oldestCheck: string | null; lastRun: string | null }>(sql`
      SELECT (SELECT COALESCE(SUM(${blobs.size}), 0) FROM ${blobs} WHERE ${sound}) AS storedBytes,
             (SELECT MIN(${blobs.verifiedAt}) FROM ${blobs} WHERE ${sound}) AS oldestCheck,
             (SELECT MAX(${scrubRuns.at}) FROM ${scrubRuns}) AS lastRun`);
    return row ?? { storedBytes: 0, oldestCheck: null, lastRun: null };
  }

  /**
   * The next sound blobs, least recently verified first, after `after` in that order, among
   * those last verified before `before` (the run's start: a blob it verified is not taken again).
   */
  async next(
    after: { verifiedAt: string; sha256: string } | null,
    before: string,
    limit: number,
  ): Promise<ScrubBlob[]> {
    this.counted();
    const rows = await this.db
      .select({
        sha256: blobs.sha256,
        size: blobs.size,
        verifiedAt: blobs.verifiedAt,
        offset: blobs.scrubOffset,
        etag: blobs.scrubEtag,
        state: blobs.scrubState,
        r2Key: blobs.r2Key,
      })
      .from(blobs)
      .where(
        and(
          sound,
          lt(blobs.verifiedAt, before),
          after ? sql`(${blobs.verifiedAt}, ${blobs.sha256}) > (${after.verifiedAt}, ${after.sha256})` : undefined,
        ),
      )
      .orderBy(asc(blobs.verifiedAt), asc(blobs.sha256))
      .limit(limit)
      .all();
    return rows.map(({ offset, etag, state, r2Key, ...blob }) => ({
      ...blob,
      key: blobLocation(blob.sha256, r2Key),
      progress: offset !== null && etag !== null && state !== null ? { offset, etag, state } : null,
    }));
  }

  /**
   * Records progress through a blob, only if the row still holds the progress this run started
   * from (`from`; null: none): a run that lost a race to another, or whose blob was deleted or
   * found corrupt meanwhile, learns so (false) and leaves the blob alone.
   */
  async saveProgress(
    sha256: string,
    from: ScrubBlob["progress"],
    to: NonNullable<ScrubBlob["progress"]>,
  ): Promise<boolean> {
    this.counted();
    const rows = await this.db
      .update(blobs)
      .set({ scrubOffset: to.offset, scrubEtag: to.etag, scrubState: to.state })
      .where(
        and(
          eq(blobs.sha256, sha256),
          sound,
          sql`${blobs.scrubOffset} IS ${from?.offset ?? null}`,
          sql`${blobs.scrubEtag} IS ${from?.etag ?? null}`,
        ),
      )
      .returning({ sha256: blobs.sha256 });
    return rows.length > 0;
  }

  /** Forgets progress through a blob whose bytes changed under it: the next run starts it again. */
  async resetProgress(sha256: string): Promise<void> {
    this.counted();
    await this.db
      .update(blobs)
      .set({ scrubOffset: null, scrubEtag: null, scrubState: null })
      .where(eq(blobs.sha256, sha256));
  }

  /** Records that these blobs' bytes hashed right at `at` (and ends any progress through them). */
  async verified(sha256s: readonly string[], at: string): Promise<void> {
    if (sha256s.length === 0) return;
    this.counted();
    await this.db
      .update(blobs)
      .set({ verifiedAt: at, scrubOffset: null, scrubEtag: null, scrubState: null })
      .where(and(sql`${blobs.sha256} IN (SELECT value FROM json_each(${JSON.stringify(sha256s)}))`, sound));
  }

  /** Where the bytes of the sound blob of this sha256 lie, or null: deleted, or already found corrupt. */
  async soundKey(sha256: string): Promise<string | null> {
    this.counted();
    const row = await this.db
      .select({ r2Key: blobs.r2Key })
      .from(blobs)
      .where(and(eq(blobs.sha256, sha256), sound))
      .get();
    return row ? blobLocation(sha256, row.r2Key) : null;
  }

  /** The files holding these bytes, by model, version and path: at most `limit`. */
  async holders(sha256: string, limit: number): Promise<Holder[]> {
    this.counted();
    return this.db
      .select({ model: versionFiles.model, version: versionFiles.version, path: versionFiles.path })
      .from(versionFiles)
      .where(eq(versionFiles.sha256, sha256))
      .orderBy(asc(versionFiles.model), asc(versionFiles.version), asc(versionFiles.path))
      .limit(limit)
      .all();
  }

  /**
   * Marks the blob corrupt with its audit events, in one batch, if it is still sound when the
   * batch runs: true when this call marked it.
   */
  async markCorrupt(sha256: string, at: string, events: readonly AuditEvent[]): Promise<boolean> {
    this.counted();
    const stillSound = sql`EXISTS (SELECT 1 FROM ${blobs} WHERE ${blobs.sha256} = ${sha256} AND ${sound})`;
    return commitEventsIf(
      this.d1,
      stillSound,
      [
        this.db
          .update(blobs)
          .set({ corruptAt: at, scrubOffset: null, scrubEtag: null, scrubState: null })
          .where(and(eq(blobs.sha256, sha256), sound)),
      ],
      events,
    );
  }

  /** Logs a run, and prunes the log's rows from before `pruneBefore`. */
  async recordRun(run: RunRecord, pruneBefore: string): Promise<void> {
    this.counted();
    await this.db.batch([
      this.db.insert(scrubRuns).values(run).onConflictDoNothing(),
      this.db.delete(scrubRuns).where(lt(scrubRuns.at, pruneBefore)),
    ]);
  }
}
