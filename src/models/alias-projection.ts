/**
 * The one reader of D1's `aliases` projection (its writer is each model's ModelState outbox,
 * through src/state/projection.ts): models list their aliases, versions the aliases that
 * hold them, lineage nodes and lookups theirs, and `include=lineage` the alias as set. Only
 * this module queries the table, and only here does a row's `split` column become a value.
 *
 * Lists of models travel as one JSON parameter read with `json_each`: D1 binds at most 100
 * parameters per query, and a page holds up to 200 models. Both queries are index searches
 * on the table's primary key (model, alias): test/alias-projection.test.ts checks their plans.
 */
import type { z } from "zod";
import type { D1Handle } from "../db/session";
import { valueVersions, type Alias, type AliasValue, type SplitEntry } from "../domain/alias";

/** An alias of the projection: its model, its name, and what it points at. */
export interface ProjectedAlias {
  model: string;
  alias: string;
  value: AliasValue;
}

/** model → version → the aliases that hold it (a split holds each of its versions), in alias order. */
export type Holders = Map<string, Map<number, string[]>>;

export const ALIASES_OF_MODELS_SQL =
  "SELECT model, alias, version, split FROM aliases WHERE model IN (SELECT value FROM json_each(?1)) ORDER BY model, alias";
export const ALIAS_RECORD_SQL =
  "SELECT model, alias, version, split, generation, updated_at, updated_by FROM aliases WHERE model = ?1 AND alias = ?2";

/** The projection's columns of a value: a version, or a split as JSON `[{version, weight}]`. */
interface ValueColumns {
  version: number | null;
  split: string | null;
}

type AliasRow = { model: string; alias: string } & ValueColumns;

function valueOf(row: ValueColumns): AliasValue {
  return row.split !== null
    ? { version: null, split: JSON.parse(row.split) as SplitEntry[] }
    : { version: row.version!, split: null };
}

const projected = (row: AliasRow): ProjectedAlias => ({ model: row.model, alias: row.alias, value: valueOf(row) });

export class AliasProjection {
  constructor(private readonly db: D1Handle) {}

  /**
   * The statement reading these models' aliases, for a caller that sends it in a batch with
   * its own reads (one round trip for both); `AliasProjection.read` parses its result.
   */
  ofModelsStatement(models: readonly string[]): D1PreparedStatement {
    return this.db.prepare(ALIASES_OF_MODELS_SQL).bind(JSON.stringify(models));
  }

  /** The aliases in a result of `ofModelsStatement`, by model then alias. */
  static read(result: D1Result<unknown>): ProjectedAlias[] {
    return (result.results as AliasRow[]).map(projected);
  }

  /** These models' aliases, by model then alias: one query (none for no models). */
  async ofModels(models: readonly string[]): Promise<ProjectedAlias[]> {
    if (models.length === 0) return [];
    return AliasProjection.read(await this.ofModelsStatement(models).all());
  }

  /** The alias as set (the contract's Alias), or null for one that is not set (latest, v<n>, a stage fallback). */
  async record(model: string, alias: string): Promise<z.output<typeof Alias> | null> {
    const row = await this.db
      .prepare(ALIAS_RECORD_SQL)
      .bind(model, alias)
      .first<AliasRow & { generation: number; updated_at: string; updated_by: string }>();
    if (!row) return null;
    const { version, split } = valueOf(row);
    return { ...row, version, split };
  }
}

/** Which aliases hold which versions (a split holds each of its versions). */
export function holdersOf(aliases: readonly ProjectedAlias[]): Holders {
  const holders: Holders = new Map();
  for (const { model, alias, value } of aliases) {
    let byVersion = holders.get(model);
    if (!byVersion) holders.set(model, (byVersion = new Map()));
    for (const version of valueVersions(value)) byVersion.set(version, [...(byVersion.get(version) ?? []), alias]);
  }
  return holders;
}
