/**
 * Lineage: the parent graph of a version, reverse lookups (which versions came from this
 * dataset, commit or run), and the diff of two versions of a model. All read D1 through the
 * request's session; a token limited by `models` globs sees other models' nodes redacted and
 * their versions left out of lookups.
 */
import { AliasProjection, holdersOf } from "../models/alias-projection";
import { visibilityOf } from "../auth/principal";
import { queryDb } from "../db/session";
import { redactParents } from "../domain/lineage";
import { defineRoute, MODEL_PARAM } from "../http/api";
import { decodeCursor, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { notFound } from "../domain/problem";
import { validationFailed } from "../http/validation";
import { VersionStore } from "../models/version-store";
import { VersionParams } from "../models/schemas";
import { versionDiff } from "./diff";
import {
  DiffParams,
  LineageGraph as LineageGraphSchema,
  LineageQuery,
  LookupCursor,
  LookupItem,
  LookupQuery,
  VersionDiff,
} from "./schemas";
import { lineageGraph } from "./graph";
import { LineageStore, type LookupFilter } from "./store";

export const lineageRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/lineage",
    operationId: "versionLineage",
    summary: "A version's lineage graph: parents upstream, children downstream, across models",
    description:
      "Walks `depth` steps (1..10, default 3) up through parents and down through children. `nodes` carry status, stage, aliases, run, commit and datasets, and `distance` (negative upstream); `edges` point from a parent to its child; `datasets` are those of the root and its ancestors. Nodes of models the token may not read appear as `{model: null, version: null, redacted: true, ref}`. At most 500 nodes (`truncated` past that). The walk never revisits a node, so it ends on any data.",
    tag: "Lineage",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    query: LineageQuery,
    responses: { 200: { description: "The graph", schema: LineageGraphSchema } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, query, principal }) {
      return c.json(await lineageGraph(queryDb(c), params, query.depth, visibilityOf(principal)));
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/lineage",
    operationId: "lineageLookup",
    summary: "Versions trained on a dataset (snapshot), built from a commit, or produced by a run",
    description:
      "Exactly one of `dataset` (optionally with `snapshot`), `git_sha` (exact, case-insensitive) or `run_id`. Newest first; lists only versions of models the token may read.",
    tag: "Lineage",
    scope: "read",
    query: LookupQuery,
    responses: { 200: { description: "A page of versions", schema: pageOf(LookupItem) } },
    errors: ["validation_failed"],
    async handler(c, { query, principal }) {
      const filter: LookupFilter =
        query.dataset !== undefined
          ? {
              by: "dataset",
              value: query.dataset,
              ...(query.snapshot !== undefined ? { snapshot: query.snapshot } : {}),
            }
          : query.git_sha !== undefined
            ? { by: "git_sha", value: query.git_sha }
            : { by: "run_id", value: query.run_id! };
      const after = query.cursor ? decodeCursor(query.cursor, LookupCursor) : undefined;
      const db = queryDb(c);
      const rows = await new LineageStore(db).lookup(filter, visibilityOf(principal), after, query.limit);
      const held = holdersOf(await new AliasProjection(db).ofModels([...new Set(rows.map((r) => r.model))]));
      return c.json(
        toPage(
          rows,
          query.limit,
          (r) => ({ at: r.created_at, m: r.model, v: r.version }),
          (r) => ({ ...r, aliases: held.get(r.model)?.get(r.version) ?? [] }),
        ),
      );
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{a}/diff/{b}",
    operationId: "diffVersions",
    summary: "What changed from version a to version b of a model",
    description:
      "Files added, removed and changed (by sha256); lineage params, metrics and tags (`added`, `removed`, `changed: {key: {from, to}}`), and the other lineage fields the same way. A changed file that is UTF-8 text up to 1 MiB and 20,000 lines on both sides carries a unified `diff` (3 lines of context, `a/<path>` and `b/<path>`); others say why not in `diff_omitted` (`budget`: a request reads at most 4 MiB of text and answers at most 2 MiB of diffs). Parents in models the token may not read are redacted on both sides. `a` and `b` are version numbers, or `registry://<model>/<n>` URIs of this same model: two models are a 400.",
    tag: "Lineage",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: DiffParams,
    responses: { 200: { description: "The diff", schema: VersionDiff } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      for (const side of ["a", "b"] as const) {
        const other = params[side].model;
        if (other !== undefined && other !== params.model) {
          throw validationFailed("A diff compares two versions of one model", [
            { path: side, message: `names model '${other}', not '${params.model}'` },
          ]);
        }
      }
      const store = new VersionStore(queryDb(c));
      const [from, to] = await Promise.all([
        store.get(params.model, params.a.version),
        store.get(params.model, params.b.version),
      ]);
      if (!from) throw notFound(`Version ${params.a.version} of model '${params.model}'`);
      if (!to) throw notFound(`Version ${params.b.version} of model '${params.model}'`);
      const visibility = visibilityOf(principal);
      const seen = (r: typeof from) => ({ ...r, lineage: redactParents(r.lineage, visibility.sees) });
      return c.json(await versionDiff(c.env, seen(from), seen(to)));
    },
  }),
];
