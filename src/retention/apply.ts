/**
 * Retention applied by the scheduled cleanup (src/artifacts/cleanup.ts, before blob
 * collection): for each model whose policy may delete something, one ModelState call that
 * decides and deletes in one transaction. What comes from outside that object (the registry
 * default and the versions other models name as parents, from D1; which of its own holds for
 * other models' children are stale, from those models' objects) is gathered by
 * `retentionInputs`, which the preview route uses too, so a preview at a moment lists what
 * the cleanup would delete then.
 */
import { SweepCursors } from "../db/sweep-cursors";
import { CallBudget } from "../domain/call-budget";
import type { Env } from "../env";
import { abortR2Uploads } from "../model-writes/r2-aborts";
import { mayDelete, type Deletion } from "../domain/retention";
import { modelState } from "../model-writes/stub";
import type { Hold } from "../state/downstream-table";
import type { RetentionInputs } from "../state/model-state";
import { RetentionStore } from "./store";

/**
 * The actor of every deletion retention makes (docs/reference.md "Retention": "by actor
 * `retention`").
 */
export const RETENTION_ACTOR = "retention";

export interface RetentionReport {
  /** Models whose object was asked to apply its policy. */
  models: number;
  deletedVersions: number;
  /** Models whose application failed (logged; the next run tries again). */
  failedModels: number;
}

/**
 * How old a hold must be before retention asks whether its child still names the parent:
 * well past any request that could be creating the child (which holds before it writes).
 */
export const HOLD_GRACE_MS = 3600 * 1000;

/** The facts from outside the model's object that a decision about `model` at `at` takes. */
export async function retentionInputs(
  env: Env,
  store: RetentionStore,
  model: string,
  at: string,
  calls: CallBudget = new CallBudget(Infinity),
): Promise<RetentionInputs> {
  calls.spend(2);
  const [stored, protectedParents, staleHolds] = await Promise.all([
    store.defaultPolicy(),
    store.protectedParents(model),
    staleHoldsOf(env, model, at, calls),
  ]);
  return { model, defaultPolicy: stored?.policy ?? {}, protectedParents, staleHolds, at };
}

/**
 * The holds other models put on `model`'s versions that no version of theirs needs any more,
 * asked of each child model's own object (the truth, where D1 may trail). Holds younger than
 * HOLD_GRACE_MS are not judged; a child model that cannot answer keeps its holds, and so do the
 * child models past what `calls` allows (one is asked each, and the decision's call is kept):
 * keeping a version longer is always safe.
 */
async function staleHoldsOf(env: Env, model: string, at: string, calls: CallBudget): Promise<Hold[]> {
  const cutoff = new Date(Date.parse(at) - HOLD_GRACE_MS).toISOString();
  calls.spend(1);
  const judged = (await modelState(env, model).downstreamHolds()).filter((h) => h.held_at <= cutoff);
  const byChild = new Map<string, Hold[]>();
  for (const h of judged) byChild.set(h.child_model, [...(byChild.get(h.child_model) ?? []), h]);
  const asked = [...byChild].slice(0, Math.max(0, calls.left - 1));
  calls.spend(asked.length);
  const stale = await Promise.all(
    asked.map(async ([child, holds]) => {
      try {
        const named = new Set(
          await modelState(env, child).namedParents({ parentModel: model, versions: holds.map((h) => h.version) }),
        );
        return holds.filter((h) => !named.has(h.version));
      } catch (err) {
        console.error(`retention: '${child}' did not say which parents of '${model}' it names; its holds stay`, err);
        return [];
      }
    }),
  );
  return stale.flat();
}

/**
 * Applies the policy in force to one model now; the versions it deleted (none if the model is
 * gone). Its calls are counted in `calls`: the facts gathered, the decision, and one R2 abort for
 * each open upload of a deleted version.
 */
export async function applyModelRetention(
  env: Env,
  store: RetentionStore,
  model: string,
  now: Date,
  calls: CallBudget = new CallBudget(Infinity),
): Promise<Deletion[]> {
  const inputs = await retentionInputs(env, store, model, now.toISOString(), calls);
  calls.spend(1);
  const outcome = await modelState(env, model).applyRetention({ ...inputs, actor: RETENTION_ACTOR });
  // A model deleted since it was listed has nothing left to delete.
  if (!outcome.ok) return [];
  calls.spend(outcome.value.aborts.length);
  await abortR2Uploads(env.ARTIFACTS, outcome.value.aborts);
  return outcome.value.deleted;
}

/**
 * The models to visit: those whose own policy may delete something, and, when the default
 * may, those without a policy of their own that hold a version its rules could let go. A
 * model's object decides with its own policy (the truth), so a projection that trails a
 * change of it costs at most one run's delay.
 */
async function modelsToVisit(store: RetentionStore, now: Date): Promise<string[]> {
  const [own, stored] = await Promise.all([store.ownPolicies(), store.defaultPolicy()]);
  const models = own.filter((o) => mayDelete(o.policy)).map((o) => o.model);
  if (stored && mayDelete(stored.policy)) models.push(...(await store.modelsUnderDefault(stored.policy, now)));
  return [...new Set(models)].sort();
}

/** A model's application: its facts (3 calls and one per child model asked) and its decision. */
const PER_MODEL = 5;

/**
 * Applies each model's policy in turn, in name order, within `calls` (the scheduled run's share,
 * src/cron/run.ts): a run that cannot afford the next model saves the last one it applied
 * (`sweep_cursors`, "retention") and the next run goes on after it; one that reached the end
 * starts again from the first.
 */
export async function applyRetention(
  env: Env,
  now: Date,
  calls: CallBudget = new CallBudget(Infinity),
): Promise<RetentionReport> {
  // Decisions read the newest D1 state: the session starts at the primary.
  const session = env.DB.withSession("first-primary");
  const store = new RetentionStore(session);
  const cursors = new SweepCursors(session);
  const report: RetentionReport = { models: 0, deletedVersions: 0, failedModels: 0 };
  // The cursor read and saved, and the models listed (the policies, the default, the models under it).
  if (!calls.allows(5 + PER_MODEL)) return report;
  calls.spend(5);
  const after = await cursors.after(RETENTION_SWEEP);
  const models = (await modelsToVisit(store, now)).filter((m) => after === null || m > after);
  let last: string | null = null;
  let reachedEnd = true;
  for (const model of models) {
    if (!calls.allows(PER_MODEL)) {
      reachedEnd = false;
      break;
    }
    report.models += 1;
    try {
      report.deletedVersions += (await applyModelRetention(env, store, model, now, calls)).length;
    } catch (err) {
      // One model's trouble (its object unreachable, D1 refusing its reads) must not stop the others.
      console.error(`retention for '${model}' failed; the next pass retries`, err);
      report.failedModels += 1;
    }
    last = model;
  }
  await cursors.save(RETENTION_SWEEP, reachedEnd ? null : (last ?? after), now.toISOString());
  return report;
}

/** Where retention's pass over the models stopped (D1's `sweep_cursors`). */
const RETENTION_SWEEP = "retention";
