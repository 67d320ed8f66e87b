/**
 * Verifying a blob session's assembled bytes over several invocations, when they are more than
 * one may read (VERIFY_BYTES_PER_STEP): the end (./blob-sessions.ts) assembles them, makes the
 * session `verifying` and sends the first step to the `mreg-verify` queue, whose consumer
 * (./verify-steps.ts) hands a session's message here. Each step hashes its share from the
 * SHA-256 state the last one saved on the session (in the model's ModelState), as a `/v1`
 * upload's steps do (`hashStep`); the last one registers the bytes where they lie (or deletes
 * them, failing the session) and ends the session.
 *
 * Crashes: progress is saved only if no other step saved from the same offset (a message
 * delivered twice costs a duplicate read, never a double count); a step that dies before saving
 * is retried by the queue from the saved state; a message lost with its invocation is sent again
 * by the model's alarm once the verification has not moved for a while; a last step that dies
 * after registering the bytes is retried, finds them registered where they lie, and ends the
 * session. The object is the session's own (under `sessions/`), so no lease is held while it is
 * hashed: nobody else writes there, and the cleanup deletes nothing a session may still register.
 */
import type { SessionVerify } from "../domain/blob-session";
import { ProblemError } from "../domain/problem";
import type { VerifyMessage } from "../domain/queue-message";
import { config, type Env } from "../env";
import { modelState, unwrap } from "../model-writes/stub";
import { sendSessionVerifyStep } from "../queue/verify";
import { BlobStore } from "./blob-store";
import { discardAssembled, settleVerifiedAt } from "./bytes";
import { hashStep, type StepReport } from "./step-hash";

/** One step of a verifying session's verification, from where the last one left it. */
export async function verifySessionStep(env: Env, message: VerifyMessage, now: Date = new Date()): Promise<StepReport> {
  const state = modelState(env, message.model);
  const found = await state.blobSession({ model: message.model, id: message.upload_id });
  const report: StepReport = { bytes: 0, reads: 0, outcome: "idle" };
  if (!found.ok || found.value.status !== "verifying" || !found.value.verify) return report;
  const id = found.value.id;
  const progress = found.value.verify;
  const at = now.toISOString();
  // The collector's and the uploads' view: the primary.
  const blobs = new BlobStore(env.DB.withSession("first-primary"), message.model);

  const step = await hashStep(env, progress.key, progress.size, progress, report);
  if (step === "gone") return end(env, blobs, message.model, id, progress, false, at, report);
  const { hash, etag } = step;
  const saved = unwrap(
    await state.saveSessionVerifyProgress({
      id,
      from: progress.offset,
      to: { offset: hash.bytes, state: hash.save(), etag: etag ?? "" },
      step: { bytes: report.bytes, calls: report.reads },
      now: at,
    }),
  );
  // Another delivery of this step saved first: it goes on from there.
  if (!saved) return report;
  if (hash.bytes < progress.size) {
    await sendSessionVerifyStep(env, { model: message.model, id });
    return { ...report, outcome: "continue" };
  }
  return end(env, blobs, message.model, id, progress, hash.digestHex() === progress.sha256, at, report);
}

/** Registers sound bytes where they lie (or joins the blob they duplicate), deletes others, and ends the session. */
async function end(
  env: Env,
  blobs: BlobStore,
  model: string,
  id: string,
  progress: SessionVerify,
  sound: boolean,
  at: string,
  report: StepReport,
): Promise<StepReport> {
  let blob: { sha256: string; size: number } | null = null;
  if (sound) {
    try {
      await settleVerifiedAt(env.ARTIFACTS, blobs, progress.key, progress.sha256, progress.size, at);
      blob = { sha256: progress.sha256, size: progress.size };
    } catch (err) {
      // Refused, not failed to run (a registered blob of another size): the session fails.
      if (!(err instanceof ProblemError && err.code === "digest_mismatch")) throw err;
    }
  } else {
    await discardAssembled(env.ARTIFACTS, blobs, progress.key);
  }
  const expiresAt = new Date(Date.parse(at) + config(env).UPLOAD_TTL_S * 1000).toISOString();
  unwrap(await modelState(env, model).settleSessionVerify({ model, ...progress.by, at, id, blob, expiresAt }));
  return { ...report, outcome: blob ? "completed" : "failed" };
}
