/**
 * Rollout writes (docs/rollouts.md): the grant (scope `promote` and the alias's grant, checked
 * again here so no caller skips it), then the one ModelState call that decides and commits.
 * What a write moved for serving is forgotten by the ModelState stub (src/model-writes/stub.ts);
 * the steps that follow are the object's own, driven by its alarm.
 */
import { requireAuthorized } from "../auth/authorize";
import type { Principal } from "../auth/principal";
import type { Rollout, RolloutStep } from "../domain/rollout";
import type { Env } from "../env";
import { actorFor, modelState, unwrap } from "../model-writes/stub";

export interface RolloutWriter {
  env: Env;
  principal: Principal;
  model: string;
}

const granted = (w: RolloutWriter, alias: string) =>
  requireAuthorized(w.principal, { scope: "promote", model: w.model, aliases: [alias] });

/** Starts moving `alias` to `version` in `steps`; its gate decides now, in the same step as the first. */
export async function startRollout(
  w: RolloutWriter,
  alias: string,
  start: { version: number; steps: RolloutStep[]; minFleet: number; reason: string | null },
): Promise<Rollout> {
  granted(w, alias);
  return unwrap(await modelState(w.env, w.model).startRollout({ ...actorFor(w.model, w.principal), alias, ...start }));
}

export type RolloutAction = "pause" | "resume" | "abort";

/** Pauses, resumes or aborts the alias's rollout. */
export async function actOnRollout(
  w: RolloutWriter,
  alias: string,
  action: RolloutAction,
  reason: string | null,
): Promise<Rollout> {
  granted(w, alias);
  const input = { ...actorFor(w.model, w.principal), alias, reason };
  const state = modelState(w.env, w.model);
  switch (action) {
    case "pause":
      return unwrap(await state.pauseRollout(input));
    case "resume":
      return unwrap(await state.resumeRollout(input));
    case "abort":
      return unwrap(await state.abortRollout(input));
  }
}
