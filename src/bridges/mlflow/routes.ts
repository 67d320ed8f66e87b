/**
 * MLflow's Model Registry REST API (API.md "Bridges → MLflow"), so MLflow clients and the
 * scripts built on them work with `MLFLOW_TRACKING_URI=<mreg origin>`. Written after
 * mlflow/mlflow `mlflow/protos/model_registry.proto` (the service's endpoints and messages)
 * and `mlflow/store/model_registry/rest_store.py` (what the Python client sends). An adapter
 * only: reads come from D1's projections (./store.ts) and the resolve service; every write
 * is the same ModelState write `/v1` makes, through the model, version and alias services
 * (gates, grants, `models` globs, audit, watchers and webhooks apply unchanged).
 *
 * Answers are 200 with a JSON object (`{}` for the empty responses), as the client's
 * `verify_rest_response` insists; errors `{error_code, message}` (./errors.ts). Endpoints
 * mreg does not offer (experiments, runs, rename) answer ENDPOINT_NOT_FOUND.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { Principal } from "../../auth/principal";
import { queryDb } from "../../db/session";
import { SettableAliasName, AliasName } from "../../domain/alias";
import { downloadUri, fromMlflowStage, tagMap, MLFLOW_STAGES } from "../../domain/mlflow";
import { FilterError, MODEL_FILTER, parseFilter, parseOrderBy, VERSION_FILTER, type Clause, type OrderItem } from "../../domain/mlflow-filter";
import { TagKey, TagValue, Tags } from "../../domain/names";
import { referenceTo } from "../../domain/reference";
import { resolutionOfHeaviest } from "../../domain/resolution";
import type { Stage } from "../../domain/version";
import { Lineage } from "../../domain/version";
import { setAlias, deleteAlias, setStage } from "../../aliases/service";
import type { AppContext, AppEnv } from "../../http/app-env";
import { ProblemError } from "../../domain/problem";
import { parseWith } from "../../http/validation";
import { createModel, createVersion, deleteVersion, dropModel, patchModel, patchVersion } from "../../models/service";
import { resolve } from "../../resolve/service";
import { artifactRoutes } from "./artifacts";
import { caller, fields, namedModel, newModelName, parse } from "./access";
import { MlflowError, invalid, mlflow, modelNotFound, versionNotFound } from "./errors";
import { modelVersionJson, registeredModelJson, type MlflowModelVersion } from "./shapes";
import { MlflowStore, MODEL_ORDER_KEYS, TokenMismatch, VERSION_ORDER_KEYS, type ModelFacts, type VersionFacts } from "./store";
import { MULTI_SEGMENT } from "../../http/api";

/** MLflow's caps: 1000 registered models per search page (SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD), 200,000 versions asked for. */
const MAX_MODEL_RESULTS = 1000;
const MAX_VERSION_RESULTS = 200_000;
/** The versions one page holds, whatever was asked: the rest follow with `next_page_token`. */
const VERSION_PAGE = 1000;

const required = (field: string) => ({ error: (issue: { input: unknown }) => (issue.input === undefined ? `Missing value for required parameter '${field}'` : `'${field}' must be a string`) });
const Name = (field = "name") => z.string(required(field)).min(1, `'${field}' must not be empty`).max(256);
const VersionParam = z
  .union([z.string(), z.number()], required("version"))
  .transform(String)
  .pipe(z.string().regex(/^[1-9][0-9]{0,8}$/, "'version' must be a positive integer"))
  .transform(Number);
const TagList = z.array(z.object({ key: TagKey, value: TagValue })).max(256).default([]);
const Description = z.string().max(4096).optional();
const Count = z.union([z.number(), z.string().regex(/^[0-9]{1,9}$/, "must be a whole number")]).transform(Number).pipe(z.number().int());
const Strings = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));
const Flag = z.union([z.boolean(), z.enum(["true", "false", "True", "False"]).transform((v) => v.toLowerCase() === "true")]);
const OrderBy = Strings.pipe(z.array(z.string().max(256)).max(5)).optional();
const PageToken = z.string().max(2048).optional();

type Handler = (c: AppContext, input: Record<string, unknown>) => Promise<Record<string, unknown>>;

interface Endpoint {
  methods: string[];
  handler: Handler;
}

const writer = (c: AppContext, principal: Principal, model: string) => ({ env: c.env, principal, model });

/** Filter and order_by parse errors are the caller's: INVALID_PARAMETER_VALUE. */
function searchTerms(filter: string | undefined, spec: typeof MODEL_FILTER, orderBy: string[] | undefined, keys: readonly string[], aliases?: Record<string, string>): { clauses: Clause[]; order: OrderItem[] } {
  try {
    return { clauses: parseFilter(filter, spec), order: parseOrderBy(orderBy ?? [], keys, aliases) };
  } catch (err) {
    if (err instanceof FilterError) throw invalid(`Invalid filter or order_by: ${err.message}`);
    throw err;
  }
}

