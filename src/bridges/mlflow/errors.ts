/**
 * MLflow's error dialect (docs/reference.md "MLflow Model Registry REST"): `{"error_code",
 * "message"}` with the status MLflow gives each code. MLflow's Python client
 * (`mlflow/utils/rest_utils.py`, `verify_rest_response`) raises `RestException(error_code,
 * message)` from any non-200 JSON body, so the code is what scripts branch on
 * (`RESOURCE_ALREADY_EXISTS` in `register_model`, `ENDPOINT_NOT_FOUND` when it falls back from
 * one endpoint to the next). The seams' ProblemErrors are worded here.
 */
import type { AppContext } from "../../http/app-env";
import { ProblemError } from "../../domain/problem";
import type { Wording } from "../caller";

const STATUS = {
  RESOURCE_DOES_NOT_EXIST: 404,
  RESOURCE_ALREADY_EXISTS: 400,
  INVALID_PARAMETER_VALUE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  INVALID_STATE: 409,
  ENDPOINT_NOT_FOUND: 404,
  TEMPORARILY_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const;

export type MlflowErrorCode = keyof typeof STATUS;

export class MlflowError extends Error {
  readonly status: number;
  constructor(
    readonly code: MlflowErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    status?: number,
  ) {
    super(message);
    this.status = status ?? STATUS[code];
  }
}

export const invalid = (message: string) => new MlflowError("INVALID_PARAMETER_VALUE", message);

/** The same words for a model that does not exist and one the token may not see. */
export const modelNotFound = (name: string) =>
  new MlflowError("RESOURCE_DOES_NOT_EXIST", `Registered Model with name=${name} not found`);

/** What MLflow says for a model the token may not see (as for a missing one), and for a missing scope. */
export const MLFLOW_WORDING: Wording = {
  modelNotFound,
  missingScope: (scope) =>
    new MlflowError("PERMISSION_DENIED", `This token may not do this: it needs the '${scope}' scope`),
};

/**
 * A method the endpoint does not take, named: "registered-models/get takes GET, not POST". The
 * code stays ENDPOINT_NOT_FOUND, which MLflow's client (`call_endpoints`) moves on from to the
 * endpoint's next method; `Allow` lists the methods for people with curl.
 */
export function wrongMethod(endpoint: string, allowed: readonly string[], method: string, hint: string): MlflowError {
  return new MlflowError("ENDPOINT_NOT_FOUND", `${endpoint} takes ${allowed.join(" or ")}, not ${method}: ${hint}`, {
    allow: allowed.join(", "),
  });
}

export const versionNotFound = (name: string, version: number | string) =>
  new MlflowError("RESOURCE_DOES_NOT_EXIST", `Model Version (name=${name}, version=${version}) not found`);

/** The answer for an error thrown while serving the bridge: its own, a seam's ProblemError worded for MLflow, or an internal error. */
export function mlflowErrorResponse(err: unknown, requestId: string | undefined): Response {
  let error: MlflowError;
  if (err instanceof MlflowError) error = err;
  else if (err instanceof ProblemError) error = fromProblem(err);
  else {
    // The body says nothing of the cause (no stack, no SQL); the log keeps it, by request id.
    console.error(`request ${requestId} failed`, err);
    error = new MlflowError("INTERNAL_ERROR", `Internal error; quote request id ${requestId ?? "unknown"}`);
  }
  const headers = new Headers({ "content-type": "application/json", ...error.headers });
  if (error.code === "UNAUTHENTICATED") headers.set("www-authenticate", 'Bearer realm="mreg"');
  return new Response(JSON.stringify({ error_code: error.code, message: error.message }), {
    status: error.status,
    headers,
  });
}

interface Check {
  check: string;
  passed: boolean;
  expected?: unknown;
  actual?: unknown;
  detail?: string | null;
}

function fromProblem(err: ProblemError): MlflowError {
  switch (err.code) {
    case "not_found":
      return new MlflowError("RESOURCE_DOES_NOT_EXIST", err.detail);
    case "already_exists":
      return new MlflowError("RESOURCE_ALREADY_EXISTS", err.detail);
    case "validation_failed": {
      const errors = (err.extra.errors as { path: string; message: string }[] | undefined) ?? [];
      return invalid([err.detail, ...errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message))].join("; "));
    }
    case "unauthenticated":
      return new MlflowError("UNAUTHENTICATED", err.detail);
    case "forbidden":
      return new MlflowError("PERMISSION_DENIED", err.detail);
    case "gate_failed":
      return new MlflowError("INVALID_STATE", gateMessage(err.detail, (err.extra.checks as Check[] | undefined) ?? []));
    case "conflict":
    case "version_not_ready":
    case "immutable":
    case "in_use":
    case "idempotency_conflict":
      return new MlflowError("INVALID_STATE", err.detail);
    case "range_not_satisfiable":
      return new MlflowError("INVALID_PARAMETER_VALUE", err.detail, err.headers, 416);
    case "payload_too_large":
    case "unsupported_media_type":
    case "digest_mismatch":
    case "signature_invalid":
      return invalid(err.detail);
    case "unavailable":
      return new MlflowError("TEMPORARILY_UNAVAILABLE", err.detail, err.headers);
    case "internal":
      return new MlflowError("INTERNAL_ERROR", err.detail);
  }
}

/** A gate refusal in one line: what was refused, then each failed check with what it expected and found. */
function gateMessage(detail: string, checks: Check[]): string {
  const failed = checks.filter((c) => !c.passed);
  if (failed.length === 0) return detail;
  const parts = failed.map((c) => {
    const figures = [
      c.expected !== undefined && c.expected !== null ? `expected ${String(c.expected)}` : null,
      c.actual !== undefined && c.actual !== null ? `actual ${JSON.stringify(c.actual)}` : null,
    ].filter(Boolean);
    return `${c.check}${figures.length ? ` (${figures.join(", ")})` : ""}${c.detail ? `: ${c.detail}` : ""}`;
  });
  return `${detail}. Failed checks: ${parts.join("; ")}`;
}

/** Every bridge route answers in MLflow's dialect, whatever a seam threw. */
export const mlflow = (handler: (c: AppContext) => Promise<Response>) => async (c: AppContext) => {
  try {
    return await handler(c);
  } catch (err) {
    return mlflowErrorResponse(err, c.get("requestId"));
  }
};
