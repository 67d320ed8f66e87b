/**
 * The OCI distribution protocol (docs/reference.md "OCI distribution (pull)" and "OCI distribution (push)"), so skopeo,
 * ORAS, registry mirrors and Harbor/Zot replication copy models out of mreg: a version is an
 * OCI artifact whose layers are its files (already sha256 blobs in R2), whose config is the
 * empty descriptor, and whose manifest's bytes are fixed for ever (src/domain/oci.ts). An
 * adapter only: every route goes through the seams `/v1` uses (credentials to a principal
 * through the bridges' one helper, ../caller.ts; the resolve and download services; the model
 * and version stores for D1; the model service for the one write, a manifest digest D1 lacks,
 * ./manifests.ts) and words their answers as the spec does.
 *
 * - `GET /v2/`: 401 with the Bearer challenge without credentials, 200 `{}` with them.
 * - `GET /v2/token`: Basic (the password an mreg token) or Bearer; answers that same token,
 *   so revocation, scopes and `models` globs keep applying to every request made with it.
 * - `GET /v2/_catalog`: the models the token may see.
 * - `GET /v2/{model}/tags/list`, `GET|HEAD /v2/{model}/manifests/{tag|digest}`,
 *   `GET|HEAD /v2/{model}/blobs/{digest}` (ranges), `GET /v2/{model}/referrers/{digest}`
 *   (./referrers.ts; the push side is ./push.ts).
 * - Everything else that writes: 405 `UNSUPPORTED`.
 */
import { Hono } from "hono";
import { z } from "zod";
import { AliasProjection } from "../../models/alias-projection";
import { answerDownload, emptyFileAnswer, openDownload } from "../../artifacts/download";
import { visibilityOf, type Principal } from "../../auth/principal";
import { queryDb } from "../../db/session";
import { valueVersions } from "../../domain/alias";
import { timestamp } from "../../domain/ids";
import {
  challengeScope,
  DIGEST,
  EMPTY_CONFIG,
  EMPTY_DIGEST,
  EMPTY_MEDIA_TYPE,
  isRepositoryName,
  manifestReference,
  repositoryModel,
  tagsList,
  tagsPage,
} from "../../domain/oci";
import { NAMED_STAGES } from "../../domain/stage";
import { config } from "../../env";
import type { AppContext, AppEnv } from "../../http/app-env";
import { ProblemError } from "../../domain/problem";
import { parseWith } from "../../http/validation";
import { ModelStore } from "../../models/model-store";
import { VersionStore } from "../../models/version-store";
import { lookupAll, requestContext } from "../../resolve/service";
import { authenticated, caller, presentedToken } from "../caller";
import {
  API_VERSION_HEADER,
  blobUnknown,
  manifestUnknown,
  nameUnknown,
  OCI_WORDING,
  OciError,
  ociErrorResponse,
  SERVICE,
} from "./errors";
import { manifestOfDigest, manifestOfTag, missing, type ServedManifest } from "./manifests";
import { heldBlobSize } from "../../artifacts/blob-sessions";
import { MULTI_SEGMENT } from "../../http/api";
import {
  cancelUpload,
  deleteManifest,
  finishUpload,
  patchUpload,
  putManifest,
  startUpload,
  uploadStatus,
} from "./push";
import { referrers, signatureBundleBlob, signatureReferrerOfDigest } from "./referrers";

/** Tags or repositories one page holds at most, whatever `n` asks (the spec lets a registry answer fewer, with a Link). */
const MAX_PAGE = 1000;

/** Every `/v2` route answers in the distribution dialect, whatever a seam threw; a 401's challenge names the repository. */
const oci =
  (handler: (c: AppContext) => Promise<Response>, scope?: (c: AppContext) => string | undefined) =>
  async (c: AppContext): Promise<Response> => {
    let response: Response;
    try {
      response = await handler(c);
    } catch (err) {
      response = ociErrorResponse(err, new URL(c.req.url).origin, scope?.(c));
    }
    for (const [k, v] of Object.entries(API_VERSION_HEADER)) response.headers.set(k, v);
    return response;
  };

