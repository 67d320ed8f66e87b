/**
 * The MLflow bridge's routes as the served OpenAPI document lists them (API.md: "Each bridge
 * is listed"). Written by hand, like the Hub bridge's: the bridge is a Hono sub-app with
 * MLflow's own paths and error format. Field names and types follow MLflow's
 * `model_registry.proto` and `mlflow_artifacts.proto`.
 */
const TAG = "MLflow Model Registry";
const ERRORS =
  "Errors are `{error_code, message}`: `RESOURCE_DOES_NOT_EXIST` 404 (also for a model the token may not see), `RESOURCE_ALREADY_EXISTS` 400, `INVALID_PARAMETER_VALUE` 400, `UNAUTHENTICATED` 401, `PERMISSION_DENIED` 403, `INVALID_STATE` 409 (a gate refusal, with its failed checks in `message`), `ENDPOINT_NOT_FOUND` 404 (experiments, runs, rename: not offered), `TEMPORARILY_UNAVAILABLE` 503, `INTERNAL_ERROR` 500.";

const json = (description: string) => ({
  description,
  content: { "application/json": { schema: { type: "object" } } },
});

const Tag = { type: "object", properties: { key: { type: "string" }, value: { type: "string" } } };
const ModelVersion = {
  type: "object",
  description:
    "MLflow's ModelVersion. `source` is the version's download URI in mreg; the URI it was registered with is its lineage's `source`.",
  properties: {
    name: { type: "string" },
    version: { type: "string" },
    creation_timestamp: { type: "integer", format: "int64" },
    last_updated_timestamp: { type: "integer", format: "int64" },
    user_id: { type: "string" },
    current_stage: { type: "string", enum: ["None", "Staging", "Production", "Archived"] },
    description: { type: "string" },
    source: { type: "string" },
    run_id: { type: "string" },
    run_link: { type: "string" },
    status: { type: "string", enum: ["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"] },
    status_message: { type: "string" },
    tags: { type: "array", items: Tag },
    aliases: { type: "array", items: { type: "string" } },
  },
};
const RegisteredModel = {
  type: "object",
  properties: {
    name: { type: "string" },
    creation_timestamp: { type: "integer", format: "int64" },
    last_updated_timestamp: { type: "integer", format: "int64" },
    description: { type: "string" },
    latest_versions: { type: "array", items: ModelVersion, description: "The newest READY version in each stage" },
    tags: { type: "array", items: Tag },
    aliases: {
      type: "array",
      items: { type: "object", properties: { alias: { type: "string" }, version: { type: "string" } } },
    },
  },
};

const object = (properties: Record<string, unknown>) => ({ type: "object", properties });

interface Op {
  method: "get" | "post" | "patch" | "delete";
  summary: string;
  scope: string;
  /** GET: query parameters; others: the JSON body's fields. */
  fields: Record<string, string>;
  answer: Record<string, unknown>;
  description?: string;
}

function operation(path: string, op: Op) {
  const id = `mlflow_${path.replace(/[^a-z]+/g, "_")}_${op.method}`;
  const schema = {
    type: "object",
    properties: Object.fromEntries(Object.entries(op.fields).map(([k, d]) => [k, { description: d }])),
  };
  return {
    operationId: id,
    summary: `MLflow: ${op.summary}`,
    description: [op.description, ERRORS].filter(Boolean).join(" "),
    tags: [TAG],
    "x-mreg-scope": op.scope,
    ...(op.method === "get"
      ? {
          parameters: Object.entries(op.fields).map(([name, description]) => ({
            name,
            in: "query",
            required: false,
            description,
            schema: { type: "string" },
          })),
        }
      : { requestBody: { required: true, content: { "application/json": { schema } } } }),
    responses: {
      200: { description: "OK", content: { "application/json": { schema: object(op.answer) } } },
      400: json("INVALID_PARAMETER_VALUE"),
      404: json("RESOURCE_DOES_NOT_EXIST"),
    },
  };
}

