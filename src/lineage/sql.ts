/**
 * The lineage queries, as plain SQL text in a module that imports only SQL text (the glob
 * and visibility tests, ../db/pattern-match.ts), so that `bench/lineage.mjs` (Node) can load it and show with `EXPLAIN QUERY PLAN` that each query
 * is answered from its index, as test/lineage.test.ts does in workerd.
 *
 * Lists of keys travel as one JSON parameter read with `json_each`: D1 binds at most 100
 * parameters per query, and a graph or a page can hold more keys than that.
 */

/**
 * The whole walk in one statement: the edges `?3` steps up (parents) and down (children)
 * from version (?1, ?2), each recursive step an index search. `d` is the step an edge was
 * found at. UNION drops repeated rows, and `d < ?3` bounds the recursion, so it ends on any
 * data, a cycle included; `?4` caps the rows of each direction.
 */
export const WALK_SQL = `WITH RECURSIVE
  up(model, version, parent_model, parent_version, d) AS (
    SELECT model, version, parent_model, parent_version, 1 FROM version_parents WHERE model = ?1 AND version = ?2
    UNION
    SELECT p.model, p.version, p.parent_model, p.parent_version, up.d + 1
      FROM up JOIN version_parents p ON p.model = up.parent_model AND p.version = up.parent_version
      WHERE up.d < ?3
    LIMIT ?4),
  down(model, version, parent_model, parent_version, d) AS (
    SELECT model, version, parent_model, parent_version, 1 FROM version_parents WHERE parent_model = ?1 AND parent_version = ?2
    UNION
    SELECT p.model, p.version, p.parent_model, p.parent_version, down.d + 1
      FROM down JOIN version_parents p ON p.parent_model = down.model AND p.parent_version = down.version
      WHERE down.d < ?3
    LIMIT ?4)
  SELECT -1 AS direction, * FROM up UNION ALL SELECT 1 AS direction, * FROM down`;

export const FACTS_SQL = `SELECT v.model, v.version, v.status, v.stage, v.created_at, v.created_by, v.digest, v.run_id, v.git_sha,
    v.lineage ->> '$.run_url' AS run_url, v.lineage ->> '$.git_repo' AS git_repo,
    v.lineage ->> '$.datasets' AS datasets, v.lineage ->> '$.params' AS params, v.metrics
  FROM json_each(?1) j JOIN versions v ON v.model = j.value ->> 0 AND v.version = j.value ->> 1`;

// (With its extension: Node loads this file for bench/lineage.mjs, and resolves no other way.)
import { visibleSql } from "../db/pattern-match.ts";

/** Models the token sees: `?6` is the request's `Visibility.param` (src/db/visibility.ts). */
const READABLE = (column: string) => visibleSql(column, "?6");

/**
 * Reverse lookups, newest first, keyset-paged on (created_at, model, version) below (?2, ?3, ?4).
 * Each filter has an index whose columns are the filter, then exactly that order.
 */
export const LOOKUP_SQL = {
  git_sha: `SELECT v.model, v.version, v.status, v.stage, v.created_at FROM versions v
    WHERE v.git_sha = ?1 AND (v.created_at, v.model, v.version) < (?2, ?3, ?4) AND ${READABLE("v.model")}
    ORDER BY v.created_at DESC, v.model DESC, v.version DESC LIMIT ?5`,
  run_id: `SELECT v.model, v.version, v.status, v.stage, v.created_at FROM versions v
    WHERE v.run_id = ?1 AND (v.created_at, v.model, v.version) < (?2, ?3, ?4) AND ${READABLE("v.model")}
    ORDER BY v.created_at DESC, v.model DESC, v.version DESC LIMIT ?5`,
  // A version naming one dataset under several snapshots appears once: its rows are adjacent
  // in the index, so grouping them costs no sort.
  dataset: `SELECT d.model, d.version, v.status, v.stage, d.created_at FROM version_datasets d
    JOIN versions v ON v.model = d.model AND v.version = d.version
    WHERE d.uri = ?1 AND (d.created_at, d.model, d.version) < (?2, ?3, ?4) AND ${READABLE("d.model")}
    GROUP BY d.created_at, d.model, d.version
    ORDER BY d.created_at DESC, d.model DESC, d.version DESC LIMIT ?5`,
  dataset_snapshot: `SELECT d.model, d.version, v.status, v.stage, d.created_at FROM version_datasets d
    JOIN versions v ON v.model = d.model AND v.version = d.version
    WHERE d.uri = ?1 AND d.snapshot = ?7 AND (d.created_at, d.model, d.version) < (?2, ?3, ?4) AND ${READABLE("d.model")}
    ORDER BY d.created_at DESC, d.model DESC, d.version DESC LIMIT ?5`,
} as const;
