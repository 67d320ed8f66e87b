/**
 * Routes of a rollout (docs/rollouts.md): start one, read it, pause, resume or abort it.
 * Translation only: the rollout service (./service.ts) checks the grant and makes the one
 * ModelState call; the steps are the object's own, driven by its alarm.
 */
import { z } from "zod";
import { AliasParams, SettableAliasParams } from "../aliases/schemas";
import { DEFAULT_MIN_FLEET, MinFleet, Rollout, RolloutSteps } from "../domain/rollout";
import { ALIAS_PARAM, defineRoute, MODEL_PARAM, type AnyRouteSpec } from "../http/api";
import { modelState, unwrap } from "../model-writes/stub";
import { actOnRollout, startRollout, type RolloutAction } from "./service";

const Reason = z.string().max(1024);

export const StartRolloutBody = z.strictObject({
  version: z.number().int().positive(),
  steps: RolloutSteps,
  min_fleet: MinFleet.default(DEFAULT_MIN_FLEET),
  reason: Reason.optional(),
});

export const RolloutActionBody = z.strictObject({ reason: Reason.optional() });

const ACTIONS: { action: RolloutAction; summary: string; description: string }[] = [
  {
    action: "pause",
    summary: "Pause an alias's rollout",
    description:
      "The alias stays at the step in force and its hold stops. Pausing a paused rollout changes nothing; one that has ended answers 409 `conflict`.",
  },
  {
    action: "resume",
    summary: "Resume an alias's paused rollout",
    description:
      "The step in force holds again from the start, once at least `min_fleet` of the reporting nodes serve it (at once when no node reports). Resuming a running rollout changes nothing; one that has ended answers 409 `conflict`.",
  },
  {
    action: "abort",
    summary: "Abort an alias's rollout and take the alias back to `from`",
    description:
      "One alias change, audited as `rollout.abort` with its generation; watchers hear event `rollout`. A rollout that has ended answers 409 `conflict`.",
  },
];

export const rolloutRoutes: AnyRouteSpec[] = [
  defineRoute({
    method: "put",
    path: "/v1/models/{model}/aliases/{alias}/rollout",
    operationId: "startRollout",
    summary: "Move an alias to a version in steps, driven by the registry itself",
    description:
      "Step i sets the alias to the split `[{from, 100 − w}, {to, w}]` (weight 100: plain `to`), where `from` is the one version the alias serves now. A step's hold clock starts once at least `min_fleet` of the reporting nodes serve what the split intends (at once when no node reports); the next step follows `hold_s` later, and the rollout completes `hold_s` after the last. The first step is applied at once. " +
      "The alias's gate is checked for `version` now, as a PUT would (409 `gate_failed`, audited as `promotion_denied`). 409 `conflict` while another rollout of the alias is running or paused, and when the alias is not set to one version or serves `version` already. " +
      "A guard trip during the rollout takes the alias back to `from` and aborts it with the guard's reason; any other change of the alias (PUT, rollback, swap, delete, a stage move of its name) aborts it. Each step is an alias change audited as `rollout.step` by whoever started it; watchers hear event `rollout`.",
    tag: "Aliases",
    scope: "promote",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: SettableAliasParams,
    body: StartRolloutBody,
    responses: { 201: { description: "The rollout, its first step applied", schema: Rollout } },
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
      const rollout = await startRollout({ env: c.env, principal, model: params.model }, params.alias, {
        version: body.version,
        steps: body.steps,
        minFleet: body.min_fleet,
        reason: body.reason ?? null,
      });
      return c.json(rollout, 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/rollout",
    operationId: "getRollout",
    summary: "An alias's rollout: the running one, else the last that ran",
    tag: "Aliases",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: AliasParams,
    responses: { 200: { description: "The rollout", schema: Rollout } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      return c.json(
        unwrap(await modelState(c.env, params.model).getRollout({ model: params.model, alias: params.alias })),
      );
    },
  }),

  ...ACTIONS.map(({ action, summary, description }) =>
    defineRoute({
      method: "post",
      // A literal colon: src/http/api.ts routes `rollout:pause` as one segment that matches only itself.
      path: `/v1/models/{model}/aliases/{alias}/rollout:${action}`,
      operationId: `${action}Rollout`,
      summary,
      description,
      tag: "Aliases",
      scope: "promote",
      subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
      params: AliasParams,
      body: RolloutActionBody,
      responses: { 200: { description: "The rollout", schema: Rollout } },
      errors: ["validation_failed", "not_found", "conflict", "unsupported_media_type"],
      async handler(c, { params, body, principal }) {
        const writer = { env: c.env, principal, model: params.model };
        return c.json(await actOnRollout(writer, params.alias, action, body.reason ?? null));
      },
    }),
  ),
];
