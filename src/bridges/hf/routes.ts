/**
 * The Hugging Face Hub's read protocol (docs/reference.md "Hugging Face Hub (read)"), so vLLM,
 * TGI, transformers, transformers.js, huggingface_hub and KServe's `hf://` download models from
 * mreg with `HF_ENDPOINT` set and nothing else changed. An adapter only: every route goes
 * through the seams `/v1` uses (credentials and authenticate, authorize, the resolve and
 * download services) and words their answers as the Hub does.
 *
 * - `GET|HEAD /{repo}/resolve/{revision}/{path}` (and `/raw/`): the bytes, streamed from R2
 *   with ranges, never redirected (the Python client drops the token on a cross-host
 *   redirect); `X-Repo-Commit`, `ETag`/`X-Linked-Etag` (the sha256), `X-Linked-Size`.
 * - `GET /api/models/{repo}[/revision/{revision}]`: the model at a revision, with `sha` (the
 *   commit), `siblings`, and the card's front matter as `cardData`, `tags`, `library_name`,
 *   `pipeline_tag`.
 * - `GET /api/models/{repo}/tree/{revision}[/{path}]`: the tree, paged with an absolute `Link`.
 * - `POST /api/models/{repo}/paths-info/{revision}`: JSON or form-encoded `paths`.
 *
 * And its write protocol, so `upload_folder`, `push_to_hub` and `uploadFiles` publish
 * versions (./account.ts: whoami, repo creation, listing; ./commit.ts: preupload and the
 * NDJSON commit; ./lfs.ts: the LFS batch API and its signed upload URLs; ./refs.ts:
 * branches, tags, refs, commit logs).
 */
import { Hono } from "hono";
import { z } from "zod";
import { readBlobText } from "../../artifacts/blob-text";
import { answerDownload, emptyFileAnswer, openDownload } from "../../artifacts/download";
import { queryDb } from "../../db/session";
import { apiPath, fileEntry, listing, treeOf, type TreeEntry } from "../../domain/hub";
import { sha256Hex } from "../../domain/ids";
import { parseModelCard } from "../../domain/model-card";
import { config } from "../../env";
import type { AppContext, AppEnv } from "../../http/app-env";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import { MAX_JSON_BYTES, parseWith, readCapped, readJsonBody } from "../../http/validation";
import { ModelStore } from "../../models/model-store";
import { VersionStore } from "../../models/version-store";
import { entryNotFound, HubError, hubErrorResponse, repoNotFound } from "./errors";
import { MULTI_SEGMENT } from "../../http/api";
import { commitTitle } from "../../domain/hub-write";
import { createRepo, listModels, whoami } from "./account";
import { commit, preupload, validateYaml } from "./commit";
import { LFS_PATH, lfsRoute } from "./lfs";
import { commits, createBranch, createTag, deleteRef, refs } from "./refs";
import { atRevision, modelOf, reader, type AtRevision } from "./revision";

/** A tree page holds at most this many entries (the Hub's own page for unexpanded listings). */
const TREE_PAGE = 1000;
/** A README read for its front matter: the web UI's card bound. */
const MAX_CARD_BYTES = 256 * 1024;
/** Paths one paths-info request may ask about. */
const MAX_PATHS = 10_000;

type Handler = (c: AppContext) => Promise<Response>;

/** Every Hub route answers in the Hub's dialect, whatever a seam threw. */
const hub = (handler: Handler) => async (c: AppContext) => {
  try {
    return await handler(c);
  } catch (err) {
    return hubErrorResponse(err);
  }
};

/** Headers every answer about a revision carries. */
function revisionHeaders(at: AtRevision): Headers {
  const headers = new Headers({ "x-repo-commit": at.commit });
  if (at.staleS !== null) headers.set("x-mreg-stale", String(at.staleS));
  return headers;
}

