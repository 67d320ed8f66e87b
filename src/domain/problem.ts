/**
 * The contract's errors: a stable `code` (each with the one HTTP status the contract gives
 * it), a detail for people, and extra members (`errors`, `checks`, ...). Every layer throws
 * ProblemError, the Durable Object core answers the same codes in its outcomes, and only the
 * edges word them: src/http/problem.ts as problem+json (RFC 9457), each bridge in its dialect.
 */
export type ErrorCode =
  | "validation_failed"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "already_exists"
  | "conflict"
  | "version_not_ready"
  | "immutable"
  | "in_use"
  | "gate_failed"
  | "idempotency_conflict"
  | "digest_mismatch"
  | "signature_invalid"
  | "payload_too_large"
  | "unsupported_media_type"
  | "range_not_satisfiable"
  | "internal"
  | "unavailable";

const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  version_not_ready: 409,
  immutable: 409,
  in_use: 409,
  gate_failed: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  digest_mismatch: 422,
  signature_invalid: 422,
  internal: 500,
  unavailable: 503,
};

export interface FieldError {
  path: string;
  message: string;
}

export class ProblemError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    /** Extra members of the problem object (`errors`, `checks`, ...). */
    readonly extra: Record<string, unknown> = {},
    /** Extra response headers (`Content-Range` of a 416). */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.status = STATUS[code];
  }
}

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

export const notFound = (what: string) => new ProblemError("not_found", `${what} not found`);
