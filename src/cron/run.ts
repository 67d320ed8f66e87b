/**
 * The scheduled run (the cron in wrangler.toml, every 15 minutes): one invocation, whatever the
 * store holds, so every job in it makes at most its share of calls (`CRON_CALLS`), stops before a
 * call it cannot afford, and leaves the rest to the next run, which goes on where it stopped
 * (docs/operations.md "9. Limits: what a deployment meets"). Every R2, D1, Durable Object and
 * queue call is a subrequest, and each D1 query counts against D1's 1,000 a Workers Paid
 * invocation; the shares add up to `CRON_TOTAL_CALLS`, under both.
 */
import { cleanup, CLEANUP_TUNING } from "../artifacts/cleanup";
import { scrub, SCRUB_TUNING } from "../artifacts/scrub";
import { collectBundles } from "../artifacts/signature-bundles";
import { archiveAudit, ARCHIVE_TUNING } from "../audit/archive";
import { CallBudget } from "../domain/call-budget";
import { TOKEN_ROW_RETENTION_MS } from "../domain/token";
import type { Env } from "../env";
import { dispatchPending, requeueStranded } from "../events/dispatch";
import { finishDeletions } from "../signing/revocation";
import { pruneExpiredTokens } from "../tokens/store";

/** Each job's calls in one run, in the order the run takes them. */
export const CRON_CALLS = {
  /** Expired uploads, unreferenced blobs, and the sweeps of R2 listings (src/artifacts/cleanup.ts). */
  cleanup: CLEANUP_TUNING.maxCalls,
  /** Retention's pass over the models, inside the cleanup (src/retention/apply.ts): 5 and about 5 a model. */
  retention: CLEANUP_TUNING.retentionCalls,
  /** Registry events a crash left undispatched: 3 a round of 90. */
  dispatch: 10,
  /** Deliveries whose queue message was lost: 3 a round of 90. */
  requeue: 15,
  /** Expired token rows: one statement of 500 a call. */
  tokens: 5,
  /** Signing-key deletions a crash left half done: the key's uses read, one call a model told, the forgetting. */
  keyDeletions: 20,
  /** Signature bundles nobody holds: a page listed and looked up, 8 calls a bundle collected. */
  bundles: 40,
  /** Audit events moved to R2: 4 calls a batch of 1,000 (src/audit/archive.ts). */
  auditArchive: ARCHIVE_TUNING.maxBatches * 4,
  /** Last: the stored bytes re-hashed (src/artifacts/scrub.ts). */
  scrub: SCRUB_TUNING.maxCalls,
} as const;

export const CRON_TOTAL_CALLS = Object.values(CRON_CALLS).reduce((a, b) => a + b, 0);

export async function runScheduled(env: Env, now: Date): Promise<void> {
  const report = await cleanup(env, now);
  console.log("cleanup", JSON.stringify(report));
  // Registry-level events a crash left undispatched.
  const dispatched = await dispatchPending(env, new CallBudget(CRON_CALLS.dispatch)).catch((err: unknown) => {
    console.error("dispatching leftover registry events failed; the next run retries", err);
    return 0;
  });
  if (dispatched > 0) console.log("dispatched", dispatched, "leftover registry events");
  // Deliveries whose queue message a crash took (the local queue lives in memory).
  const requeued = await requeueStranded(env, now, new CallBudget(CRON_CALLS.requeue));
  if (requeued > 0) console.log("requeued", requeued, "stranded deliveries");
  // Minted tokens expired an hour ago: no request can carry them any more, revoked or not.
  const pruned = await pruneExpiredTokens(
    env.DB,
    new Date(now.getTime() - TOKEN_ROW_RETENTION_MS).toISOString(),
    new CallBudget(CRON_CALLS.tokens),
  );
  if (pruned > 0) console.log("pruned", pruned, "expired token rows");
  // Signing-key deletions a crash left half done, then bundles no signature holds any more.
  const keys = await finishDeletions(env, now, new CallBudget(CRON_CALLS.keyDeletions));
  if (keys > 0) console.log("finished", keys, "signing key deletions");
  const bundles = await collectBundles(env, now, new CallBudget(CRON_CALLS.bundles));
  if (bundles > 0) console.log("collected", bundles, "signature bundles");
  // Audit events past AUDIT_ARCHIVE_DAYS, from D1 to R2, a bounded number of batches a run.
  const archived = await archiveAudit(env, now);
  if (archived.archived > 0) console.log("audit archived", JSON.stringify(archived));
  // Last: it takes what its budget allows of the invocation's CPU time and subrequests.
  const scrubbed = await scrub(env, now);
  console.log("scrub", JSON.stringify({ ...scrubbed, verified: scrubbed.verified.length }));
}
