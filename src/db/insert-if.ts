/**
 * `INSERT INTO t (every column) SELECT <row> WHERE <condition>`: a row written only when a
 * condition holds at that point of a D1 batch. D1 has no interactive transactions, but a
 * batch is one: a change made from what was read earlier is conditional on that state, and
 * the rows that go with it (its audit event) are conditional on the same predicate, so a
 * change that lost a race writes nothing at all.
 */
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";

export function insertIf<T extends SQLiteTable>(
  db: DrizzleD1Database,
  table: T,
  row: T["$inferInsert"],
  condition: SQL,
) {
  // Drizzle lists every column of the table, in definition order, for an INSERT … SELECT.
  const values = Object.entries(getTableColumns(table)).map(([key, column]) => {
    const value = (row as Record<string, unknown>)[key];
    return value === undefined ? sql`NULL` : sql.param(value, column);
  });
  return db
    .insert(table)
    .select(sql`SELECT ${sql.join(values, sql`, `)} WHERE ${condition}`)
    .onConflictDoNothing();
}
