/**
 * The serving path: resolving `model@alias` (and `registry://` URIs) and watching an alias.
 * A cache hit touches neither the Durable Object nor D1; a miss makes one RPC to the model's
 * ModelState, which answers from its own SQLite.
 */
import { z } from "zod";
import { authorize } from "../auth/authorize";
import { visibilityOf, type Principal } from "../auth/principal";
import { relayName, relayShard } from "../domain/fleet";
import { queryDb } from "../db/session";
import { noneMatch } from "../domain/range";
import { resolutionFor, type Resolution as ResolutionBody } from "../domain/resolution";
import { AliasAt, hashUnit } from "../domain/alias";
import { referenceTo, type Reference } from "../domain/reference";
import { parseModelUri } from "../domain/uri";
import { config } from "../env";
import { defineRoute, MODEL_PARAM } from "../http/api";
import type { AppContext } from "../http/app-env";
import { ProblemError } from "../domain/problem";
import { validationFailed } from "../http/validation";
import { Alias, AliasParams, ResolveQuery, ResolveUriQuery, Resolution } from "../aliases/schemas";
import { lineageGraph } from "../lineage/graph";
import { IncludeQuery, LineageGraph } from "../lineage/schemas";
import { AliasProjection } from "../models/alias-projection";
import { Version } from "../models/schemas";
import { VersionStore } from "../models/version-store";
import { aliasAt, requestContext, resolve, type Resolved } from "./service";

/**
 * The Resolution with `ETag: "<generation>"` (with the model's signature counter after it when
 * the version carries signatures, which change without a new generation: src/state/alias-ops.ts
 * `resolveNow`); 304 when the client holds it already. A stale
 * answer says its age in `x-mreg-stale` and must not be cached downstream. With
 * `include=lineage` the answer also depends on D1, so it is neither cached nor 304'd.
 */
async function answer(
  c: AppContext,
  { state, staleS }: Resolved,
  query: z.output<typeof ResolveWithLineage>,
  principal: Principal,
): Promise<Response> {
  if (query.include === "lineage") {
    const resolution = resolutionFor(state, query.key);
    const headers: Record<string, string> = { "cache-control": "no-store" };
    if (staleS !== null) headers["x-mreg-stale"] = String(staleS);
    return c.json({ ...resolution, ...(await provenance(c, resolution, query.depth, principal)) }, 200, headers);
  }
  const key = query.key;
  const ttl = config(c.env).RESOLVE_TTL_S;
  const headers: Record<string, string> = {
    etag: `"${state.etag}"`,
    "cache-control": ttl > 0 && staleS === null ? `max-age=${ttl}` : "no-cache",
  };
  if (staleS !== null) headers["x-mreg-stale"] = String(staleS);
  if (noneMatch(c.req.header("if-none-match") ?? null, state.etag)) return new Response(null, { status: 304, headers });
  return c.json(resolutionFor(state, key), 200, headers);
}

/** What both resolve routes say about caching and stale-if-error. */
/** What `include=lineage` adds: the version's graph, its Version, and the alias's record (who set it, when). */
async function provenance(c: AppContext, resolution: ResolutionBody, depth: number, principal: Principal) {
  const ref = { model: resolution.model, version: resolution.version };
  const visibility = visibilityOf(principal);
  const read = async (db: D1DatabaseSession) => {
    const versions = new VersionStore(db);
    const [lineage, record, alias] = await Promise.all([
      lineageGraph(db, ref, depth, visibility),
      versions.get(ref.model, ref.version),
      new AliasProjection(db).record(resolution.model, resolution.alias),
    ]);
    return { lineage, version_detail: record ? await versions.present(record, visibility) : null, alias_detail: alias };
  };
  try {
    return await read(queryDb(c));
  } catch (err) {
    // The resolution comes from the model's Durable Object; a replica may not have the
    // version it names yet. The primary has it.
    if (err instanceof ProblemError && err.code === "not_found") return read(c.env.DB.withSession("first-primary"));
    throw err;
  }
}

/** Time travel: what the alias held at an instant, from its history (docs/fleet.md "What ran when"). */
const AtQuery = z.object({
  at: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s).toISOString())
    .optional()
    .describe(
      "RFC 3339: answer what the alias held at that instant (AliasAt, from its history) instead of resolving it now",
    ),
});

const ResolveWithLineage = ResolveQuery.extend(IncludeQuery.shape).extend(AtQuery.shape);
const ResolveUriWithLineage = ResolveUriQuery.extend(IncludeQuery.shape).extend(AtQuery.shape);

/** `?at=`: the alias's history at that instant; not cached (an instant to come may still change). */
async function answerAt(
  c: AppContext,
  model: string,
  alias: string,
  query: z.output<typeof ResolveWithLineage>,
): Promise<Response> {
  if (query.include !== undefined)
    throw validationFailed("at and include cannot be combined", [
      { path: "include", message: "the lineage of a past value: resolve registry://<model>/<version> for it" },
    ]);
  return c.json(await aliasAt(c.env, model, alias, query.at!, query.key), 200, { "cache-control": "no-store" });
}

export const ResolutionWithLineage = Resolution.extend({
  lineage: LineageGraph.optional().describe("With include=lineage"),
  version_detail: Version.nullable().optional().describe("With include=lineage: the resolved Version"),
  alias_detail: Alias.nullable()
    .optional()
    .describe("With include=lineage: the alias as set (null for latest, v<n> and stage fallbacks)"),
});

const AT =
  " With `at=<RFC 3339>`, the answer is what the alias held at that instant (AliasAt: its value, generation, and who set it, when and why), from the alias's history; 404 `not_found` when it held nothing then (before its first set, or deleted).";