const MV = { model_version: ModelVersion };
const RM = { registered_model: RegisteredModel };
const NAME = { name: "The registered model's name (mreg's model name)" };
const NAME_VERSION = { ...NAME, version: "The version number, as a string" };
const SEARCH = {
  filter: "",
  max_results: "",
  order_by: "Repeatable: `<column> [ASC|DESC]`",
  page_token: "From `next_page_token`",
};

const ROUTES: Record<string, Op[]> = {
  "registered-models/create": [
    {
      method: "post",
      summary: "create a registered model",
      scope: "write",
      fields: { ...NAME, tags: "[{key, value}]", description: "" },
      answer: RM,
    },
  ],
  "registered-models/get": [
    { method: "get", summary: "get a registered model", scope: "read", fields: NAME, answer: RM },
  ],
  "registered-models/update": [
    {
      method: "patch",
      summary: "update a registered model's description",
      scope: "write",
      fields: { ...NAME, description: "" },
      answer: RM,
    },
  ],
  "registered-models/delete": [
    {
      method: "delete",
      summary: "delete a registered model (INVALID_STATE while an alias is set)",
      scope: "admin",
      fields: NAME,
      answer: {},
    },
  ],
  "registered-models/search": [
    {
      method: "get",
      summary: "search registered models",
      scope: "read",
      fields: {
        ...SEARCH,
        filter: "`name = '…'`, `name != '…'`, `name LIKE '…%'`, `name ILIKE '…'`, `tags.<key> = '…'`, joined with AND",
        max_results: "1..1000 (default 100)",
      },
      answer: { registered_models: { type: "array", items: RegisteredModel }, next_page_token: { type: "string" } },
      description:
        "order_by: `name`, `creation_timestamp` (or `timestamp`), `last_updated_timestamp`; ties by name. Pages are keyset-based.",
    },
  ],
  "registered-models/get-latest-versions": ["post", "get"].map((method) => ({
    method: method as "post" | "get",
    summary: "the newest READY version in each stage",
    scope: "read",
    fields: { ...NAME, stages: "Stage names (any case); all stages when absent" },
    answer: { model_versions: { type: "array", items: ModelVersion } },
  })),
  "registered-models/set-tag": [
    {
      method: "post",
      summary: "set a registered model's tag",
      scope: "write",
      fields: { ...NAME, key: "", value: "" },
      answer: {},
    },
  ],
  "registered-models/delete-tag": [
    {
      method: "delete",
      summary: "delete a registered model's tag",
      scope: "write",
      fields: { ...NAME, key: "" },
      answer: {},
    },
  ],
  "registered-models/alias": [
    {
      method: "post",
      summary: "point an alias at a version (gates apply)",
      scope: "promote",
      fields: { ...NAME_VERSION, alias: "Folded to lower case" },
      answer: {},
    },
    { method: "delete", summary: "delete an alias", scope: "promote", fields: { ...NAME, alias: "" }, answer: {} },
    {
      method: "get",
      summary: "the version an alias resolves to",
      scope: "read",
      fields: { ...NAME, alias: "" },
      answer: MV,
      description:
        "Resolved as `/v1/resolve` does (an alias name that is no alias falls back to the highest version in that stage; a split answers its heaviest member); `x-mreg-stale` when served stale.",
    },
  ],
  "model-versions/create": [
    {
      method: "post",
      summary:
        "create a model version (PENDING_REGISTRATION until its files are pushed and it is finalized through /v1)",
      scope: "write",
      fields: {
        ...NAME,
        source: "Kept as the lineage's `source`",
        run_id: "Kept as the lineage's `run_id`",
        run_link: "Kept as the lineage's `run_url` (an absolute URL)",
        tags: "[{key, value}]",
        description: "",
      },
      answer: MV,
    },
  ],
  "model-versions/get": [
    { method: "get", summary: "get a model version", scope: "read", fields: NAME_VERSION, answer: MV },
  ],
  "model-versions/update": [
    {
      method: "patch",
      summary: "update a model version's description",
      scope: "write",
      fields: { ...NAME_VERSION, description: "" },
      answer: MV,
    },
  ],
  "model-versions/delete": [
    { method: "delete", summary: "delete a model version", scope: "admin", fields: NAME_VERSION, answer: {} },
  ],
  "model-versions/search": [
    {
      method: "get",
      summary: "search model versions",
      scope: "read",
      fields: {
        ...SEARCH,
        filter:
          "`name = '…'` (also !=, LIKE, ILIKE), `run_id = '…'` (also !=, IN ('…', …)), `tags.<key> = '…'`, joined with AND",
        max_results: "1..200000 (default 10000); a page holds at most 1000",
      },
      answer: { model_versions: { type: "array", items: ModelVersion }, next_page_token: { type: "string" } },
      description:
        "order_by: `name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`; ties by name ascending, then version descending. Pages are keyset-based.",
    },
  ],
  "model-versions/transition-stage": [
    {
      method: "post",
      summary: "move a version to a stage (gates and stage grants apply)",
      scope: "promote",
      fields: {
        ...NAME_VERSION,
        stage: "None, Staging, Production or Archived (any case)",
        archive_existing_versions: "boolean",
      },
      answer: MV,
    },
  ],
  "model-versions/set-tag": [
    {
      method: "post",
      summary: "set a model version's tag",
      scope: "write",
      fields: { ...NAME_VERSION, key: "", value: "" },
      answer: {},
    },
  ],
  "model-versions/delete-tag": [
    {
      method: "delete",
      summary: "delete a model version's tag",
      scope: "write",
      fields: { ...NAME_VERSION, key: "" },
      answer: {},
    },
  ],
  "model-versions/get-download-uri": [
    {
      method: "get",
      summary: "where a version's files are",
      scope: "read",
      fields: NAME_VERSION,
      answer: { artifact_uri: { type: "string", description: "`mlflow-artifacts:/models/<model>/versions/<v>`" } },
    },
  ],
};

