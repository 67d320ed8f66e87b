/**
 * The lineage graph as a reader sees it: pure, given the nodes and edges a walk of D1 found.
 *
 * A walk goes `depth` steps upstream (parents, their parents …) and `depth` steps downstream
 * (children …) from the root, across models. It never revisits a node, so it ends on any
 * data, even a cycle that the write path (a parent must exist before its child) cannot make.
 *
 * Grants hold across the graph: a node of a model the reader may not read keeps its place
 * (so the shape is honest) but shows nothing: `{model: null, version: null, redacted: true}`
 * with an opaque `ref` that only says which edges meet there.
 */
import type { DatasetRef } from "./version";

export interface NodeRef {
  model: string;
  version: number;
}

export const nodeKey = (n: NodeRef) => `${n.model}/${n.version}`;

/** What D1 knows of a version on the graph; `null` facts for a parent deleted since. */
export interface NodeFacts extends NodeRef {
  status: "pending" | "ready" | "failed" | "deleted";
  stage: string | null;
  aliases: string[];
  created_at: string | null;
  created_by: string | null;
  digest: string | null;
  run_id: string | null;
  git_sha: string | null;
  datasets: DatasetRef[];
}

/** Where a node sits relative to the root: 0 the root, -n n steps upstream, +n downstream. */
export interface WalkedNode {
  facts: NodeFacts;
  distance: number;
}

/** `from` is the parent of `to`: edges point the way models derive, base → fine-tune. */
export interface WalkedEdge {
  from: NodeRef;
  to: NodeRef;
}

export type VisibleNode = NodeFacts & { distance: number };
export interface RedactedNode {
  model: null;
  version: null;
  redacted: true;
  ref: string;
  distance: number;
}
export type Endpoint = NodeRef | { model: null; version: null; redacted: true; ref: string };

export interface LineageGraph {
  root: NodeRef;
  depth: number;
  nodes: (VisibleNode | RedactedNode)[];
  edges: { from: Endpoint; to: Endpoint; relation: "parent" }[];
  /** Datasets that went into the root: its own and its visible ancestors', once each. */
  datasets: { uri: string; snapshot: string | null; digest: string | null }[];
  /** The walk stopped at the node cap before reaching `depth` everywhere. */
  truncated: boolean;
}

/** Shapes a walk for a reader who may read the models `mayRead` accepts. */
export function shapeGraph(
  walk: { root: NodeRef; depth: number; nodes: WalkedNode[]; edges: WalkedEdge[]; truncated: boolean },
  mayRead: (model: string) => boolean,
): LineageGraph {
  const refs = new Map<string, string>();
  const endpoint = (n: NodeRef): Endpoint => {
    if (mayRead(n.model)) return { model: n.model, version: n.version };
    const key = nodeKey(n);
    let ref = refs.get(key);
    if (ref === undefined) {
      ref = `redacted-${refs.size + 1}`;
      refs.set(key, ref);
    }
    return { model: null, version: null, redacted: true, ref };
  };
  // Nearest first, then by name: a stable order, and redacted refs numbered in it.
  const ordered = [...walk.nodes].sort(
    (a, b) => Math.abs(a.distance) - Math.abs(b.distance) || a.distance - b.distance || compareRefs(a.facts, b.facts),
  );
  const nodes = ordered.map(({ facts, distance }): VisibleNode | RedactedNode => {
    const shown = endpoint(facts);
    return shown.model === null ? { ...shown, distance } : { ...facts, distance };
  });
  const edges = [...walk.edges]
    .sort((a, b) => compareRefs(a.from, b.from) || compareRefs(a.to, b.to))
    .map((e) => ({ from: endpoint(e.from), to: endpoint(e.to), relation: "parent" as const }));
  const seen = new Set<string>();
  const datasets: LineageGraph["datasets"] = [];
  for (const { facts, distance } of ordered) {
    if (distance > 0 || !mayRead(facts.model)) continue;
    for (const d of facts.datasets) {
      const entry = { uri: d.uri, snapshot: d.snapshot ?? null, digest: d.digest ?? null };
      const key = JSON.stringify(entry);
      if (seen.has(key)) continue;
      seen.add(key);
      datasets.push(entry);
    }
  }
  return { root: walk.root, depth: walk.depth, nodes, edges, datasets, truncated: walk.truncated };
}

function compareRefs(a: NodeRef, b: NodeRef): number {
  return a.model < b.model ? -1 : a.model > b.model ? 1 : a.version - b.version;
}
