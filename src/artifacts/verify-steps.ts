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
import { Sha256 } from "../domain/sha256";
import { verifyRangeSize, type VerifyProgress } from "../domain/upload";
import { config, type Env } from "../env";
import { modelState, unwrap } from "../model-writes/stub";
import { sendVerifyStep } from "../queue/verify";
import { BlobStore } from "./blob-store";
import { settleStepped, STEP_LEASE_MS, verifyLeaseHolder } from "./bytes";
import { blobKey } from "./keys";
import { verifySessionStep } from "./session-steps";
import { hashInto } from "./sha256-stream";
import { endUpload } from "./upload-workflow";

/** The queue whose consumer takes the steps (wrangler.toml). */
export const VERIFY_QUEUE = "mreg-verify";

/**
 * The most ranged reads one step makes: its ranges are a 64th of the budget (at least 16 MiB,
 * src/domain/upload.ts), so a step needs at most 64 of them and this cap only guards the rule;
 * with its few D1, Durable Object and queue calls it stays far inside the 1,000 subrequests the
 * free plan allows an invocation (10,000 on paid).
 */
export const STEP_MAX_READS = 100;

export interface StepReport {
  /** Bytes this step hashed. */
  bytes: number;
  /** Ranged R2 reads it made. */
  reads: number;
  /** More to hash (the next step is sent), the upload's end, or nothing for it to do. */
  outcome: "continue" | "completed" | "failed" | "idle";
}

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
    await endUpload(state, who, upload.upload_id, completion, false, reason);
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

/**
 * Hashes one step's share of the object at `key` (`size` bytes) from where `progress` left it,
 * counting into `report`: the hash and the etag its ranges were read under, or "gone" when the
 * object was removed or replaced meanwhile. A short range throws: the queue retries the step
 * from the state saved last.
 */
export async function hashStep(
  env: Env,
  key: string,
  size: number,
  progress: Pick<VerifyProgress, "offset" | "state" | "etag">,
  report: StepReport,
): Promise<{ hash: Sha256; etag: string | null } | "gone"> {
  let hash = resumed(progress.state, progress.offset);
  let etag = hash ? progress.etag : null;
  hash ??= new Sha256();
  const budget = config(env).VERIFY_BYTES_PER_STEP;
  const rangeSize = verifyRangeSize(budget);
  while (hash.bytes < size && report.bytes < budget && report.reads < STEP_MAX_READS) {
    const offset = hash.bytes;
    const length = Math.min(rangeSize, size - offset, budget - report.bytes);
    report.reads += 1;
    const got = await env.ARTIFACTS.get(key, {
      range: { offset, length },
      ...(etag !== null ? { onlyIf: { etagMatches: etag } } : {}),
    });
    if (got === null || !("body" in got) || got.size !== size) {
      if (got !== null && "body" in got) await got.body.cancel();
      return "gone";
    }
    etag ??= got.etag;
    const read = await hashInto(got.body, hash);
    if (read !== length) throw new Error(`R2 answered ${read} bytes for a range of ${length} of ${key}`);
    report.bytes += length;
  }
  return { hash, etag };
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

/** The hash a saved state takes up again, or null when there is none or it cannot be read (then the step starts over). */
function resumed(saved: string | null, offset: number): Sha256 | null {
  if (saved === null) return null;
  try {
    const hash = Sha256.restore(saved);
    return hash.bytes === offset ? hash : null;
  } catch {
    return null;
  }
}
