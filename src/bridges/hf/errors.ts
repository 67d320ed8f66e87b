/**
 * The Hub's error dialect (API.md "Bridges → Hugging Face Hub"): a status, the kind of miss
 * in `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`), and `{"error"}`.
 * The clients branch on the code: an `EntryNotFound` is a known miss (transformers' optional
 * files), anything else an error. The seams' ProblemErrors are worded here.
 */
import { ProblemError } from "../../domain/problem";
import type { Wording } from "../caller";

export type HubErrorCode = "RepoNotFound" | "RevisionNotFound" | "EntryNotFound";

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

/** What the Hub says for a model the token may not see (a RepoNotFound, as for a missing one), and for a missing scope. */
export const HUB_WORDING: Wording = {
  modelNotFound: () => repoNotFound(),
  missingScope: (scope) => new HubError(403, `This token may not read models (it needs the '${scope}' scope)`),
};

export const entryNotFound = (path: string, commit: string) =>
  new HubError(404, `Entry not found: ${path}`, "EntryNotFound", { "x-repo-commit": commit });

/** The answer for an error thrown by a Hub route: its own, or a seam's ProblemError worded for the Hub. */
export function hubErrorResponse(err: unknown): Response {
  const hub = err instanceof HubError ? err : err instanceof ProblemError ? fromProblem(err) : null;
  if (!hub) throw err;
  const headers = new Headers({ "content-type": "application/json", ...hub.headers });
  if (hub.code) headers.set("x-error-code", hub.code);
  return new Response(JSON.stringify({ error: hub.message }), { status: hub.status, headers });
}

function fromProblem(err: ProblemError): HubError {
  switch (err.code) {
    // No or a bad token: the clients ask for one on a RepoNotFound 401.
    case "unauthenticated":
      return new HubError(401, err.detail, "RepoNotFound", { "www-authenticate": 'Bearer realm="mreg"' });
    default:
      // 503 keeps its Retry-After; a 400 or 413 says what was wrong with the request.
      return new HubError(err.status, err.detail, undefined, err.headers);
  }
}
