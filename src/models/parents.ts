/**
 * Lineage parents named by a version create or patch, checked before the child's own write:
 * each must be a version the caller may act on (403 first, so existence does not leak), and
 * each of another model is held in that model's object (which also checks it exists and is
 * older than the child). Parents of the child's own model are checked inside the child's
 * transaction (src/state/lineage-ops.ts).
 */
import { authorize } from "../auth/authorize";
import type { Principal } from "../auth/principal";
import type { ParentRef } from "../domain/version";
import type { Env } from "../env";
import { ProblemError } from "../domain/problem";
import { validationFailed } from "../http/validation";
import { modelState } from "../model-writes/stub";

/**
 * Holds every parent of another model for a child of `child.model` (`at`: now); 400 naming
 * each one refused. `child.createdAt` is asked for only when there is such a parent (a patch
 * reads it from the child's object). Holds taken before a refusal stay: they only keep a
 * parent until retention finds them stale.
 */
export async function holdParents(
  env: Env,
  principal: Principal,
  child: { model: string; createdAt: () => Promise<string> | string },
  parents: readonly ParentRef[] | null | undefined,
  at: string,
): Promise<void> {
  if (!parents?.length) return;
  const hidden = parents.find((p) => authorize(principal, { model: p.model }) !== null);
  if (hidden)
    throw new ProblemError("forbidden", `This token may not act on model '${hidden.model}', named as a parent`);
  const others = parents.filter((p) => p.model !== child.model);
  if (others.length === 0) return;
  const childCreatedAt = await child.createdAt();
  const outcomes = await Promise.all(
    others.map((p) =>
      modelState(env, p.model).holdForChild({
        model: p.model,
        version: p.version,
        childModel: child.model,
        childCreatedAt,
        at,
      }),
    ),
  );
  const errors = outcomes.flatMap((o) =>
    o.ok
      ? []
      : ((o.extra?.errors as { path: string; message: string }[] | undefined) ?? [
          { path: "lineage.parents", message: o.detail },
        ]),
  );
  if (errors.length > 0) throw validationFailed("Invalid lineage parents", errors);
}
