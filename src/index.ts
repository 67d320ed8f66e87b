/** Worker entry: the HTTP app, the scheduled cleanup and scrub, the webhook delivery consumer, and the ModelState Durable Object class. */
import { buildApp } from "./app";
import { cleanup } from "./artifacts/cleanup";
import { scrub } from "./artifacts/scrub";
import { archiveAudit } from "./audit/archive";
import type { Env } from "./env";
import { deliverBatch } from "./events/deliver";
import type { QueueMessage, VerifyMessage } from "./domain/queue-message";
import { VERIFY_QUEUE, verifyBatch } from "./artifacts/verify-steps";
import { dispatchPending, requeueStranded } from "./events/dispatch";
import { TOKEN_ROW_RETENTION_MS } from "./domain/token";
import { pruneExpiredTokens } from "./tokens/store";
import { collectBundles } from "./artifacts/signature-bundles";
import { finishDeletions } from "./signing/revocation";

export { ModelState } from "./state/model-state";
export { WatchRelay } from "./state/watch-relay";

const app = buildApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  async scheduled(controller, env) {
    const report = await cleanup(env, new Date(controller.scheduledTime));
    console.log("cleanup", JSON.stringify(report));
    // Registry-level events a crash left undispatched.
    const dispatched = await dispatchPending(env);
    if (dispatched > 0) console.log("dispatched", dispatched, "leftover registry events");
    // Deliveries whose queue message a crash took (the local queue lives in memory).
    const requeued = await requeueStranded(env, new Date(controller.scheduledTime));
    if (requeued > 0) console.log("requeued", requeued, "stranded deliveries");
    // Minted tokens expired an hour ago: no request can carry them any more, revoked or not.
    const pruned = await pruneExpiredTokens(
      env.DB,
      new Date(controller.scheduledTime - TOKEN_ROW_RETENTION_MS).toISOString(),
    );
    if (pruned > 0) console.log("pruned", pruned, "expired token rows");
    // Signing-key deletions a crash left half done, then bundles no signature holds any more.
    const keys = await finishDeletions(env, new Date(controller.scheduledTime));
    if (keys > 0) console.log("finished", keys, "signing key deletions");
    const bundles = await collectBundles(env, new Date(controller.scheduledTime));
    if (bundles > 0) console.log("collected", bundles, "signature bundles");
    // Audit events past AUDIT_ARCHIVE_DAYS, from D1 to R2, a bounded number of batches a run.
    const archived = await archiveAudit(env, new Date(controller.scheduledTime));
    if (archived.archived > 0) console.log("audit archived", JSON.stringify(archived));
    // Last: it takes what its budget allows of the invocation's CPU time and subrequests.
    const scrubbed = await scrub(env, new Date(controller.scheduledTime));
    console.log("scrub", JSON.stringify({ ...scrubbed, verified: scrubbed.verified.length }));
  },
  // Two queues, one consumer: verification steps (src/artifacts/verify-steps.ts) and webhook deliveries.
  queue: (batch, env) =>
    batch.queue === VERIFY_QUEUE
      ? verifyBatch(batch as MessageBatch<VerifyMessage>, env)
      : deliverBatch(batch as MessageBatch<QueueMessage>, env),
} satisfies ExportedHandler<Env, QueueMessage | VerifyMessage>;
