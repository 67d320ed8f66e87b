/**
 * The Hub bridge's routes as the served OpenAPI document lists them (docs/reference.md
 * "Bridges": each bridge is listed there). Written by hand: the bridge is a Hono sub-app with
 * the Hub's own paths and error format, not `/v1` route declarations. `{repo}` is `<model>` or
 * `<HF_NAMESPACE>/<model>`.
 */
import { HUB_WRITE_OPENAPI_PATHS, param, REPO } from "./openapi-write";
const errorCodes =
  '404 with `X-Error-Code`: `RepoNotFound` (also for a model the token may not see), `RevisionNotFound`, `EntryNotFound` (with `X-Repo-Commit`); 401 `RepoNotFound` without a valid token. Body `{"error": "..."}`.';

const REVISION = param(
  "revision",
  "An alias (a split picks by the `x-mreg-key` header, else its member of largest weight), `v<n>`, `latest`, `main`/`HEAD` (the alias `HF_DEFAULT_ALIAS`, default `production`), or a version's 40-hex commit (the first 40 hex digits of its digest)",
);
const KEY = param("x-mreg-key", "Routing key for a split alias", "header");

const json = (description: string) => ({
  description,
  content: { "application/json": { schema: { type: "object" } } },
});

const file = (kind: "resolve" | "raw") => ({
  summary: `Hugging Face Hub: a file's bytes (${kind})`,
  description: `Streamed from R2, never redirected. \`Range\` (206; \`bytes=0-0\` answers \`Content-Range: bytes 0-0/<size>\`; an empty file 200 with \`bytes */0\`), \`If-None-Match\`. Headers \`X-Repo-Commit\`, \`ETag\` and \`X-Linked-Etag\` (\`"<sha256>"\`), \`X-Linked-Size\`, \`Content-Length\`. ${errorCodes}`,
  tags: ["Hugging Face Hub"],
  "x-mreg-scope": "read",
  parameters: [REPO, REVISION, param("path", "The file's path in the version"), KEY],
  responses: {
    200: { description: "The bytes" },
    206: { description: "The range" },
    304: { description: "Not modified" },
    404: json("Not found"),
    416: json("Range not satisfiable"),
    503: json(
      "With `Retry-After`: the stored bytes failed a scrub's integrity check and are not served until uploaded again",
    ),
  },
});

/** Path items for the Hub bridge (its write side from ./openapi-write.ts), merged into /openapi.json. */
export const HUB_OPENAPI_PATHS: Record<string, Record<string, unknown>> = {
  ...HUB_WRITE_OPENAPI_PATHS,
  "/{repo}/resolve/{revision}/{path}": {
    get: { operationId: "hubResolveFile", ...file("resolve") },
    head: { operationId: "hubResolveFileHead", ...file("resolve") },
  },
  "/{repo}/raw/{revision}/{path}": {
    get: { operationId: "hubRawFile", ...file("raw") },
    head: { operationId: "hubRawFileHead", ...file("raw") },
  },
  "/api/models/{repo}": {
    get: {
      operationId: "hubModelInfo",
      summary: "Hugging Face Hub: model info at `main`",
      tags: ["Hugging Face Hub"],
      "x-mreg-scope": "read",
      parameters: [REPO, param("expand", "Accepted (repeatable); every field is always answered", "query"), KEY],
      responses: {
        200: json(
          "`{_id, id, modelId, sha, private, gated, disabled, downloads, likes, lastModified, createdAt, tags, library_name?, pipeline_tag?, cardData?, siblings}`",
        ),
        404: json(errorCodes),
      },
    },
  },
  "/api/models/{repo}/revision/{revision}": {
    get: {
      operationId: "hubModelInfoAtRevision",
      summary: "Hugging Face Hub: model info at a revision",
      description:
        "`sha` is the version's commit; `siblings` its files as LFS files; `cardData`, `tags`, `library_name`, `pipeline_tag` from README.md's front matter.",
      tags: ["Hugging Face Hub"],
      "x-mreg-scope": "read",
      parameters: [REPO, REVISION, param("expand", "Accepted (repeatable)", "query"), KEY],
      responses: { 200: json("Model info"), 404: json(errorCodes) },
    },
  },
  "/api/models/{repo}/tree/{revision}/{path}": {
    get: {
      operationId: "hubTree",
      summary: "Hugging Face Hub: a version's tree (the path is optional)",
      description:
        '`[{type: "file", path, size, oid, lfs: {oid, size, pointerSize}} | {type: "directory", path, size: 0, oid}]`, direct children or (`recursive=true`) everything below; paged (`limit` up to 1000) with an absolute `Link: <…>; rel="next"`.',
      tags: ["Hugging Face Hub"],
      "x-mreg-scope": "read",
      parameters: [
        REPO,
        REVISION,
        param("path", "A directory ('' for the root)"),
        param("recursive", "true to list everything below", "query"),
        param("limit", "1..1000 (default 1000)", "query"),
        param("cursor", "From the Link header", "query"),
        KEY,
      ],
      responses: { 200: json("A page of entries"), 404: json(errorCodes) },
    },
  },
  "/api/models/{repo}/paths-info/{revision}": {
    post: {
      operationId: "hubPathsInfo",
      summary: "Hugging Face Hub: the entries that exist among some paths",
      description:
        "A read: JSON `{paths: [...], expand?}` or form-encoded `paths` (repeated). Answers the entries found, shaped as in the tree.",
      tags: ["Hugging Face Hub"],
      "x-mreg-scope": "read",
      parameters: [REPO, REVISION, KEY],
      requestBody: {
        required: true,
        content: {
          "application/json": { schema: { type: "object" } },
          "application/x-www-form-urlencoded": { schema: { type: "object" } },
        },
      },
      responses: { 200: json("The entries found"), 400: json("A malformed body"), 404: json(errorCodes) },
    },
  },
};
