/**
 * Routes of API.md "Models": thin, they parse, call the model's ModelState (which decides
 * whether the model exists, and projects it into D1) or read D1, and shape the answer.
 */
import { visibilityOf } from "../auth/principal";
import { queryDb } from "../db/session";
import { z } from "zod";
import { defineRoute, MODEL_PARAM } from "../http/api";
import { decodeCursor, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { notFound } from "../domain/problem";
import { ModelStore, modelBody, newModelBody } from "./model-store";
import { createModel, dropModel, patchModel } from "./service";
import { CreateModelBody, ListModelsQuery, Model, ModelParams, PatchModelBody } from "./schemas";

const ModelCursor = z.object({ name: z.string() });

export const modelRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/models",
    operationId: "createModel",
    summary: "Create a model",
    tag: "Models",
    scope: "write",
    subject: { model: { from: "body", get: (body) => body.name } },
    body: CreateModelBody,
    responses: { 201: { description: "The new model", schema: Model } },
    errors: ["validation_failed", "already_exists", "payload_too_large", "unsupported_media_type"],
    async handler(c, { body, principal }) {
      const record = await createModel(
        { env: c.env, principal, model: body.name },
        { kind: body.kind, description: body.description ?? null, tags: body.tags },
      );
      // A model created again under an old name starts without versions or aliases.
      return c.json(newModelBody(record), 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models",
    operationId: "listModels",
    summary: "List models",
    description: "Ordered by name. A token with a `models` claim sees only the models it matches.",
    tag: "Models",
    scope: "read",
    query: ListModelsQuery,
    responses: { 200: { description: "A page of models", schema: pageOf(Model) } },
    errors: ["validation_failed"],
    async handler(c, { query, principal }) {
      const after = query.cursor ? decodeCursor(query.cursor, ModelCursor).name : undefined;
      const store = new ModelStore(queryDb(c));
      const rows = await store.list({
        prefix: query.prefix,
        kind: query.kind,
        tags: query.tag ?? [],
        visibility: visibilityOf(principal),
        after,
        limit: query.limit,
      });
      const page = toPage(
        rows,
        query.limit,
        (row) => ({ name: row.name }),
        (row) => row,
      );
      const aliasMaps = await store.aliasMaps(page.items.map((m) => m.name));
      return c.json({
        items: page.items.map((m) => modelBody(m, aliasMaps.get(m.name) ?? {})),
        next_cursor: page.next_cursor,
      });
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}",
    operationId: "getModel",
    summary: "Get a model",
    tag: "Models",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    responses: { 200: { description: "The model", schema: Model } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const model = await new ModelStore(queryDb(c)).get(params.model);
      if (!model) throw notFound(`Model '${params.model}'`);
      return c.json(model);
    },
  }),

  defineRoute({
    method: "patch",
    path: "/v1/models/{model}",
    operationId: "patchModel",
    summary: "Update a model's description and tags",
    description:
      "Tags merge into the existing ones; a `null` value deletes that key. A model holds at most 256 tags, 64 KiB serialized (UTF-8), after merging (400 `validation_failed` otherwise).",
    tag: "Models",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    body: PatchModelBody,
    responses: { 200: { description: "The updated model", schema: Model } },
    errors: ["validation_failed", "not_found", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const record = await patchModel({ env: c.env, principal, model: params.model }, body);
      // D1 has the change once the object's flush landed; until then the record, without extras.
      return c.json((await new ModelStore(queryDb(c)).get(params.model)) ?? newModelBody(record));
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}",
    operationId: "deleteModel",
    summary: "Delete a model and all its versions",
    tag: "Models",
    scope: "admin",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    responses: { 204: { description: "Deleted" } },
    errors: ["validation_failed", "not_found", "in_use"],
    async handler(c, { params, principal }) {
      // The model's ModelState decides and removes its D1 rows through its outbox, after
      // everything it queued before. Blobs are collected later, when unreferenced.
      await dropModel({ env: c.env, principal, model: params.model });
      return c.body(null, 204);
    },
  }),
];
