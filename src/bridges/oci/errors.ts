/**
 * The distribution spec's error dialect (docs/reference.md "OCI distribution (pull)"): a status
 * and `{"errors": [{"code", "message", "detail"}]}`. A 401 carries the Bearer challenge that
 * sends the client to `/v2/token` (skopeo learns the scheme only from it). The seams'
 * ProblemErrors are worded here.
 */
import { ProblemError } from "../../domain/problem";
import type { Wording } from "../caller";

export type OciErrorCode =
  | "UNAUTHORIZED"
  | "DENIED"
  | "NAME_UNKNOWN"
  | "NAME_INVALID"
  | "MANIFEST_UNKNOWN"
  | "BLOB_UNKNOWN"
  | "TAG_INVALID"
  | "DIGEST_INVALID"
  | "UNSUPPORTED"
  | "MANIFEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "BLOB_UPLOAD_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "SIZE_INVALID"
  | "RANGE_INVALID"
  | "PAGINATION_NUMBER_INVALID"
  | "UNAVAILABLE"
  | "UNKNOWN";

/** Every `/v2` answer says which protocol it speaks (the Docker clients look for it). */
export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" } as const;

/** The service name the challenge and the token endpoint agree on. */
export const SERVICE = "mreg";

export class OciError extends Error {
  constructor(
    readonly status: number,
    readonly code: OciErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly detail: unknown = null,
  ) {
    super(message);
  }
}

/** The same words for a model that does not exist and one the token may not see: no hint either way. */
export const nameUnknown = (name: string) =>
  new OciError(404, "NAME_UNKNOWN", "repository name not known to registry", {}, { name });

/** What the distribution spec says for a model the token may not see (NAME_UNKNOWN, as for a missing one), and for a missing scope. */
export const OCI_WORDING: Wording = {
  modelNotFound: nameUnknown,
  missingScope: (scope) =>
    new OciError(
      403,
      "DENIED",
      "requested access to the resource is denied",
      {},
      `This token needs the '${scope}' scope`,
    ),
};

export const manifestUnknown = (reference: string) =>
  new OciError(404, "MANIFEST_UNKNOWN", "manifest unknown", {}, { reference });

export const blobUnknown = (digest: string) =>
  new OciError(404, "BLOB_UNKNOWN", "blob unknown to registry", {}, { digest });

/** What a push is about: how the seams' errors read for a blob upload and for a manifest. */
export type PushContext = "upload" | "manifest";

/**
 * A seam's ProblemError as a push route words it: an unknown upload session is
 * BLOB_UPLOAD_UNKNOWN, a chunk that does not start where the upload ends is 416 with the
 * upload's `Range`, bytes that do not hash to their digest are DIGEST_INVALID, a refused tag
 * (a gate) is DENIED with the failed checks, an attached signature that fails a check is
 * MANIFEST_INVALID with the check. Anything else is worded as every route words it.
 */
export function pushError(err: unknown, context: PushContext, location?: string): unknown {
  if (!(err instanceof ProblemError)) return err;
  switch (err.code) {
    case "digest_mismatch":
      return new OciError(400, "DIGEST_INVALID", "provided digest did not match uploaded content", {}, err.detail);
    case "not_found":
      return context === "upload"
        ? new OciError(400, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {}, err.detail)
        : err;
    case "range_not_satisfiable": {
      const offset = typeof err.extra.offset === "number" ? err.extra.offset : 0;
      return new OciError(
        416,
        "BLOB_UPLOAD_INVALID",
        "blob upload invalid",
        { range: `0-${Math.max(0, offset - 1)}`, ...(location ? { location } : {}) },
        err.detail,
      );
    }
    case "conflict":
    case "validation_failed":
      return context === "upload"
        ? new OciError(400, "BLOB_UPLOAD_INVALID", "blob upload invalid", {}, err.detail)
        : new OciError(400, "MANIFEST_INVALID", "manifest invalid", {}, { reason: err.detail, ...err.extra });
    case "payload_too_large":
      return new OciError(400, "SIZE_INVALID", "provided length did not match content length", {}, err.detail);
    case "signature_invalid":
      // A Sigstore bundle attached as a referrer that fails a signature check: `check` names which.
      return new OciError(400, "MANIFEST_INVALID", "manifest invalid", {}, { reason: err.detail, ...err.extra });
    case "gate_failed":
      return new OciError(
        403,
        "DENIED",
        "requested access to the resource is denied",
        {},
        { reason: err.detail, checks: err.extra.checks },
      );
    default:
      return err;
  }
}

/** The challenge a 401 carries: where to get a token, and (on a repository's route) for what. */
export function challenge(origin: string, scope?: string): string {
  return `Bearer realm="${origin}/v2/token",service="${SERVICE}"${scope ? `,scope="${scope}"` : ""}`;
}

/**
 * The answer for an error thrown by a `/v2` route: its own, or a seam's ProblemError worded
 * for the distribution spec. `origin` and `scope` shape the challenge of a 401.
 */
export function ociErrorResponse(err: unknown, origin: string, scope?: string): Response {
  const oci = err instanceof OciError ? err : err instanceof ProblemError ? fromProblem(err, origin, scope) : null;
  if (!oci) throw err;
  const headers = new Headers({ "content-type": "application/json", ...API_VERSION_HEADER, ...oci.headers });
  const body = { errors: [{ code: oci.code, message: oci.message, detail: oci.detail }] };
  return new Response(JSON.stringify(body), { status: oci.status, headers });
}

function fromProblem(err: ProblemError, origin: string, scope?: string): OciError {
  switch (err.code) {
    case "unauthenticated":
      return new OciError(
        401,
        "UNAUTHORIZED",
        "authentication required",
        { "www-authenticate": challenge(origin, scope) },
        err.detail,
      );
    case "forbidden":
      return new OciError(403, "DENIED", "requested access to the resource is denied", {}, err.detail);
    case "unavailable":
      // Keeps its Retry-After.
      return new OciError(503, "UNAVAILABLE", "service unavailable", err.headers, err.detail);
    default:
      return new OciError(err.status, "UNKNOWN", err.detail, err.headers);
  }
}
