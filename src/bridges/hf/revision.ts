/**
 * What every Hub route does first: the repo id to a model, the caller authenticated and
 * authorized through the bridges' one helper (../caller.ts; a model the token may not see is
 * a RepoNotFound, worded as for one that does not exist), and the revision to one version's
 * resolution through the resolve service (the per-colo cache; a commit is one indexed D1
 * read), which also says whether a miss is the repo's or the revision's. A split alias takes
 * the `x-mreg-key` header as its routing key; without one, its member of largest weight, so
 * a snapshot is the same on every call.
 */
import type { Principal } from "../../auth/principal";
import { repoModel, revisionReference } from "../../domain/hub";
import { commitOf, type Reference } from "../../domain/reference";
import { resolutionFor, resolutionOfHeaviest, type Resolution } from "../../domain/resolution";
import { config } from "../../env";
import type { AppContext } from "../../http/app-env";
import { lookup, requestContext } from "../../resolve/service";
import { caller } from "../caller";
import { HUB_WORDING, repoNotFound, revisionNotFound } from "./errors";

/** The model the repo id names, or RepoNotFound. */
export function modelOf(c: AppContext, repoSegments: readonly string[]): string {
  const model = repoModel(repoSegments, config(c.env).HF_NAMESPACE);
  if (model === null) throw repoNotFound();
  return model;
}

/** The caller, allowed to read `model` (the D1 session of a read may take a replica). */
export function reader(c: AppContext, model: string): Promise<Principal> {
  return caller(c, HUB_WORDING, { scope: "read", access: "read", model });
}

/** The caller, allowed to write to `model` (a read-only token is told so: 403 `ReadOnlyToken`). */
export function writer(c: AppContext, model: string): Promise<Principal> {
  return caller(c, HUB_WORDING, { scope: "write", access: "write", model });
}

/**
 * The version a revision names where a write starts from it (a commit's start, a branch's or
 * tag's starting point): `main` and `HEAD` name the newest ready version, since every push
 * lands there (reads of `main` keep meaning HF_DEFAULT_ALIAS: a push never deploys); anything
 * else as a read names it. Null when `main` has no version yet; RevisionNotFound (RepoNotFound)
 * when the revision (the model) does not exist.
 */
export async function startAt(c: AppContext, model: string, revision: string): Promise<Resolution | null> {
  const isMain = revision === "main" || revision === "HEAD" || revision === "refs/heads/main";
  const ref: Reference | null = isMain
    ? { kind: "latest" }
    : revisionReference(revision, config(c.env).HF_DEFAULT_ALIAS);
  if (ref === null) throw revisionNotFound(revision);
  const resolved = await lookup(requestContext(c), model, ref);
  if (resolved.kind === "no_model") throw repoNotFound();
  if (resolved.kind === "no_revision") {
    if (isMain && !resolved.unready) return null;
    throw revisionNotFound(revision);
  }
  return resolutionOfHeaviest(resolved.state);
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
  const resolved = await lookup(requestContext(c), model, ref);
  if (resolved.kind === "no_model") throw repoNotFound();
  if (resolved.kind === "no_revision") throw revisionNotFound(revision);
  const key = c.req.header("x-mreg-key");
  const resolution = key ? resolutionFor(resolved.state, key) : resolutionOfHeaviest(resolved.state);
  if (resolution.digest === null) throw revisionNotFound(revision);
  return {
    resolution,
    commit: commitOf(resolution.digest),
    pinned: ref.kind === "commit" || ref.kind === "version",
    staleS: resolved.staleS,
  };
}
