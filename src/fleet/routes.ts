/**
 * Routes of API.md "Fleet": what serving nodes say they run. Reports go to the watch relay
 * the node's key picks (the same hash the watch route spreads sockets by, so a node lands on
 * one relay whether it reports over its socket or here), which keeps the node's record and
 * tells the model's object a summary of them; the fleet view reads the object's summaries,
 * the node list the relays' records. See docs/fleet.md.
 */
import { defineRoute, MODEL_PARAM } from "../http/api";
import { AliasParams } from "../aliases/schemas";
import { Fleet } from "../domain/fleet";
import { modelState, unwrap } from "../model-writes/stub";

export const fleetRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/fleet",
    operationId: "getFleet",
    summary: "What the nodes serving an alias run, against what it intends",
    description:
      "Answered from the summaries the alias's watch relays send the model's Durable Object (at most one a second per relay), so it costs the same for ten nodes as for a hundred thousand. `converged`: every reporting node serves what the alias intends for it (for a split, the member its node key picks, as a resolve with that key would). A node is reporting until NODE_TTL_S (default 90) passes without a report.",
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
];
