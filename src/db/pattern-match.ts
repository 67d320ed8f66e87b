/**
 * The SQL text of a split pattern's test (src/domain/glob.ts, `splitPattern`): its literal
 * prefix and suffix compared with `substr`, at any length, and only the span between its
 * wildcards through GLOB, which D1 limits to 50 bytes; and the raw text of the visibility
 * rule (./visibility.ts) for SQL that names its parameters by number. A module that imports
 * nothing, so src/lineage/sql.ts (loaded by bench/lineage.mjs in Node) can use it; the
 * drizzle and parameter helpers are in ./pattern-sql.ts.
 */

/**
 * SQL true when `text` matches the split pattern whose prefix, middle and suffix are the SQL
 * expressions `p`, `m` and `s`. `length` and `substr` both count characters.
 */
function splitMatchSql(text: string, p: string, m: string, s: string): string {
  return (
    `(length(${text}) >= length(${p}) + length(${s})` +
    ` AND substr(${text}, 1, length(${p})) = ${p}` +
    ` AND substr(${text}, length(${text}) - length(${s}) + 1) = ${s}` +
    ` AND substr(${text}, length(${p}) + 1, length(${text}) - length(${p}) - length(${s})) GLOB ${m})`
  );
}

/** SQL true when `text` matches the split pattern `pat.value`, a row of `splitParam`'s JSON ([prefix, middle, suffix]). */
export const matchesRowSql = (text: string) =>
  splitMatchSql(text, "pat.value ->> 0", "pat.value ->> 1", "pat.value ->> 2");

/** SQL true when `text` matches any of the split patterns in the JSON parameter `param` (`splitParam`). */
export const matchesAnySql = (text: string, param = "?") =>
  `EXISTS (SELECT 1 FROM json_each(${param}) AS pat WHERE ${matchesRowSql(text)})`;

/**
 * SQL true when `text` is a model the visibility in the parameter `param` sees: that
 * parameter is `Visibility.param` (./visibility.ts), NULL for every model, else the token's
 * globs split for SQL (an empty list: none). For statements that number their parameters
 * (`?6`); others take `Visibility.raw` or `Visibility.sql`.
 */
export const visibleSql = (text: string, param: string) => `(${param} IS NULL OR ${matchesAnySql(text, param)})`;