/** The caller, allowed to read `model`; every `/v2` route only reads (its D1 session may take a replica). */
function reader(c: AppContext, model: string): Promise<Principal> {
  return caller(c, OCI_WORDING, { scope: "read", access: "read", model });
}

// ---- ping and token -------------------------------------------------------------------------

/** `GET /v2/`: whether the credentials (if any) are good; without any, the challenge (or 200 for a public registry). */
async function ping(c: AppContext): Promise<Response> {
  await authenticated(c, "read", "read");
  return Response.json({});
}

const TokenQuery = z.object({
  service: z.string().max(256).optional(),
  account: z.string().max(256).optional(),
  client_id: z.string().max(256).optional(),
  offline_token: z.string().max(16).optional(),
  scope: z.array(z.string().max(1024)).max(32),
});

/**
 * `GET /v2/token`: the Docker token protocol's endpoint. The token answered is the caller's
 * own mreg token: it already carries what the caller may do, and every request made with it
 * is checked (scopes, `models`, revocation) as any other. `expires_in` is what it has left.
 */
async function token(c: AppContext): Promise<Response> {
  const url = new URL(c.req.url);
  parseWith(
    TokenQuery,
    { ...Object.fromEntries(url.searchParams), scope: url.searchParams.getAll("scope") },
    "query parameters",
  );
  const basic = { "www-authenticate": `Basic realm="${SERVICE}"` };
  let presented;
  try {
    presented = await presentedToken(c);
  } catch (err) {
    if (err instanceof ProblemError && err.code === "unauthenticated")
      throw new OciError(401, "UNAUTHORIZED", "authentication required", basic, err.detail);
    throw err;
  }
  if (presented === null)
    throw new OciError(
      401,
      "UNAUTHORIZED",
      "authentication required",
      basic,
      "Send Basic with an mreg token as the password (any user name), or Bearer",
    );
  const { token, exp } = presented;
  const now = Date.now();
  const expiresIn = Math.max(0, Math.floor(exp - now / 1000));
  return Response.json(
    { token, access_token: token, expires_in: expiresIn, issued_at: timestamp(now) },
    { headers: { "cache-control": "no-store" } },
  );
}

// ---- catalog and tags -----------------------------------------------------------------------

const PageQuery = z.object({
  n: z.coerce.number().int().min(0).max(1_000_000).optional(),
  last: z.string().max(1024).optional(),
});

/** `?n=` and `?last=`; `n` capped at MAX_PAGE. */
function pageQuery(c: AppContext): { n: number; last: string | null } {
  const url = new URL(c.req.url);
  const raw = Object.fromEntries(url.searchParams);
  const parsed = PageQuery.safeParse(raw);
  if (!parsed.success)
    throw new OciError(
      400,
      "PAGINATION_NUMBER_INVALID",
      "invalid number of results requested",
      {},
      { n: raw.n ?? null },
    );
  return { n: Math.min(parsed.data.n ?? MAX_PAGE, MAX_PAGE), last: parsed.data.last ?? null };
}

/** The next page's link, relative as the spec writes it (the clients resolve it against the request). */
function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/** `GET /v2/_catalog`: the models the token may see, by name. */
async function catalog(c: AppContext): Promise<Response> {
  const principal = await caller(c, OCI_WORDING, { scope: "read", access: "read" });
  const { n, last } = pageQuery(c);
  const rows =
    n === 0
      ? []
      : await new ModelStore(queryDb(c)).list({
          tags: [],
          visibility: visibilityOf(principal),
          after: last ?? undefined,
          limit: n,
        });
  const page = rows.slice(0, n).map((r) => r.name);
  const headers = new Headers();
  if (rows.length > n) headers.set("link", nextLink("/v2/_catalog", n, page[page.length - 1]!));
  return Response.json({ repositories: page }, { headers });
}

