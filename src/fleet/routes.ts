/**
 * The fleet routes (docs/fleet.md "HTTP reference"): what serving nodes say they run. Reports go to the watch relay
 * the node's key picks (the same hash the watch route spreads sockets by, so a node lands on
 * one relay whether it reports over its socket or here), which keeps the node's record and
 * tells the model's object a summary of them; the fleet view reads the object's summaries,
 * the node list the relays' records. See docs/fleet.md.
 */
import { z } from "zod";
import { skipWriteBookmark } from "../db/session";
import { hashUnit } from "../domain/alias";
import { Fleet, Node, NODE_STATES, NodeReportBody, relayName, relayShard, reportOf } from "../domain/fleet";
import { comparePaths } from "../domain/manifest";
import { config } from "../env";
import { ALIAS_PARAM, defineRoute, MODEL_PARAM } from "../http/api";
import { decodeCursor, PageQuery, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { AliasParams } from "../aliases/schemas";
import { modelState, unwrap } from "../model-writes/stub";
import { watchRelay } from "../state/relay-rpc";

const NodesQuery = PageQuery.extend({
  version: z.coerce.number().int().min(1).optional().describe("Only nodes serving this version"),
  state: z.enum(NODE_STATES).optional(),
  label: z
    .string()
    .regex(/^[^:]+:/, "label=<key>:<value>")
    .transform((s) => [s.slice(0, s.indexOf(":")), s.slice(s.indexOf(":") + 1)] as [string, string])
    .optional()
    .describe("`<key>:<value>`: only nodes with that label"),
  stale: z
    .enum(["true", "false"])
    .transform((s) => s === "true")
    .optional()
    .describe("`true`: only stale nodes; `false`: only reporting ones"),
});

/** Node names in UTF-8 byte order, as each relay's SQLite pages them (its BINARY collation). */
const NodesCursor = z.object({ n: z.string() });

export const fleetRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/models/{model}/aliases/{alias}/nodes",
    operationId: "reportNode",
    summary: "Report what a serving node runs",
    description:
      "For serving processes other than `mreg agent` (which reports over its watch socket). Kept by the watch relay the node's name picks, in its own storage: a report costs no D1 write, and reaches the model's Durable Object only in the relay's summary (at most one a second). Report on every change of state and at least every NODE_REPORT_S (30 s): a node not heard from for NODE_TTL_S (90 s) is stale, and one not heard from for a day is forgotten. Needs the token's `aliases` grant for the alias.",
    tag: "Fleet",
    scope: "report",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: AliasParams,
    body: NodeReportBody,
    responses: { 202: { description: "Kept" } },
    errors: ["validation_failed", "not_found", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body }) {
      // The serving path's write: nothing in D1 to read back.
      skipWriteBookmark(c);
      const shards = config(c.env).WATCH_RELAY_SHARDS;
      const relay = relayName(params.model, params.alias, relayShard(body.node, shards, hashUnit));
      unwrap(
        await watchRelay(c.env, relay).report({
          model: params.model,
          alias: params.alias,
          relay,
          report: reportOf(body.node, body),
        }),
      );
      return c.body(null, 202);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/fleet",
    operationId: "getFleet",
    summary: "What the nodes serving an alias run, against what it intends",
    description:
      "Answered from the summaries the alias's watch relays send the model's Durable Object (at most one a second per relay), so it costs the same for ten nodes as for a hundred thousand. `converged`: every reporting node serves what the alias intends for it (for a split, the member its node name picks, as a resolve with that key would). A node is reporting until NODE_TTL_S (default 90) passes without a report.",
    tag: "Fleet",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: AliasParams,
    responses: { 200: { description: "The fleet", schema: Fleet } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      return c.json(unwrap(await modelState(c.env, params.model).fleet({ model: params.model, alias: params.alias })));
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/fleet/nodes",
    operationId: "listFleetNodes",
    summary: "The nodes serving an alias, by name",
    description:
      "Pages through the records the alias's watch relays keep (each relay asked for its next page, the pages merged by node name). A node appears once its relay has taken its first report.",
    tag: "Fleet",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: AliasParams,
    query: NodesQuery,
    responses: { 200: { description: "A page of nodes", schema: pageOf(Node) } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, query }) {
      const relays = unwrap(
        await modelState(c.env, params.model).fleetRelays({ model: params.model, alias: params.alias }),
      );
      const after = query.cursor ? decodeCursor(query.cursor, NodesCursor).n : undefined;
      const { version, state, label, stale } = query;
      const filter = { version, state, label, stale, after, limit: query.limit + 1 };
      const pages = await Promise.all(
        relays.map((relay) => watchRelay(c.env, relay).nodes({ alias: params.alias, query: filter })),
      );
      // A node lands on one relay; after WATCH_RELAY_SHARDS changes it may be on two until the old record is forgotten: the newer counts.
      const newest = new Map<string, Node>();
      for (const node of pages.flat()) {
        const seen = newest.get(node.node);
        if (!seen || seen.last_seen < node.last_seen) newest.set(node.node, node);
      }
      const nodes = [...newest.values()].sort((a, b) => comparePaths(a.node, b.node));
      return c.json(
        toPage(
          nodes,
          query.limit,
          (n) => ({ n: n.node }),
          (n) => n,
        ),
      );
    },
  }),
];
