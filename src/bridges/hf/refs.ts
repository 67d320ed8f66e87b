/**
 * Branches, tags, refs and commit logs (docs/reference.md "Hugging Face Hub (write)"). mreg has one line
 * of versions per model and aliases pointing into it, so a branch or a tag is an alias:
 * creating one sets the alias through its gates (scope `promote`, the alias grant), deleting
 * one deletes the alias (`admin` for a gated one). `main` is no alias: pushes land there (its
 * log is every ready version), and reads of it mean HF_DEFAULT_ALIAS, so it is listed with
 * the commit reads get.
 *
 * Answers are shaped as `huggingface_hub` (`hf_api.py` `list_repo_refs`, `list_repo_commits`)
 * and `@huggingface/hub` (`lib/list-commits.ts`) read them; logs are paged with an absolute
 * `Link` (the JS client's parser follows nothing else).
 */
import { aliasHistory, deleteAlias, setAlias } from "../../aliases/service";
import { queryDb } from "../../db/session";
import { shownVersion } from "../../domain/alias";
import { commitTitle, writeTarget } from "../../domain/hub-write";
import { revisionReference } from "../../domain/hub";
import { ProblemError } from "../../domain/problem";
import { commitOf } from "../../domain/reference";
import { resolutionOfHeaviest } from "../../domain/resolution";
import type { VersionHead } from "../../domain/version";
import { config } from "../../env";
import type { AppContext } from "../../http/app-env";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import { parseWith, readJsonBody } from "../../http/validation";
import { AliasProjection } from "../../models/alias-projection";
import { ModelStore } from "../../models/model-store";
import { VersionStore } from "../../models/version-store";
import { lookup, requestContext } from "../../resolve/service";
import { caller } from "../caller";
import { HUB_WORDING, HubError, repoNotFound, revisionNotFound } from "./errors";
import { reader, startAt } from "./revision";
import { z } from "zod";

/** The alias a branch or tag name is; `main` and names that cannot be aliases are refused. */
function aliasNamed(name: string, what: "branch" | "tag"): string {
  const target = writeTarget(name);
  if ("refused" in target) throw new HubError(400, target.refused);
  if (target.kind === "main") throw new HubError(409, `'${name}' exists: it is this repository's main ${what}`);
  return target.alias;
}

/** A gated alias's refusal, or an alias that is set already, in the Hub's words. */
function refused(err: unknown, exists: string): unknown {
  if (err instanceof ProblemError && err.code === "conflict") return new HubError(409, exists);
  return err;
}

const BranchBody = z.object({
  startingPoint: z.string().min(1).max(256).nullish(),
  emptyBranch: z.boolean().optional(),
  overwrite: z.boolean().nullish(),
});

/** `POST .../branch/{branch}`: the alias set to what `startingPoint` names (default: main's newest version), through its gates. */
export async function createBranch(c: AppContext, model: string, branch: string): Promise<Response> {
  const alias = aliasNamed(branch, "branch");
  const principal = await caller(c, HUB_WORDING, { scope: "promote", access: "write", model, aliases: [alias] });
  const body = parseWith(BranchBody, await readJsonBody(c.req.raw), "branch request");
  if (body.emptyBranch) throw new HubError(400, "An alias names a version: this registry has no empty branches");
  const from = body.startingPoint ?? "main";
  const start = await startAt(c, model, from);
  if (!start) throw revisionNotFound(from);
  try {
    await setAlias(
      { env: c.env, principal, model },
      alias,
      { version: start.version, split: null },
      {
        reason: "Hub branch",
        ...(body.overwrite ? {} : { expectedGeneration: 0 }),
      },
    );
  } catch (err) {
    throw refused(err, `Reference already exists: the branch '${alias}'`);
  }
  return Response.json({ ref: `refs/heads/${alias}`, targetCommit: commitOf(start.digest!) });
}

const TagBody = z.object({ tag: z.string().min(1).max(256), message: z.string().max(1024).nullish() });

/** `POST .../tag/{revision}`: the alias `tag` set to what `revision` names, when it is not set. */
export async function createTag(c: AppContext, model: string, revision: string): Promise<Response> {
  const body = parseWith(TagBody, await readJsonBody(c.req.raw), "tag request");
  const alias = aliasNamed(body.tag, "tag");
  const principal = await caller(c, HUB_WORDING, { scope: "promote", access: "write", model, aliases: [alias] });
  const start = await startAt(c, model, revision);
  if (!start) throw revisionNotFound(revision);
  try {
    await setAlias(
      { env: c.env, principal, model },
      alias,
      { version: start.version, split: null },
      {
        reason: body.message ?? "Hub tag",
        expectedGeneration: 0,
      },
    );
  } catch (err) {
    throw refused(err, `Reference already exists: the tag '${alias}'`);
  }
  return Response.json({ ref: `refs/tags/${alias}`, targetCommit: commitOf(start.digest!) });
}

/** `DELETE .../branch/{branch}` (and `.../tag/{tag}`): the alias deleted (`admin` for one with a gate). */
export async function deleteRef(c: AppContext, model: string, name: string, what: "branch" | "tag"): Promise<Response> {
  const target = writeTarget(name);
  if ("refused" in target) throw new HubError(400, target.refused);
  if (target.kind === "main")
    throw new HubError(403, `'${name}' is this repository's main ${what}: it cannot be deleted`);
  const principal = await caller(c, HUB_WORDING, {
    scope: "promote",
    access: "write",
    model,
    aliases: [target.alias],
  });
  if (!(await new ModelStore(queryDb(c)).exists(model))) throw repoNotFound();
  if (!(await new AliasProjection(queryDb(c)).record(model, target.alias))) throw revisionNotFound(name);
  await deleteAlias({ env: c.env, principal, model }, target.alias, `Hub ${what} deleted`);
  return new Response(null, { status: 204 });
}

