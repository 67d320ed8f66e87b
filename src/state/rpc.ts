/**
 * ModelState's RPC surface, from the class itself: every public method a stub reaches, with
 * the signature the class declares (./model-state.ts), so adding a method adds it here and
 * changing one changes every caller's view. Not workers-types' `DurableObjectStub<ModelState>`:
 * its Rpc.Stub mapping recurses through the JSON types of version records until tsc gives up
 * ("excessively deep"); arguments and results are plain structured-clonable data, so the
 * class's own signatures describe the stub exactly.
 *
 * A write (a method answering a `Written`, ./outcome.ts) is reached only through the Worker's
 * stub (src/model-writes/stub.ts), which forgets what it touched; callers below that stub (a
 * watch relay attaching) get the reads alone (`modelStateReads`).
 */
import type { Env } from "../env";
import type { ModelState } from "./model-state";

/** Handlers the runtime calls itself, never a caller. */
type RuntimeHandlers = "alarm" | "webSocketMessage" | "webSocketClose" | "webSocketError";

/** The public methods of ModelState that RPC reaches, as the class declares them (`fetch`, the watch upgrade, included). */
export type ModelStateRpc = {
  [
    K in keyof ModelState as K extends RuntimeHandlers
      ? never
      : ModelState[K] extends (...args: never[]) => Promise<unknown>
        ? K
        : never
  ]: ModelState[K];
};

/** Whether a method is a write: what it answers can carry `touched` (an `Outcome` cannot). */
type IsWrite<M> = M extends (...args: never[]) => Promise<infer R>
  ? [Extract<R, { touched: unknown }>] extends [never]
    ? false
    : true
  : false;

/** The methods that only read (or attach a relay): what answers no `touched`. */
export type ModelStateReads = {
  [K in keyof ModelStateRpc as IsWrite<ModelStateRpc[K]> extends true ? never : K]: ModelStateRpc[K];
};

/** A model's ModelState, for its reads only: a write must go through src/model-writes/stub.ts. */
export function modelStateReads(env: Env, model: string): ModelStateReads {
  // reason: the class's own signatures, not workers-types' Rpc.Stub mapping (see above).
  return env.MODEL_STATE.getByName(model) as unknown as ModelStateReads;
}
