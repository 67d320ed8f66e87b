/**
 * MLflow's Model Registry REST API (docs/reference.md "MLflow Model Registry REST"), so MLflow
 * clients and the scripts built on them work with `MLFLOW_TRACKING_URI=<mreg origin>`. Written
 * after mlflow/mlflow `mlflow/protos/model_registry.proto` (the service's endpoints and
 * messages) and `mlflow/store/model_registry/rest_store.py` (what the Python client sends). An
 * adapter only: reads come from the model and version stores (./reads.ts) and the resolve
 * service; every write is the same ModelState write `/v1` makes, through the model, version and
 * alias services (gates, grants, `models` globs, audit, watchers and webhooks apply unchanged).
 *
 * Answers are 200 with a JSON object (`{}` for the empty responses), as the client's
 * `verify_rest_response` insists; errors `{error_code, message}` (./errors.ts). Endpoints
 * mreg does not offer (experiments, runs, rename) answer ENDPOINT_NOT_FOUND.
 */
import { Hono } from "hono";
import { z } from "zod";
import { visibilityOf, type Principal } from "../../auth/principal";
import { queryDb } from "../../db/session";
import { SettableAliasName, AliasName } from "../../domain/alias";
import { downloadUri, fromMlflowStage, tagMap, MLFLOW_STAGES } from "../../domain/mlflow";
import { TagKey, TagValue, Tags } from "../../domain/names";
import { referenceTo } from "../../domain/reference";
import { resolutionOfHeaviest } from "../../domain/resolution";
import type { Stage } from "../../domain/version";
import { Lineage } from "../../domain/version";
import { setAlias, deleteAlias, setStage } from "../../aliases/service";
import type { AppContext, AppEnv } from "../../http/app-env";
import { parseWith } from "../../http/validation";
import { ModelStore } from "../../models/model-store";
import { createModel, createVersion, deleteVersion, dropModel, patchModel, patchVersion } from "../../models/service";
import { VersionStore } from "../../models/version-store";
import { lookup, requestContext } from "../../resolve/service";
import { artifactRoutes } from "./artifacts";
import { caller, fields, namedModel, newModelName, parse } from "./access";
import { MlflowError, invalid, mlflow, modelNotFound, versionNotFound, wrongMethod } from "./errors";
import { MODEL_SEARCH, presentModels, presentVersions, searched, storeSearch, VERSION_SEARCH } from "./reads";
import { modelVersionJson, registeredModelJson, type MlflowModelVersion, type VersionFacts } from "./shapes";
import { MULTI_SEGMENT } from "../../http/api";

/** MLflow's caps: 1000 registered models per search page (SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD), 200,000 versions asked for. */
const MAX_MODEL_RESULTS = 1000;
const MAX_VERSION_RESULTS = 200_000;
/** The versions one page holds, whatever was asked: the rest follow with `next_page_token`. */
const VERSION_PAGE = 1000;

const required = (field: string) => ({
  error: (issue: { input: unknown }) =>
    issue.input === undefined ? `Missing value for required parameter '${field}'` : `'${field}' must be a string`,
});
const Name = (field = "name") => z.string(required(field)).min(1, `'${field}' must not be empty`).max(256);
const VersionParam = z
  .union([z.string(), z.number()], required("version"))
  .transform(String)
  .pipe(z.string().regex(/^[1-9][0-9]{0,8}$/, "'version' must be a positive integer"))
  .transform(Number);
const TagList = z
  .array(z.object({ key: TagKey, value: TagValue }))
  .max(256)
  .default([]);
const Description = z.string().max(4096).optional();
const Count = z
  .union([z.number(), z.string().regex(/^[0-9]{1,9}$/, "must be a whole number")])
  .transform(Number)
  .pipe(z.number().int());
const Strings = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));
const Flag = z.union([
  z.boolean(),
  z.enum(["true", "false", "True", "False"]).transform((v) => v.toLowerCase() === "true"),
]);
const OrderBy = Strings.pipe(z.array(z.string().max(256)).max(5)).optional();
const PageToken = z.string().max(2048).optional();

type Handler = (c: AppContext, input: Record<string, unknown>) => Promise<Record<string, unknown>>;

interface Endpoint {
  methods: string[];
  handler: Handler;
}

const writer = (c: AppContext, principal: Principal, model: string) => ({ env: c.env, principal, model });

