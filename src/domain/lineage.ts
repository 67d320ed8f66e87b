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
import type { DatasetRef, ParamValue } from "./version";

export interface NodeRef {
  model: string;
  version: number;
}

export const nodeKey = (n: NodeRef) => `${n.model}/${n.version}`;

/** A parent a reader may not see: where it was, without what it was. */
export const REDACTED_PARENT = { model: null, version: null, redacted: true } as const;

/**
 * A version's lineage as a reader sees it: parents in models the reader may not read become
 * REDACTED_PARENT, so a Version or a diff never names a model its graph would hide.
 */
export function redactParents<L extends { parents?: NodeRef[] }>(lineage: L, mayRead: (model: string) => boolean): L {
  if (!lineage.parents?.some((p) => !mayRead(p.model))) return lineage;
  return {
    ...lineage,
    parents: lineage.parents.map((p) => (mayRead(p.model) ? p : REDACTED_PARENT)) as unknown as NodeRef[],
  };
}

/** What D1 knows of a version on the graph; `null` facts for a parent deleted since. */
export interface NodeFacts extends NodeRef {
  status: "pending" | "ready" | "failed" | "deleted";
  stage: string | null;
  aliases: string[];
  created_at: string | null;
  created_by: string | null;
  digest: string | null;
  run_id: string | null;
  run_url: string | null;
  git_repo: string | null;
  git_sha: string | null;
  datasets: DatasetRef[];
  params: Record<string, ParamValue>;
  metrics: Record<string, number>;
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

/**
 * Shapes a walk for a reader who may read the models `mayRead` accepts. Visible nodes come
 * nearest first, then by name; redacted ones after them by distance and otherwise in an
 * order drawn at random per answer (`shuffle`), and their refs numbered in that order:
 * neither the order nor a ref says anything about the names hidden.
 */
export function shapeGraph(
  walk: { root: NodeRef; depth: number; nodes: WalkedNode[]; edges: WalkedEdge[]; truncated: boolean },
  mayRead: (model: string) => boolean,
  shuffle: <T>(items: T[]) => T[] = randomOrder,
): LineageGraph {
  const byDistance = (a: WalkedNode, b: WalkedNode) =>
    Math.abs(a.distance) - Math.abs(b.distance) || a.distance - b.distance;
  const visible = walk.nodes
    .filter((n) => mayRead(n.facts.model))
    .sort((a, b) => byDistance(a, b) || compareRefs(a.facts, b.facts));
  const hidden = shuffle(walk.nodes.filter((n) => !mayRead(n.facts.model))).sort(byDistance);
  const refs = new Map(hidden.map((n, i) => [nodeKey(n.facts), `redacted-${i + 1}`]));
  const endpoint = (n: NodeRef): Endpoint =>
    mayRead(n.model)
      ? { model: n.model, version: n.version }
      : { model: null, version: null, redacted: true, ref: refs.get(nodeKey(n))! };
  const nodes = [
    ...visible.map(({ facts, distance }): VisibleNode => ({ ...facts, distance })),
    ...hidden.map(({ facts, distance }): RedactedNode => ({
      model: null,
      version: null,
      redacted: true,
      ref: refs.get(nodeKey(facts))!,
      distance,
    })),
  ];
  const label = (e: Endpoint) =>
    e.model === null ? `~${e.ref.padStart(16, "0")}` : `${e.model}/${String(e.version).padStart(10, "0")}`;
  const edges = walk.edges
    .map((e) => ({ from: endpoint(e.from), to: endpoint(e.to), relation: "parent" as const }))
    .sort((a, b) => (label(a.from) + label(a.to) < label(b.from) + label(b.to) ? -1 : 1));
  const seen = new Set<string>();
  const datasets: LineageGraph["datasets"] = [];
  for (const { facts, distance } of visible) {
    if (distance > 0) continue;
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

/** Fisher–Yates with Web Crypto's randomness. */
function randomOrder<T>(items: T[]): T[] {
  const out = [...items];
  const random = crypto.getRandomValues(new Uint32Array(out.length));
  for (let i = out.length - 1; i > 0; i--) {
    const j = random[i]! % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function compareRefs(a: NodeRef, b: NodeRef): number {
  return a.model < b.model ? -1 : a.model > b.model ? 1 : a.version - b.version;
}
