/**
 * The OCI bridge's routes as the served OpenAPI document lists them (docs/reference.md
 * "Bridges": each bridge is listed there). Written by hand, as the Hub bridge's: a Hono sub-app
 * with the distribution spec's own paths and error format, not `/v1` route declarations.
 */
const errors =
  'Errors `{"errors": [{"code", "message", "detail"}]}`: `UNAUTHORIZED` 401 (with `WWW-Authenticate: Bearer realm="<origin>/v2/token",service="mreg",scope="repository:<name>:pull"`), `DENIED` 403, `NAME_UNKNOWN` 404 (also for a model the token may not see), `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN` 404, `UNSUPPORTED` 405, `NAME_INVALID` / `TAG_INVALID` / `DIGEST_INVALID` / `MANIFEST_INVALID` / `MANIFEST_BLOB_UNKNOWN` / `BLOB_UPLOAD_UNKNOWN` / `BLOB_UPLOAD_INVALID` / `SIZE_INVALID` 400 (a route that writes challenges for `repository:<name>:pull,push`).';

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
    "A file that a ready version of this model holds, the empty config `{}`, a kept attachment's config or layer, or the bundle of a signature of this model (whole, no `Range`: the layer of its referrer manifest); streamed from R2 with `Range` (206), `Docker-Content-Digest`, `Content-Length`. " +
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

const op = (
  operationId: string,
  summary: string,
  scope: string,
  description: string,
  responses: Record<number, unknown>,
  parameters: unknown[] = [NAME],
) => ({
  operationId,
  summary,
  description: `${description} ${errors}`,
  tags: TAG,
  "x-mreg-scope": scope,
  parameters,
  responses,
});

const UPLOAD = param("uuid", "The upload's id, from the `Location` its POST answered");
const uploadAnswer = (what: string) => ({
  description: `${what}: \`Location\`, \`Range: 0-<last byte>\`, \`Docker-Upload-UUID\``,
});

const putManifest = op(
  "ociManifestPut",
  "OCI: push a manifest",
  "write",
  "An OCI image manifest (at most 4 MiB). With a `subject`: kept as an attachment of the manifest it names (no version; the subject may arrive later), answered with `OCI-Subject` (a Sigstore bundle attached this way, `artifactType: application/vnd.dev.sigstore.bundle.v0.3+json` with the bundle as its one layer, becomes a signature of the version its subject names, checked as `POST /v1/models/{model}/versions/{version}/signatures` checks it before anything is kept: its subject must be a ready version's manifest, and a bundle that fails is `MANIFEST_INVALID` with `detail.check` naming the failed check). Otherwise: one ready version whose files are the layers, each at its `org.opencontainers.image.title` (or ModelPack's `org.cncf.model.filepath`) path, `lineage.source: \"oci\"`; every layer and the config must be blobs uploaded to (or held by) this model. The bytes are kept: pulls answer them, so the digest pushed is the digest pulled; the same manifest again names the same version. A tag (an alias; `latest` and `v<n>` are `TAG_INVALID`) moves through its gate as `PUT .../aliases/{alias}` does (scope `promote` and the alias grant; a refusal is `DENIED` with the failed checks); by digest no alias moves.",
  {
    201: { description: "Kept: `Location`, `Docker-Content-Digest`, `OCI-Subject` for an attachment" },
    400: json("`MANIFEST_INVALID`, `MANIFEST_BLOB_UNKNOWN`, `TAG_INVALID`, `DIGEST_INVALID`, `SIZE_INVALID`"),
    403: json("`DENIED`: no `write`, no `promote` or alias grant for the tag, or its gate refused"),
  },
  [NAME, param("reference", "A tag (an alias) or `sha256:<hex>` of the body")],
);

const deleteManifest = op(
  "ociManifestDelete",
  "OCI: delete an attachment",
  "admin",
  "Removes an attachment (a manifest pushed with a `subject`). A version's manifest or a tag: 405 `UNSUPPORTED` (versions are deleted through `/v1`).",
  { 202: { description: "Removed" }, 405: json("`UNSUPPORTED`") },
  [NAME, param("reference", "`sha256:<hex>` of the attachment")],
);