const INCLUDE =
  " `include=lineage` adds `lineage` (the version's LineageGraph, `depth` default 10), `version_detail` (its Version) and `alias_detail` (who set the alias, when): what it is and where it came from, in one request.";

const CACHING =
  " Cached for `RESOLVE_TTL_S` seconds. When the model's Durable Object cannot answer, the last resolution seen is served for up to `RESOLVE_STALE_IF_ERROR_S` seconds past its TTL, with the header `x-mreg-stale: <age in seconds>`; past that, 503 `unavailable` with `Retry-After`.";

export const resolveRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}",
    operationId: "resolveAlias",
    summary: "Resolve an alias (the serving hot path)",
    description:
      "Set aliases; `latest` (highest ready version) and `v<n>` virtually; a stage name falls back to the highest version in that stage. For a split, `key` picks the version stably." +
      CACHING +
      INCLUDE +
      AT,
    tag: "Aliases",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: AliasParams,
    query: ResolveWithLineage,
    headers: {
      "If-None-Match":
        'The ETag seen before: "<generation>" (`"<generation>.s<n>"` for a version with signatures, whose changes move it too)',
    },
    responses: {
      200: {
        description: "The resolution (`x-mreg-stale` when served stale); with `at`, what the alias held then",
        schema: z.union([ResolutionWithLineage, AliasAt]),
      },
      304: { description: "Not modified" },
    },
    errors: ["validation_failed", "not_found", "version_not_ready", "unavailable"],
    async handler(c, { params, query, principal }) {
      if (query.at !== undefined) return answerAt(c, params.model, params.alias, query);
      return answer(c, await resolve(requestContext(c), params.model, referenceTo(params.alias)), query, principal);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/resolve",
    operationId: "resolveUri",
    summary: "Resolve a registry:// URI",
    description:
      "`registry://m@alias` as the alias route; `registry://m/3` as version 3 (which must be ready)." +
      CACHING +
      INCLUDE +
      AT,
    tag: "Aliases",
    scope: "read",
    subject: { model: { from: "query", get: (query) => parseModelUri(query.uri)?.model } },
    query: ResolveUriWithLineage,
    responses: {
      200: {
        description: "The resolution (`x-mreg-stale` when served stale); with `at`, what the alias held then",
        schema: z.union([ResolutionWithLineage, AliasAt]),
      },
      304: { description: "Not modified" },
    },
    errors: ["validation_failed", "not_found", "version_not_ready", "unavailable"],
    async handler(c, { query, principal }) {
      const uri = parseModelUri(query.uri);
      if (!uri) {
        throw validationFailed("Not a model URI", [
          { path: "uri", message: "expected registry://<model>@<alias> or registry://<model>/<version>" },
        ]);
      }
      if (query.at !== undefined) {
        if (uri.alias === undefined)
          throw validationFailed("at applies to an alias", [
            { path: "at", message: "registry://<model>/<version> names one version at every instant" },
          ]);
        return answerAt(c, uri.model, uri.alias, query);
      }
      const ref: Reference =
        uri.alias !== undefined ? referenceTo(uri.alias) : { kind: "version", version: uri.version };
      return answer(c, await resolve(requestContext(c), uri.model, ref), query, principal);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/watch",
    operationId: "watchAlias",
    summary: "Watch an alias over a WebSocket",
    description:
      'Upgrade to a WebSocket: the first message is the current Resolution plus `"event": "current"`, then one per change, in generation order: the Resolution\'s fields plus `event` (`set`, `delete`, `rollback`, `swap`, `stage`, `finalize`, …); `version`, `digest` and `files` are null once the alias resolves to nothing. Watching a stage name or `v<n>` follows the fallback. The socket is closed with code 4001 when the token expires, or within 10 s of its revocation. Sockets are held by watch relays (`WATCH_RELAY_SHARDS` per alias, chosen by a hash of `key`, else at random), each told of a change once by the model\'s Durable Object. A browser on a page served by this registry may authenticate with the web UI session cookie instead of the Authorization header.',
    tag: "Aliases",
    scope: "read",
    subject: { model: MODEL_PARAM },
    cookieAuth: true,
    params: AliasParams,
    query: ResolveQuery,
    responses: { 101: { description: "Switching to the WebSocket protocol" } },
    errors: ["validation_failed"],
    async handler(c, { params, query, principal }) {
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        throw validationFailed("This route needs a WebSocket upgrade (Upgrade: websocket)");
      }
      // One of the alias's relays, by a hash of the client: its routing key (the relay its
      // reports go to, whichever way it sends them), else at random.
      const shards = config(c.env).WATCH_RELAY_SHARDS;
      const relay = relayName(
        params.model,
        params.alias,
        relayShard(query.key ?? crypto.randomUUID(), shards, hashUnit),
      );
      const url = new URL("https://watch-relay/watch");
      url.searchParams.set("model", params.model);
      url.searchParams.set("alias", params.alias);
      url.searchParams.set("relay", relay);
      if (query.key) url.searchParams.set("key", query.key);
      if (principal.expiresAt !== undefined) url.searchParams.set("expires", String(principal.expiresAt));
      if (principal.tokenId !== undefined) url.searchParams.set("token", principal.tokenId);
      // Whether the socket may report its node's state (docs/fleet.md): as the report route would allow.
      if (authorize(principal, { scope: "report", aliases: [params.alias] }) === null)
        url.searchParams.set("report", "1");
      const upgraded = await c.env.WATCH_RELAYS.getByName(relay).fetch(new Request(url, c.req.raw));
      // The object's response has immutable headers; a fresh one lets the app add x-request-id.
      return new Response(upgraded.body, {
        status: upgraded.status,
        headers: upgraded.headers,
        webSocket: upgraded.webSocket,
      });
    },
  }),
];
