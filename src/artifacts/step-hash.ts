/**
 * One step of a verification carried over several invocations (./verify-steps.ts for a `/v1`
 * upload, ./session-steps.ts for a blob session): its share of an object's bytes hashed from the
 * SHA-256 state the last step saved, every range read under the etag the first one had.
 */
import { Sha256 } from "../domain/sha256";
import { verifyRangeSize, type VerifyProgress } from "../domain/upload";
import { config, type Env } from "../env";
import { hashInto } from "./sha256-stream";

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