/** The file route: the bytes of `path` at `revision`, as `/v1` downloads stream them. */
async function fileAt(c: AppContext, repo: string[], revision: string, path: string): Promise<Response> {
  const model = modelOf(c, repo);
  await reader(c, model);
  const at = await atRevision(c, model, revision);
  const file = at.resolution.files.find((f) => f.path === path);
  if (!file) throw entryNotFound(path, at.commit);
  const headers = revisionHeaders(at);
  headers.set("etag", `"${file.sha256}"`);
  headers.set("x-linked-etag", `"${file.sha256}"`);
  headers.set("x-linked-size", String(file.size));
  headers.set("accept-ranges", "bytes");
  // A commit or v<n> names these bytes for ever; an alias may move, so revalidate (the ETag makes that a 304).
  headers.set(
    "cache-control",
    at.pinned
      ? `${config(c.env).PUBLIC_READ ? "public" : "private"}, max-age=31536000, immutable`
      : "private, no-cache",
  );
  const download = await openDownload(c.env, file, {
    range: c.req.header("range") ?? null,
    ifNoneMatch: c.req.header("if-none-match") ?? null,
    head: c.req.method === "HEAD",
    count: { model, version: at.resolution.version, waitUntil: (p) => c.executionCtx.waitUntil(p) },
  });
  return answerDownload(download, file.size, headers, () => {
    headers.set("content-range", `bytes */${file.size}`);
    if (file.size === 0) return emptyFileAnswer(headers);
    throw new HubError(416, `The file has ${file.size} bytes`, undefined, Object.fromEntries(headers));
  });
}

/**
 * The model at `revision`: what `modelInfo` and `repo_info` read. Asked without a revision
 * (`bare`), a model whose `main` names nothing yet (none promoted) is still there: its info
 * has no `sha` and no files, so `repoExists` (`hfjs upload`) finds the repo it is to push to.
 */
async function infoAt(c: AppContext, repo: string[], revision: string, bare = false): Promise<Response> {
  const model = modelOf(c, repo);
  await reader(c, model);
  let at: AtRevision;
  try {
    at = await atRevision(c, model, revision);
  } catch (err) {
    if (bare && err instanceof HubError && err.code === "RevisionNotFound") return emptyInfo(c, repo, model);
    throw err;
  }
  const db = queryDb(c);
  const { files, version } = at.resolution;
  const readme = files.find((f) => f.path === "README.md");
  const [record, modelRow, card, siblings, id] = await Promise.all([
    new VersionStore(db).get(model, version),
    new ModelStore(db).get(model),
    readme ? cardOf(c, readme.sha256) : null,
    Promise.all(files.map(fileEntry)),
    sha256Hex(model),
  ]);
  const repoId = repo.join("/");
  return Response.json(
    {
      _id: id.slice(0, 24),
      id: repoId,
      modelId: repoId,
      sha: at.commit,
      private: !config(c.env).PUBLIC_READ,
      gated: false,
      disabled: false,
      downloads: 0,
      likes: 0,
      lastModified: record?.ready_at ?? record?.updated_at ?? null,
      createdAt: modelRow?.created_at ?? record?.created_at ?? null,
      tags: card?.metadata.tags ?? [],
      ...(card?.metadata.library_name ? { library_name: card.metadata.library_name } : {}),
      ...(card?.metadata.pipeline_tag ? { pipeline_tag: card.metadata.pipeline_tag } : {}),
      ...(card?.data ? { cardData: card.data } : {}),
      siblings: siblings.map((s) => ({
        rfilename: s.path,
        size: s.size,
        blobId: s.oid,
        lfs: { sha256: s.lfs.oid, size: s.lfs.size, pointerSize: s.lfs.pointerSize },
      })),
    },
    { headers: revisionHeaders(at) },
  );
}

/** A model with nothing at `main` yet, as `infoAt` answers it. */
async function emptyInfo(c: AppContext, repo: string[], model: string): Promise<Response> {
  const record = await new ModelStore(queryDb(c)).record(model);
  if (!record) throw repoNotFound();
  const repoId = repo.join("/");
  return Response.json({
    _id: (await sha256Hex(model)).slice(0, 24),
    id: repoId,
    modelId: repoId,
    sha: null,
    private: !config(c.env).PUBLIC_READ,
    gated: false,
    disabled: false,
    downloads: 0,
    likes: 0,
    lastModified: record.updated_at,
    createdAt: record.created_at,
    tags: [],
    siblings: [],
  });
}

/** `expand` as the clients send it: `true` (JSON), `True` (Python's form and query), `1`. */
const expanded = (value: unknown) => value === true || value === "true" || value === "True" || value === "1";

