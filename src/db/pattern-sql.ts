/**
 * Pattern matching in D1 SQL past its 50-byte LIKE/GLOB limit (`D1_MAX_PATTERN_BYTES`,
 * src/domain/glob.ts): a pattern split by `splitPattern` is tested as its literal prefix and
 * suffix (substr, any length) and only the span between its wildcards through GLOB. Used for
 * tokens' `models` globs and the MLflow bridge's LIKE filters, whatever their length.
 */
import { getTableName, sql, type AnyColumn, type SQL, type SQLWrapper } from "drizzle-orm";
import { fitsD1, globPattern, splitGlob, type SplitPattern } from "../domain/glob";
import { matchesAnySql, matchesRowSql } from "./pattern-match";

/** Whether D1 refused a statement for a LIKE or GLOB pattern past its limit. */
export const patternRefused = (err: unknown) =>
  err instanceof Error && err.message.includes("LIKE or GLOB pattern too complex");

/** Split patterns as the one JSON parameter `matchesAnySql` reads, whatever their number (D1 binds at most 100). */
export const splitParam = (patterns: readonly SplitPattern[]) =>
  JSON.stringify(patterns.map((p) => [p.prefix, p.middle, p.suffix]));

/** Globs (of a token's claims) as that parameter. */
export const globsParam = (globs: readonly string[]) => splitParam(globs.map(splitGlob));

/** The same in drizzle: the SQL expression `text` matches one of `globs`. */
export const matchesAnyGlob = (text: string, globs: readonly string[]): SQL =>
  sql`EXISTS (SELECT 1 FROM json_each(${globsParam(globs)}) AS pat WHERE ${sql.raw(matchesRowSql(text))})`;

/**
 * SQL true when `text` matches `split`, with its parameters: a plain GLOB when the whole
 * pattern fits D1's limit (SQLite then reads a literal prefix as an index range), else the
 * split test.
 */
export function patternSql(text: string, split: SplitPattern): { text: string; params: string[] } {
  const whole = globPattern(split);
  return fitsD1(whole)
    ? { text: `${text} GLOB ?`, params: [whole] }
    : { text: matchesAnySql(text), params: [splitParam([split])] };
}

/** The same in drizzle, for a column and a glob of a token's claims. */
export function globCondition(column: AnyColumn, glob: string): SQL {
  const whole = globPattern(splitGlob(glob));
  if (fitsD1(whole)) return sql`${column} GLOB ${whole}`;
  return matchesAnyGlob(`"${getTableName(column.table)}"."${column.name}"`, [glob]);
}

/**
 * Rows whose claim `claimed` (a JSON array of globs, or NULL for every name) lies within
 * `held` glob by glob (`globWithin`, src/domain/glob.ts, in SQL: a claimed glob lies within a
 * held one when it matches it as a name, the held glob made a GLOB pattern); undefined (no
 * condition) when `held` is undefined, which reaches everything. A NULL claim reaches
 * everything too, so only such a holder covers it. The held globs travel as one JSON
 * value, whatever their number (D1 binds at most 100 parameters).
 */
export function globsWithinSql(claimed: SQLWrapper, held: readonly string[] | undefined): SQL | undefined {
  if (held === undefined) return undefined;
  return sql`(${claimed} IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM json_each(${claimed}) AS claimed WHERE NOT ${matchesAnyGlob("claimed.value", held)}))`;
}
