/**
 * The token's `aliases` grant, as routes check it: 403 unless the token may move every one
 * of `targets` (aliases or stage names). Not only moves need it: whatever can make a target
 * move, or decides whether it may (its gate, an approval for it, its guard, signals that can
 * trip the guard), needs the grant for that target too.
 */
import { ProblemError } from "../http/problem";
import { mayMoveAlias, type Principal } from "./principal";

export function requireAliasGrant(principal: Principal, ...targets: string[]): void {
  for (const target of targets) {
    if (!mayMoveAlias(principal, target)) throw new ProblemError("forbidden", `This token may not move '${target}'`);
  }
}
