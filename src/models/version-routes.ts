/**
 * Routes of docs/reference.md "Versions" (create, list, get, patch). Writes go through the
 * model's ModelState, which numbers versions and owns their state; reads come from D1's
 * projection.
 */
import { z } from "zod";
import { canonicalJson } from "../domain/canonical-json";
import { sha256Hex } from "../domain/ids";
import { visibilityOf } from "../auth/principal";
import { queryDb, type D1Handle } from "../db/session";
import { defineRoute, MODEL_PARAM } from "../http/api";
import { decodeCursor, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { notFound } from "../domain/problem";
import { parseWith } from "../http/validation";
import { ModelStore } from "./model-store";
import { createVersion, deleteVersion, finalizeVersion, patchVersion } from "./service";
import {
  CreateVersionBody,
  IDEMPOTENCY_KEY,
  ListVersionsQuery,
  ModelParams,
  PatchVersionBody,
  Version,
  VersionParams,
} from "./schemas";
import { VersionStore } from "./version-store";

const VersionCursor = z.object({ v: z.number().int().positive() });

async function requireModel(db: D1Handle, model: string): Promise<void> {
  if (!(await new ModelStore(db).exists(model))) throw notFound(`Model '${model}'`);
}

export const versionRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions",
    operationId: "createVersion",
    summary: "Create a version (status `pending`)",
    description:
      "The registry assigns the number. With `Idempotency-Key`, a retry with the same body returns the same version (200); the same key with another body is 409 `idempotency_conflict`.",
    tag: "Versions",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    body: CreateVersionBody,
    headers: { "Idempotency-Key": "Makes a retried create return the version the first attempt created" },
    responses: {
      201: { description: "The new version", schema: Version },
      200: { description: "The version an earlier request with this Idempotency-Key created", schema: Version },
    },
    errors: ["validation_failed", "not_found", "idempotency_conflict", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const keyHeader = c.req.header("idempotency-key");
      const key = keyHeader === undefined ? undefined : parseWith(IDEMPOTENCY_KEY, keyHeader, "Idempotency-Key header");
      const { record, replayed } = await createVersion(
        { env: c.env, principal, model: params.model },
        {
          description: body.description ?? null,
          tags: body.tags,
          metrics: body.metrics,
          lineage: body.lineage,
          idempotency: key ? { key, requestHash: await sha256Hex(canonicalJson(body)) } : undefined,
        },
      );
      return c.json(await new VersionStore(queryDb(c)).present(record, visibilityOf(principal)), replayed ? 200 : 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions",
    operationId: "listVersions",
    summary: "List a model's versions, newest first",
    tag: "Versions",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    query: ListVersionsQuery,
    responses: { 200: { description: "A page of versions", schema: pageOf(Version) } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, query, principal }) {
      await requireModel(queryDb(c), params.model);
      const before = query.cursor ? decodeCursor(query.cursor, VersionCursor).v : undefined;
      const store = new VersionStore(queryDb(c));
      const records = await store.list(params.model, {
        status: query.status,
        stage: query.stage,
        tags: query.tag,
        before,
        limit: query.limit,
      });
      const page = toPage(
        records,
        query.limit,
        (r) => ({ v: r.version }),
        (r) => r,
      );
      return c.json({
        items: await store.presentAll(params.model, page.items, visibilityOf(principal)),
        next_cursor: page.next_cursor,
      });
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}",
    operationId: "getVersion",
    summary: "Get a version",
    tag: "Versions",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    responses: { 200: { description: "The version", schema: Version } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      const store = new VersionStore(queryDb(c));
      const record = await store.get(params.model, params.version);
      if (!record) throw notFound(`Version ${params.version} of '${params.model}'`);
      return c.json(await store.present(record, visibilityOf(principal)));
    },
  }),

  defineRoute({
    method: "patch",
    path: "/v1/models/{model}/versions/{version}",
    operationId: "patchVersion",
    summary: "Update a version's description, tags, metrics or lineage",
    description:
      "Tags and metrics merge (`null` deletes a key) and stay patchable after `ready`; lineage fields replace the old ones and only while the version is `pending` (409 `immutable` after). After merging, at most 256 tags (64 KiB serialized, UTF-8), 256 metrics and 256 KiB of lineage (400 `validation_failed` otherwise). A lineage parent must be older than its child.",
    tag: "Versions",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    body: PatchVersionBody,
    responses: { 200: { description: "The updated version", schema: Version } },
    errors: ["validation_failed", "not_found", "immutable", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const record = await patchVersion({ env: c.env, principal, model: params.model }, params.version, body);
      return c.json(await new VersionStore(queryDb(c)).present(record, visibilityOf(principal)));
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions/{version}/finalize",
    operationId: "finalizeVersion",
    summary: "Make a pending version ready",
    description:
      "Needs at least one file and no unfinished upload (409 `conflict` otherwise). Sets `digest`, the sha256 of the lines `<path>\\t<size>\\t<sha256>\\n` sorted by path; from then on files and lineage are immutable.",
    tag: "Versions",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    responses: { 200: { description: "The version, now ready", schema: Version } },
    errors: ["validation_failed", "not_found", "conflict", "immutable"],
    async handler(c, { params, principal }) {
      const record = await finalizeVersion({ env: c.env, principal, model: params.model }, params.version);
      return c.json(await new VersionStore(queryDb(c)).present(record, visibilityOf(principal)));
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/versions/{version}",
    operationId: "deleteVersion",
    summary: "Delete a version",
    description:
      "409 `in_use` while the `production` stage holds it. Its number is never reused; its bytes are removed once no other version references them.",
    tag: "Versions",
    scope: "admin",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    responses: { 204: { description: "Deleted" } },
    errors: ["validation_failed", "not_found", "in_use"],
    async handler(c, { params, principal }) {
      await deleteVersion({ env: c.env, principal, model: params.model }, params.version);
      return c.body(null, 204);
    },
  }),
];
