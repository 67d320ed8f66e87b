/**
 * The models table in D1: this module is its only writer. Each write and its audit event go
 * in one `batch()`, so a model never changes without its event, nor the other way round.
 */
import { and, asc, eq, getTableColumns, gt, inArray, or, sql, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { auditInsert, auditInsertIf } from "../audit/store";
import { aliases, models, openUploads, versionFiles, versionParents, versions, type ModelRow } from "../db/schema";
import { auditEvent } from "../domain/audit";
import { toSqliteGlob } from "../domain/glob";
import { MAX_TAGS } from "../domain/limits";
import { ProblemError } from "../http/problem";
import { validationFailed } from "../http/validation";
import type { ModelBody } from "./schemas";

export interface NewModel {
  name: string;
  kind: "model" | "prompt" | "config";
  description: string | null;
  tags: Record<string, string>;
}

export interface ModelFilters {
  prefix?: string;
  kind?: NewModel["kind"];
  tags: { key: string; value: string }[];
  /** The token's `models` globs: only matching models are listed. */
  globs?: readonly string[];
  after?: string;
  limit: number;
}

type ModelWithLatest = ModelRow & { latestVersion: number | null };

/** alias → version for a model; a split shows its heaviest version (the first, on a tie). */
export type AliasMap = Record<string, number>;

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

const withLatest = {
  ...getTableColumns(models),
  latestVersion: sql<number | null>`(SELECT max(${versions.version}) FROM ${versions} WHERE ${versions.model} = ${models.name})`,
};

const exists = (name: string) => sql`EXISTS (SELECT 1 FROM ${models} WHERE ${models.name} = ${name})`;

export class ModelStore {
  private readonly db: DrizzleD1Database;

  constructor(d1: D1Database) {
    this.db = drizzle(d1);
  }

  async create(model: NewModel, actor: string, at: string): Promise<ModelBody> {
    const row: ModelRow = {
      name: model.name,
      kind: model.kind,
      description: model.description,
      tags: JSON.stringify(model.tags),
      createdAt: at,
      updatedAt: at,
      createdBy: actor,
    };
    const event = auditEvent({ at, actor, action: "model.create", model: model.name, to: { kind: model.kind } });
    try {
      await this.db.batch([this.db.insert(models).values(row), auditInsert(this.db, event)]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ProblemError("already_exists", `Model '${model.name}' already exists`);
      throw err;
    }
    return modelBody({ ...row, latestVersion: null }, {});
  }

  async get(name: string): Promise<ModelBody | null> {
    const row = await this.db.select(withLatest).from(models).where(eq(models.name, name)).get();
    return row ? modelBody(row, (await this.aliasMaps([name])).get(name) ?? {}) : null;
  }

  async exists(name: string): Promise<boolean> {
    const row = await this.db.select({ name: models.name }).from(models).where(eq(models.name, name)).get();
    return row !== undefined;
  }

  /** The alias projection of these models. */
  async aliasMaps(names: string[]): Promise<Map<string, AliasMap>> {
    const maps = new Map<string, AliasMap>();
    if (names.length === 0) return maps;
    const rows = await this.db
      .select({ model: aliases.model, alias: aliases.alias, version: aliases.version, split: aliases.split })
      .from(aliases)
      .where(inArray(aliases.model, names))
      .all();
    for (const row of rows) {
      const version =
        row.version ??
        (JSON.parse(row.split!) as { version: number; weight: number }[]).reduce((a, b) => (b.weight > a.weight ? b : a)).version;
      maps.set(row.model, { ...(maps.get(row.model) ?? {}), [row.alias]: version });
    }
    return maps;
  }

  async list(filters: ModelFilters): Promise<ModelWithLatest[]> {
    const where: SQL[] = [];
    if (filters.prefix) where.push(sql`substr(${models.name}, 1, ${filters.prefix.length}) = ${filters.prefix}`);
    if (filters.kind) where.push(eq(models.kind, filters.kind));
    for (const { key, value } of filters.tags) {
      where.push(sql`EXISTS (SELECT 1 FROM json_each(${models.tags}) AS t WHERE t.key = ${key} AND t.value = ${value})`);
    }
    if (filters.globs) {
      if (filters.globs.length === 0) return [];
      where.push(or(...filters.globs.map((g) => sql`${models.name} GLOB ${toSqliteGlob(g)}`))!);
    }
    if (filters.after !== undefined) where.push(gt(models.name, filters.after));
    return this.db
      .select(withLatest)
      .from(models)
      .where(and(...where))
      .orderBy(asc(models.name))
      .limit(filters.limit + 1)
      .all();
  }

  /**
   * Merges tags (`null` deletes a key, SQLite's json_patch) and sets the description. The
   * merge happens in SQL, so the tag cap is a condition of the same statement: a patch that
   * would leave more than MAX_TAGS keys changes nothing and is not audited, whatever ran
   * concurrently. Throws validation_failed then; null when the model does not exist.
   */
  async patch(
    name: string,
    patch: { description?: string | null; tags?: Record<string, string | null> },
    actor: string,
    at: string,
  ): Promise<ModelBody | null> {
    const event = auditEvent({ at, actor, action: "model.update", model: name, detail: { fields: Object.keys(patch) } });
    const merged = patch.tags !== undefined ? sql`json_patch(${models.tags}, ${JSON.stringify(patch.tags)})` : undefined;
    const fits = merged ? sql`(SELECT count(*) FROM json_each(${merged})) <= ${MAX_TAGS}` : sql`1`;
    const set = {
      updatedAt: at,
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(merged ? { tags: merged } : {}),
    };
    const [, updated] = await this.db.batch([
      auditInsertIf(this.db, event, sql`EXISTS (SELECT 1 FROM ${models} WHERE ${models.name} = ${name} AND ${fits})`),
      this.db.update(models).set(set).where(and(eq(models.name, name), fits)).returning({ name: models.name }),
    ]);
    if (updated.length > 0) return this.get(name);
    if (!merged) return null;
    const after = await this.db
      .select({ count: sql<number>`(SELECT count(*) FROM json_each(${merged}))` })
      .from(models)
      .where(eq(models.name, name))
      .get();
    if (!after) return null;
    const message = `at most ${MAX_TAGS} tags after merging; this patch would leave ${after.count}`;
    throw validationFailed(`Invalid request body: tags ${message}`, [{ path: "tags", message }]);
  }

  /**
   * Deletes the model's rows: the projection of its versions (files, parent edges, open
   * uploads) goes with it; blobs it alone referenced are collected later. The caller has
   * already had the model's ModelState forget it. Returns false if it was gone.
   */
  async delete(name: string, actor: string, at: string): Promise<boolean> {
    const event = auditEvent({ at, actor, action: "model.delete", model: name });
    const [, , , , , , deleted] = await this.db.batch([
      auditInsertIf(this.db, event, exists(name)),
      this.db.delete(versionParents).where(eq(versionParents.model, name)),
      this.db.delete(versionFiles).where(eq(versionFiles.model, name)),
      this.db.delete(openUploads).where(eq(openUploads.model, name)),
      this.db.delete(versions).where(eq(versions.model, name)),
      this.db.delete(aliases).where(eq(aliases.model, name)),
      this.db.delete(models).where(eq(models.name, name)).returning({ name: models.name }),
    ]);
    return deleted.length > 0;
  }
}

function isUniqueViolation(err: unknown): boolean {
  const text = `${err instanceof Error ? err.message : ""} ${err instanceof Error && err.cause instanceof Error ? err.cause.message : ""}`;
  return text.includes("UNIQUE constraint failed");
}
