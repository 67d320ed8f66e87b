/**
 * Verifying a multipart file larger than one invocation may read: `complete` assembles the parts
 * and answers `verifying` at once (./upload-workflow.ts), and the bytes are hashed here over as
 * many invocations of the `mreg-verify` queue's consumer as they need, VERIFY_BYTES_PER_STEP each.
 *
 * A deployed invocation is bound by CPU time and subrequests (docs/operations.md "9. Limits: what a deployment meets"), so
 * re-reading a 70 GB checkpoint in `complete` fails on a real account wherever it passes locally.
 * Each step takes up the SHA-256 state the last one saved on the upload (src/domain/sha256.ts,
 * kept in the model's ModelState), reads its share of ranges under `etagMatches` of the etag the
 * first range had, saves the new state, and sends the next step. The file is attached only when
 * the last step has hashed every byte and found the declared sha256; anything else fails the
 * upload and removes its bytes.
 *
 * Crashes: the progress is saved only if no other step saved from the same offset (a message
 * delivered twice, or sent again, costs a duplicate read, never a double count); a step that dies
 * before saving is retried by the queue from the saved state; a message lost with its invocation
 * is sent again by the model's ModelState alarm once the verification has not moved for a while.
 * At the content address the address's lease is held for the upload and renewed at every step,
 * so the collector leaves the unregistered bytes alone while they are verified.
 */
import type { VerifyMessage } from "../domain/queue-message";
import { BLOB_UPLOAD_VERSION } from "../domain/upload";
import type { Env } from "../env";
import { modelState, unwrap } from "../model-writes/stub";
import { sendVerifyStep } from "../queue/verify";
import { BlobStore } from "./blob-store";
import { settleStepped, STEP_LEASE_MS, verifyLeaseHolder } from "./bytes";
import { endBlobUpload } from "./blob-uploads";
import { blobKey } from "./keys";
import { verifySessionStep } from "./session-steps";
import { hashStep, type StepReport } from "./step-hash";
import { endUpload } from "./upload-workflow";

export type { StepReport } from "./step-hash";

/** The queue whose consumer takes the steps (wrangler.toml). */
export const VERIFY_QUEUE = "mreg-verify";

/** One step of a verifying upload's verification, from where the last one left it. */
export async function verifyStep(env: Env, message: VerifyMessage, now: Date = new Date()): Promise<StepReport> {
  const state = modelState(env, message.model);
  const found = await state.getUpload({ model: message.model, version: message.version, uploadId: message.upload_id });
  const report: StepReport = { bytes: 0, reads: 0, outcome: "idle" };
  if (!found.ok) return report;
  // The collector's and the uploads' view: the primary.
  const blobs = new BlobStore(env.DB.withSession("first-primary"), message.model);
  const upload = found.value;
  if (upload.status !== "verifying" || !upload.verify) {
    // Ended meanwhile (aborted, its version or model deleted): its lease, if it still holds one, goes now.
    if (upload.r2_key === blobKey(upload.sha256))
      await blobs.release(upload.sha256, verifyLeaseHolder(upload.upload_id));
    return report;
  }
  const progress = upload.verify;
  const at = now.toISOString();
  const who = { model: message.model, ...progress.by, at };
  const end = async (sound: boolean, reason?: string): Promise<StepReport> => {
    const completion = await settleStepped(env.ARTIFACTS, blobs, upload, sound, at);
    // A blob upload (the Hub's LFS objects) attaches nothing: its row becomes the model's claim.
    if (upload.version === BLOB_UPLOAD_VERSION) await endBlobUpload(state, who, upload.upload_id, completion, reason);
    else await endUpload(state, who, upload.upload_id, completion, false, reason);
    return { ...report, outcome: completion.outcome === "verified" ? "completed" : "failed" };
  };

  if (
    upload.r2_key === blobKey(upload.sha256) &&
    !(await blobs.lease(upload.sha256, verifyLeaseHolder(upload.upload_id), STEP_LEASE_MS))
  ) {
    // Its lease ran out and another writer holds the address: these bytes may not be the upload's any more.
    return end(false, "the verification stalled past its lease on the content address; upload the file again");
  }

  const step = await hashStep(env, upload.r2_key, upload.size, progress, report);
  if (step === "gone") return end(false, "the assembled bytes were removed or replaced while they were verified");
  const { hash, etag } = step;

  const saved = unwrap(
    await state.saveVerifyProgress({
      uploadId: upload.upload_id,
      from: progress.offset,
      to: { offset: hash.bytes, state: hash.save(), etag: etag ?? "" },
      step: { bytes: report.bytes, calls: report.reads },
      now: at,
    }),
  );
  // Another delivery of this step saved first: it goes on from there.
  if (!saved) return report;
  if (hash.bytes < upload.size) {
    await sendVerifyStep(env, message);
    return { ...report, outcome: "continue" };
  }
  return end(hash.digestHex() === upload.sha256);
}

/** The `mreg-verify` consumer: one step per message (batches of one, wrangler.toml); a failed step is retried. */
export async function verifyBatch(batch: MessageBatch<VerifyMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    try {
      const report = message.body.session
        ? await verifySessionStep(env, message.body)
        : await verifyStep(env, message.body);
      console.log("verify", JSON.stringify({ upload_id: message.body.upload_id, ...report }));
      message.ack();
    } catch (err) {
      console.error("verification step failed; retrying from the saved state", err);
      message.retry({ delaySeconds: 10 });
    }
  }
}
