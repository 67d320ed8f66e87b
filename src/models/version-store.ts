/**
 * Reads of the versions projection in D1 (its writer is ModelState's outbox, through
 * src/state/projection.ts); the aliases holding them come from src/models/alias-projection.ts.
 * Searches with clauses, an order and page tokens (the MLflow bridge's) run in ./search.ts;
 * the OCI bridge finds versions by their manifest's digest here.
 */
import { and, asc, desc, eq, inArray, isNull, lt, sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { AliasProjection, holdersOf } from "./alias-projection";
import { orm, type D1Handle } from "../db/session";
import { versionFiles, versions, type VersionRow } from "../db/schema";
import type { Visibility } from "../db/visibility";
import type { ManifestEntry } from "../domain/manifest";
import type { Lineage, Stage, VersionHead, VersionRecord, VersionStatus } from "../domain/version";
import { redactParents } from "../domain/lineage";
import type { VersionBody } from "./schemas";
import { searchTable, type Search, type SearchTable } from "./search";

function recordFromRow(row: VersionRow, files: ManifestEntry[]): VersionRecord {
  return {
    model: row.model,
    version: row.version,
    status: row.status,
    stage: row.stage,
    description: row.description,
    tags: JSON.parse(row.tags) as Record<string, string>,
    metrics: JSON.parse(row.metrics) as Record<string, number>,
    lineage: JSON.parse(row.lineage) as Lineage,
    files,
    digest: row.digest,
    created_at: row.createdAt,
    created_by: row.createdBy,
    updated_at: row.updatedAt,
    ready_at: row.readyAt,
    revision: row.revision,
  };
}

/** The contract's Version as a token sees it: with the aliases that hold it, its downloads, and parents in models it does not see redacted. */
export function versionBody(
  record: VersionRecord,
  aliasNames: string[],
  downloads: number,
  visibility: Visibility,
): VersionBody {
  const { revision: _revision, ...fields } = record;
  return { ...fields, lineage: redactParents(record.lineage, visibility.sees), aliases: aliasNames, downloads };
}

/** The fields a version search may test or order by: columns of `versions`. */
export type VersionSearchField = "model" | "run_id" | "version" | "created_at" | "updated_at";

const HEAD_COLUMNS =
  "model, version, status, stage, description, tags, metrics, lineage, digest, created_at, created_by, updated_at, ready_at, revision";

const VERSION_TABLE: SearchTable<VersionSearchField> = {
  name: "versions",
  select: HEAD_COLUMNS,
  fields: ["model", "run_id", "version", "created_at", "updated_at"],
  modelColumn: "model",
  // MLflow's own order among equals: name ascending, then version descending.
  tiebreakers: [
    { key: "model", ascending: true },
    { key: "version", ascending: false },
  ],
};

/** A row of HEAD_COLUMNS: a VersionHead with its JSON columns still text. */
type HeadSqlRow = Omit<VersionHead, "tags" | "metrics" | "lineage"> & {
  tags: string;
  metrics: string;
  lineage: string;
};

const headOf = (row: HeadSqlRow): VersionHead => ({
  ...row,
  tags: JSON.parse(row.tags) as Record<string, string>,
  metrics: JSON.parse(row.metrics) as Record<string, number>,
  lineage: JSON.parse(row.lineage) as Lineage,
});

/** What an OCI manifest needs of a version's row besides its files, and the manifest digest D1 holds. */
export interface ManifestRow {
  status: VersionStatus;
  digest: string | null;
  readyAt: string | null;
  ociDigest: string | null;
}

export interface VersionFilters {
  status?: VersionStatus;
  stage?: Stage;
  /** Version tags that must all be set to these values. */
  tags?: readonly { key: string; value: string }[];
  /** Keyset: versions below this number (the list is newest first). */
  before?: number;
  limit: number;
}

export class VersionStore {
  private readonly db: DrizzleD1Database;
  private readonly aliases: AliasProjection;

  constructor(private readonly d1: D1Handle) {
    this.db = orm(d1);
    this.aliases = new AliasProjection(d1);
  }

  /** The version without its files: one primary-key read. */
  async head(model: string, version: number): Promise<VersionHead | null> {
    const row = await this.d1
      .prepare(`SELECT ${HEAD_COLUMNS} FROM versions WHERE model = ? AND version = ?`)
      .bind(model, version)
      .first<HeadSqlRow>();
    return row ? headOf(row) : null;
  }

  /** The model's versions without their files, newest first, below `before`: `limit + 1` of them (the last says there is more). */
  async heads(model: string, filters: Omit<VersionFilters, "stage">): Promise<VersionHead[]> {
    const { results } = await this.d1
      .prepare(
        `SELECT ${HEAD_COLUMNS} FROM versions WHERE model = ?1 AND (?2 IS NULL OR status = ?2) AND version < ?3
         ORDER BY version DESC LIMIT ?4`,
      )
      .bind(model, filters.status ?? null, filters.before ?? Number.MAX_SAFE_INTEGER, filters.limit + 1)
      .all<HeadSqlRow>();
    return results.map(headOf);
  }

  /** A page of the versions (of any model) matching `query`, in its order, and the next page's token. */
  async search(query: Search<VersionSearchField>): Promise<{ versions: VersionHead[]; next: string | null }> {
    const { rows, next } = await searchTable<VersionSearchField, HeadSqlRow & Record<string, unknown>>(
      this.d1,
      VERSION_TABLE,
      query,
    );
    return { versions: rows.map(headOf), next };
  }

  /** The newest ready version in each stage of each of these models (`none` included), by model then version. */
  async latestPerStage(models: readonly string[]): Promise<VersionHead[]> {
    if (models.length === 0) return [];
    const { results } = await this.d1
      .prepare(
        `SELECT ${HEAD_COLUMNS} FROM versions AS v WHERE v.model IN (SELECT value FROM json_each(?1)) AND v.status = 'ready'
         AND v.version = (SELECT max(w.version) FROM versions AS w WHERE w.model = v.model AND w.stage = v.stage AND w.status = 'ready')
         ORDER BY v.model, v.version`,
      )
      .bind(JSON.stringify(models))
      .all<HeadSqlRow>();
    return results.map(headOf);
  }

  async get(model: string, version: number): Promise<VersionRecord | null> {
    const row = await this.db
      .select()
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.version, version)))
      .get();
    return row ? (await this.withFiles(model, [row]))[0]! : null;
  }

  /**
   * Records of these rows, with their files: one query per 90 versions (D1 binds at most 100
   * parameters); paths come in UTF-8 byte order, SQLite's BINARY collation.
   */
  private async withFiles(model: string, rows: VersionRow[]): Promise<VersionRecord[]> {
    const byVersion = new Map<number, ManifestEntry[]>();
    for (let i = 0; i < rows.length; i += 90) {
      const files = await this.db
        .select({
          version: versionFiles.version,
          path: versionFiles.path,
          size: versionFiles.size,
          sha256: versionFiles.sha256,
        })
        .from(versionFiles)
        .where(
          and(
            eq(versionFiles.model, model),
            inArray(
              versionFiles.version,
              rows.slice(i, i + 90).map((r) => r.version),
            ),
          ),
        )
        .orderBy(asc(versionFiles.version), asc(versionFiles.path))
        .all();
      for (const { version, ...file } of files) {
        const list = byVersion.get(version);
        if (list) list.push(file);
        else byVersion.set(version, [file]);
      }
    }
    return rows.map((row) => recordFromRow(row, byVersion.get(row.version) ?? []));
  }

  async list(model: string, filters: VersionFilters): Promise<VersionRecord[]> {
    const where: SQL[] = [eq(versions.model, model)];
    if (filters.status) where.push(eq(versions.status, filters.status));
    if (filters.stage) where.push(eq(versions.stage, filters.stage));
    for (const { key, value } of filters.tags ?? []) {
      where.push(
        sql`EXISTS (SELECT 1 FROM json_each(${versions.tags}) AS t WHERE t.key = ${key} AND t.value = ${value})`,
      );
    }
    if (filters.before !== undefined) where.push(lt(versions.version, filters.before));
    const rows = await this.db
      .select()
      .from(versions)
      .where(and(...where))
      .orderBy(desc(versions.version))
      .limit(filters.limit + 1)
      .all();
    return this.withFiles(model, rows);
  }

  /** Version number → the aliases that hold it, from the alias projection: one query. */
  async aliasesByVersion(model: string): Promise<Map<number, string[]>> {
    return holdersOf(await this.aliases.ofModels([model])).get(model) ?? new Map();
  }

  /**
   * The ready version whose commit id (`commitOf` its digest) is `commit`: one indexed read
   * (`versions_commit`). Versions holding the very same files share a digest; the newest wins.
   */
  async versionOfCommit(model: string, commit: string): Promise<number | null> {
    const row = await this.db
      .select({ version: versions.version })
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.commit, commit), eq(versions.status, "ready")))
      .orderBy(desc(versions.version))
      .limit(1)
      .get();
    return row?.version ?? null;
  }

  /** The numbers of the model's ready versions. */
  async readyVersions(model: string): Promise<number[]> {
    const rows = await this.db
      .select({ version: versions.version })
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.status, "ready")))
      .all();
    return rows.map((r) => r.version);
  }

  /** A version's row as an OCI manifest needs it: a primary-key read. */
  async manifestRow(model: string, version: number): Promise<ManifestRow | null> {
    const row = await this.db
      .select({
        status: versions.status,
        digest: versions.digest,
        readyAt: versions.readyAt,
        ociDigest: versions.ociDigest,
      })
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.version, version)))
      .get();
    return row ?? null;
  }

  /** The ready version whose OCI manifest has this digest: one indexed read (`versions_oci_digest`). */
  async versionOfManifest(model: string, digest: string): Promise<number | null> {
    const row = await this.db
      .select({ version: versions.version })
      .from(versions)
      .where(and(eq(versions.model, model), eq(versions.ociDigest, digest), eq(versions.status, "ready")))
      .get();
    return row?.version ?? null;
  }

  /**
   * Ready versions below `before` (newest first) whose OCI manifest digest D1 does not hold:
   * those made ready before the column existed (migration 0011), whose digests ModelState
   * records on request.
   */
  async withoutManifestDigest(model: string, before: number | undefined, limit: number): Promise<number[]> {
    const where: SQL[] = [eq(versions.model, model), isNull(versions.ociDigest), eq(versions.status, "ready")];
    if (before !== undefined) where.push(lt(versions.version, before));
    const rows = await this.db
      .select({ version: versions.version })
      .from(versions)
      .where(and(...where))
      .orderBy(desc(versions.version))
      .limit(limit)
      .all();
    return rows.map((r) => r.version);
  }

  /** The size of the file with these bytes that a ready version of `model` holds, or null. */
  async readyFileSize(model: string, sha256: string): Promise<number | null> {
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
   * Downloads of these versions, as ModelState last projected them (a few seconds behind the
   * downloads themselves): one query per 90 versions.
   */
  private async downloadsOf(model: string, numbers: number[]): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (let i = 0; i < numbers.length; i += 90) {
      const rows = await this.db
        .select({ version: versions.version, downloads: versions.downloads })
        .from(versions)
        .where(and(eq(versions.model, model), inArray(versions.version, numbers.slice(i, i + 90))))
        .all();
      for (const row of rows) counts.set(row.version, row.downloads);
    }
    return counts;
  }

  /** Versions as the contract shows them (aliases and downloads included). */
  async presentAll(model: string, records: VersionRecord[], visibility: Visibility): Promise<VersionBody[]> {
    const [held, downloads] = await Promise.all([
      this.aliasesByVersion(model),
      this.downloadsOf(
        model,
        records.map((r) => r.version),
      ),
    ]);
    return records.map((r) => versionBody(r, held.get(r.version) ?? [], downloads.get(r.version) ?? 0, visibility));
  }

  async present(record: VersionRecord, visibility: Visibility): Promise<VersionBody> {
    return (await this.presentAll(record.model, [record], visibility))[0]!;
  }
}
