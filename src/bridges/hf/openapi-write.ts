/**
 * The Hub bridge's write routes as the served OpenAPI document lists them (./openapi.ts holds
 * the read routes and merges these). Written by hand: the bridge is a Hono sub-app with the
 * Hub's own paths and error format. `{repo}` is `<model>` or `<HF_NAMESPACE>/<model>`.
 */
const TAGS = ["Hugging Face Hub"];

const errors =
  'Errors: `{"error": "..."}` with `X-Error-Code` and `X-Error-Message`: 404 `RepoNotFound` (also for a model the token may not see) or `RevisionNotFound`; 403 `ReadOnlyToken` for a token without `write`, `AccessDenied` for a missing `promote` or alias grant; 409 `GateFailed` when an alias\'s gate refuses.';

/** An OpenAPI parameter of the bridge's (./openapi.ts lists the read routes with these too). */
export const param = (name: string, description: string, where: "path" | "query" | "header" = "path") => ({
  name,
  in: where,
  required: where === "path",
  description,
  schema: { type: "string" },
});

export const REPO = param("repo", "`<model>` or `<HF_NAMESPACE>/<model>` (default namespace `mreg`)");
const WRITE_REVISION = param(
  "revision",
  "`main` (or `HEAD`): a new version, no alias moves; an alias: the alias moves to the new version through its gates. `v<n>` and commits are not writable (400)",
);

const json = (description: string) => ({
  description,
  content: { "application/json": { schema: { type: "object" } } },
});

const body = (mediaType: string, description: string) => ({
  required: true,
  description,
  content: { [mediaType]: { schema: { type: "object" } } },
});

const signed =
  "A URL the LFS batch API hands out: it carries its own credential (`exp`, `tid`, `sig` in the query: an HMAC over the model, the object or upload, its size or part, the expiry and the token's id), so no `Authorization` is sent. 403 once expired, altered, or its token revoked.";

