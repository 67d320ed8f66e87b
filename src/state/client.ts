/** How routes reach a model's ModelState, and turn its outcomes into HTTP errors. */
import type { Principal } from "../auth/principal";
import { timestamp } from "../domain/ids";
import type { Env } from "../env";
import { ProblemError } from "../http/problem";
import type { Actor, ModelState, Outcome } from "./model-state";

/** The RPC methods routes may call. */
type ModelStateRpc = Pick<
  ModelState,
  | "createModel"
  | "patchModel"
  | "createVersion"
  | "patchVersion"
  | "finalize"
  | "deleteVersion"
  | "checkWritable"
  | "versionCreatedAt"
  | "holdForChild"
  | "namedParents"
  | "downstreamHolds"
  | "attachFile"
  | "detachFile"
  | "holdsBlob"
  | "openUpload"
  | "getUpload"
  | "recordPart"
  | "uploadToComplete"
  | "finishUpload"
  | "abortUpload"
  | "expireUploads"
  | "dropModel"
  | "flush"
  | "outboxDepth"
  | "listAliases"
  | "aliasHistory"
  | "setAlias"
  | "deleteAlias"
  | "rollbackAlias"
  | "swapAliases"
  | "resolveState"
  | "setStage"
  | "listGates"
  | "setGate"
  | "deleteGate"
  | "checkGate"
  | "approve"
  | "listApprovals"
  | "setGuard"
  | "getGuard"
  | "deleteGuard"
  | "guardedAliases"
  | "signal"
  | "getRetention"
  | "setRetention"
  | "deleteRetention"
  | "previewRetention"
  | "applyRetention"
  | "fetch"
>;

export function modelState(env: Env, model: string): ModelStateRpc {
  // reason: workers-types' Rpc.Stub mapping recurses through the JSON types of version
  // records until tsc gives up ("excessively deep"). Arguments and results are plain
  // structured-clonable data, so the class's own signatures describe the stub exactly.
  return env.MODEL_STATE.getByName(model) as unknown as ModelStateRpc;
}

/** The value of a successful outcome; a failed one becomes the contract's error. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new ProblemError(outcome.code, outcome.detail, outcome.extra);
  return outcome.value;
}

/** Who writes, and when: what every ModelState write records in its audit event. */
export function actorFor(model: string, principal: Principal): Actor {
  return { model, actor: principal.sub, at: timestamp() };
}
