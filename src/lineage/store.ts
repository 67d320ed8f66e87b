/**
 * Lineage reads over D1 (written by the outbox flush, src/state/projection.ts): the walk of
 * the parent graph, and the reverse lookups by dataset, commit and run. The aliases holding
 * each node come from the alias projection's reader (src/models/alias-projection.ts).
 *
 * The SQL lives in ./sql.ts, where the tests and `bench/lineage` read it too.
 */
import { AliasProjection, holdersOf } from "../models/alias-projection";
import type { D1Handle } from "../db/session";
import type { Visibility } from "../db/visibility";
import { FACTS_SQL, LOOKUP_SQL, WALK_SQL } from "./sql";
import { nodeKey, type NodeFacts, type NodeRef, type WalkedEdge, type WalkedNode } from "../domain/lineage";
import type { DatasetRef } from "../domain/version";

/** The most nodes one walk collects: past it the graph is marked `truncated`. */
export const MAX_NODES = 500;

export type LookupFilter =
  | { by: "git_sha"; value: string }
  | { by: "run_id"; value: string }
  | { by: "dataset"; value: string; snapshot?: string };

export interface LookupCursor {
  at: string;
  m: string;
  v: number;
}

export interface LookupRow {
  model: string;
  version: number;
  status: string;
  stage: string;
  created_at: string;
}

/** Above every timestamp the registry writes: the first page's keyset bound. */
const FIRST_PAGE: LookupCursor = { at: "~", m: "", v: 0 };

/** The SQL and parameters of one reverse lookup (for the read, and for EXPLAIN). */
export function lookupQuery(
  filter: LookupFilter,
  visibility: Visibility,
  after: LookupCursor | undefined,
  limit: number,
) {
  const sqlText =
    filter.by === "dataset"
      ? filter.snapshot === undefined
        ? LOOKUP_SQL.dataset
        : LOOKUP_SQL.dataset_snapshot
      : LOOKUP_SQL[filter.by];
  const bound = after ?? FIRST_PAGE;
  const value = filter.by === "git_sha" ? filter.value.toLowerCase() : filter.value;
  const params: unknown[] = [value, bound.at, bound.m, bound.v, limit, visibility.param];
  if (filter.by === "dataset" && filter.snapshot !== undefined) params.push(filter.snapshot);
  return { sql: sqlText, params };
}

export class LineageStore {
  constructor(private readonly db: D1Handle) {}

  /** `limit + 1` rows of a reverse lookup among the models the token sees, so the caller can tell whether there is more. */
  async lookup(
    filter: LookupFilter,
    visibility: Visibility,
    after: LookupCursor | undefined,
    limit: number,
  ): Promise<LookupRow[]> {
    const q = lookupQuery(filter, visibility, after, limit + 1);
    const { results } = await this.db
      .prepare(q.sql)
      .bind(...q.params)
      .all<LookupRow>();
    return results;
  }

  /**
   * Walks `depth` steps up and down from `root` in one query (WALK_SQL), then reads the
   * nodes' facts and aliases in one batch: two round trips whatever the depth. Null when the
   * root is not in D1. Keeps the MAX_NODES nearest nodes.
   */
  async walk(
    root: NodeRef,
    depth: number,
  ): Promise<{ root: NodeRef; depth: number; nodes: WalkedNode[]; edges: WalkedEdge[]; truncated: boolean } | null> {
    const rowCap = MAX_NODES * 4;
    const { results } = await this.db.prepare(WALK_SQL).bind(root.model, root.version, depth, rowCap).all<{
      direction: -1 | 1;
      model: string;
      version: number;
      parent_model: string;
      parent_version: number;
      d: number;
    }>();
    let truncated = [-1, 1].some((dir) => results.filter((r) => r.direction === dir).length >= rowCap);
    // Each node at its shortest distance from the root (the root stays 0, even on a cycle).
    const distance = new Map<string, { ref: NodeRef; distance: number }>([[nodeKey(root), { ref: root, distance: 0 }]]);
    const place = (ref: NodeRef, d: number) => {
      const known = distance.get(nodeKey(ref));
      if (!known || Math.abs(d) < Math.abs(known.distance)) distance.set(nodeKey(ref), { ref, distance: d });
    };
    const edges = new Map<string, WalkedEdge>();
    for (const r of results) {
      const child = { model: r.model, version: r.version };
      const parent = { model: r.parent_model, version: r.parent_version };
      if (r.direction < 0) place(parent, -r.d);
      else place(child, r.d);
      edges.set(`${nodeKey(parent)}>${nodeKey(child)}`, { from: parent, to: child });
    }
    let kept = [...distance.values()];
    if (kept.length > MAX_NODES) {
      truncated = true;
      kept = kept.sort((a, b) => Math.abs(a.distance) - Math.abs(b.distance)).slice(0, MAX_NODES);
    }
    const keys = new Set(kept.map((n) => nodeKey(n.ref)));
    const facts = await this.facts(kept.map((n) => n.ref));
    if (!facts.has(nodeKey(root))) return null;
    return {
      root,
      depth,
      nodes: kept.map(({ ref, distance: d }) => ({ facts: facts.get(nodeKey(ref)) ?? deleted(ref), distance: d })),
      edges: [...edges.values()].filter((e) => keys.has(nodeKey(e.from)) && keys.has(nodeKey(e.to))),
      truncated,
    };
  }

  /** What D1 holds of these versions, with the aliases that hold each: one batch. */
  private async facts(refs: NodeRef[]): Promise<Map<string, NodeFacts>> {
    type FactRow = Omit<NodeFacts, "aliases" | "datasets" | "params" | "metrics"> & {
      datasets: string | null;
      params: string | null;
      metrics: string;
    };
    const [rows, aliasRows] = await this.db.batch<unknown>([
      this.db.prepare(FACTS_SQL).bind(JSON.stringify(refs.map((n) => [n.model, n.version]))),
      new AliasProjection(this.db).ofModelsStatement([...new Set(refs.map((r) => r.model))]),
    ]);
    const held = holdersOf(AliasProjection.read(aliasRows!));
    const out = new Map<string, NodeFacts>();
    for (const { datasets, params, metrics, ...row } of rows!.results as FactRow[]) {
      out.set(nodeKey(row), {
        ...row,
        aliases: held.get(row.model)?.get(row.version) ?? [],
        datasets: datasets === null ? [] : (JSON.parse(datasets) as DatasetRef[]),
        params: params === null ? {} : (JSON.parse(params) as NodeFacts["params"]),
        metrics: JSON.parse(metrics) as NodeFacts["metrics"],
      });
    }
    return out;
  }
}

/** A parent deleted since its child named it: the edge stays, the node says so. */
function deleted(ref: NodeRef): NodeFacts {
  return {
    ...ref,
    status: "deleted",
    stage: null,
    aliases: [],
    created_at: null,
    created_by: null,
    digest: null,
    run_id: null,
    run_url: null,
    git_repo: null,
    git_sha: null,
    datasets: [],
    params: {},
    metrics: {},
  };
}
