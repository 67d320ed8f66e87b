/**
 * Routes of API.md "Gates, approvals and guards": gate policies per target, the dry run,
 * and approvals. Every decision is made inside the model's ModelState; enforcement happens
 * there too, in the same step as each promotion (src/state/gate-ops.ts).
 */
import { defineRoute, MODEL_PARAM } from "../http/api";
import { itemsOf } from "../http/openapi-helpers";
import { GatePolicy } from "../domain/gate";
import { ModelParams } from "../models/schemas";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import { Approval, ApprovalParams, ApproveBody, Gate, GateCheckBody, GateParams, GateResult } from "./schemas";

export const gateRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/models/{model}/gates",
    operationId: "listGates",
    summary: "A model's gate policies, by target",
    tag: "Gates",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    responses: { 200: { description: "The gates", schema: itemsOf(Gate) } },
    errors: ["validation_failed"],
    async handler(c, { params }) {
      return c.json({ items: await modelState(c.env, params.model).listGates() });
    },
  }),

  defineRoute({
    method: "put",
    path: "/v1/models/{model}/gates/{target}",
    operationId: "setGate",
    summary: "Set the gate policy of a target (an alias or a stage name)",
    description:
      "Every key is optional: `metrics` bounds, `no_regression` against the version holding the target, `required_tags`, `required_lineage`, `approvals` (distinct approvers, not the creator), `from` (the candidate holds or has held that alias or stage). Checked inside the model's Durable Object on every PUT alias, swap and stage move to the target; not on rollback. Setting or removing a gate needs the token's `aliases` grant for the target.",
    tag: "Gates",
    scope: "admin",
    subject: { model: MODEL_PARAM, aliases: { from: "params", get: (params) => [params.target] } },
    params: GateParams,
    body: GatePolicy,
    responses: { 200: { description: "The gate", schema: Gate } },
    errors: ["validation_failed", "not_found", "forbidden", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const gate = unwrap(
        await modelState(c.env, params.model).setGate({
          ...actorFor(params.model, principal),
          target: params.target,
          policy: body,
        }),
      );
      return c.json(gate);
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/gates/{target}",
    operationId: "deleteGate",
    summary: "Remove the gate of a target",
    tag: "Gates",
    scope: "admin",
    subject: { model: MODEL_PARAM, aliases: { from: "params", get: (params) => [params.target] } },
    params: GateParams,
    responses: { 204: { description: "Removed" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      unwrap(
        await modelState(c.env, params.model).deleteGate({
          ...actorFor(params.model, principal),
          target: params.target,
        }),
      );
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/gates/{target}/check",
    operationId: "checkGate",
    summary: "Dry run: what promoting a version to the target would get now",
    description:
      "Evaluated exactly as a promotion would be, on the same state; changes nothing. Without a policy: passed, no checks.",
    tag: "Gates",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: GateParams,
    body: GateCheckBody,
    responses: { 200: { description: "The gate's result", schema: GateResult } },
    errors: ["validation_failed", "not_found", "unsupported_media_type"],
    async handler(c, { params, body }) {
      return c.json(
        unwrap(
          await modelState(c.env, params.model).checkGate({
            model: params.model,
            target: params.target,
            version: body.version,
          }),
        ),
      );
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions/{version}/approvals",
    operationId: "approveVersion",
    summary: "Approve a version for a target",
    description:
      "Four eyes: the version's creator cannot approve it (403). One approval per approver and target; a repeat returns the first. Needs the token's `aliases` grant for the target (an approval for `production` is part of moving it).",
    tag: "Gates",
    scope: "approve",
    subject: { model: MODEL_PARAM, aliases: { from: "body", get: (body) => [body.target] } },
    params: ApprovalParams,
    body: ApproveBody,
    responses: { 201: { description: "The approval", schema: Approval } },
    errors: ["validation_failed", "not_found", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const approval = unwrap(
        await modelState(c.env, params.model).approve({
          ...actorFor(params.model, principal),
          version: params.version,
          target: body.target,
          comment: body.comment ?? null,
        }),
      );
      return c.json(approval, 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/approvals",
    operationId: "listApprovals",
    summary: "A version's approvals",
    tag: "Gates",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ApprovalParams,
    responses: { 200: { description: "The approvals", schema: itemsOf(Approval) } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      return c.json({
        items: unwrap(
          await modelState(c.env, params.model).listApprovals({ model: params.model, version: params.version }),
        ),
      });
    },
  }),
];
