/**
 * Every failure the client reports is an MregError: an answer the server gave as
 * problem+json keeps its fields (`code`, `detail`, `checks`, `errors` …); a network failure or
 * a non-problem answer gets a code of its own, so callers branch on `code`, never on text.
 */
import type { ErrorCode } from "../domain/problem";
import type { GateCheck } from "./types";

/** The contract's codes (the server's own list, a type only), plus the client's own for failures that never reached a problem body. */
export type MregErrorCode =
  | ErrorCode
  /** The server could not be reached (DNS, refused connection, reset). */
  | "network_error"
  /** The server answered with something that is not the contract (HTML from a proxy, …). */
  | "unexpected_response"
  /**
   * The answer is JSON (or bytes) that breaks the contract where a caller would act on it: a
   * version that is not a version number, a model other than asked, a file path that leaves
   * its version, a range other than asked (./validate.ts).
   */
  | "invalid_response"
  /** The caller's AbortSignal fired. */
  | "aborted";

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  code: string;
  detail?: string;
  errors?: { path: string; message: string }[];
  checks?: GateCheck[];
  [extra: string]: unknown;
}

export class MregError extends Error {
  override readonly name = "MregError";
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;
  readonly code: MregErrorCode | (string & {});
  readonly detail: string;
  /** `validation_failed`: which fields, and why. */
  readonly errors: { path: string; message: string }[] | undefined;
  /** `gate_failed`: every check of the refused promotion. */
  readonly checks: GateCheck[] | undefined;
  /** The whole problem body as received (extra members included). */
  readonly problem: Problem | undefined;
  /** The server's `x-request-id`, to quote when asking about a failure. */
  readonly requestId: string | undefined;
  /** `Retry-After` in seconds (503 `unavailable`). */
  readonly retryAfterS: number | undefined;

  constructor(init: {
    status: number;
    code: string;
    detail: string;
    problem?: Problem;
    requestId?: string;
    retryAfterS?: number;
    cause?: unknown;
  }) {
    super(init.detail, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.problem = init.problem;
    this.errors = init.problem?.errors;
    this.checks = init.problem?.checks;
    this.requestId = init.requestId;
    this.retryAfterS = init.retryAfterS;
  }

  /** Builds the error from a failed response, reading its body (problem+json or not). */
  static async fromResponse(res: Response, what: string): Promise<MregError> {
    const requestId = res.headers.get("x-request-id") ?? undefined;
    const retry = Number(res.headers.get("retry-after"));
    const retryAfterS = Number.isFinite(retry) && retry > 0 ? retry : undefined;
    const text = await res.text().catch(() => "");
    const problem = parseProblem(text);
    if (problem) {
      return new MregError({
        status: res.status,
        code: problem.code,
        detail: problem.detail ?? problem.title ?? `${what}: HTTP ${res.status}`,
        problem,
        requestId,
        retryAfterS,
      });
    }
    const snippet = text.trim().slice(0, 200);
    return new MregError({
      status: res.status,
      code: res.status === 404 ? "not_found" : "unexpected_response",
      detail: `${what}: HTTP ${res.status}${snippet ? ` ${snippet}` : ""}`,
      requestId,
      retryAfterS,
    });
  }
}

function parseProblem(text: string): Problem | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== "object" || body === null) return undefined;
    const { code, status } = body as { code?: unknown; status?: unknown };
    if (typeof code !== "string" || typeof status !== "number") return undefined;
    return body as Problem;
  } catch {
    return undefined;
  }
}

export const isMregError = (err: unknown): err is MregError => err instanceof MregError;
