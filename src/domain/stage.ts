/**
 * Stage moves: the `stage` route and `aliases` grants (docs/reference.md "Versions" and
 * "Auth").
 */
import type { Stage } from "./version";

/**
 * The stages a name resolves to: `registry://m@production` is the alias `production` if one
 * is set, else the highest version in that stage (the stage fallback). `none` is no stage.
 */
export const NAMED_STAGES = ["staging", "production", "archived"] as const satisfies readonly Stage[];

/**
 * The stages a move touches, each of which the caller's `aliases` grant must cover: the
 * stage the version leaves, the one it enters, and `archived` when `archive_existing` moves
 * the versions it displaces there. `none` is the absence of a stage and needs no grant, so a
 * CI token limited to `staging` can move a fresh version into staging and out again, but not
 * take one out of production.
 */
export function stagesTouched(from: Stage, to: Stage, archiveExisting: boolean): Stage[] {
  const touched = new Set<Stage>([from, to]);
  if (archiveExisting && to !== "archived" && to !== "none") touched.add("archived");
  touched.delete("none");
  return [...touched];
}
