/** Multipart uploads: the pure rules for part sizes and which parts are still missing. */

export const MiB = 1024 * 1024;
/** R2's rules: parts of at least 5 MiB (all equal but the last), at most 10,000 of them. */
export const R2_MIN_PART = 5 * MiB;
export const DEFAULT_PART = 64 * MiB;
export const R2_MAX_PARTS = 10_000;
/** Each part is one request, and Workers accept bodies up to 100 MB. */
export const MAX_PART = 95 * MiB;

/**
 * `verifying`: every part arrived and `complete` assembled them, but the file is larger than one
 * invocation may read, so its bytes are being hashed over several (src/artifacts/verify-steps.ts);
 * it ends `completed` (the file attached) or `failed`.
 */
export type UploadStatus = "open" | "verifying" | "completed" | "failed" | "aborted";

/** Where a verification carried across invocations stands: what the next step takes up. */
export interface VerifyProgress {
  /** Bytes hashed so far (from the start of the object). */
  offset: number;
  /** The SHA-256 state after `offset` bytes (src/domain/sha256.ts `save`), null before the first step. */
  state: string | null;
  /** The etag of the object the hash began on: every range is read under it. */
  etag: string | null;
  /** Steps taken, and the most bytes and R2 calls one of them took. */
  steps: number;
  largest_step: number;
  largest_calls: number;
  /** When a step last saved (or the verification began): a verification still for long is sent again. */
  updated_at: string;
  /** Who called `complete` (and with which minted token): the file's `file.add` is theirs. */
  by: { actor: string; token?: string };
}

/** A verification that has not taken a step yet, begun `now` by `by`. */
export function verifyBegun(now: string, by: VerifyProgress["by"]): VerifyProgress {
  return { offset: 0, state: null, etag: null, steps: 0, largest_step: 0, largest_calls: 0, updated_at: now, by };
}

/**
 * `progress` after one more step, which hashed up to `to` reading `step.bytes` in `step.calls`
 * R2 calls; or null when `progress` is not where the step began (`from`): a step run twice (a
 * queue message delivered again, a re-sent one) saves once, and the other stops.
 */
export function verifyStepTaken<P extends VerifyProgress>(
  progress: P | undefined,
  from: number,
  to: { offset: number; state: string; etag: string },
  step: { bytes: number; calls: number },
  now: string,
): P | null {
  if (progress?.offset !== from) return null;
  return {
    ...progress,
    ...to,
    steps: progress.steps + 1,
    largest_step: Math.max(progress.largest_step, step.bytes),
    largest_calls: Math.max(progress.largest_calls, step.calls),
    updated_at: now,
  };
}

/**
 * The `version` of a blob upload: bytes uploaded for a model before any version names them
 * (a Hugging Face client's LFS objects, sent before the commit that lists them). Versions are
 * numbered from 1, so 0 names none. Its `path` is empty; a completed one is kept until its
 * `expires_at` as the model's claim on the bytes, which a later write may then attach.
 */
export const BLOB_UPLOAD_VERSION = 0;

export interface UploadPart {
  part: number;
  size: number;
  etag: string;
}

export interface UploadRecord {
  upload_id: string;
  model: string;
  version: number;
  path: string;
  size: number;
  sha256: string;
  part_size: number;
  part_count: number;
  status: UploadStatus;
  expires_at: string;
  created_at: string;
  created_by: string;
  /** Where R2 assembles the parts: the content address of the declared sha256. */
  r2_key: string;
  /** R2's id of the multipart upload. */
  r2_upload_id: string;
  /** While `verifying` (and kept after): how far the verification got. */
  verify?: VerifyProgress;
}

/** An upload not ended yet: its parts may still come, or its bytes are still being verified. */
export const isUnfinished = (status: UploadStatus): boolean => status === "open" || status === "verifying";

/**
 * How one verification step reads, for a budget of `budget` bytes: ranges of a 64th of it (at
 * least 16 MiB, at most 256 MiB), so a step makes about 64 R2 calls whatever the budget.
 */
export function verifyRangeSize(budget: number): number {
  return Math.max(16 * MiB, Math.min(256 * MiB, Math.ceil(budget / 64)));
}

/**
 * The part size for a file: the configured size, grown in whole MiB when the file would
 * otherwise need more than R2's 10,000 parts. Null when even the largest part is too small.
 */
export function planPartSize(size: number, preferred: number): { partSize: number; partCount: number } | null {
  let partSize = preferred;
  if (Math.ceil(size / partSize) > R2_MAX_PARTS) partSize = Math.ceil(size / R2_MAX_PARTS / MiB) * MiB;
  if (partSize > MAX_PART) return null;
  return { partSize, partCount: Math.max(1, Math.ceil(size / partSize)) };
}

/** The size part `n` (1-based) must have. */
export function expectedPartSize(upload: Pick<UploadRecord, "size" | "part_size" | "part_count">, n: number): number {
  return n < upload.part_count ? upload.part_size : upload.size - upload.part_size * (upload.part_count - 1);
}

export function missingParts(partCount: number, parts: readonly UploadPart[]): number[] {
  const have = new Set(parts.map((p) => p.part));
  const missing: number[] = [];
  for (let n = 1; n <= partCount; n++) if (!have.has(n)) missing.push(n);
  return missing;
}
