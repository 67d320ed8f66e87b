/**
 * ModelState's answers: a value, or a contract error (src/domain/problem.ts) for the Worker
 * to throw. A write (every method that commits a transaction) answers a `Written`, which
 * also says what it moved for serving; a read answers an `Outcome`, which cannot.
 */
import type { ErrorCode } from "../domain/problem";

export type Failure = { ok: false; code: ErrorCode; detail: string; extra?: Record<string, unknown> };

/** A read's answer. `touched?: never`: a write's answer is not one, so a write cannot pass for a read. */
export type Outcome<T> = { ok: true; value: T; replayed?: boolean; touched?: never } | Failure;

/**
 * What a committed write moved for serving, for the Worker's caches (src/model-writes/stub.ts
 * forgets it there before its caller sees the outcome):
 * - `names`: the aliases and virtual names (`latest`, `v<n>`, stage names) whose resolution
 *   changed; none for a write that moved nothing a resolution shows;
 * - `wholeModel`: the model was deleted, so every name of it, whatever was asked and cached
 *   (each `v<n>` it ever had, `latest`, the stages), is stale at once.
 */
export type Touched = { names: string[] } | { wholeModel: true };

/** A write's answer: on success, the value and what the write touched (always said, perhaps nothing). */
export type Written<T> = { ok: true; value: T; replayed?: boolean; touched: Touched } | Failure;

export const fail = (code: ErrorCode, detail: string, extra?: Record<string, unknown>) =>
  ({ ok: false, code, detail, ...(extra ? { extra } : {}) }) as const;

/** A decided outcome as the write's answer, once committed: a success says what it touched. */
export function written<T>(outcome: Outcome<T>, touched: Touched): Written<T> {
  return outcome.ok ? { ...outcome, touched } : outcome;
}