const unsupported = (m: string) => ({
  operationId: `ociBlob${m[0]!.toUpperCase()}${m.slice(1)}`,
  summary: "OCI: blobs are not deleted here",
  tags: TAG,
  "x-mreg-scope": "public",
  responses: { 405: json("`UNSUPPORTED`") },
});

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
          "`repository:<name>:pull` or `repository:<name>:pull,push` (repeatable; the token is the caller's own whatever it asks, and each request made with it is checked against its scopes)",
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
  "/v2/{name}/manifests/{reference}": {
    get: manifest(false),
    head: manifest(true),
    put: putManifest,
    delete: deleteManifest,
  },
  "/v2/{name}/blobs/{digest}": { get: blob(false), head: blob(true), delete: unsupported("delete") },
  "/v2/{name}/blobs/uploads/": {
    post: op(
      "ociUploadStart",
      "OCI: start a blob upload",
      "write",
      "Without a query: a session for chunks (202). `?digest=` with the bytes: the whole blob in one request (201). `?mount=<digest>&from=<model>`: 201 without bytes when the token may read `from` and a ready version of it holds the blob, else 202 (a normal upload). Every byte is verified against the digest before the blob counts. A body over the zone's limit (`ZONE_BODY_LIMIT`) is `SIZE_INVALID` before a byte is read: send it in chunks.",
      {
        201: { description: "Stored or mounted: `Location: /v2/{name}/blobs/<digest>`, `Docker-Content-Digest`" },
        202: uploadAnswer("A session"),
        400: json("`DIGEST_INVALID`, `SIZE_INVALID`"),
      },
      [
        NAME,
        param("digest", "`sha256:<hex>` of the body", "query"),
        param("mount", "`sha256:<hex>`", "query"),
        param("from", "A model", "query"),
      ],
    ),
  },
  "/v2/{name}/blobs/uploads/{uuid}": {
    get: op(
      "ociUploadStatus",
      "OCI: how far an upload got",
      "write",
      "204 with `Range`.",
      { 204: uploadAnswer("The session") },
      [NAME, UPLOAD],
    ),
    patch: op(
      "ociUploadChunk",
      "OCI: append a chunk",
      "write",
      "A chunk of any size (`Content-Length` required); `Content-Range: <start>-<end>`, when sent, must start where the upload ends (416 otherwise, with its `Range`). A chunk over the zone's limit (`ZONE_BODY_LIMIT`) is `SIZE_INVALID` before a byte is read: send smaller chunks.",
      {
        202: uploadAnswer("Appended"),
        400: json("`SIZE_INVALID`, `BLOB_UPLOAD_INVALID`"),
        416: json("`BLOB_UPLOAD_INVALID`, with `Range`"),
      },
      [NAME, UPLOAD],
    ),
    put: op(
      "ociUploadEnd",
      "OCI: end an upload",
      "write",
      "With an optional last chunk; the bytes must hash to `?digest=` (`DIGEST_INVALID` otherwise: nothing is kept and the upload ends). A last chunk over the zone's limit (`ZONE_BODY_LIMIT`) is `SIZE_INVALID` before a byte is read, and the upload stays open.",
      {
        201: { description: "`Location: /v2/{name}/blobs/<digest>`, `Docker-Content-Digest`" },
        400: json("`DIGEST_INVALID`, `BLOB_UPLOAD_UNKNOWN`, `SIZE_INVALID`"),
      },
      [NAME, UPLOAD, param("digest", "`sha256:<hex>`", "query")],
    ),
    delete: op(
      "ociUploadCancel",
      "OCI: abandon an upload",
      "write",
      "Its parts are dropped.",
      { 204: { description: "Abandoned" } },
      [NAME, UPLOAD],
    ),
  },
  "/v2/{name}/referrers/{digest}": {
    get: op(
      "ociReferrers",
      "OCI: the referrers of a manifest",
      "read",
      "An OCI image index (`application/vnd.oci.image.index.v1+json`) of the attachments whose subject is `digest` and, when it is a version's manifest, of every signature of the version: one attached over OCI as its pushed manifest, any other (uploaded through `/v1`) as the manifest `@sigstore/oci` would push for it, fetchable by digest with its bundle as a blob (always 200; an unknown digest has none); `?artifactType=` filters both, answered with `OCI-Filters-Applied: artifactType`.",
      {
        200: {
          description: "The index",
          content: { "application/vnd.oci.image.index.v1+json": { schema: { type: "object" } } },
        },
      },
      [NAME, param("digest", "`sha256:<hex>`"), param("artifactType", "Only referrers of this type", "query")],
    ),
  },
};
