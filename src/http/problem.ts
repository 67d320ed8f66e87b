/**
 * RFC 9457 problem+json errors with the contract's stable `code`s. Domain and route code
 * throw ProblemError; the app's error handler turns it into the response.
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
  internal: 500,
  unavailable: 503,
};

const TITLE: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable",
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

function problemBody(code: ErrorCode, detail: string, extra: Record<string, unknown> = {}) {
  const status = STATUS[code];
  return { type: "about:blank", title: TITLE[status] ?? "Error", status, code, detail, ...extra };
}

export function problemResponse(
  code: ErrorCode,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: HeadersInit = {},
): Response {
  const body = problemBody(code, detail, extra);
  const h = new Headers(headers);
  h.set("content-type", "application/problem+json");
  if (code === "unauthenticated" && !h.has("www-authenticate")) {
    h.set("www-authenticate", 'Bearer realm="mreg"');
  }
  return new Response(JSON.stringify(body), { status: body.status, headers: h });
}

export const notFound = (what: string) => new ProblemError("not_found", `${what} not found`);
