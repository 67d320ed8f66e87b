/**
 * What a ModelState decides about lineage parents. The rule that keeps the graph acyclic
 * without a walk: a parent must have been created before its child (strictly, by the
 * `created_at` each version keeps for ever), so no two patches, however they race and in
 * whichever objects, can close a cycle. Cross-model parents are also held in the parent's
 * own object (./downstream-table.ts) before the child is acknowledged, so retention there
 * sees every child, even one D1 has not heard of yet.
 */
import type { ParentRef } from "../domain/version";
import { fail, type Outcome } from "./outcome";
import type { Rooms } from "./rooms";

/** Why `parent` (a version of this model) cannot be a parent of a child created at `childCreatedAt`, or null. */
export function parentProblem(r: Rooms, parent: ParentRef, childCreatedAt: string): string | null {
  const head = r.model.get() ? r.versions.head(parent.version) : null;
  if (!head) return `${parent.model} version ${parent.version} does not exist`;
  if (head.created_at >= childCreatedAt) {
    return `${parent.model} version ${parent.version} was created at ${head.created_at}, not before its child (${childCreatedAt}): a parent must be older than its child`;
  }
  return null;
}

/** A 400 naming each parent refused, at `lineage.parents` (the request's field). */
export function parentsRefused(problems: readonly string[]) {
  return fail("validation_failed", `Invalid lineage parents: ${problems.join("; ")}`, {
    errors: problems.map((message) => ({ path: "lineage.parents", message })),
  });
}

/** The parents of this same model among `parents` that cannot be parents of a child created at `childCreatedAt` (checked in the child's own transaction). */
export function sameModelParentsRefusal(
  r: Rooms,
  model: string,
  parents: readonly ParentRef[] | null | undefined,
  childCreatedAt: string,
) {
  const problems = (parents ?? [])
    .filter((p) => p.model === model)
    .flatMap((p) => parentProblem(r, p, childCreatedAt) ?? []);
  return problems.length > 0 ? parentsRefused(problems) : null;
}

/**
 * On the parent's object: checks that `version` exists and is older than the child, and
 * records that `childModel` names it, before the child's own write. A hold whose child is
 * then never written only keeps the parent until retention prunes it.
 */
export function holdForChild(
  r: Rooms,
  input: { model: string; version: number; childModel: string; childCreatedAt: string; at: string },
): Outcome<null> {
  const problem = parentProblem(r, { model: input.model, version: input.version }, input.childCreatedAt);
  if (problem) return parentsRefused([problem]);
  r.downstream.hold(input.version, input.childModel, input.at);
  return { ok: true, value: null };
}

/** On a child's object: which of `versions` (of `parentModel`) some version of this model names as a parent now. */
export function namedParents(r: Rooms, input: { parentModel: string; versions: readonly number[] }): number[] {
  const wanted = new Set(input.versions);
  const named = new Set<number>();
  for (const head of r.versions.heads()) {
    for (const p of head.lineage.parents ?? [])
      if (p.model === input.parentModel && wanted.has(p.version)) named.add(p.version);
  }
  return [...named].sort((a, b) => a - b);
}