/** A search's run: a page token of another search, or a filter the store refused, is the caller's error. */
async function withToken<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof TokenMismatch) throw invalid(err.message);
    if (err instanceof FilterError) throw invalid(`Invalid filter: ${err.message}`);
    throw err;
  }
}

/** Versions in MLflow's shape, with the aliases that hold each. */
async function presentVersions(store: MlflowStore, versions: VersionFacts[]): Promise<MlflowModelVersion[]> {
  const { holders } = await store.aliasesOf(versions.map((v) => v.model));
  return versions.map((v) => modelVersionJson(v, holders.get(v.model)?.get(v.version) ?? []));
}

/** Registered models in MLflow's shape: their latest ready version per stage and their aliases, in two queries for the page. */
async function presentModels(store: MlflowStore, models: ModelFacts[]) {
  const names = models.map((m) => m.name);
  const [latest, { byModel, holders }] = await Promise.all([store.latestPerStage(names), store.aliasesOf(names)]);
  return models.map((m) =>
    registeredModelJson(
      m,
      latest.filter((v) => v.model === m.name).map((v) => modelVersionJson(v, holders.get(v.model)?.get(v.version) ?? [])),
      byModel.get(m.name) ?? [],
    ),
  );
}

async function visibleVersion(c: AppContext, principal: Principal, input: Record<string, unknown>): Promise<{ store: MlflowStore; version: VersionFacts }> {
  const { name, version } = parse(z.object({ name: Name(), version: VersionParam }), input);
  const model = namedModel(principal, name);
  const store = new MlflowStore(queryDb(c));
  const found = await store.version(model, version);
  if (!found) throw (await store.model(model)) ? versionNotFound(model, version) : modelNotFound(model);
  return { store, version: found };
}

async function oneVersion(store: MlflowStore, v: VersionFacts): Promise<{ model_version: MlflowModelVersion }> {
  return { model_version: (await presentVersions(store, [v]))[0]! };
}