/** The version a request names, which the caller may read: RESOURCE_DOES_NOT_EXIST for it, or for its model when that is missing too. */
async function visibleVersion(
  c: AppContext,
  principal: Principal,
  input: Record<string, unknown>,
): Promise<VersionFacts> {
  const { name, version } = parse(z.object({ name: Name(), version: VersionParam }), input);
  const model = namedModel(principal, name);
  const db = queryDb(c);
  const found = await new VersionStore(db).head(model, version);
  if (!found) throw (await new ModelStore(db).exists(model)) ? versionNotFound(model, version) : modelNotFound(model);
  return found;
}

async function oneVersion(c: AppContext, v: VersionFacts): Promise<{ model_version: MlflowModelVersion }> {
  return { model_version: (await presentVersions(queryDb(c), [v]))[0]! };
}

const stageOf = (text: string): Stage => {
  const stage = fromMlflowStage(text);
  if (stage === null)
    throw invalid(`Invalid Model Version stage: ${text}. Value must be one of ${MLFLOW_STAGES.join(", ")}.`);
  return stage;
};

const ENDPOINTS: Record<string, Endpoint> = {
  // ---- registered models ---------------------------------------------------------------
  "registered-models/create": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), tags: TagList, description: Description }), input);
      const model = newModelName(principal, body.name);
      const tags = parseWith(Tags, tagMap(body.tags), "tags");
      const record = await createModel(writer(c, principal, model), {
        kind: "model",
        description: body.description ?? null,
        tags,
      });
      return { registered_model: registeredModelJson(record, [], []) };
    },
  },
  "registered-models/get": {
    methods: ["GET"],
    async handler(c, input) {
      const principal = await caller(c, "read", "read");
      const model = namedModel(principal, parse(z.object({ name: Name() }), input).name);
      const facts = await new ModelStore(queryDb(c)).record(model);
      if (!facts) throw modelNotFound(model);
      return { registered_model: (await presentModels(queryDb(c), [facts]))[0]! };
    },
  },
  "registered-models/update": {
    methods: ["PATCH"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), description: Description }), input);
      const model = namedModel(principal, body.name);
      const record = await patchModel(
        writer(c, principal, model),
        body.description !== undefined ? { description: body.description } : {},
      );
      return { registered_model: (await presentModels(queryDb(c), [record]))[0]! };
    },
  },
  "registered-models/delete": {
    methods: ["DELETE"],
    async handler(c, input) {
      const principal = await caller(c, "admin", "write");
      const model = namedModel(principal, parse(z.object({ name: Name() }), input).name);
      await dropModel(writer(c, principal, model));
      return {};
    },
  },
  "registered-models/search": {
    methods: ["GET"],
    async handler(c, input) {
      const principal = await caller(c, "read", "read");
      const q = parse(
        z.object({
          filter: z.string().optional(),
          max_results: Count.optional(),
          order_by: OrderBy,
          page_token: PageToken,
        }),
        input,
      );
      const limit = q.max_results ?? 100;
      if (limit < 1 || limit > MAX_MODEL_RESULTS)
        throw invalid(
          `Invalid value for request parameter max_results. It must be at most ${MAX_MODEL_RESULTS}, but got value ${limit}`,
        );
      const search = storeSearch(
        { filter: q.filter, orderBy: q.order_by, pageToken: q.page_token, limit, visibility: visibilityOf(principal) },
        MODEL_SEARCH,
      );
      const { models, next } = await searched(() => new ModelStore(queryDb(c)).search(search));
      return { registered_models: await presentModels(queryDb(c), models), ...(next ? { next_page_token: next } : {}) };
    },
  },
  "registered-models/get-latest-versions": {
    // The client tries POST first, then GET (`call_endpoints` over the proto's endpoint list).
    methods: ["POST", "GET"],
    async handler(c, input) {
      const principal = await caller(c, "read", "read");
      const q = parse(z.object({ name: Name(), stages: Strings.optional() }), input);
      const model = namedModel(principal, q.name);
      const stages = q.stages?.length ? new Set(q.stages.map(stageOf)) : null;
      const db = queryDb(c);
      if (!(await new ModelStore(db).exists(model))) throw modelNotFound(model);
      const latest = (await new VersionStore(db).latestPerStage([model])).filter(
        (v) => stages === null || stages.has(v.stage),
      );
      return { model_versions: await presentVersions(db, latest) };
    },
  },
  "registered-models/set-tag": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), key: TagKey, value: TagValue }), input);
      await patchModel(writer(c, principal, namedModel(principal, body.name)), { tags: { [body.key]: body.value } });
      return {};
    },
  },
  "registered-models/delete-tag": {
    methods: ["DELETE"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), key: TagKey }), input);
      await patchModel(writer(c, principal, namedModel(principal, body.name)), { tags: { [body.key]: null } });
      return {};
    },
  },
  "registered-models/alias": {
    methods: ["POST", "DELETE", "GET"],
    async handler(c, input) {
      if (c.req.method === "GET") return aliasVersion(c, input);
      const principal = await caller(c, "promote", "write");
      if (c.req.method === "DELETE") {
        const body = parse(z.object({ name: Name(), alias: AliasName }), input);
        await deleteAlias(writer(c, principal, namedModel(principal, body.name)), body.alias, null);
        return {};
      }
      const body = parse(z.object({ name: Name(), alias: SettableAliasName, version: VersionParam }), input);
      await setAlias(
        writer(c, principal, namedModel(principal, body.name)),
        body.alias,
        { version: body.version, split: null },
        { reason: null },
      );
      return {};
    },
  },

  // ---- model versions ------------------------------------------------------------------
  "model-versions/create": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(
        z.object({
          name: Name(),
          source: Name("source").max(2048),
          run_id: z.string().max(256).optional(),
          run_link: z.string().max(2048).optional(),
          tags: TagList,
          description: Description,
        }),
        input,
      );
      const model = namedModel(principal, body.name);
      const lineage = parseWith(
        Lineage,
        {
          source: body.source,
          ...(body.run_id ? { run_id: body.run_id } : {}),
          ...(body.run_link ? { run_url: body.run_link } : {}),
        },
        "source, run_id and run_link (run_link must be an absolute URL)",
      );
      const { record } = await createVersion(writer(c, principal, model), {
        description: body.description ?? null,
        tags: parseWith(Tags, tagMap(body.tags), "tags"),
        metrics: {},
        lineage,
      });
      return { model_version: modelVersionJson(record, []) };
    },
  },
  "model-versions/get": {
    methods: ["GET"],
    async handler(c, input) {
      return oneVersion(c, await visibleVersion(c, await caller(c, "read", "read"), input));
    },
  },
  "model-versions/update": {
    methods: ["PATCH"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, description: Description }), input);
      const record = await patchVersion(
        writer(c, principal, namedModel(principal, body.name)),
        body.version,
        body.description !== undefined ? { description: body.description } : {},
      );
      return oneVersion(c, record);
    },
  },
  "model-versions/delete": {
    methods: ["DELETE"],
    async handler(c, input) {
      const principal = await caller(c, "admin", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam }), input);
      await deleteVersion(writer(c, principal, namedModel(principal, body.name)), body.version);
      return {};
    },
  },
  "model-versions/search": {
    methods: ["GET"],
    async handler(c, input) {
      const principal = await caller(c, "read", "read");
      const q = parse(
        z.object({
          filter: z.string().optional(),
          max_results: Count.optional(),
          order_by: OrderBy,
          page_token: PageToken,
        }),
        input,
      );
      const asked = q.max_results ?? 10_000;
      if (asked < 1 || asked > MAX_VERSION_RESULTS)
        throw invalid(
          `Invalid value for request parameter max_results. It must be at most ${MAX_VERSION_RESULTS}, but got value ${asked}`,
        );
      const limit = Math.min(asked, VERSION_PAGE);
      const search = storeSearch(
        { filter: q.filter, orderBy: q.order_by, pageToken: q.page_token, limit, visibility: visibilityOf(principal) },
        VERSION_SEARCH,
      );
      const { versions, next } = await searched(() => new VersionStore(queryDb(c)).search(search));
      return {
        model_versions: await presentVersions(queryDb(c), versions),
        ...(next ? { next_page_token: next } : {}),
      };
    },
  },
  "model-versions/transition-stage": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "promote", "write");
      const body = parse(
        z.object({
          name: Name(),
          version: VersionParam,
          stage: Name("stage"),
          archive_existing_versions: Flag.default(false),
        }),
        input,
      );
      const stage = stageOf(body.stage);
      if (body.archive_existing_versions && stage !== "staging" && stage !== "production") {
        throw invalid(
          `Model version transition cannot archive existing model versions because '${body.stage}' is not an Active stage. Valid stages are Staging, Production`,
        );
      }
      const record = await setStage(writer(c, principal, namedModel(principal, body.name)), body.version, stage, {
        archiveExisting: body.archive_existing_versions,
        reason: null,
      });
      return oneVersion(c, record);
    },
  },
  "model-versions/set-tag": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, key: TagKey, value: TagValue }), input);
      await patchVersion(writer(c, principal, namedModel(principal, body.name)), body.version, {
        tags: { [body.key]: body.value },
      });
      return {};
    },
  },
  "model-versions/delete-tag": {
    methods: ["DELETE"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, key: TagKey }), input);
      await patchVersion(writer(c, principal, namedModel(principal, body.name)), body.version, {
        tags: { [body.key]: null },
      });
      return {};
    },
  },
  "model-versions/get-download-uri": {
    methods: ["GET"],
    async handler(c, input) {
      const version = await visibleVersion(c, await caller(c, "read", "read"), input);
      return { artifact_uri: downloadUri(version.model, version.version) };
    },
  },
};

