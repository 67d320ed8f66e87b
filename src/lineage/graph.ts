/** A version's lineage graph as one principal may see it: the walk over D1, then redaction. */
import { mayActOnModel, type Principal } from "../auth/principal";
import type { D1Handle } from "../db/session";
import { shapeGraph, type LineageGraph, type NodeRef } from "../domain/lineage";
import { notFound } from "../domain/problem";
import { LineageStore } from "./store";

/** The lineage graph of a version as this principal may see it; 404 when the version is not in D1. */
export async function lineageGraph(db: D1Handle, root: NodeRef, depth: number, principal: Principal): Promise<LineageGraph> {
  const walk = await new LineageStore(db).walk(root, depth);
  if (!walk) throw notFound(`Version ${root.version} of model '${root.model}'`);
  return shapeGraph(walk, (model) => mayActOnModel(principal, model));
}

