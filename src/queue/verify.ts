/**
 * Sending a verifying upload's (or blob session's, src/artifacts/session-steps.ts) next step to the
 * `mreg-verify` queue (src/artifacts/verify-steps.ts consumes it): from `complete`, from each step that leaves bytes to hash, and from the model's
 * ModelState alarm for a verification no step has moved for a while (a message lost with a
 * crashed invocation).
 */
import type { VerifyMessage } from "../domain/queue-message";
import type { Env } from "../env";

export async function sendVerifyStep(
  env: Env,
  upload: { model: string; version: number; upload_id: string },
): Promise<void> {
  const message: VerifyMessage = {
    kind: "verify",
    model: upload.model,
    version: upload.version,
    upload_id: upload.upload_id,
  };
  await env.VERIFY.send(message);
}

/** A verifying blob session's next step: the same queue, the message marked as a session's. */
export async function sendSessionVerifyStep(env: Env, session: { model: string; id: string }): Promise<void> {
  const message: VerifyMessage = {
    kind: "verify",
    model: session.model,
    version: 0,
    upload_id: session.id,
    session: true,
  };
  await env.VERIFY.send(message);
}
