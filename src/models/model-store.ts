/**
 * Reads of the models projection in D1 (its writer is each model's ModelState outbox,
 * through src/state/projection.ts); their aliases come from src/models/alias-projection.ts.
 * Searches with clauses, an order and page tokens (the MLflow bridge's) run in ./search.ts.
 */
import { and, asc, eq, getTableColumns, gt, sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { AliasProjection } from "./alias-projection";
import { orm, type D1Handle } from "../db/session";
import { models, versions, type ModelRow } from "../db/schema";
import { shownVersion } from "../domain/alias";
import type { Visibility } from "../db/visibility";
import type { ModelKind, ModelRecord } from "../domain/model";
import type { ModelBody } from "./schemas";
import { searchTable, type Search, type SearchTable } from "./search";

export interface ModelFilters {
  prefix?: string;
  /** Names containing this text (a search box's query). */
  contains?: string;
  kind?: ModelKind;
  tags: { key: string; value: string }[];
  /** Which models the token sees: only those are listed. */
  visibility: Visibility;
  after?: string;
  limit: number;
}

type ModelWithLatest = ModelRow & { latestVersion: number | null };

/** alias → version for a model; a split shows its heaviest version (the first, on a tie). */
export type AliasMap = Record<string, number>;

/** A model just created (or known only from its ModelState): no versions, no aliases. */
export function newModelBody(record: ModelRecord): ModelBody {
  return { ...record, latest_version: null, aliases: {} };
}

export function modelBody(row: ModelWithLatest, aliasMap: AliasMap): ModelBody {
  return {
    name: row.name,
    kind: row.kind,
    description: row.description,
    tags: JSON.parse(row.tags) as Record<string, string>,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    created_by: row.createdBy,
    latest_version: row.latestVersion,
    aliases: aliasMap,
  };
}

/** The fields a model search may test or order by: columns of `models`. */
export type ModelSearchField = "name" | "created_at" | "updated_at";

const MODEL_TABLE: SearchTable<ModelSearchField> = {
  name: "models",
  select: "name, kind, description, tags, created_at, created_by, updated_at",
  fields: ["name", "created_at", "updated_at"],
  modelColumn: "name",
  tiebreakers: [{ key: "name", ascending: true }],
};

/** A row of MODEL_TABLE's select list: a ModelRecord with its tags still JSON. */
type ModelSqlRow = Omit<ModelRecord, "tags"> & { tags: string };

const recordOf = (row: ModelSqlRow): ModelRecord => ({ ...row, tags: JSON.parse(row.tags) as Record<string, string> });

const withLatest = {
  ...getTableColumns(models),
  latestVersion: sql<
    number | null
  >`(SELECT max(${versions.version}) FROM ${versions} WHERE ${versions.model} = ${models.name})`,
};

export class ModelStore {
  private readonly db: DrizzleD1Database;
  private readonly aliases: AliasProjection;

  constructor(private readonly d1: D1Handle) {
    this.db = orm(d1);
    this.aliases = new AliasProjection(d1);
  }

  async get(name: string): Promise<ModelBody | null> {
    const row = await this.db.select(withLatest).from(models).where(eq(models.name, name)).get();
    return row ? modelBody(row, (await this.aliasMaps([name])).get(name) ?? {}) : null;
  }

  /** The model's record as projected (no versions, no aliases): one primary-key read. */
  async record(name: string): Promise<ModelRecord | null> {
    const row = await this.d1
      .prepare(`SELECT ${MODEL_TABLE.select} FROM models WHERE name = ?`)
      .bind(name)
      .first<ModelSqlRow>();
    return row ? recordOf(row) : null;
  }

  /** A page of the models matching `query`, in its order, and the next page's token. */
  async search(query: Search<ModelSearchField>): Promise<{ models: ModelRecord[]; next: string | null }> {
    const { rows, next } = await searchTable<ModelSearchField, ModelSqlRow & Record<string, unknown>>(
      this.d1,
      MODEL_TABLE,
      query,
    );
    return { models: rows.map(recordOf), next };
  }

  async exists(name: string): Promise<boolean> {
    const row = await this.db.select({ name: models.name }).from(models).where(eq(models.name, name)).get();
    return row !== undefined;
  }

  /** The alias projection of these models: one query. */
  async aliasMaps(names: string[]): Promise<Map<string, AliasMap>> {
    const maps = new Map<string, AliasMap>();
    for (const { model, alias, value } of await this.aliases.ofModels(names)) {
      maps.set(model, { ...(maps.get(model) ?? {}), [alias]: shownVersion(value) });
    }
    return maps;
  }

  async list(filters: ModelFilters): Promise<ModelWithLatest[]> {
    const where: SQL[] = [];
    if (filters.prefix) where.push(sql`substr(${models.name}, 1, ${filters.prefix.length}) = ${filters.prefix}`);
    if (filters.contains) where.push(sql`instr(${models.name}, ${filters.contains}) > 0`);
    if (filters.kind) where.push(eq(models.kind, filters.kind));
    for (const { key, value } of filters.tags) {
      where.push(
        sql`EXISTS (SELECT 1 FROM json_each(${models.tags}) AS t WHERE t.key = ${key} AND t.value = ${value})`,
      );
    }
    where.push(filters.visibility.sql(models.name));
    if (filters.after !== undefined) where.push(gt(models.name, filters.after));
    return this.db
      .select(withLatest)
      .from(models)
      .where(and(...where))
      .orderBy(asc(models.name))
      .limit(filters.limit + 1)
      .all();
  }
}