/**
 * `GET /v2/{model}/tags/list`: the aliases whose versions are all ready, the stages that
 * resolve to a ready version (the resolve service's rule: a stage's name is its alias if one
 * is set, else its highest version), then `v<n>` of every ready version.
 */
async function tags(c: AppContext, model: string): Promise<Response> {
  await reader(c, model);
  const { n, last } = pageQuery(c);
  const db = queryDb(c);
  const [ready, aliases, stages] = await Promise.all([
    new VersionStore(db).readyVersions(model),
    new AliasProjection(db).ofModels([model]),
    lookupAll(
      requestContext(c),
      model,
      NAMED_STAGES.map((stage) => ({ kind: "alias", alias: stage })),
    ),
  ]);
  if (stages.some((s) => s.kind === "no_model")) throw nameUnknown(model);
  const readySet = new Set(ready);
  const names = aliases.filter((a) => valueVersions(a.value).every((v) => readySet.has(v))).map((a) => a.alias);
  NAMED_STAGES.forEach((stage, i) => {
    const resolved = stages[i]!;
    if (resolved.kind === "found" && resolved.state.targets.every((t) => t.digest !== null)) names.push(stage);
  });
  const page = tagsPage(tagsList(names, ready), n, last);
  const headers = new Headers();
  if (page.more) headers.set("link", nextLink(`/v2/${model}/tags/list`, n, page.tags[page.tags.length - 1]!));
  return Response.json({ name: model, tags: page.tags }, { headers });
}

// ---- manifests ------------------------------------------------------------------------------

/** `GET|HEAD /v2/{model}/manifests/{reference}`. */
async function manifest(c: AppContext, model: string, referenceText: string): Promise<Response> {
  const principal = await reader(c, model);
  const reference = manifestReference(referenceText);
  let built: ServedManifest;
  switch (reference.kind) {
    case "invalid":
      throw referenceText.startsWith("sha256:") || referenceText.includes(":")
        ? new OciError(400, "DIGEST_INVALID", "provided digest is not a sha256 digest", {}, { digest: referenceText })
        : new OciError(400, "TAG_INVALID", "manifest tag is not valid", {}, { tag: referenceText });
    case "unknown_tag":
      throw await missing(c, model, manifestUnknown(referenceText));
    case "digest": {
      const found =
        (await manifestOfDigest(c, principal, model, reference.digest)) ??
        (await signatureReferrerOfDigest(c, model, reference.digest));
      if (found === null) throw await missing(c, model, manifestUnknown(reference.digest));
      built = found;
      break;
    }
    case "tag":
      built = await manifestOfTag(c, principal, model, referenceText, reference.reference);
      break;
  }
  const bytes = built.bytes;
  const headers = new Headers({
    "content-type": built.mediaType,
    "docker-content-digest": built.digest,
    "content-length": String(bytes.byteLength),
    etag: `"${built.digest}"`,
    // A digest names these bytes for ever; a tag may move, so revalidate (the ETag makes that a 304).
    "cache-control":
      reference.kind === "digest"
        ? `${config(c.env).PUBLIC_READ ? "public" : "private"}, max-age=31536000, immutable`
        : "private, no-cache",
  });
  if (etagMatches(c.req.header("if-none-match") ?? null, built.digest)) {
    headers.delete("content-length");
    return new Response(null, { status: 304, headers });
  }
  return new Response(c.req.method === "HEAD" ? null : bytes, { status: 200, headers });
}

