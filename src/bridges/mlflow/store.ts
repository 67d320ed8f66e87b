/**
 * The MLflow bridge's reads of D1's projections (written by each model's ModelState outbox,
 * flushed before a write answers): registered models and model versions as MLflow's searches
 * ask for them (filters from src/domain/mlflow-filter.ts turned into SQL, keyset pages in any
 * `order_by`), the latest ready version per stage, and the aliases that hold versions (read
 * through src/models/alias-projection.ts, the projection's one reader).
 *
 * Filters become bound parameters only; lists (IN values, the token's model globs, a page's
 * model names) travel as one JSON parameter read with `json_each`, so no query nears D1's 100.
 */
import { AliasProjection, holdersOf } from "../../models/alias-projection";
import type { D1Handle } from "../../db/session";
import { shownVersion } from "../../domain/alias";
import { matchesAnySql } from "../../db/pattern-match";
import { globsParam, patternRefused, patternSql } from "../../db/pattern-sql";
import { asciiLower, FilterError, splitLike, type Clause, type OrderItem } from "../../domain/mlflow-filter";
import type { Lineage, Stage, VersionHead, VersionStatus } from "../../domain/version";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import { z } from "zod";

/** A version as the MLflow shapes need it (no files). */
export type VersionFacts = Pick<VersionHead, "model" | "version" | "status" | "stage" | "description" | "tags" | "lineage" | "created_at" | "created_by" | "updated_at">;

export interface ModelFacts {
  name: string;
  description: string | null;
  tags: Record<string, string>;
  created_at: string;
  updated_at: string;
}

interface VersionSqlRow {
  model: string;
  version: number;
  status: VersionStatus;
  stage: Stage;
  description: string | null;
  tags: string;
  lineage: string;
  created_at: string;
  created_by: string;
  updated_at: string;
}

interface ModelSqlRow {
  name: string;
  description: string | null;
  tags: string;
  created_at: string;
  updated_at: string;
}

const VERSION_COLUMNS = "model, version, status, stage, description, tags, lineage, created_at, created_by, updated_at";
const MODEL_COLUMNS = "name, description, tags, created_at, updated_at";

const versionFacts = (row: VersionSqlRow): VersionFacts => ({
  ...row,
  tags: JSON.parse(row.tags) as Record<string, string>,
  lineage: JSON.parse(row.lineage) as Lineage,
});

const modelFacts = (row: ModelSqlRow): ModelFacts => ({ ...row, tags: JSON.parse(row.tags) as Record<string, string> });

/** Which column each searchable or sortable MLflow key reads. */
const MODEL_COLUMN: Record<string, string> = { name: "name", creation_timestamp: "created_at", last_updated_timestamp: "updated_at" };
const VERSION_COLUMN: Record<string, string> = {
  name: "model",
  run_id: "run_id",
  version_number: "version",
  creation_timestamp: "created_at",
  last_updated_timestamp: "updated_at",
};

export const MODEL_ORDER_KEYS = ["name", "creation_timestamp", "last_updated_timestamp"] as const;
export const VERSION_ORDER_KEYS = ["name", "version_number", "creation_timestamp", "last_updated_timestamp"] as const;

interface Sql {
  text: string;
  params: unknown[];
}