/** Path items for the Hub bridge's write side, merged into /openapi.json. */
export const HUB_WRITE_OPENAPI_PATHS: Record<string, Record<string, unknown>> = {
  "/api/whoami-v2": {
    get: {
      operationId: "hubWhoami",
      summary: "Hugging Face Hub: who the token is",
      description:
        '`{type: "user", name: <sub>, orgs: [<HF_NAMESPACE>], auth: {accessToken: {displayName, role}}}`; `role` is `write` when the token may write. 401 without a token.',
      tags: TAGS,
      "x-mreg-scope": "read",
      responses: { 200: json("The token's user") },
    },
  },
  "/api/repos/create": {
    post: {
      operationId: "hubCreateRepo",
      summary: "Hugging Face Hub: create a model",
      description: `\`{name, organization?, type?, private?}\`: creates the model \`name\` (\`organization\` absent or \`HF_NAMESPACE\`; a \`type\` other than \`model\` is 400). Answers \`{url, name, id}\`; 409 when it exists (\`exist_ok\` accepts that). ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "write",
      requestBody: body("application/json", "`{name, organization?, type?, private?}`"),
      responses: { 200: json("`{url, name, id}`"), 400: json("A bad name or type"), 409: json("It exists") },
    },
  },
  "/api/validate-yaml": {
    post: {
      operationId: "hubValidateYaml",
      summary: "Hugging Face Hub: check a model card's front matter",
      description:
        "`{content, repoType?}`: what `huggingface_hub` asks before a commit that adds a `README.md`. 200 `{errors: [], warnings: []}`, or 400 with `errors: [{message}]` for YAML the registry cannot read.",
      tags: TAGS,
      "x-mreg-scope": "read",
      requestBody: body("application/json", "`{content, repoType?}`"),
      responses: { 200: json("`{errors, warnings}`"), 400: json("`{error, errors: [{message}]}`") },
    },
  },
  "/api/models": {
    get: {
      operationId: "hubListModels",
      summary: "Hugging Face Hub: the models the token sees",
      description:
        '`?search=` (names containing it), `author=` (the namespace), `limit=` (1..1000); `sort`, `filter`, `expand` are accepted. By name, paged with an absolute `Link: <…>; rel="next"`.',
      tags: TAGS,
      "x-mreg-scope": "read",
      parameters: [
        param("search", "Names containing this", "query"),
        param("author", "The namespace", "query"),
        param("limit", "1..1000 (default 1000)", "query"),
        param("cursor", "From the Link header", "query"),
      ],
      responses: {
        200: json("`[{_id, id, modelId, private, gated, downloads, likes, lastModified, createdAt, tags}]`"),
      },
    },
  },
  "/api/models/{repo}/preupload/{revision}": {
    post: {
      operationId: "hubPreupload",
      summary: "Hugging Face Hub: how each file is to be uploaded",
      description: `\`{files: [{path, size, sample}]}\` (up to 1000): every file answers \`uploadMode: "lfs"\`, \`shouldIgnore: false\`. ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "write",
      parameters: [REPO, WRITE_REVISION],
      requestBody: body("application/json", "`{files: [{path, size, sample}]}`"),
      responses: { 200: json("`{files: [{path, uploadMode, shouldIgnore}]}`") },
    },
  },
  "/{repo}.git/info/lfs/objects/batch": {
    post: {
      operationId: "hubLfsBatch",
      summary: "Hugging Face Hub: the LFS batch API (uploads)",
      description: `\`application/vnd.git-lfs+json\`: \`{operation: "upload", transfers, objects: [{oid, size}], hash_algo?, ref?}\` (up to 1000 objects). Each object: no \`actions\` when the token's models hold it already (not sent again); \`basic\` (one PUT to \`actions.upload.href\`) up to \`MAX_SINGLE_PUT\`, never past the zone's body limit \`ZONE_BODY_LIMIT\`; above it HF's \`multipart\` (\`header.chunk_size\`, one URL per part under \`00001\`…, the completion URL as \`href\`); or \`error: {code, message}\`. ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "write",
      parameters: [REPO],
      requestBody: body("application/vnd.git-lfs+json", "The batch request"),
      responses: { 200: { description: "`{transfer, objects}`", content: { "application/vnd.git-lfs+json": {} } } },
    },
  },
  "/{model}.git/info/lfs/objects/{oid}": {
    put: {
      operationId: "hubLfsPutObject",
      summary: "Hugging Face Hub: one LFS object in one request (signed URL)",
      description: `The bytes, \`Content-Length\` = the object's size, verified against \`oid\` as they stream into R2 (422 and nothing kept otherwise). ${signed}`,
      tags: TAGS,
      "x-mreg-scope": "signed URL",
      parameters: [param("model", "The model"), param("oid", "The object's sha256")],
      requestBody: body("application/octet-stream", "The object's bytes"),
      responses: {
        200: { description: "Stored and verified" },
        403: json("A bad URL"),
        413: json("A `Content-Length` over the zone's body limit (`ZONE_BODY_LIMIT`): take the `multipart` transfer"),
        422: json("Not the object"),
      },
    },
  },
  "/{model}.git/info/lfs/uploads/{upload_id}/{part}": {
    put: {
      operationId: "hubLfsPutPart",
      summary: "Hugging Face Hub: one part of a multipart LFS upload (signed URL)",
      description: `\`chunk_size\` bytes (the last part: the rest); answers the part's \`ETag\`. A part sent again replaces the first; the upload's state is in the model's ModelState, so parts survive a restart of the registry. ${signed}`,
      tags: TAGS,
      "x-mreg-scope": "signed URL",
      parameters: [param("model", "The model"), param("upload_id", "The upload"), param("part", "1-based")],
      requestBody: body("application/octet-stream", "The part's bytes"),
      responses: { 200: { description: "Recorded; `ETag`" }, 400: json("Wrong size"), 403: json("A bad URL") },
    },
  },
  "/{model}.git/info/lfs/uploads/{upload_id}": {
    post: {
      operationId: "hubLfsComplete",
      summary: "Hugging Face Hub: complete a multipart LFS upload (signed URL)",
      description: `\`{oid, parts: [{partNumber, etag}]}\`: every part there, the assembled bytes re-read through SHA-256 and compared with \`oid\` and the size (422 and nothing kept otherwise). An object over \`VERIFY_BYTES_PER_STEP\` is hashed in steps on the queue while the request waits, up to \`VERIFY_WAIT_S\`; past that, 503 with \`Retry-After\` (the steps go on: send the completion again). Completing a completed upload answers it again. ${signed}`,
      tags: TAGS,
      "x-mreg-scope": "signed URL",
      parameters: [param("model", "The model"), param("upload_id", "The upload")],
      requestBody: body("application/vnd.git-lfs+json", "`{oid, parts}`"),
      responses: {
        200: json("`{oid, size}`"),
        409: json("Parts missing"),
        422: json("Not the object"),
        503: json("Still being verified after VERIFY_WAIT_S: `Retry-After`"),
      },
    },
  },
  "/api/models/{repo}/commit/{revision}": {
    post: {
      operationId: "hubCommit",
      summary: "Hugging Face Hub: commit (one new ready version)",
      description: `\`application/x-ndjson\`: a \`header\` line \`{summary, description?, parentCommit?}\`, then \`file\` (\`{path, content, encoding}\`, or \`{path, oldPath}\`), \`lfsFile\` (\`{path, algo, oid, size?}\`, or \`{path, oldPath}\`), \`deletedFile\` and \`deletedFolder\` (\`{path}\`), \`copyFile\` (\`{path, srcPath, srcRevision?}\`) lines; at most 25,000, each at most 8 MiB. One ready version: the revision's current files (\`main\`: the newest ready version) changed by the lines, its lineage parent the version it started from, its description the message. 412 when \`parentCommit\` is no longer the revision's commit; a commit that changes nothing makes no version and answers the current commit. ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "write (promote for an alias)",
      parameters: [REPO, WRITE_REVISION],
      requestBody: body("application/x-ndjson", "The commit's lines"),
      responses: {
        200: json("`{commitUrl, commitOid, pullRequestUrl: null}`"),
        404: json("EntryNotFound: a line names a file or folder the revision does not hold"),
        409: json("GateFailed: the version is made, the alias did not move"),
        412: json("parentCommit is stale"),
      },
    },
  },
  "/api/models/{repo}/branch/{branch}": {
    post: {
      operationId: "hubCreateBranch",
      summary: "Hugging Face Hub: create a branch (an alias)",
      description: `\`{startingPoint?, overwrite?}\`: sets the alias \`branch\` to the version \`startingPoint\` names (default: \`main\`'s newest), through its gates; 409 when it exists (unless \`overwrite\`). ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "promote",
      parameters: [REPO, param("branch", "The alias")],
      requestBody: body("application/json", "`{startingPoint?, overwrite?}`"),
      responses: { 200: json("`{ref, targetCommit}`"), 409: json("Exists, or GateFailed") },
    },
    delete: {
      operationId: "hubDeleteBranch",
      summary: "Hugging Face Hub: delete a branch (the alias)",
      description: `Deletes the alias (\`admin\` for one with a gate); \`main\` cannot be deleted (403). ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "promote",
      parameters: [REPO, param("branch", "The alias")],
      responses: { 204: { description: "Deleted" } },
    },
  },
  "/api/models/{repo}/tag/{revision}": {
    post: {
      operationId: "hubCreateTag",
      summary: "Hugging Face Hub: tag a revision (an alias)",
      description: `\`{tag, message?}\`: sets the alias \`tag\` to the version \`revision\` names, when it is not set (409 otherwise). \`DELETE .../tag/{tag}\` deletes it. ${errors}`,
      tags: TAGS,
      "x-mreg-scope": "promote",
      parameters: [REPO, param("revision", "What the tag names (`main`: the newest version)")],
      requestBody: body("application/json", "`{tag, message?}`"),
      responses: { 200: json("`{ref, targetCommit}`"), 409: json("Exists") },
    },
    delete: {
      operationId: "hubDeleteTag",
      summary: "Hugging Face Hub: delete a tag (the alias)",
      tags: TAGS,
      "x-mreg-scope": "promote",
      parameters: [REPO, param("revision", "The tag")],
      responses: { 204: { description: "Deleted" } },
    },
  },
  "/api/models/{repo}/refs": {
    get: {
      operationId: "hubRefs",
      summary: "Hugging Face Hub: the aliases as branches",
      description:
        "`{branches: [{name, ref, targetCommit}], converts: [], tags: [], pullRequests: []}`; `main` first, with the commit reads of `main` get.",
      tags: TAGS,
      "x-mreg-scope": "read",
      parameters: [REPO],
      responses: { 200: json("The refs") },
    },
  },
  "/api/models/{repo}/commits/{revision}": {
    get: {
      operationId: "hubCommits",
      summary: "Hugging Face Hub: the versions a revision has named, newest first",
      description:
        "`[{id, title, message, authors: [{user}], date}]`. `main`: every ready version; an alias: each version it was set to; a version or commit: it, then its lineage parents in the model. `?limit=` (1..1000, default 100), paged with an absolute `Link`.",
      tags: TAGS,
      "x-mreg-scope": "read",
      parameters: [REPO, param("revision", "`main`, an alias, `v<n>` or a commit"), param("limit", "1..1000", "query")],
      responses: { 200: json("A page of commits") },
    },
  },
};