const ARTIFACT = "/api/2.0/mlflow-artifacts/artifacts";

/** Path items for the MLflow bridge, merged into /openapi.json. */
export const MLFLOW_OPENAPI_PATHS: Record<string, Record<string, unknown>> = {
  ...Object.fromEntries(
    Object.entries(ROUTES).map(([path, ops]) => [
      `/api/2.0/mlflow/${path}`,
      Object.fromEntries(ops.map((op) => [op.method, operation(path, op)])),
    ]),
  ),
  [ARTIFACT]: {
    get: {
      operationId: "mlflowListArtifacts",
      summary: "MLflow artifacts: list a directory of a READY version",
      description: `\`path\` is \`models/<model>/versions/<v>[/<dir>]\`; answers \`{files: [{path, is_dir, file_size}]}\`, names relative to the listed path, empty for a file. ${ERRORS}`,
      tags: [TAG],
      "x-mreg-scope": "read",
      parameters: [{ name: "path", in: "query", required: true, schema: { type: "string" } }],
      responses: {
        200: json("`{files}`"),
        404: json("RESOURCE_DOES_NOT_EXIST"),
        409: json("INVALID_STATE: the version is not READY"),
      },
    },
  },
  [`${ARTIFACT}/{path}`]: {
    get: {
      operationId: "mlflowDownloadArtifact",
      summary: "MLflow artifacts: a file's bytes",
      description: `\`path\` is \`models/<model>/versions/<v>/<file>\`. Streamed from R2; \`Range\` (206), \`If-None-Match\` (304); \`ETag\` and \`x-mreg-sha256\` are the sha256. ${ERRORS}`,
      tags: [TAG],
      "x-mreg-scope": "read",
      parameters: [{ name: "path", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        200: { description: "The bytes" },
        206: { description: "The range" },
        304: { description: "Not modified" },
        404: json("RESOURCE_DOES_NOT_EXIST"),
      },
    },
  },
};
