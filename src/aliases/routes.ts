/**
 * Routes of API.md "Aliases" that change or list aliases, and the `stage` route: translation
 * only. Each declares its subject (the model, the aliases it moves); writes go through the
 * alias service (./service.ts), which checks the grant again, makes the one ModelState call
 * that decides, and leaves cache invalidation to the ModelState stub (src/model-writes/stub.ts).
 */
import { visibilityOf } from "../auth/principal";
import { queryDb } from "../db/session";
import { z } from "zod";
import { ALIAS_PARAM, defineRoute, MODEL_PARAM } from "../http/api";
import { decodeCursor, PageQuery, toPage } from "../http/cursor";
import { itemsOf, pageOf } from "../http/openapi-helpers";
import { ModelParams, Version, VersionParams } from "../models/schemas";
import { VersionStore } from "../models/version-store";
import type { AliasValue } from "../domain/alias";
import { modelState } from "../model-writes/stub";
import { deleteAlias, rollbackAlias, setAlias, setStage, swapAliases } from "./service";
import {
  Alias,
  AliasParams,
  DeleteAliasQuery,
  HistoryEntry,
  PutAliasBody,
  RollbackBody,
  SettableAliasParams,
  StageBody,
  SwapBody,
} from "./schemas";

const HistoryCursor = z.object({ g: z.number().int().positive() });

export const aliasRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases",
    operationId: "listAliases",
    summary: "A model's aliases",
    tag: "Aliases",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    responses: { 200: { description: "The aliases, by name", schema: itemsOf(Alias) } },
    errors: ["validation_failed"],
    async handler(c, { params }) {
      return c.json({ items: await modelState(c.env, params.model).listAliases(params.model) });
    },
  }),

  defineRoute({
    method: "put",
    path: "/v1/models/{model}/aliases/{alias}",
    operationId: "setAlias",
    summary: "Point an alias at a ready version, or at a weighted split",
    description:
      "Decided and written in one step inside the model's Durable Object. With `expected_generation`, 409 `conflict` when the alias has moved since (0: not set). `latest` and `v<digits>` are reserved.",
    tag: "Aliases",
    scope: "promote",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: SettableAliasParams,
    body: PutAliasBody,
    responses: { 200: { description: "The alias", schema: Alias } },
    errors: [
      "validation_failed",
      "not_found",
      "conflict",
      "version_not_ready",
      "gate_failed",
      "payload_too_large",
      "unsupported_media_type",
    ],
    async handler(c, { params, body, principal }) {
      const value: AliasValue = body.split
        ? { version: null, split: body.split }
        : { version: body.version!, split: null };
      const writer = { env: c.env, principal, model: params.model };
      return c.json(
        await setAlias(writer, params.alias, value, {
          reason: body.reason ?? null,
          expectedGeneration: body.expected_generation,
        }),
      );
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/aliases/{alias}",
    operationId: "deleteAlias",
    summary: "Delete an alias",
    description:
      "Needs the token's `aliases` grant for the alias; an alias with a gate also needs `admin` (403 otherwise), because its gate's `no_regression` then compares the next promotion with the last holder.",
    tag: "Aliases",
    scope: "promote",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: AliasParams,
    query: DeleteAliasQuery,
    responses: { 204: { description: "Deleted" } },
    errors: ["validation_failed", "not_found", "forbidden"],
    async handler(c, { params, query, principal }) {
      await deleteAlias({ env: c.env, principal, model: params.model }, params.alias, query.reason ?? null);
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/history",
    operationId: "aliasHistory",
    summary: "Every change of an alias, newest first",
    tag: "Aliases",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: AliasParams,
    query: PageQuery,
    responses: { 200: { description: "A page of changes", schema: pageOf(HistoryEntry) } },
    errors: ["validation_failed"],
    async handler(c, { params, query }) {
      const before = query.cursor ? decodeCursor(query.cursor, HistoryCursor).g : undefined;
      const rows = await modelState(c.env, params.model).aliasHistory({
        alias: params.alias,
        before,
        limit: query.limit + 1,
      });
      return c.json(
        toPage(
          rows,
          query.limit,
          (h) => ({ g: h.generation }),
          (h) => h,
        ),
      );
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/aliases/{alias}/rollback",
    operationId: "rollbackAlias",
    summary: "Roll an alias back",
    description:
      "Without `to_version`: back to the value before the newest change not yet rolled back, so two rollbacks in a row go back two changes (an undo). With `to_version`: a version that held the alias before. Skips gates; audited as `rollback`.",
    tag: "Aliases",
    scope: "promote",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: AliasParams,
    body: RollbackBody,
    responses: { 200: { description: "The alias, rolled back", schema: Alias } },
    errors: ["validation_failed", "not_found", "conflict", "version_not_ready", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      return c.json(
        await rollbackAlias({ env: c.env, principal, model: params.model }, params.alias, {
          toVersion: body.to_version,
          reason: body.reason ?? null,
        }),
      );
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/aliases:swap",
    operationId: "swapAliases",
    summary: "Exchange two aliases' values in one step (champion/challenger)",
    tag: "Aliases",
    scope: "promote",
    subject: { model: MODEL_PARAM, aliases: { from: "body", get: (body) => body.aliases } },
    params: ModelParams,
    body: SwapBody,
    responses: { 200: { description: "Both aliases after the swap", schema: itemsOf(Alias) } },
    errors: ["validation_failed", "not_found", "gate_failed", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      return c.json({
        items: await swapAliases({ env: c.env, principal, model: params.model }, body.aliases, body.reason ?? null),
      });
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions/{version}/stage",
    operationId: "setStage",
    summary: "Move a version to a stage (none, staging, production, archived)",
    description:
      "Staging and production take ready versions only (409 `version_not_ready`). With `archive_existing`, the versions in that stage move to `archived`; each move is audited. A token with an `aliases` claim needs the grant for the stage left and the stage entered (and `archived` with `archive_existing`).",
    tag: "Versions",
    scope: "promote",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    body: StageBody,
    responses: { 200: { description: "The version in its new stage", schema: Version } },
    errors: ["validation_failed", "not_found", "version_not_ready", "gate_failed", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const record = await setStage({ env: c.env, principal, model: params.model }, params.version, body.stage, {
        archiveExisting: body.archive_existing,
        reason: body.reason ?? null,
      });
      return c.json(await new VersionStore(queryDb(c)).present(record, visibilityOf(principal)));
    },
  }),
];