const stageOf = (text: string): Stage => {
  const stage = fromMlflowStage(text);
  if (stage === null) throw invalid(`Invalid Model Version stage: ${text}. Value must be one of ${MLFLOW_STAGES.join(", ")}.`);
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
      const record = await createModel(writer(c, principal, model), { kind: "model", description: body.description ?? null, tags });
      return { registered_model: registeredModelJson(record, [], []) };
    },
  },
  "registered-models/get": {
    methods: ["GET"],
    async handler(c, input) {
      const principal = await caller(c, "read", "read");
      const model = namedModel(principal, parse(z.object({ name: Name() }), input).name);
      const store = new MlflowStore(queryDb(c));
      const facts = await store.model(model);
      if (!facts) throw modelNotFound(model);
      return { registered_model: (await presentModels(store, [facts]))[0]! };
    },
  },
  "registered-models/update": {
    methods: ["PATCH"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), description: Description }), input);
      const model = namedModel(principal, body.name);
      const record = await patchModel(writer(c, principal, model), body.description !== undefined ? { description: body.description } : {});
      return { registered_model: (await presentModels(new MlflowStore(queryDb(c)), [record]))[0]! };
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
      const q = parse(z.object({ filter: z.string().optional(), max_results: Count.optional(), order_by: OrderBy, page_token: PageToken }), input);
      const limit = q.max_results ?? 100;
      if (limit < 1 || limit > MAX_MODEL_RESULTS) throw invalid(`Invalid value for request parameter max_results. It must be at most ${MAX_MODEL_RESULTS}, but got value ${limit}`);
      const { clauses, order } = searchTerms(q.filter, MODEL_FILTER, q.order_by, MODEL_ORDER_KEYS, { timestamp: "creation_timestamp" });
      const store = new MlflowStore(queryDb(c));
      const { models, next } = await withToken(() => store.searchModels({ clauses, order, pageToken: q.page_token, limit, globs: principal.models }));
      return { registered_models: await presentModels(store, models), ...(next ? { next_page_token: next } : {}) };
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
      const store = new MlflowStore(queryDb(c));
      if (!(await store.model(model))) throw modelNotFound(model);
      const latest = (await store.latestPerStage([model])).filter((v) => stages === null || stages.has(v.stage));
      return { model_versions: await presentVersions(store, latest) };
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
      await setAlias(writer(c, principal, namedModel(principal, body.name)), body.alias, { version: body.version, split: null }, { reason: null });
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
        { source: body.source, ...(body.run_id ? { run_id: body.run_id } : {}), ...(body.run_link ? { run_url: body.run_link } : {}) },
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
      const { store, version } = await visibleVersion(c, await caller(c, "read", "read"), input);
      return oneVersion(store, version);
    },
  },
  "model-versions/update": {
    methods: ["PATCH"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, description: Description }), input);
      const record = await patchVersion(writer(c, principal, namedModel(principal, body.name)), body.version, body.description !== undefined ? { description: body.description } : {});
      return oneVersion(new MlflowStore(queryDb(c)), record);
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
      const q = parse(z.object({ filter: z.string().optional(), max_results: Count.optional(), order_by: OrderBy, page_token: PageToken }), input);
      const asked = q.max_results ?? 10_000;
      if (asked < 1 || asked > MAX_VERSION_RESULTS) throw invalid(`Invalid value for request parameter max_results. It must be at most ${MAX_VERSION_RESULTS}, but got value ${asked}`);
      const { clauses, order } = searchTerms(q.filter, VERSION_FILTER, q.order_by, VERSION_ORDER_KEYS);
      const store = new MlflowStore(queryDb(c));
      const limit = Math.min(asked, VERSION_PAGE);
      const { versions, next } = await withToken(() => store.searchVersions({ clauses, order, pageToken: q.page_token, limit, globs: principal.models }));
      return { model_versions: await presentVersions(store, versions), ...(next ? { next_page_token: next } : {}) };
    },
  },
  "model-versions/transition-stage": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "promote", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, stage: Name("stage"), archive_existing_versions: Flag.default(false) }), input);
      const stage = stageOf(body.stage);
      if (body.archive_existing_versions && stage !== "staging" && stage !== "production") {
        throw invalid(`Model version transition cannot archive existing model versions because '${body.stage}' is not an Active stage. Valid stages are Staging, Production`);
      }
      const record = await setStage(writer(c, principal, namedModel(principal, body.name)), body.version, stage, { archiveExisting: body.archive_existing_versions, reason: null });
      return oneVersion(new MlflowStore(queryDb(c)), record);
    },
  },
  "model-versions/set-tag": {
    methods: ["POST"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, key: TagKey, value: TagValue }), input);
      await patchVersion(writer(c, principal, namedModel(principal, body.name)), body.version, { tags: { [body.key]: body.value } });
      return {};
    },
  },
  "model-versions/delete-tag": {
    methods: ["DELETE"],
    async handler(c, input) {
      const principal = await caller(c, "write", "write");
      const body = parse(z.object({ name: Name(), version: VersionParam, key: TagKey }), input);
      await patchVersion(writer(c, principal, namedModel(principal, body.name)), body.version, { tags: { [body.key]: null } });
      return {};
    },
  },
  "model-versions/get-download-uri": {
    methods: ["GET"],
    async handler(c, input) {
      const { version } = await visibleVersion(c, await caller(c, "read", "read"), input);
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
  const store = new MlflowStore(queryDb(c));
  let resolved;
  try {
    resolved = await resolve({ env: c.env, waitUntil: (p) => c.executionCtx.waitUntil(p), db: () => queryDb(c) }, model, referenceTo(q.alias));
  } catch (err) {
    if (err instanceof ProblemError && (err.code === "not_found" || err.code === "version_not_ready")) {
      throw (await store.model(model)) ? new MlflowError("RESOURCE_DOES_NOT_EXIST", `Registered model alias ${q.alias} not found.`) : modelNotFound(model);
    }
    throw err;
  }
  if (resolved.staleS !== null) c.header("x-mreg-stale", String(resolved.staleS));
  const { version } = resolutionOfHeaviest(resolved.state);
  const facts = await store.version(model, version);
  if (!facts) throw versionNotFound(model, version);
  return oneVersion(store, facts);
}

const NOT_OFFERED =
  "mreg speaks MLflow's Model Registry API only: experiment tracking and runs are not offered. Keep an MLflow tracking server for them and point MLFLOW_REGISTRY_URI at mreg";

async function dispatch(c: AppContext): Promise<Response> {
  const rest = c.req.param("rest") ?? "";
  const endpoint = Object.hasOwn(ENDPOINTS, rest) ? ENDPOINTS[rest]! : undefined;
  if (!endpoint) {
    const message = rest === "registered-models/rename" ? "Renaming a registered model is not offered: mreg model names are permanent" : `${NOT_OFFERED} (no endpoint ${rest})`;
    throw new MlflowError("ENDPOINT_NOT_FOUND", message);
  }
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  if (!endpoint.methods.includes(method)) throw new MlflowError("ENDPOINT_NOT_FOUND", `${rest} takes ${endpoint.methods.join(" or ")}, not ${c.req.method}`);
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
