/**
 * The fuzzer's oracle: what every answer must look like, whatever was sent. No 5xx at all; a
 * 4xx is the error format of the protocol the path belongs to: RFC 9457 problem+json with a
 * stable `code` (docs/reference.md "Conventions") everywhere but the bridges, which answer in
 * their clients' dialects (Hugging Face `{"error"}` + `X-Error-Code`, OCI `{"errors": [...]}`,
 * MLflow `{"error_code", "message"}`).
 */

/** The contract's error codes and the status each one carries. */
export const PROBLEM_CODES: Record<string, number> = {
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
  digest_mismatch: 422,
  signature_invalid: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  internal: 500,
  unavailable: 503,
};

const HUB_CODES = new Set([
  "RepoNotFound",
  "RevisionNotFound",
  "EntryNotFound",
  "GateFailed",
  "ReadOnlyToken",
  "AccessDenied",
]);
const OCI_CODES = new Set([
  "UNAUTHORIZED",
  "DENIED",
  "NAME_UNKNOWN",
  "MANIFEST_UNKNOWN",
  "BLOB_UNKNOWN",
  "UNSUPPORTED",
  "NAME_INVALID",
  "TAG_INVALID",
  "DIGEST_INVALID",
  "MANIFEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "BLOB_UPLOAD_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "SIZE_INVALID",
  "PAGINATION_NUMBER_INVALID",
  "RANGE_INVALID",
  "TOOMANYREQUESTS",
]);
const MLFLOW_CODES = new Set([
  "RESOURCE_DOES_NOT_EXIST",
  "RESOURCE_ALREADY_EXISTS",
  "INVALID_PARAMETER_VALUE",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "INVALID_STATE",
  "TEMPORARILY_UNAVAILABLE",
  "INTERNAL_ERROR",
  "BAD_REQUEST",
  "ENDPOINT_NOT_FOUND",
]);

export type Dialect = "problem" | "hub" | "oci" | "mlflow";

/** Which protocol a request path belongs to, by the prefixes the bridges fix. */
export function dialectOf(pathname: string): Dialect {
  if (pathname === "/v2" || pathname.startsWith("/v2/")) return "oci";
  if (pathname.startsWith("/api/2.0/")) return "mlflow";
  if (pathname.startsWith("/api/models/") || pathname === "/api/models") return "hub";
  if (["/api/whoami-v2", "/api/repos/create", "/api/validate-yaml"].includes(pathname)) return "hub";
  // The LFS batch API and the upload URLs it hands out: `/{repo}.git/info/lfs/…`.
  if (pathname.includes(".git/info/lfs/")) return "hub";
  // `/{repo}/resolve|raw/{revision}/{path}`, the repo in one or two segments.
  if (/^\/[^/]+(\/[^/]+)?\/(resolve|raw)\/[^/]+\/./.test(pathname)) return "hub";
  return "problem";
}

export interface Answer {
  method: string;
  pathname: string;
  status: number;
  headers: Headers;
  body: string;
  /**
   * A wrong method or a reshaped path may leave the bridge's routes for the app's own 404:
   * a well-formed problem answer is then right too.
   */
  lenient?: boolean;
}

/** What is wrong with an answer, or null. `code` (problem answers) is the stable code seen. */
export function judge(answer: Answer): { violation: string | null; code: string | null } {
  const { status } = answer;
  if (status >= 500) return { violation: `status ${status}`, code: codeOf(answer) };
  if (!answer.headers.get("x-request-id")) return { violation: "no x-request-id", code: null };
  if (status < 400) return { violation: null, code: null };
  const dialect = dialectOf(answer.pathname);
  if (dialect !== "problem" && answer.lenient && judgeProblem(answer).violation === null) return judgeProblem(answer);
  switch (dialect) {
    case "problem":
      return judgeProblem(answer);
    case "hub":
      return { violation: judgeHub(answer), code: answer.headers.get("x-error-code") };
    case "oci":
      return judgeOci(answer);
    case "mlflow":
      return judgeMlflow(answer);
  }
}

function parse(body: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(body) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function codeOf(answer: Answer): string | null {
  const body = parse(answer.body);
  const code = body?.code ?? body?.error_code;
  return typeof code === "string" ? code : null;
}

function judgeProblem(answer: Answer): { violation: string | null; code: string | null } {
  const type = answer.headers.get("content-type") ?? "";
  if (answer.method === "HEAD") {
    // A HEAD answer has no body to judge; its headers still say what it would be.
    return {
      violation: type.startsWith("application/problem+json") ? null : `HEAD ${answer.status} content-type ${type}`,
      code: null,
    };
  }
  if (!type.startsWith("application/problem+json"))
    return { violation: `content-type ${type || "(none)"}`, code: null };
  const body = parse(answer.body);
  if (!body) return { violation: "body is not a JSON object", code: null };
  const code = typeof body.code === "string" ? body.code : null;
  if (code === null) return { violation: "no code", code };
  const expected = PROBLEM_CODES[code];
  if (expected === undefined) return { violation: `unknown code ${code}`, code };
  if (expected !== answer.status) return { violation: `code ${code} with status ${answer.status}`, code };
  if (body.status !== answer.status) return { violation: `body.status ${String(body.status)}`, code };
  if (body.type !== "about:blank" || typeof body.title !== "string" || typeof body.detail !== "string") {
    return { violation: "type/title/detail missing", code };
  }
  if (code === "validation_failed") {
    const errors = body.errors;
    const ok =
      Array.isArray(errors) &&
      errors.every(
        (e) =>
          e &&
          typeof e === "object" &&
          typeof (e as Record<string, unknown>).path === "string" &&
          typeof (e as Record<string, unknown>).message === "string",
      );
    if (!ok) return { violation: "validation_failed without errors[{path, message}]", code };
  }
  if (code === "unauthenticated" && !/^Bearer/i.test(answer.headers.get("www-authenticate") ?? "")) {
    return { violation: "401 without WWW-Authenticate: Bearer", code };
  }
  return { violation: null, code };
}

function judgeHub(answer: Answer): string | null {
  const code = answer.headers.get("x-error-code");
  if ((answer.status === 404 || answer.status === 401) && !(code && HUB_CODES.has(code)))
    return `hub ${answer.status} without X-Error-Code`;
  if (answer.method === "HEAD") return null;
  const body = parse(answer.body);
  if (!body || typeof body.error !== "string") return "hub error body is not {error}";
  return null;
}

function judgeOci(answer: Answer): { violation: string | null; code: string | null } {
  if (answer.method === "HEAD") return { violation: null, code: null };
  const errors = parse(answer.body)?.errors;
  const first = Array.isArray(errors) ? (errors[0] as Record<string, unknown> | undefined) : undefined;
  const code = typeof first?.code === "string" ? first.code : null;
  if (!code || !OCI_CODES.has(code) || typeof first?.message !== "string")
    return { violation: "OCI error body is not {errors: [{code, message}]}", code };
  return { violation: null, code };
}

function judgeMlflow(answer: Answer): { violation: string | null; code: string | null } {
  // A HEAD answer has no body to judge (MLflow's clients never send one).
  if (answer.method === "HEAD") return { violation: null, code: null };
  const body = parse(answer.body);
  const code = typeof body?.error_code === "string" ? body.error_code : null;
  if (!code || !MLFLOW_CODES.has(code) || typeof body?.message !== "string")
    return { violation: "MLflow error body is not {error_code, message}", code };
  return { violation: null, code };
}
