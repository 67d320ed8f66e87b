/** ModelState's answers: a value, or a contract error for the Worker to turn into problem+json. */
import type { ErrorCode } from "../domain/problem";

export type Outcome<T> =
  /**
   * `touched`: the aliases (and virtual names) whose resolution the write moved, set by
   * ModelState's commit; the Worker forgets its cached answers for them (src/model-writes/stub.ts).
   */
  | { ok: true; value: T; replayed?: boolean; touched?: string[] }
  | { ok: false; code: ErrorCode; detail: string; extra?: Record<string, unknown> };

export const fail = (code: ErrorCode, detail: string, extra?: Record<string, unknown>) =>
  ({ ok: false, code, detail, ...(extra ? { extra } : {}) }) as const;

/** `result` with `touched` set, when it is a successful outcome and the write moved something. */
export function withTouched<T>(result: T, touched: string[]): T {
  if (touched.length === 0 || typeof result !== "object" || result === null || !("ok" in result) || result.ok !== true) return result;
  return { ...result, touched };
}
