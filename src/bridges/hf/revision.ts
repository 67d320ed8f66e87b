/**
 * What every Hub route does first: the repo id to a model, the caller authenticated and
 * authorized through the same seams as `/v1` (a model the token may not see is a
 * RepoNotFound, worded as for one that does not exist), and the revision to one version's
 * resolution through the resolve service (the per-colo cache; a commit is one indexed D1
 * read). A split alias takes the `x-mreg-key` header as its routing key; without one, its
 * member of largest weight, so a snapshot is the same on every call.
 */
import { authorize } from "../../auth/authorize";
import { authenticate } from "../../auth/middleware";
import type { Principal } from "../../auth/principal";
import { queryDb } from "../../db/session";
import { repoModel, revisionReference } from "../../domain/hub";
import { commitOf } from "../../domain/reference";
import { resolutionFor, resolutionOfHeaviest, type Resolution } from "../../domain/resolution";
import { config } from "../../env";
import type { AppContext } from "../../http/app-env";
import { ProblemError } from "../../domain/problem";
import { ModelStore } from "../../models/model-store";
import { resolve } from "../../resolve/service";
import { HubError, repoNotFound, revisionNotFound } from "./errors";

/** The model the repo id names, or RepoNotFound. */
export function modelOf(c: AppContext, repoSegments: readonly string[]): string {
  const model = repoModel(repoSegments, config(c.env).HF_NAMESPACE);
  if (model === null) throw repoNotFound();
  return model;
}

/** The caller, allowed to read `model`; every Hub route only reads (its D1 session may take a replica). */
export async function reader(c: AppContext, model: string): Promise<Principal> {
  c.var.session.access = "read";
  const principal = await authenticate(c.env, c.req.raw, "read", { access: "read", waitUntil: (p) => c.executionCtx.waitUntil(p) });
  const denial = authorize(principal, { scope: "read", model });
  if (denial?.reason === "model") throw repoNotFound();
  if (denial) throw new HubError(403, "This token may not read models (it needs the 'read' scope)");
  return principal;
}

export interface AtRevision {
  resolution: Resolution;
  /** The version's commit id (the first 40 hex digits of its digest): what every answer names it by. */
  commit: string;
  /** Whether the revision names this version for ever (a commit, `v<n>`), or for now (an alias, `latest`, `main`). */
  pinned: boolean;
  /** Seconds since it was seen, when served stale because the model's object could not answer. */
  staleS: number | null;
}

/** The version `revision` names now, or RevisionNotFound (RepoNotFound when the model itself does not exist). */
export async function atRevision(c: AppContext, model: string, revision: string): Promise<AtRevision> {
  const ref = revisionReference(revision, config(c.env).HF_DEFAULT_ALIAS);
  if (ref === null) throw revisionNotFound(revision);
  let resolved;
  try {
    resolved = await resolve({ env: c.env, waitUntil: (p) => c.executionCtx.waitUntil(p), db: () => queryDb(c) }, model, ref);
  } catch (err) {
    if (err instanceof ProblemError && (err.code === "not_found" || err.code === "version_not_ready")) {
      // Only on a miss: is it the revision, or the whole repo, that is not there?
      throw (await new ModelStore(queryDb(c)).exists(model)) ? revisionNotFound(revision) : repoNotFound();
    }
    throw err;
  }
  const key = c.req.header("x-mreg-key");
  const resolution = key ? resolutionFor(resolved.state, key) : resolutionOfHeaviest(resolved.state);
  if (resolution.digest === null) throw revisionNotFound(revision);
  return { resolution, commit: commitOf(resolution.digest), pinned: ref.kind === "commit" || ref.kind === "version", staleS: resolved.staleS };
}
