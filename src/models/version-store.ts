/**
 * Reads of the versions projection in D1 (its writer is ModelState's outbox, through
 * src/state/projection.ts); the aliases holding them come from src/models/alias-projection.ts.
 */
import { and, asc, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { AliasProjection, holdersOf } from "./alias-projection";
import { orm, type D1Handle } from "../db/session";
import { versionFiles, versions, type VersionRow } from "../db/schema";
import type { ManifestEntry } from "../domain/manifest";
import type { Lineage, Stage, VersionRecord, VersionStatus } from "../domain/version";
import { mayActOnModel, type Principal } from "../auth/principal";
import { redactParents } from "../domain/lineage";
import type { VersionBody } from "./schemas";

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

/** The contract's Version as `principal` sees it: with the aliases that hold it, its downloads, and parents it may not read redacted. */
export function versionBody(record: VersionRecord, aliasNames: string[], downloads: number, principal: Principal): VersionBody {
  const { revision: _revision, ...fields } = record;
  return { ...fields, lineage: redactParents(record.lineage, (m) => mayActOnModel(principal, m)), aliases: aliasNames, downloads };
}

export interface VersionFilters {
  status?: VersionStatus;
  stage?: Stage;
  /** Keyset: versions below this number (the list is newest first). */
  before?: number;
  limit: number;
}

export class VersionStore {
  private readonly db: DrizzleD1Database;
  private readonly aliases: AliasProjection;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
    this.aliases = new AliasProjection(d1);
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
        .select({ version: versionFiles.version, path: versionFiles.path, size: versionFiles.size, sha256: versionFiles.sha256 })
        .from(versionFiles)
        .where(and(eq(versionFiles.model, model), inArray(versionFiles.version, rows.slice(i, i + 90).map((r) => r.version))))
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
  async presentAll(model: string, records: VersionRecord[], principal: Principal): Promise<VersionBody[]> {
    const [held, downloads] = await Promise.all([this.aliasesByVersion(model), this.downloadsOf(model, records.map((r) => r.version))]);
    return records.map((r) => versionBody(r, held.get(r.version) ?? [], downloads.get(r.version) ?? 0, principal));
  }

  async present(record: VersionRecord, principal: Principal): Promise<VersionBody> {
    return (await this.presentAll(record.model, [record], principal))[0]!;
  }
}
