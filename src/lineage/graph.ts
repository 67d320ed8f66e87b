/** A version's lineage graph as one token may see it: the walk over D1, then redaction. */
import type { D1Handle } from "../db/session";
import type { Visibility } from "../db/visibility";
import { shapeGraph, type LineageGraph, type NodeRef } from "../domain/lineage";
import { notFound } from "../domain/problem";
import { LineageStore } from "./store";

/** The lineage graph of a version with the nodes of models the token does not see redacted; 404 when the version is not in D1. */
export async function lineageGraph(
  db: D1Handle,
  root: NodeRef,
  depth: number,
  visibility: Visibility,
): Promise<LineageGraph> {
  const walk = await new LineageStore(db).walk(root, depth);
  if (!walk) throw notFound(`Version ${root.version} of model '${root.model}'`);
  return shapeGraph(walk, visibility.sees);
}