/**
 * `GET registered-models/alias`: the serving path (`models:/m@alias`), resolved as `/v1`
 * resolves (this colo's cache, stale-if-error), so an alias name that is no alias falls back
 * to the highest version in the stage of that name. A split answers its heaviest member.
 */
async function aliasVersion(c: AppContext, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const principal = await caller(c, "read", "read");
  const q = parse(z.object({ name: Name(), alias: AliasName }), input);
  const model = namedModel(principal, q.name);
  const resolved = await lookup(requestContext(c), model, referenceTo(q.alias));
  if (resolved.kind === "no_model") throw modelNotFound(model);
  if (resolved.kind === "no_revision")
    throw new MlflowError("RESOURCE_DOES_NOT_EXIST", `Registered model alias ${q.alias} not found.`);
  if (resolved.staleS !== null) c.header("x-mreg-stale", String(resolved.staleS));
  const { version } = resolutionOfHeaviest(resolved.state);
  const facts = await new VersionStore(queryDb(c)).head(model, version);
  if (!facts) throw versionNotFound(model, version);
  return oneVersion(c, facts);
}

const NOT_OFFERED =
  "mreg speaks MLflow's Model Registry API only: experiment tracking and runs are not offered. Keep an MLflow tracking server for them and point MLFLOW_REGISTRY_URI at mreg";