/** One filter clause as SQL over a table whose tags are a JSON object in `tags`. */
function clauseSql(clause: Clause, columns: Record<string, string>): Sql {
  const value = clause.value;
  const compare = (column: string): Sql => {
    switch (clause.comparator) {
      case "=":
        return { text: `${column} = ?`, params: [value] };
      case "!=":
        return { text: `${column} != ?`, params: [value] };
      case "LIKE":
        return patternSql(column, splitLike(value as string));
      case "ILIKE":
        return patternSql(`lower(${column})`, splitLike(asciiLower(value as string)));
      case "IN":
        return { text: `${column} IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(value)] };
    }
  };
  if (clause.field.kind === "attribute") return compare(columns[clause.field.name]!);
  // A tag clause holds only where the tag is set (MLflow: a missing tag matches nothing, `!=` included).
  const inner = compare("t.value");
  return { text: `EXISTS (SELECT 1 FROM json_each(tags) AS t WHERE t.key = ? AND ${inner.text})`, params: [clause.field.key, ...inner.params] };
}

/** The token's `models` globs as a condition on `column`; null when it has none (every model). */
function globSql(column: string, globs: readonly string[] | undefined): Sql | null {
  if (globs === undefined) return null;
  return { text: matchesAnySql(column), params: [globsParam(globs)] };
}

/** A sort column with its direction, and how to read its value off a row for the next page's token. */
interface SortKey {
  column: string;
  ascending: boolean;
}

/** The rows after `values` in this order: (a > x) OR (a = x AND ((b > y) OR (b = y AND …))). */
function afterSql(keys: SortKey[], values: unknown[]): Sql {
  const build = (i: number): Sql => {
    const { column, ascending } = keys[i]!;
    const beyond = `${column} ${ascending ? ">" : "<"} ?`;
    if (i === keys.length - 1) return { text: beyond, params: [values[i]] };
    const rest = build(i + 1);
    return { text: `(${beyond} OR (${column} = ? AND ${rest.text}))`, params: [values[i], values[i], ...rest.params] };
  };
  return build(0);
}

/** The sort keys of an `order_by`, completed by the tiebreakers that make every row's position unique. */
function sortKeys(order: OrderItem[], tiebreakers: OrderItem[], columns: Record<string, string>): SortKey[] {
  const seen = new Set<string>();
  const keys: SortKey[] = [];
  for (const item of [...order, ...tiebreakers]) {
    if (seen.has(item.key)) continue;
    seen.add(item.key);
    keys.push({ column: columns[item.key]!, ascending: item.ascending });
  }
  return keys;
}

const PageToken = z.object({ o: z.string(), k: z.string() });
const TokenValues = z.array(z.union([z.string(), z.number()]));

/** A page token names the order it was made for, and the last row's sort values. */
function readToken(token: string | undefined, signature: string): unknown[] | null {
  if (token === undefined || token === "") return null;
  const decoded = decodeCursor(token, PageToken);
  if (decoded.o !== signature) throw new TokenMismatch();
  let values: unknown;
  try {
    values = JSON.parse(decoded.k);
  } catch {
    throw new TokenMismatch();
  }
  const parsed = TokenValues.safeParse(values);
  if (!parsed.success) throw new TokenMismatch();
  return parsed.data;
}

/** A page token made for another search order. */
export class TokenMismatch extends Error {
  constructor() {
    super("This page_token was issued for another search (order_by); start again without it");
  }
}

export interface SearchQuery {
  clauses: Clause[];
  order: OrderItem[];
  pageToken?: string;
  limit: number;
  globs?: readonly string[];
}

async function search<Row extends Record<string, unknown>>(
  db: D1Handle,
  table: { name: string; select: string; columns: Record<string, string>; modelColumn: string; tiebreakers: OrderItem[] },
  query: SearchQuery,
): Promise<{ rows: Row[]; next: string | null }> {
  const keys = sortKeys(query.order, table.tiebreakers, table.columns);
  const signature = keys.map((k) => `${k.column}:${k.ascending ? "a" : "d"}`).join(",");
  const after = readToken(query.pageToken, signature);
  const where: Sql[] = query.clauses.map((c) => clauseSql(c, table.columns));
  const globs = globSql(table.modelColumn, query.globs);
  if (globs) where.push(globs);
  if (after) {
    if (after.length !== keys.length) throw new TokenMismatch();
    where.push(afterSql(keys, after));
  }
  const text = [
    `SELECT ${table.select} FROM ${table.name}`,
    where.length ? `WHERE ${where.map((w) => `(${w.text})`).join(" AND ")}` : "",
    `ORDER BY ${keys.map((k) => `${k.column} ${k.ascending ? "ASC" : "DESC"}`).join(", ")}`,
    "LIMIT ?",
  ].join(" ");
  const params = [...where.flatMap((w) => w.params), query.limit + 1];
  const { results } = await db
    .prepare(text)
    .bind(...params)
    .all<Row>()
    .catch((err: unknown) => {
      // Parsing bounds every pattern to what D1 runs (src/domain/mlflow-filter.ts); should D1
      // still refuse one, the filter is at fault, never the store: 400, not 500.
      if (patternRefused(err)) throw new FilterError("The filter is too complex for the store: shorten the span between the wildcards of its LIKE patterns");
      throw err;
    });
  const more = results.length > query.limit;
  const rows = more ? results.slice(0, query.limit) : results;
  const last = rows[rows.length - 1];
  const next = more && last ? encodeCursor({ o: signature, k: JSON.stringify(keys.map((k) => last[k.column])) }) : null;
  return { rows, next };
}

export class MlflowStore {
  private readonly aliases: AliasProjection;

  constructor(private readonly db: D1Handle) {
    this.aliases = new AliasProjection(db);
  }

  async model(name: string): Promise<ModelFacts | null> {
    const row = await this.db.prepare(`SELECT ${MODEL_COLUMNS} FROM models WHERE name = ?`).bind(name).first<ModelSqlRow>();
    return row ? modelFacts(row) : null;
  }

  async version(model: string, version: number): Promise<VersionFacts | null> {
    const row = await this.db.prepare(`SELECT ${VERSION_COLUMNS} FROM versions WHERE model = ? AND version = ?`).bind(model, version).first<VersionSqlRow>();
    return row ? versionFacts(row) : null;
  }

  async searchModels(query: SearchQuery): Promise<{ models: ModelFacts[]; next: string | null }> {
    const table = { name: "models", select: MODEL_COLUMNS, columns: MODEL_COLUMN, modelColumn: "name", tiebreakers: [{ key: "name", ascending: true }] };
    const { rows, next } = await search<ModelSqlRow & Record<string, unknown>>(this.db, table, query);
    return { models: rows.map(modelFacts), next };
  }

  async searchVersions(query: SearchQuery): Promise<{ versions: VersionFacts[]; next: string | null }> {
    const table = {
      name: "versions",
      select: VERSION_COLUMNS,
      columns: VERSION_COLUMN,
      modelColumn: "model",
      // MLflow's own tiebreak: name ascending, then version descending.
      tiebreakers: [
        { key: "name", ascending: true },
        { key: "version_number", ascending: false },
      ],
    };
    const { rows, next } = await search<VersionSqlRow & Record<string, unknown>>(this.db, table, query);
    return { versions: rows.map(versionFacts), next };
  }

  /** The newest ready version in each stage of each of these models (MLflow's `latest_versions`), by model then version. */
  async latestPerStage(models: readonly string[]): Promise<VersionFacts[]> {
    if (models.length === 0) return [];
    const { results } = await this.db
      .prepare(
        `SELECT ${VERSION_COLUMNS} FROM versions AS v WHERE v.model IN (SELECT value FROM json_each(?1)) AND v.status = 'ready'
         AND v.version = (SELECT max(w.version) FROM versions AS w WHERE w.model = v.model AND w.stage = v.stage AND w.status = 'ready')
         ORDER BY v.model, v.version`,
      )
      .bind(JSON.stringify(models))
      .all<VersionSqlRow>();
    return results.map(versionFacts);
  }

  /** For these models: each one's aliases (alias → the version it shows) and which aliases hold each version. */
  async aliasesOf(models: readonly string[]): Promise<{ byModel: Map<string, { alias: string; version: number }[]>; holders: ReturnType<typeof holdersOf> }> {
    const projected = await this.aliases.ofModels([...new Set(models)]);
    const byModel = new Map<string, { alias: string; version: number }[]>();
    for (const { model, alias, value } of projected) byModel.set(model, [...(byModel.get(model) ?? []), { alias, version: shownVersion(value) }]);
    return { byModel, holders: holdersOf(projected) };
  }
}