/**
 * `lastCommit` of the entries at `at`, when asked (`expand`): the version the revision names,
 * so `downloadFileToCacheDir` files them under the same snapshot as `snapshotDownload`.
 */
async function lastCommitAt(c: AppContext, model: string, at: AtRevision) {
  const head = await new VersionStore(queryDb(c)).head(model, at.resolution.version);
  return {
    id: at.commit,
    title: commitTitle(head?.description ?? null, at.resolution.version).title,
    date: head?.ready_at ?? head?.created_at ?? null,
  };
}

/** The card's front matter, when the README is small enough to read and is text. */
async function cardOf(c: AppContext, sha256: string) {
  const text = await readBlobText(c.env, sha256, MAX_CARD_BYTES);
  return text.kind === "text" ? parseModelCard(text.text) : null;
}

const TreeQuery = z.object({
  recursive: z.enum(["true", "false", "1", "0", "True", "False"]).optional(),
  expand: z.string().max(16).optional(),
  limit: z.coerce.number().int().min(1).max(TREE_PAGE).default(TREE_PAGE),
  cursor: z.string().min(1).max(2048).optional(),
});
const TreeCursor = z.object({ after: z.string() });

/** Entries after the cursor's path, a page at a time; the next page's URL is absolute (the JS client follows nothing else). */
async function treeAt(c: AppContext, repo: string[], revision: string, path: string): Promise<Response> {
  const model = modelOf(c, repo);
  await reader(c, model);
  const at = await atRevision(c, model, revision);
  const url = new URL(c.req.url);
  const query = parseWith(TreeQuery, Object.fromEntries(url.searchParams), "query parameters");
  const entries = listing(
    await treeOf(at.resolution.files),
    path,
    query.recursive === "true" || query.recursive === "1" || query.recursive === "True",
  );
  if (entries === null) throw entryNotFound(path, at.commit);
  const after = query.cursor ? decodeCursor(query.cursor, TreeCursor).after : null;
  const rest = after === null ? entries : entries.filter((e) => e.path > after);
  const page = rest.slice(0, query.limit);
  const headers = revisionHeaders(at);
  if (rest.length > page.length) {
    url.searchParams.set("cursor", encodeCursor({ after: page[page.length - 1]!.path }));
    headers.set("link", `<${url.toString()}>; rel="next"`);
  }
  if (!expanded(query.expand)) return Response.json(page, { headers });
  const lastCommit = await lastCommitAt(c, model, at);
  return Response.json(
    page.map((e) => ({ ...e, lastCommit })),
    { headers },
  );
}

const PathsBody = z.object({
  paths: z
    .union([z.string(), z.array(z.string())])
    .transform((p) => (Array.isArray(p) ? p : [p]))
    .pipe(z.array(z.string().max(1024)).max(MAX_PATHS)),
  expand: z.unknown().optional(),
});