async function dispatch(c: AppContext): Promise<Response> {
  const rest = c.req.param("rest") ?? "";
  const endpoint = Object.hasOwn(ENDPOINTS, rest) ? ENDPOINTS[rest]! : undefined;
  if (!endpoint) {
    const message =
      rest === "registered-models/rename"
        ? "Renaming a registered model is not offered: mreg model names are permanent"
        : `${NOT_OFFERED} (no endpoint ${rest})`;
    throw new MlflowError("ENDPOINT_NOT_FOUND", message);
  }
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  if (!endpoint.methods.includes(method)) {
    const hint = endpoint.methods.includes("GET")
      ? "a GET sends its fields in the query string, the other methods in a JSON body"
      : "send the fields as a JSON body";
    throw wrongMethod(rest, endpoint.methods, c.req.method, hint);
  }
  return c.json(await endpoint.handler(c, await fields(c)));
}

const noEndpoint = async (c: AppContext): Promise<Response> => {
  throw new MlflowError("ENDPOINT_NOT_FOUND", `no MLflow endpoint at ${new URL(c.req.url).pathname}`);
};

/** The sub-app: `/api/2.0/mlflow/…` (and the older `/api/2.0/preview/mlflow/…`), and `/api/2.0/mlflow-artifacts/…`. */
export function mlflowBridge(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const prefix of ["/api/2.0/mlflow", "/api/2.0/preview/mlflow"]) {
    app.all(`${prefix}/:rest${MULTI_SEGMENT}`, mlflow(dispatch));
  }
  artifactRoutes(app);
  // /api/2.0/ is MLflow's namespace (the Hub's is /api/models): anything else there, including
  // what URL normalisation leaves of a path that climbed (`…/artifacts/.%2e`), is MLflow's 404.
  app.all("/api/2.0", mlflow(noEndpoint));
  app.all("/api/2.0/*", mlflow(noEndpoint));
  return app;
}
