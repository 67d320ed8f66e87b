/**
 * The OCI bridge's reads of D1, and its one write: `versions.oci_digest` for versions made
 * ready before that column existed (migration 0011 cannot hash JSON in SQL). The outbox flush
 * writes the column as a version becomes ready (src/state/projection.ts, `oci_manifest`); this
 * module fills the rest the first time a `@sha256:` lookup in their model misses. Both write the
 * digest of bytes built from data that never changes after ready, so they cannot disagree, and
 * this writer only fills NULLs.
 */
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { AliasProjection } from "../../models/alias-projection";
import { orm, type D1Handle } from "../../db/session";
import { versionFiles, versions } from "../../db/schema";
import { valueVersions } from "../../domain/alias";
import { sha256Hex } from "../../domain/ids";
import { ociManifest, type ManifestSource } from "../../domain/oci";
import { VersionStore } from "../../models/version-store";

/** What a manifest needs of a version's D1 row besides its files. */
export interface ManifestRow {
  status: "pending" | "ready" | "failed";
  digest: string | null;
  readyAt: string | null;
  ociDigest: string | null;
}

/** A manifest's bytes and digest. */
export interface BuiltManifest {
  body: string;
  digest: string;
}

export async function buildManifest(source: ManifestSource): Promise<BuiltManifest> {
  const body = ociManifest(source);
  return { body, digest: `sha256:${await sha256Hex(body)}` };
}

/** Versions whose digest one backfill pass computes: a files query per 90 of them (D1's 100 bound parameters). */
const BACKFILL_PAGE = 90;
/** Passes one miss may run: a bound on the request, should some row never fill. */
const BACKFILL_PASSES = 100;

export class OciStore {
  private readonly db: DrizzleD1Database;

  constructor(private readonly d1: D1Handle) {
    this.db = orm(d1);
  }

  /** A version's row as the manifest needs it: a primary-key read. */
  async manifestRow(model: string, version: number): Promise<ManifestRow | null> {
    const row = await this.db
      .select({ status: versions.status, digest: versions.digest, readyAt: versions.readyAt, ociDigest: versions.ociDigest })
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.version, version)))
      .get();
    return row ?? null;
  }

  /** The ready version whose manifest has this digest: one indexed read (`versions_oci_digest`). */
  async versionOfManifest(model: string, digest: string): Promise<number | null> {
    const row = await this.db
      .select({ version: versions.version })
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.ociDigest, digest), eq(versions.status, "ready")))
      .get();
    return row?.version ?? null;
  }

  /**
   * Computes and stores the manifest digest of every ready version of `model` that has none
   * (made ready before migration 0011), and answers them (digest → version) so the caller
   * needs no read-after-write on a replica. Once a model is filled this is one indexed read
   * that finds nothing.
   */
  async backfill(model: string, primary: D1Database): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (let pass = 0; pass < BACKFILL_PASSES; pass++) {
      const rows = await this.db
        .select({ version: versions.version })
        .from(versions)
        .where(and(eq(versions.model, model), isNull(versions.ociDigest), eq(versions.status, "ready")))
        .orderBy(desc(versions.version))
        .limit(BACKFILL_PAGE)
        .all();
      if (rows.length === 0) break;
      const records = await Promise.all(rows.map((r) => new VersionStore(this.d1).get(model, r.version)));
      const statements = [];
      for (const record of records) {
        if (!record || record.digest === null || record.ready_at === null) continue;
        const { digest } = await buildManifest({ model, version: record.version, digest: record.digest, readyAt: record.ready_at, files: record.files });
        found.set(digest, record.version);
        statements.push(fillStatement(orm(primary), model, record.version, digest));
      }
      const [first, ...others] = statements;
      if (first === undefined) break;
      await orm(primary).batch([first, ...others]);
      if (rows.length < BACKFILL_PAGE) break;
    }
    return found;
  }

  /** Stores one version's digest if it has none (a tag pull of a version made ready before 0011). */
  async fill(primary: D1Database, model: string, version: number, digest: string): Promise<void> {
    await fillStatement(orm(primary), model, version, digest);
  }

  /** The size of the file with these bytes that a ready version of `model` holds, or null. */
  async blobSize(model: string, sha256: string): Promise<number | null> {
    const row = await this.db
      .select({ size: versionFiles.size })
      .from(versionFiles)
      .innerJoin(versions, and(eq(versions.model, versionFiles.model), eq(versions.version, versionFiles.version)))
      .where(and(eq(versionFiles.sha256, sha256), eq(versionFiles.model, model), eq(versions.status, "ready")))
      .limit(1)
      .get();
    return row?.size ?? null;
  }

  /**
   * The names a tag list shows: the aliases that resolve to ready versions, and the stages
   * (which resolve to their highest version) whose highest version is ready; and the ready
   * versions. Two queries.
   */
  async tagSources(model: string): Promise<{ names: string[]; versions: number[] }> {
    const [rows, aliases] = await Promise.all([
      this.db
        .select({ version: versions.version, status: versions.status, stage: versions.stage })
        .from(versions)
        .where(eq(versions.model, model))
        .all(),
      new AliasProjection(this.d1).ofModels([model]),
    ]);
    const ready = new Set(rows.filter((r) => r.status === "ready").map((r) => r.version));
    const names = aliases.filter((a) => valueVersions(a.value).every((v) => ready.has(v))).map((a) => a.alias);
    const highest = new Map<string, number>();
    for (const r of rows) if (r.stage !== "none" && r.version > (highest.get(r.stage) ?? 0)) highest.set(r.stage, r.version);
    for (const [stage, version] of highest) if (ready.has(version)) names.push(stage);
    return { names, versions: [...ready] };
  }
}

function fillStatement(db: DrizzleD1Database, model: string, version: number, digest: string) {
  return db
    .update(versions)
    .set({ ociDigest: digest })
    .where(and(eq(versions.model, model), eq(versions.version, version), isNull(versions.ociDigest), sql`${versions.status} = 'ready'`));
}