function etagMatches(header: string | null, digest: string): boolean {
  return (
    header !== null && header.split(",").some((t) => t.trim().replace(/^W\//, "") === `"${digest}"` || t.trim() === "*")
  );
}

// ---- blobs ----------------------------------------------------------------------------------

/** `GET|HEAD /v2/{model}/blobs/{digest}`: a file a ready version of this model holds, the empty config, or a signature's bundle. */
async function blob(c: AppContext, model: string, digest: string): Promise<Response> {
  await reader(c, model);
  if (!DIGEST.test(digest))
    throw new OciError(400, "DIGEST_INVALID", "provided digest is not a sha256 digest", {}, { digest });
  const headers = new Headers({
    "docker-content-digest": digest,
    etag: `"${digest.slice("sha256:".length)}"`,
    "accept-ranges": "bytes",
    "cache-control": `${config(c.env).PUBLIC_READ ? "public" : "private"}, max-age=31536000, immutable`,
  });
  if (digest === EMPTY_DIGEST) {
    if (!(await new ModelStore(queryDb(c)).exists(model))) throw nameUnknown(model);
    headers.set("content-type", EMPTY_MEDIA_TYPE);
    headers.set("content-length", String(EMPTY_CONFIG.length));
    return new Response(c.req.method === "HEAD" ? null : EMPTY_CONFIG, { status: 200, headers });
  }
  const sha256 = digest.slice("sha256:".length);
  const size = await heldBlobSize(c.env, queryDb(c), model, sha256);
  if (size === null) {
    // A signature's bundle, the layer of its referrer manifest (./referrers.ts).
    const bundle = await signatureBundleBlob(c, model, sha256, headers);
    if (bundle) return bundle;
    throw await missing(c, model, blobUnknown(digest));
  }
  const download = await openDownload(
    c.env,
    { sha256, size },
    {
      range: c.req.header("range") ?? null,
      ifNoneMatch: c.req.header("if-none-match") ?? null,
      head: c.req.method === "HEAD",
      readAhead: true,
    },
  );
  return answerDownload(download, size, headers, () => {
    if (size === 0) return emptyFileAnswer(headers);
    throw new OciError(
      416,
      "RANGE_INVALID",
      "requested range not satisfiable",
      { ...Object.fromEntries(headers), "content-range": `bytes */${size}` },
      { size },
    );
  });
}

// ---- the sub-app ----------------------------------------------------------------------------

type RouteKind = "tags" | "manifest" | "blob" | "uploads" | "upload" | "referrers";
type Route = { kind: RouteKind; name: string; arg: string } | null;

/**
 * Splits `/v2/<name>/<kind>/<arg>`; the name is everything before the last `/manifests/`,
 * `/blobs/`, `/referrers/`, `/blobs/uploads/` or `/tags/list`.
 */
function route(rest: string): Route {
  if (rest.endsWith("/tags/list")) return { kind: "tags", name: rest.slice(0, -"/tags/list".length), arg: "" };
  for (const tail of ["/blobs/uploads/", "/blobs/uploads"])
    if (rest.endsWith(tail) && rest.length > tail.length)
      return { kind: "uploads", name: rest.slice(0, -tail.length), arg: "" };
  const uploadAt = rest.lastIndexOf("/blobs/uploads/");
  if (uploadAt > 0) {
    const arg = rest.slice(uploadAt + "/blobs/uploads/".length);
    if (arg !== "" && !arg.includes("/")) return { kind: "upload", name: rest.slice(0, uploadAt), arg };
  }
  for (const [marker, kind] of [
    ["/manifests/", "manifest"],
    ["/blobs/", "blob"],
    ["/referrers/", "referrers"],
  ] as const) {
    const at = rest.lastIndexOf(marker);
    if (at > 0) {
      const arg = rest.slice(at + marker.length);
      if (arg !== "" && !arg.includes("/")) return { kind, name: rest.slice(0, at), arg };
    }
  }
  return null;
}

/** The model a route's repository name names; only one-segment names exist here. */
function modelOfName(name: string): string {
  const model = repositoryModel(name);
  if (model !== null) return model;
  // A name the spec allows but mreg has no such model for (`team/model`): unknown, not invalid.
  if (isRepositoryName(name)) throw nameUnknown(name);
  throw new OciError(400, "NAME_INVALID", "invalid repository name", {}, { name });
}

/** A repository's route for GET and HEAD; `ociBridge` sends only paths `route` recognizes here. */
async function repository(c: AppContext): Promise<Response> {
  const target = route(c.req.param("rest") ?? "")!;
  const model = modelOfName(target.name);
  switch (target.kind) {
    case "tags":
      return tags(c, model);
    case "manifest":
      return manifest(c, model, target.arg);
    case "blob":
      return blob(c, model, target.arg);
    case "referrers":
      return referrers(c, await reader(c, model), model, target.arg);
    case "upload":
      return uploadStatus(c, model, target.arg);
    case "uploads":
      throw notAllowed(c.req.method, "POST");
  }
}

/** A repository's route for the methods that write; what no write route takes is 405. */
async function repositoryWrite(c: AppContext): Promise<Response> {
  const target = route(c.req.param("rest") ?? "");
  if (target === null) throw notAllowed(c.req.method, "GET, HEAD");
  const model = modelOfName(target.name);
  const method = c.req.method;
  switch (`${method} ${target.kind}`) {
    case "POST uploads":
      return startUpload(c, model);
    case "PATCH upload":
      return patchUpload(c, model, target.arg);
    case "PUT upload":
      return finishUpload(c, model, target.arg);
    case "DELETE upload":
      return cancelUpload(c, model, target.arg);
    case "PUT manifest":
      return putManifest(c, model, target.arg);
    case "DELETE manifest":
      return deleteManifest(c, model, target.arg);
    default:
      throw notAllowed(method, ALLOWED[target.kind]);
  }
}

/** What each route takes, for a 405's `Allow`. */
const ALLOWED: Record<RouteKind, string> = {
  tags: "GET, HEAD",
  manifest: "GET, HEAD, PUT, DELETE",
  blob: "GET, HEAD",
  referrers: "GET, HEAD",
  uploads: "POST",
  upload: "GET, PATCH, PUT, DELETE",
};

const notAllowed = (method: string, allow: string) =>
  new OciError(405, "UNSUPPORTED", "the operation is unsupported", { allow }, { method });

/** The repository a request names, for its challenge's scope (none when it names none); a write asks for push too. */
function scopeOf(c: AppContext): string | undefined {
  const target = route(c.req.param("rest") ?? "");
  const model = target ? repositoryModel(target.name) : null;
  if (model === null) return undefined;
  return c.req.method === "GET" || c.req.method === "HEAD" ? challengeScope(model) : challengeScope(model, "push");
}

const noRoute = oci(async (c) => {
  throw new OciError(404, "NAME_UNKNOWN", `no repository or distribution route at ${new URL(c.req.url).pathname}`);
});

const unsupported = oci(async (c) => {
  throw notAllowed(c.req.method, "GET, HEAD");
});

/** The sub-app, mounted after `/v1` and the web UI. HEAD is served by the GET routes (Hono drops the body, keeps the headers). */
export function ociBridge(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/v2", oci(ping));
  app.get("/v2/", oci(ping));
  app.get("/v2/token", oci(token));
  app.get("/v2/_catalog", oci(catalog));
  // A model named `v2` keeps its Hub file routes (`/v2/resolve/…`, `/v2/raw/…`): no OCI
  // repository starts with those segments (mreg's are one segment), so they fall through.
  // Any other path under /v2/ is an OCI client's: one that is no distribution route still
  // answers in the distribution's format, which is all such a client can read.
  app.get(`/v2/:rest${MULTI_SEGMENT}`, async (c, next) => {
    const rest = c.req.param("rest") ?? "";
    if (/^(resolve|raw)\//.test(rest)) return next();
    return route(rest) === null ? noRoute(c) : oci(repository, scopeOf)(c);
  });
  app.on(["POST", "PUT", "PATCH", "DELETE"], `/v2/:rest${MULTI_SEGMENT}`, async (c, next) => {
    const rest = c.req.param("rest") ?? "";
    if (/^(resolve|raw)\//.test(rest)) return next();
    return oci(repositoryWrite, scopeOf)(c);
  });
  app.on(["POST", "PUT", "PATCH", "DELETE"], ["/v2", "/v2/", "/v2/*"], unsupported);
  return app;
}
