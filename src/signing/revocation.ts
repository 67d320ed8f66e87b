/**
 * Deleting a signing key, so that no gate counts it once the DELETE has answered. The gate
 * decides inside each model's ModelState from the signatures recorded there (with the keys
 * that vouched for each), so every model where the key vouched for a signature is told, and
 * strikes it, before the key's row goes:
 *
 * 1. `deleted_at` is set (with the `signing_key.delete` audit event, one batch): from that
 *    instant no upload counts the key (each checks it in the batch that records its use).
 * 2. every model in `signing_key_uses` for the key is told (`revokeSigningKey`): it strikes the
 *    key from its signatures, and remembers it, for an upload that read the key before step 1
 *    and reaches the object after this.
 * 3. the key's row and uses go.
 *
 * A crash between the steps leaves the row with `deleted_at`: the DELETE repeated, or the
 * scheduled cleanup (`finishDeletions`), runs 2 and 3 again; both are idempotent. The cost is
 * one RPC per model the key signed in, at most FAN_OUT at a time; the cleanup spreads a key
 * used in more models than its run's calls over several runs.
 */
import { CallBudget } from "../domain/call-budget";
import type { Env } from "../env";
import { modelState, unwrap } from "../model-writes/stub";
import { SigningKeyStore } from "./keys-store";

/** How many models are told at once. */
const FAN_OUT = 8;

/**
 * Steps 2 and 3 for a key already marked deleted. With `calls` (the cron's), it tells only the
 * models they allow and forgets those uses (each model told remembers the key struck, so its use
 * is no longer needed): the next run tells the rest. True when the key is gone.
 */
export async function finishDeletion(
  env: Env,
  store: SigningKeyStore,
  keyId: string,
  at: string,
  calls: CallBudget = new CallBudget(Infinity),
): Promise<boolean> {
  calls.spend(1);
  const all = await store.usedBy(keyId);
  // The last call is the forgetting, of the key or of the uses told.
  const models = all.slice(0, Math.max(0, calls.left - 1));
  let next = 0;
  const worker = async () => {
    while (next < models.length) {
      const model = models[next++]!;
      calls.spend(1);
      unwrap(await modelState(env, model).revokeSigningKey({ model, keyId, at }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(FAN_OUT, models.length) }, worker));
  calls.spend(1);
  if (models.length === all.length) {
    await store.forget(keyId);
    return true;
  }
  await store.forgetUses(keyId, models);
  return false;
}

/**
 * The scheduled cleanup's part: deletions a crash left unfinished, within `calls`. Returns how
 * many it finished.
 */
export async function finishDeletions(
  env: Env,
  now: Date,
  calls: CallBudget = new CallBudget(Infinity),
): Promise<number> {
  const store = new SigningKeyStore(env.DB.withSession("first-primary"));
  let finished = 0;
  calls.spend(1);
  for (const row of await store.deleting()) {
    // Its uses read, at least one model told, then forgotten.
    if (!calls.allows(3)) break;
    try {
      if (await finishDeletion(env, store, row.id, now.toISOString(), calls)) finished += 1;
    } catch (err) {
      console.error(`finishing the deletion of signing key ${row.id} failed; the next run retries`, err);
    }
  }
  return finished;
}
