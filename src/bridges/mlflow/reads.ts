/**
 * The MLflow bridge's reads, all through their owners: registered models and model versions
 * from the model and version stores (src/models/, over D1's projections, which each model's
 * ModelState outbox writes), their aliases from the aliases projection's one reader
 * (src/models/alias-projection.ts). What is MLflow's here is only its spelling: its search
 * keys renamed to the stores' fields, and what it shows beside a model or a version (the latest
 * ready version per stage, the aliases).
 */
import { AliasProjection, holdersOf } from "../../models/alias-projection";
import type { D1Handle } from "../../db/session";
import type { Visibility } from "../../db/visibility";
import { shownVersion } from "../../domain/alias";
import {
  FilterError,
  MODEL_FILTER,
  parseFilter,
  parseOrderBy,
  VERSION_FILTER,
  type Clause,
  type FilterSpec,
  type OrderItem,
} from "../../domain/mlflow-filter";
import type { ModelSearchField } from "../../models/model-store";
import { TokenMismatch, type Search } from "../../models/search";
import { VersionStore, type VersionSearchField } from "../../models/version-store";
import { invalid } from "./errors";
import {
  modelVersionJson,
  registeredModelJson,
  type MlflowModelVersion,
  type ModelFacts,
  type VersionFacts,
} from "./shapes";

/** One of MLflow's searches: what its filter and `order_by` take, and which store field each of its keys names. */
interface Dialect<F extends string> {
  spec: FilterSpec;
  orderKeys: readonly string[];
  /** Other spellings of order keys. */
  keyAliases?: Record<string, string>;
  fields: Record<string, F>;
}

/** `registered-models/search`. */
export const MODEL_SEARCH: Dialect<ModelSearchField> = {
  spec: MODEL_FILTER,
  orderKeys: ["name", "creation_timestamp", "last_updated_timestamp"],
  keyAliases: { timestamp: "creation_timestamp" },
  fields: { name: "name", creation_timestamp: "created_at", last_updated_timestamp: "updated_at" },
};

/** `model-versions/search`. */
export const VERSION_SEARCH: Dialect<VersionSearchField> = {
  spec: VERSION_FILTER,
  orderKeys: ["name", "version_number", "creation_timestamp", "last_updated_timestamp"],
  fields: {
    name: "model",
    run_id: "run_id",
    version_number: "version",
    creation_timestamp: "created_at",
    last_updated_timestamp: "updated_at",
  },
};

/** A search's terms as MLflow spells them. */
export interface SearchTerms {
  filter: string | undefined;
  orderBy: string[] | undefined;
  pageToken: string | undefined;
  limit: number;
  /** Which models the token sees. */
  visibility: Visibility;
}

/** What one of MLflow's searches asks of the store that runs it; a filter or `order_by` that does not parse is INVALID_PARAMETER_VALUE. */
export function storeSearch<F extends string>(terms: SearchTerms, dialect: Dialect<F>): Search<F> {
  let clauses: Clause[];
  let order: OrderItem[];
  try {
    clauses = parseFilter(terms.filter, dialect.spec);
    order = parseOrderBy(terms.orderBy ?? [], dialect.orderKeys, dialect.keyAliases);
  } catch (err) {
    if (err instanceof FilterError) throw invalid(`Invalid filter or order_by: ${err.message}`);
    throw err;
  }
  const field = (name: string) => dialect.fields[name]!;
  return {
    clauses: clauses.map((c) => ({
      ...c,
      field: c.field.kind === "attribute" ? { kind: "attribute", name: field(c.field.name) } : c.field,
    })),
    order: order.map((o) => ({ key: field(o.key), ascending: o.ascending })),
    pageToken: terms.pageToken,
    limit: terms.limit,
    visibility: terms.visibility,
  };
}

/** A search's run: a page token of another search, or a filter the store refused, is the caller's error. */
export async function searched<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof TokenMismatch) throw invalid(err.message);
    if (err instanceof FilterError) throw invalid(`Invalid filter: ${err.message}`);
    throw err;
  }
}

/** For these models: each one's aliases (alias → the version it shows) and which aliases hold each version. One query. */
async function aliasesOf(db: D1Handle, models: readonly string[]) {
  const projected = await new AliasProjection(db).ofModels([...new Set(models)]);
  const byModel = new Map<string, { alias: string; version: number }[]>();
  for (const { model, alias, value } of projected)
    byModel.set(model, [...(byModel.get(model) ?? []), { alias, version: shownVersion(value) }]);
  return { byModel, holders: holdersOf(projected) };
}

/** Versions in MLflow's shape, with the aliases that hold each. */
export async function presentVersions(db: D1Handle, versions: readonly VersionFacts[]): Promise<MlflowModelVersion[]> {
  const { holders } = await aliasesOf(
    db,
    versions.map((v) => v.model),
  );
  return versions.map((v) => modelVersionJson(v, holders.get(v.model)?.get(v.version) ?? []));
}

/** Registered models in MLflow's shape: their latest ready version per stage and their aliases, in two queries for the page. */
export async function presentModels(db: D1Handle, models: readonly ModelFacts[]) {
  const names = models.map((m) => m.name);
  const [latest, { byModel, holders }] = await Promise.all([
    new VersionStore(db).latestPerStage(names),
    aliasesOf(db, names),
  ]);
  return models.map((m) =>
    registeredModelJson(
      m,
      latest
        .filter((v) => v.model === m.name)
        .map((v) => modelVersionJson(v, holders.get(v.model)?.get(v.version) ?? [])),
      byModel.get(m.name) ?? [],
    ),
  );
}
