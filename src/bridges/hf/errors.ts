/**
 * The Hub's error dialect (docs/reference.md "Hugging Face Hub (read)" and "Hugging Face Hub (write)"): a status, the kind of error
 * in `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GateFailed`,
 * `ReadOnlyToken`, …) and `X-Error-Message`, and `{"error"}`. The clients branch on the code
 * (`huggingface_hub`'s `utils/_http.py` `hf_raise_for_status`): an `EntryNotFound` is a known
 * miss (transformers' optional files), a 403 shows `X-Error-Message`, anything else is an
 * error. The seams' ProblemErrors are worded here.
 */
import type { Scope } from "../../auth/principal";
import { ProblemError } from "../../domain/problem";
import type { Wording } from "../caller";

export type HubErrorCode =
  "RepoNotFound" | "RevisionNotFound" | "EntryNotFound" | "GateFailed" | "ReadOnlyToken" | "AccessDenied";

export class HubError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: HubErrorCode,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The same words for a repo that does not exist and one the token may not see: no hint either way. */
export const repoNotFound = () => new HubError(404, "Repository not found", "RepoNotFound");

export const revisionNotFound = (revision: string) =>
  new HubError(404, `Invalid rev id: ${revision}`, "RevisionNotFound");

const ACTS: Record<Scope, string> = {
  read: "read models",
  write: "write",
  promote: "move aliases or branches",
  approve: "approve versions",
  report: "report signals",
  admin: "administer this registry",
};

/**
 * A token without the scope a route needs: for `write`, a read-only token (the clients say
 * "read-only" rather than "not found", so a user knows to mint a write token).
 */
export function missingScope(scope: Scope): HubError {
  if (scope === "write")
    return new HubError(403, "This token is read-only: pushing needs a token with the 'write' scope", "ReadOnlyToken");
  return new HubError(403, `This token may not ${ACTS[scope]} (it needs the '${scope}' scope)`, "AccessDenied");
}

/** What the Hub says for a model the token may not see (a RepoNotFound, as for a missing one), for a missing scope, and for an alias it may not move. */
export const HUB_WORDING: Wording = {
  modelNotFound: () => repoNotFound(),
  missingScope,
  aliasNotGranted: (alias) => new HubError(403, `This token may not move '${alias}'`, "AccessDenied"),
};

export const entryNotFound = (path: string, commit: string | null) =>
  new HubError(404, `Entry not found: ${path}`, "EntryNotFound", commit ? { "x-repo-commit": commit } : {});

/** The answer for an error thrown by a Hub route: its own, or a seam's ProblemError worded for the Hub. */
export function hubErrorResponse(err: unknown): Response {
  const hub = err instanceof HubError ? err : err instanceof ProblemError ? fromProblem(err) : null;
  if (!hub) throw err;
  const headers = new Headers({ "content-type": "application/json", ...hub.headers });
  if (hub.code) headers.set("x-error-code", hub.code);
  // Header values are Latin-1: the message goes there in ASCII (the body keeps it whole).
  headers.set("x-error-message", hub.message.replace(/[^\x20-\x7e]/g, "?").slice(0, 1024));
  return new Response(JSON.stringify({ error: hub.message }), { status: hub.status, headers });
}

function fromProblem(err: ProblemError): HubError {
  switch (err.code) {
    // No or a bad token: the clients ask for one on a RepoNotFound 401.
    case "unauthenticated":
      return new HubError(401, err.detail, "RepoNotFound", { "www-authenticate": 'Bearer realm="mreg"' });
    case "forbidden":
      return new HubError(403, err.detail, "AccessDenied");
    case "gate_failed":
      return new HubError(409, err.detail, "GateFailed");
    case "conflict":
      // A commit's `parentCommit` that is no longer its revision's commit: git's 412.
      return "start_commit" in err.extra
        ? new HubError(412, `parentCommit is no longer the revision's commit: ${err.detail}`)
        : new HubError(409, err.detail, undefined, err.headers);
    case "not_found":
      // A commit's edit that names a file or folder the revision does not hold; else an upload
      // (or a version) that is gone: an entry of the repo, not the repo.
      return typeof err.extra.entry === "string"
        ? entryNotFound(err.extra.entry, null)
        : new HubError(404, err.detail, "EntryNotFound", err.headers);
    case "validation_failed": {
      // Say which field, as the problem's `errors` do.
      const first = (err.extra.errors as { path: string; message: string }[] | undefined)?.[0];
      const where =
        first && first.path && !err.detail.includes(first.message) ? ` (${first.path}: ${first.message})` : "";
      return new HubError(400, `${err.detail}${where}`, undefined, err.headers);
    }
    default:
      // 503 keeps its Retry-After; a 413 or 409 says what was wrong with the request.
      return new HubError(err.status, err.detail, undefined, err.headers);
  }
}
