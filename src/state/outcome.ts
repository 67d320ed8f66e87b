/** ModelState's answers: a value, or a contract error for the Worker to turn into problem+json. */
import type { ErrorCode } from "../http/problem";

export type Outcome<T> =
  | { ok: true; value: T; replayed?: boolean }
  | { ok: false; code: ErrorCode; detail: string; extra?: Record<string, unknown> };

export const fail = (code: ErrorCode, detail: string, extra?: Record<string, unknown>) =>
  ({ ok: false, code, detail, ...(extra ? { extra } : {}) }) as const;