/** The commit `main` reads as (HF_DEFAULT_ALIAS's), or null when it names nothing yet. */
async function mainCommit(c: AppContext, model: string): Promise<string | null> {
  const ref = revisionReference("main", config(c.env).HF_DEFAULT_ALIAS)!;
  const found = await lookup(requestContext(c), model, ref);
  if (found.kind !== "found") return null;
  return commitOf(resolutionOfHeaviest(found.state).digest!);
}

/** `GET .../refs`: the aliases as branches, `main` first, each with its commit. */
export async function refs(c: AppContext, model: string): Promise<Response> {
  await reader(c, model);
  const db = queryDb(c);
  const models = new ModelStore(db);
  if (!(await models.exists(model))) throw repoNotFound();
  const aliases = (await models.aliasMaps([model])).get(model) ?? {};
  const versions = new VersionStore(db);
  const heads = new Map<number, VersionHead | null>();
  await Promise.all([...new Set(Object.values(aliases))].map(async (v) => heads.set(v, await versions.head(model, v))));
  const branch = (name: string, digest: string | null | undefined) =>
    digest ? [{ name, ref: `refs/heads/${name}`, targetCommit: commitOf(digest) }] : [];
  const main = await mainCommit(c, model);
  return Response.json({
    branches: [
      ...(main ? [{ name: "main", ref: "refs/heads/main", targetCommit: main }] : []),
      ...Object.entries(aliases)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .flatMap(([alias, version]) => branch(alias, heads.get(version)?.digest)),
    ],
    converts: [],
    tags: [],
    pullRequests: [],
  });
}

const CommitsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).max(512).optional(),
});
const CommitsCursor = z.object({ before: z.number().int() });

/** A version as the log shows it. */
function commitEntry(head: VersionHead) {
  const { title, message } = commitTitle(head.description, head.version);
  return {
    id: commitOf(head.digest!),
    title,
    message,
    authors: [{ user: head.created_by, avatar: "" }],
    date: head.ready_at ?? head.created_at,
  };
}

/**
 * `GET .../commits/{revision}`: the versions the revision has named, newest first. `main`
 * (and `HEAD`, `latest`): every ready version; an alias: each version it was set to, from its
 * history; a version or a commit: it, then its lineage parents in this model.
 */
export async function commits(c: AppContext, model: string, revision: string): Promise<Response> {
  const principal = await reader(c, model);
  const url = new URL(c.req.url);
  const query = parseWith(CommitsQuery, Object.fromEntries(url.searchParams), "query parameters");
  const before = query.cursor ? decodeCursor(query.cursor, CommitsCursor).before : undefined;
  const db = queryDb(c);
  const versions = new VersionStore(db);
  // The revision exists (RepoNotFound, RevisionNotFound otherwise); `main` may have no version yet.
  const start = await startAt(c, model, revision);
  const isMain = revision === "main" || revision === "HEAD" || revision === "latest";
  const ref = isMain ? null : revisionReference(revision, config(c.env).HF_DEFAULT_ALIAS);
  let page: VersionHead[];
  let next: number | null = null;
  if (isMain) {
    const heads = await versions.heads(model, { status: "ready", before, limit: query.limit });
    page = heads.slice(0, query.limit);
    if (heads.length > query.limit) next = page[page.length - 1]!.version;
  } else if (ref?.kind === "alias") {
    const history = await aliasHistory({ env: c.env, principal, model }, ref.alias, {
      before,
      limit: query.limit + 1,
    });
    const entries = history.slice(0, query.limit);
    if (history.length > query.limit) next = entries[entries.length - 1]!.generation;
    const named = entries.flatMap((h) =>
      h.version !== null ? [h.version] : h.split !== null ? [shownVersion({ version: null, split: h.split })] : [],
    );
    const found = await Promise.all(named.map((v) => versions.head(model, v)));
    page = found.filter((h): h is VersionHead => h !== null && h.status === "ready");
    // An alias never set that resolves (a stage's highest version): that one version.
    if (history.length === 0 && before === undefined && start) {
      const head = await versions.head(model, start.version);
      page = head ? [head] : [];
    }
  } else {
    // A version or a commit: it, then its parents in this model, a page at a time.
    page = [];
    let at: number | null = before ?? start!.version;
    while (at !== null && page.length <= query.limit) {
      const head: VersionHead | null = await versions.head(model, at);
      if (!head) break;
      page.push(head);
      at = head.lineage.parents?.find((p) => p.model === model)?.version ?? null;
    }
    if (page.length > query.limit) next = page.pop()!.version;
  }
  const headers = new Headers();
  if (next !== null) {
    // `main`'s log pages by version and an alias's by generation, each below the page's last; a
    // version's chain from the next parent on.
    url.searchParams.set("cursor", encodeCursor({ before: next }));
    headers.set("link", `<${url.toString()}>; rel="next"`);
  }
  return Response.json(page.map(commitEntry), { headers });
}
