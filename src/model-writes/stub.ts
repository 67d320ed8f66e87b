/**
 * The Worker's stub of a model's ModelState: every route, service and bridge reaches the
 * object through `modelState`, typed from the class (src/state/rpc.ts). A write answers what
 * it touched (`Touched`, src/state/outcome.ts: the names whose resolution moved, or the whole
 * model when it was deleted); before its caller sees the outcome, this stub forgets this
 * isolate's (and colo's) cached answers for them and the guard directory's view of the model.
 * So no caller can forget to invalidate: there is one place that does, and what it forgets is
 * what the object said, never a guess.
 */
import { auditedAs, type Principal } from "../auth/principal";
import { forgetGuards } from "../caches/guard-directory";
import { forgetModelResolved, forgetResolved } from "../caches/resolve-cache";
import { timestamp } from "../domain/ids";
import { ProblemError } from "../domain/problem";
import type { Env } from "../env";
import type { Actor, Outcome, Touched, Written } from "../state/model-state";
import type { ModelStateRpc } from "../state/rpc";

/** The model's ModelState: each method is the class's own, one RPC; a write's `touched` is forgotten before it answers. */
export function modelState(env: Env, model: string): ModelStateRpc {
  // reason: the class's own signatures describe the stub (src/state/rpc.ts says why not workers-types').
  const stub = env.MODEL_STATE.getByName(model) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return new Proxy(stub, {
    get(target, name) {
      // `then` stays absent, so the stub is never taken for a promise; only methods are reached through here.
      if (typeof name !== "string" || name === "then") return undefined;
      return async (...args: unknown[]) => {
        // `stub[name](...)` on the stub itself: one RPC, as if called directly.
        const result = await target[name]!(...args);
        const touched = touchedBy(result);
        if (touched) await afterWrite(model, touched);
        return result;
      };
    },
  }) as unknown as ModelStateRpc;
}

/**
 * What a successful write answered it touched. Only a `Written` carries `touched` (a read's
 * `Outcome` cannot, and no other answer declares it), so this reads a declared field; the
 * runtime check stands in for the type, which RPC does not carry. Null for anything else (a
 * read, a refusal, `fetch`'s Response).
 */
function touchedBy(result: unknown): Touched | null {
  if (typeof result !== "object" || result === null || !("touched" in result)) return null;
  return (result as Extract<Written<unknown>, { ok: true }>).touched;
}

/** What follows a committed write: cached resolutions it moved, and the guard directory's view, are stale. */
async function afterWrite(model: string, touched: Touched): Promise<void> {
  if ("wholeModel" in touched) {
    forgetGuards(model);
    await forgetModelResolved(model);
    return;
  }
  if (touched.names.length === 0) return;
  forgetGuards(model);
  await forgetResolved(model, touched.names);
}

/** The value of a successful outcome; a failed one becomes the contract's error. */
export function unwrap<T>(outcome: Outcome<T> | Written<T>): T {
  if (!outcome.ok) throw new ProblemError(outcome.code, outcome.detail, outcome.extra);
  return outcome.value;
}

/** Who writes, and when: what every ModelState write records in its audit event. */
export function actorFor(model: string, principal: Principal): Actor {
  return { model, ...auditedAs(principal), at: timestamp() };
}
