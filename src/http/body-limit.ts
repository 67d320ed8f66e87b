/**
 * The zone's request body limit (docs/operations.md "9. Limits: what a deployment meets"): Cloudflare refuses a body past it
 * with its own 413 before the Worker runs (100 MB on Free and Pro zones, 200 MB on Business, up
 * to 5 GB on Enterprise: `ZONE_BODY_LIMIT`). Every upload door asks here before it offers or
 * takes a body of a given size, so a client is told the limit and the way around it in the door's
 * own words instead of meeting the platform's bare 413: `/v1` single PUTs (multipart), the
 * Hugging Face LFS batch (`basic` only up to the limit, `multipart` above), OCI monolithic
 * uploads and whole-blob `PATCH`es (chunked uploads).
 */
import { ProblemError } from "../domain/problem";
import { config, type Env } from "../env";

export interface BodyOverLimit {
  /** The zone's limit, in bytes. */
  limit: number;
  /** The body's length. */
  length: number;
  /** Names the limit and the way around it, for any dialect's error. */
  message: string;
}

/**
 * Whether a body of `length` bytes is over the zone's limit, or null. `wayAround` says what the
 * client should do instead, in the door's terms (e.g. "upload it in parts: POST .../uploads").
 */
export function overBodyLimit(env: Env, length: number, wayAround: string): BodyOverLimit | null {
  const limit = config(env).ZONE_BODY_LIMIT;
  if (length <= limit) return null;
  return {
    limit,
    length,
    message: `A request body of ${length} bytes is over this deployment's limit of ${limit} bytes (ZONE_BODY_LIMIT, the zone's request body limit); ${wayAround}`,
  };
}

/** The contract's answer to a body over the zone's limit: 413 `payload_too_large` with the limit. */
export function bodyTooLarge(over: BodyOverLimit): ProblemError {
  return new ProblemError("payload_too_large", over.message, { limit: over.limit });
}
