/**
 * Searches of the models and versions projections, as their stores run them (./model-store.ts,
 * ./version-store.ts): conditions (the clauses src/domain/mlflow-filter.ts parses, on the
 * store's own field names) turned into SQL, keyset pages in any order, and what the token may
 * see as one separate condition. The MLflow bridge's searches are these.
 *
 * Values become bound parameters only; lists (IN values, the token's model globs) travel as one
 * JSON parameter read with `json_each`, so no query nears D1's 100. Field names reach the SQL
 * text only after they are checked against the table's own list.
 */
import { z } from "zod";
import type { D1Handle } from "../db/session";
import { patternRefused, patternSql } from "../db/pattern-sql";
import type { Visibility } from "../db/visibility";
import { asciiLower, FilterError, splitLike, type Clause, type OrderItem } from "../domain/mlflow-filter";
import { decodeCursor, encodeCursor } from "../http/cursor";

/** A search of a table whose fields are `F` (its column names). */
export interface Search<F extends string> {
  clauses: Clause<F>[];
  order: OrderItem<F>[];
  pageToken?: string;
  limit: number;
  /** Which models the token sees: only their rows are found. */
  visibility: Visibility;
}

/** A table as a search reads it. */
export interface SearchTable<F extends string> {
  name: string;
  /** The select list. */
  select: string;
  /** The fields a clause or an order may name: columns of the table. */
  fields: readonly F[];
  /** The column holding the model's name, which the token's globs test. */
  modelColumn: F;
  /** Appended to every order (unless named there already), so that each row's position is unique. */
  tiebreakers: OrderItem<F>[];
}

/** A page token made for another search order. */
export class TokenMismatch extends Error {
  constructor() {
    super("This page_token was issued for another search (order_by); start again without it");
  }
}

interface Sql {
  text: string;
  params: unknown[];
}

/** One clause as SQL over a table whose tags are a JSON object in `tags`. */
function clauseSql<F extends string>(clause: Clause<F>, table: SearchTable<F>): Sql {
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
  if (clause.field.kind === "attribute") return compare(columnOf(table, clause.field.name));
  // A tag clause holds only where the tag is set (MLflow: a missing tag matches nothing, `!=` included).
  const inner = compare("t.value");
  return {
    text: `EXISTS (SELECT 1 FROM json_each(tags) AS t WHERE t.key = ? AND ${inner.text})`,
    params: [clause.field.key, ...inner.params],
  };
}

function columnOf<F extends string>(table: SearchTable<F>, field: F): string {
  if (!table.fields.includes(field)) throw new Error(`${table.name} has no searchable field '${field}'`);
  return field;
}

/** A sort column with its direction. */
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

/** The sort keys of an order, completed by the tiebreakers that make every row's position unique. */
function sortKeys<F extends string>(order: OrderItem<F>[], table: SearchTable<F>): SortKey[] {
  const seen = new Set<string>();
  const keys: SortKey[] = [];
  for (const item of [...order, ...table.tiebreakers]) {
    if (seen.has(item.key)) continue;
    seen.add(item.key);
    keys.push({ column: columnOf(table, item.key), ascending: item.ascending });
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

/**
 * A page of `table`'s rows (as SQLite returns them: columns by name) matching `query`, and the
 * next page's token. Throws TokenMismatch for a token of another order, and FilterError should
 * D1 refuse a pattern (the filter is at fault, never the store: the caller's 400, not a 500).
 */
export async function searchTable<F extends string, Row extends Record<string, unknown>>(
  db: D1Handle,
  table: SearchTable<F>,
  query: Search<F>,
): Promise<{ rows: Row[]; next: string | null }> {
  const keys = sortKeys(query.order, table);
  const signature = keys.map((k) => `${k.column}:${k.ascending ? "a" : "d"}`).join(",");
  const after = readToken(query.pageToken, signature);
  const where: Sql[] = query.clauses.map((c) => clauseSql(c, table));
  // Kept apart from the search's own clauses: what the token may see, not what was asked.
  where.push(query.visibility.raw(table.modelColumn));
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
      // still refuse one, the filter is at fault.
      if (patternRefused(err))
        throw new FilterError(
          "The filter is too complex for the store: shorten the span between the wildcards of its LIKE patterns",
        );
      throw err;
    });
  const more = results.length > query.limit;
  const rows = more ? results.slice(0, query.limit) : results;
  const last = rows[rows.length - 1];
  const next = more && last ? encodeCursor({ o: signature, k: JSON.stringify(keys.map((k) => last[k.column])) }) : null;
  return { rows, next };
}
