/**
 * The OCI bridge's routes as the served OpenAPI document lists them (docs/reference.md
 * "Bridges": each bridge is listed there). Written by hand, as the Hub bridge's: a Hono sub-app
 * with the distribution spec's own paths and error format, not `/v1` route declarations.
 */
const errors =
  'Errors `{"errors": [{"code", "message", "detail"}]}`: `UNAUTHORIZED` 401 (with `WWW-Authenticate: Bearer realm="<origin>/v2/token",service="mreg",scope="repository:<name>:pull"`), `DENIED` 403, `NAME_UNKNOWN` 404 (also for a model the token may not see), `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN` 404, `NAME_INVALID` / `TAG_INVALID` / `DIGEST_INVALID` 400.';

const param = (name: string, description: string, where: "path" | "query" | "header" = "path") => ({
  name,
  in: where,
  required: where === "path",
  description,
  schema: { type: "string" },
});

const NAME = param("name", "The repository: a model name");
const json = (description: string) => ({
  description,
  content: { "application/json": { schema: { type: "object" } } },
});
const TAG = ["OCI distribution"];

const manifest = (head: boolean) => ({
  operationId: head ? "ociManifestHead" : "ociManifest",
  summary: `OCI: a version's manifest${head ? " (headers only)" : ""}`,
  description:
    "An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`, `artifactType: application/vnd.mreg.model.v1`): the empty config, one layer per file (sorted by path, `org.opencontainers.image.title` = the path), annotations naming the model, version and `ready_at`. Its bytes never change for a version. A tag is an alias or stage (a split picks by `x-mreg-key`, else its member of largest weight), `latest` or `v<n>`. Headers `Content-Type`, `Docker-Content-Digest`, `Content-Length`, `ETag`. " +
    errors,
  tags: TAG,
  "x-mreg-scope": "read",
  parameters: [
    NAME,
    param("reference", "A tag or `sha256:<hex>`"),
    param("x-mreg-key", "Routing key for a split alias", "header"),
  ],
  responses: {
    200: {
      description: "The manifest",
      content: { "application/vnd.oci.image.manifest.v1+json": { schema: { type: "object" } } },
    },
    304: { description: "Not modified (If-None-Match with the digest)" },
    404: json("Unknown"),
  },
});

const blob = (head: boolean) => ({
  operationId: head ? "ociBlobHead" : "ociBlob",
  summary: `OCI: a blob${head ? " (headers only)" : ""}`,
  description:
    "A file that a ready version of this model holds, or the empty config `{}`; streamed from R2 with `Range` (206), `Docker-Content-Digest`, `Content-Length`. " +
    errors,
  tags: TAG,
  "x-mreg-scope": "read",
  parameters: [NAME, param("digest", "`sha256:<hex>`")],
  responses: {
    200: { description: "The bytes" },
    206: { description: "The range" },
    404: json("Unknown"),
    416: json("`RANGE_INVALID`"),
    503: json(
      "`UNAVAILABLE` with `Retry-After`: the stored bytes failed a scrub's integrity check and are not served until uploaded again",
    ),
  },
});

const pushes = Object.fromEntries(
  ["post", "put", "patch", "delete"].map((m) => [
    m,
    {
      operationId: `ociPush${m[0]!.toUpperCase()}${m.slice(1)}`,
      summary: "OCI: pushes are not served",
      tags: TAG,
      "x-mreg-scope": "public",
      responses: { 405: json("`UNSUPPORTED`") },
    },
  ]),
);

/** Path items for the OCI bridge, merged into /openapi.json. */
export const OCI_OPENAPI_PATHS: Record<string, Record<string, unknown>> = {
  "/v2/": {
    get: {
      operationId: "ociPing",
      summary: "OCI: API version check",
      description:
        "200 `{}` with valid credentials (Bearer, or Basic with an mreg token as the password); 401 with the Bearer challenge without them.",
      tags: TAG,
      "x-mreg-scope": "read",
      responses: { 200: json("`{}`"), 401: json("`UNAUTHORIZED`") },
    },
  },
  "/v2/token": {
    get: {
      operationId: "ociToken",
      summary: "OCI: the token endpoint of the Bearer challenge",
      description:
        "Basic (any user name, an mreg token as the password) or Bearer. Answers `{token, access_token, expires_in, issued_at}`; the token is the caller's own, so its scopes, `models` and revocation apply to every request.",
      tags: TAG,
      "x-mreg-scope": "read",
      parameters: [
        param("service", "`mreg`", "query"),
        param(
          "scope",
          "`repository:<name>:pull` (repeatable; the token is the caller's own whatever it asks)",
          "query",
        ),
        param("account", "Ignored", "query"),
      ],
      responses: {
        200: json("`{token, access_token, expires_in, issued_at}`"),
        401: json("`UNAUTHORIZED` with `WWW-Authenticate: Basic`"),
      },
    },
  },
  "/v2/_catalog": {
    get: {
      operationId: "ociCatalog",
      summary: "OCI: the models the token may see",
      tags: TAG,
      "x-mreg-scope": "read",
      parameters: [
        param("n", "Page size (at most 1000)", "query"),
        param("last", "The last name of the previous page", "query"),
      ],
      responses: { 200: json('`{repositories: [...]}`, paged with `Link: <…>; rel="next"`') },
    },
  },
  "/v2/{name}/tags/list": {
    get: {
      operationId: "ociTags",
      summary: "OCI: a model's tags",
      description:
        "The aliases and stages that resolve to a ready version, by name, then `v<n>` of every ready version, by number. " +
        errors,
      tags: TAG,
      "x-mreg-scope": "read",
      parameters: [
        NAME,
        param("n", "Page size (at most 1000)", "query"),
        param("last", "The last tag of the previous page", "query"),
      ],
      responses: { 200: json('`{name, tags}`, paged with `Link: <…>; rel="next"`'), 404: json("`NAME_UNKNOWN`") },
    },
  },
  "/v2/{name}/manifests/{reference}": { get: manifest(false), head: manifest(true), ...pushes },
  "/v2/{name}/blobs/{digest}": { get: blob(false), head: blob(true), ...pushes },
};