/** The entries that exist among `paths` (JSON from the JS client, form-encoded from Python). */
async function pathsInfoAt(c: AppContext, repo: string[], revision: string): Promise<Response> {
  const model = modelOf(c, repo);
  await reader(c, model);
  const at = await atRevision(c, model, revision);
  const form =
    (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase() === "application/x-www-form-urlencoded";
  const raw = form ? formBody(await readCapped(c.req.raw, MAX_JSON_BYTES)) : await readJsonBody(c.req.raw);
  const { paths, expand } = parseWith(PathsBody, raw, "request body");
  const byPath = new Map<string, TreeEntry>((await treeOf(at.resolution.files)).map((e) => [e.path, e]));
  const found = [...new Set(paths)].flatMap((p) => byPath.get(p.replace(/^\/+|\/+$/g, "")) ?? []);
  if (!expanded(expand)) return Response.json(found, { headers: revisionHeaders(at) });
  const lastCommit = await lastCommitAt(c, model, at);
  return Response.json(
    found.map((e) => ({ ...e, lastCommit })),
    { headers: revisionHeaders(at) },
  );
}

/** Python's form-encoded paths-info: repeated `paths`, and `expand` (`True`/`False`). */
function formBody(text: string): { paths: string[]; expand?: string } {
  const form = new URLSearchParams(text);
  const expand = form.get("expand");
  return { paths: form.getAll("paths"), ...(expand !== null ? { expand } : {}) };
}

/** The `/api/models/…` routes, split by `apiPath` (a repo id may have one segment or two). */
async function api(c: AppContext): Promise<Response> {
  const parsed = apiPath(c.req.param("rest") ?? "", config(c.env).HF_NAMESPACE);
  if (!parsed) throw repoNotFound();
  const { repo, verb, tail } = parsed;
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  // A revision or a branch name may hold a `/` (`refs/heads/x`), which arrives decoded.
  const rest = tail.join("/");
  const writes: Record<string, Record<string, ((model: string) => Promise<Response>) | undefined>> = {
    POST: {
      "paths-info": tail.length === 1 ? () => pathsInfoAt(c, repo, tail[0]!) : undefined,
      preupload: rest ? (model) => preupload(c, model, rest) : undefined,
      commit: rest ? (model) => commit(c, model, rest) : undefined,
      branch: rest ? (model) => createBranch(c, model, rest) : undefined,
      tag: rest ? (model) => createTag(c, model, rest) : undefined,
    },
    DELETE: {
      branch: rest ? (model) => deleteRef(c, model, rest, "branch") : undefined,
      tag: rest ? (model) => deleteRef(c, model, rest, "tag") : undefined,
    },
    GET: {
      info: () => infoAt(c, repo, "main", true),
      revision: tail.length === 1 ? () => infoAt(c, repo, tail[0]!) : undefined,
      tree: tail.length >= 1 ? () => treeAt(c, repo, tail[0]!, tail.slice(1).join("/")) : undefined,
      refs: tail.length === 0 ? (model) => refs(c, model) : undefined,
      commits: rest ? (model) => commits(c, model, rest) : undefined,
    },
  };
  const handler = writes[method]?.[verb];
  if (handler) return handler(modelOf(c, repo));
  if (method !== "GET" && !writes.GET![verb])
    throw new HubError(405, `${c.req.method} is not served for '${verb}' here`);
  if (method !== "GET") throw new HubError(405, `${c.req.method} is not served here`);
  throw repoNotFound();
}

/**
 * The sub-app, mounted after `/v1` and the web UI (whose paths win). A two-segment repo id
 * is taken only when its first segment is the namespace; otherwise the route falls through
 * to the one-segment form.
 */
export function hubBridge(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const kind of ["resolve", "raw"]) {
    app.get(`/:namespace/:name/${kind}/:revision/:path${MULTI_SEGMENT}`, async (c, next) => {
      if (c.req.param("namespace") !== config(c.env).HF_NAMESPACE) return next();
      return hub((ctx) =>
        fileAt(
          ctx,
          [ctx.req.param("namespace")!, ctx.req.param("name")!],
          ctx.req.param("revision")!,
          ctx.req.param("path")!,
        ),
      )(c);
    });
    app.get(
      `/:name/${kind}/:revision/:path${MULTI_SEGMENT}`,
      hub((c) => fileAt(c, [c.req.param("name")!], c.req.param("revision")!, c.req.param("path")!)),
    );
    // A two-segment repo id in another namespace, which no route above took.
    app.get(
      `/:namespace/:name/${kind}/:revision/:path${MULTI_SEGMENT}`,
      hub(async () => {
        throw repoNotFound();
      }),
    );
  }
  app.get("/api/whoami-v2", hub(whoami));
  app.post("/api/repos/create", hub(createRepo));
  app.post("/api/validate-yaml", hub(validateYaml));
  app.get("/api/models", hub(listModels));
  app.on(["GET", "POST", "PUT", "DELETE", "PATCH"], `/api/models/:rest${MULTI_SEGMENT}`, hub(api));
  // The LFS batch API and the upload URLs it hands out, under `/{repo}.git/info/lfs/`.
  app.on(["POST", "PUT"], "*", async (c, next) => {
    const { pathname } = new URL(c.req.url);
    if (!pathname.includes(LFS_PATH)) return next();
    return hub(lfsRoute)(c);
  });
  // No repo id at all: still the Hub's miss, not the app's problem+json 404 (found by the fuzzer).
  app.on(
    ["GET", "POST", "PUT", "DELETE", "PATCH"],
    "/api/models/",
    hub(async () => {
      throw repoNotFound();
    }),
  );
  return app;
}
