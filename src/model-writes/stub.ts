/** How routes reach a model's ModelState, and turn its outcomes into HTTP errors. */
import { auditedAs, type Principal } from "../auth/principal";
import { timestamp } from "../domain/ids";
import type { Env } from "../env";
import { forgetGuards } from "../caches/guard-directory";
import { ProblemError } from "../domain/problem";
import { forgetResolved } from "../caches/resolve-cache";
import type { Actor, ModelState, Outcome } from "../state/model-state";

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
  | "attachRelay"
  | "countDownloads"
  | "fetch"
>;

/**
 * The model's ModelState. Every write that moved an alias's resolution answers with the
 * names it `touched`; this stub forgets this isolate's (and colo's) cached answers for them,
 * and the guard directory's view of the model, before handing the outcome to its caller. So
 * no route, service or bridge can forget to invalidate: there is one place that does.
 */
export function modelState(env: Env, model: string): ModelStateRpc {
  // reason: workers-types' Rpc.Stub mapping recurses through the JSON types of version
  // records until tsc gives up ("excessively deep"). Arguments and results are plain
  // structured-clonable data, so the class's own signatures describe the stub exactly.
  const stub = env.MODEL_STATE.getByName(model) as unknown as Record<string | symbol, unknown>;
  return new Proxy(stub, {
    get(target, name) {
      // `then` stays absent, so the stub is never taken for a promise; only methods are reached through here.
      if (typeof name !== "string" || name === "then") return undefined;
      // Each call is `stub[name](...)` on the stub itself: one RPC, as if called directly.
      const call = (args: unknown[]) => (target[name] as (...a: unknown[]) => Promise<unknown>)(...args);
      // `fetch` (the watch upgrade) answers a Response: nothing to invalidate.
      if (name === "fetch") return (...args: unknown[]) => call(args);
      return async (...args: unknown[]) => {
        const result: unknown = await call(args);
        const touched = touchedBy(result);
        if (touched) await afterWrite(model, touched);
        return result;
      };
    },
  }) as unknown as ModelStateRpc;
}

function touchedBy(result: unknown): string[] | null {
  if (typeof result !== "object" || result === null || !("touched" in result)) return null;
  const { touched } = result as { touched?: unknown };
  return Array.isArray(touched) && touched.length > 0 ? (touched as string[]) : null;
}

/** What follows a write that moved `touched`: cached resolutions and the guard directory's view are stale. */
async function afterWrite(model: string, touched: readonly string[]): Promise<void> {
  forgetGuards(model);
  await forgetResolved(model, touched);
}

/** The value of a successful outcome; a failed one becomes the contract's error. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new ProblemError(outcome.code, outcome.detail, outcome.extra);
  return outcome.value;
}

/** Who writes, and when: what every ModelState write records in its audit event. */
export function actorFor(model: string, principal: Principal): Actor {
  return { model, ...auditedAs(principal), at: timestamp() };
}
