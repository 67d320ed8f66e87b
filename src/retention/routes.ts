/**
 * Routes of API.md "Retention": the registry default (D1, written with its audit event in
 * one batch), each model's own policy (its ModelState), and the preview. Deletions happen
 * only in the scheduled cleanup (src/retention/apply.ts).
 */
import { dispatchAfter } from "../events/dispatch";
import { auditedAs, visibilityOf } from "../auth/principal";
import { queryDb, skipWriteBookmark } from "../db/session";
import type { Visibility } from "../db/visibility";
import { timestamp } from "../domain/ids";
import { RetentionPolicy, type Keeping } from "../domain/retention";
import { defineRoute, MODEL_PARAM } from "../http/api";
import type { AppContext } from "../http/app-env";
import { ProblemError } from "../domain/problem";
import { ModelParams } from "../models/schemas";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import type { OwnRetention } from "../state/model-state";
import { retentionInputs } from "./apply";
import { ModelRetention, PreviewBody, RetentionPreview } from "./schemas";
import { RetentionStore } from "./store";

const POLICY_RULES =
  "Every key is optional; the empty policy keeps everything. A ready version is deleted when it is neither among the `keep_last` newest ready versions nor younger than `max_age_days` (each rule counts only where set; a ready version's age starts at `ready_at`). `pending_max_age_days` (from `created_at`) and `failed_max_age_days` (from the last change) delete pending and failed versions. Never deleted: a version an alias holds (splits included), one in a stage of `keep_stages` (default `production` and `staging`; `production` always, as a version there cannot be deleted), one carrying every tag of `keep_tags`, and a lineage parent (in this model or another) of a version that is kept.";

/** The model's own policy in the shape of the contract, or the default when it has none. */
async function shown(c: AppContext, own: OwnRetention | null) {
  if (own) return { policy: own.policy, inherited: false, updated_at: own.updated_at, updated_by: own.updated_by };
  const stored = await new RetentionStore(queryDb(c)).defaultPolicy();
  return {
    policy: stored?.policy ?? {},
    inherited: true,
    updated_at: stored?.updated_at ?? null,
    updated_by: stored?.updated_by ?? null,
  };
}

/** A child in a model the token does not see is not named (as lineage redacts it). */
function redact(keep: Keeping[], visibility: Visibility): Keeping[] {
  return keep.map((k) => {
    if (k.reason !== "lineage_parent" || k.detail === undefined) return k;
    // `model/version`, or just the model for a hold (model names have no `/`).
    const childModel = k.detail.split("/")[0]!;
    return visibility.sees(childModel) ? k : { version: k.version, reason: k.reason };
  });
}

export const retentionRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/retention",
    operationId: "getDefaultRetention",
    summary: "The registry's default retention policy",
    description: "It applies to every model without a policy of its own. Until set: `{}`, which keeps everything.",
    tag: "Retention",
    scope: "read",
    responses: { 200: { description: "The default policy", schema: RetentionPolicy } },
    errors: [],
    async handler(c) {
      return c.json((await new RetentionStore(queryDb(c)).defaultPolicy())?.policy ?? {});
    },
  }),

  defineRoute({
    method: "put",
    path: "/v1/retention",
    operationId: "setDefaultRetention",
    summary: "Set the registry's default retention policy",
    description: `${POLICY_RULES} Needs a token whose \`models\` claim (if any) includes \`*\`: the default covers every model. Audited as \`retention.set\` with the model \`""\` (the registry).`,
    tag: "Retention",
    scope: "admin",
    body: RetentionPolicy,
    responses: { 200: { description: "The default policy", schema: RetentionPolicy } },
    errors: ["validation_failed", "payload_too_large", "unsupported_media_type"],
    async handler(c, { body, principal }) {
      if (!visibilityOf(principal).all) {
        throw new ProblemError("forbidden", "The default policy covers every model: this token is limited to some");
      }
      const { stored } = await new RetentionStore(queryDb(c)).setDefault(body, auditedAs(principal), timestamp());
      dispatchAfter(c);
      return c.json(stored.policy);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/retention",
    operationId: "getModelRetention",
    summary: "A model's retention policy: its own, or the default it inherits",
    tag: "Retention",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    responses: { 200: { description: "The policy in force", schema: ModelRetention } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const own = unwrap(await modelState(c.env, params.model).getRetention({ model: params.model }));
      return c.json(await shown(c, own));
    },
  }),

  defineRoute({
    method: "put",
    path: "/v1/models/{model}/retention",
    operationId: "setModelRetention",
    summary: "Set a model's own retention policy (the default no longer applies to it)",
    description: `${POLICY_RULES} \`{}\` opts the model out of a default that deletes. Audited as \`retention.set\`.`,
    tag: "Retention",
    scope: "admin",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    body: RetentionPolicy,
    responses: { 200: { description: "The model's policy", schema: ModelRetention } },
    errors: ["validation_failed", "not_found", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const own = unwrap(
        await modelState(c.env, params.model).setRetention({ ...actorFor(params.model, principal), policy: body }),
      );
      return c.json(await shown(c, own));
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/retention",
    operationId: "deleteModelRetention",
    summary: "Remove a model's own retention policy: the default applies again",
    description: "Audited as `retention.delete` when the model had a policy of its own; 204 either way.",
    tag: "Retention",
    scope: "admin",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    responses: { 204: { description: "The default applies" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      unwrap(await modelState(c.env, params.model).deleteRetention(actorFor(params.model, principal)));
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/retention/preview",
    operationId: "previewRetention",
    summary: "What a retention policy would delete now, and why each other version stays; changes nothing",
    description:
      "Evaluated by the model's Durable Object on the same facts, and with the same evaluator, as the scheduled cleanup: at a given moment it lists exactly what the cleanup would delete then. Without `policy`, the policy in force (the model's own, else the default). `at` evaluates as of another moment (today's versions and aliases, ages as of then).",
    tag: "Retention",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    body: PreviewBody,
    responses: { 200: { description: "The verdict on every version", schema: RetentionPreview } },
    errors: ["validation_failed", "not_found", "payload_too_large", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      // A POST that writes nothing: no fresh bookmark from the primary is needed.
      skipWriteBookmark(c);
      const inputs = await retentionInputs(c.env, new RetentionStore(queryDb(c)), params.model, body.at ?? timestamp());
      const decision = unwrap(
        await modelState(c.env, params.model).previewRetention({
          ...inputs,
          ...(body.policy ? { policy: body.policy } : {}),
        }),
      );
      return c.json({ ...decision, keep: redact(decision.keep, visibilityOf(principal)) });
    },
  }),
];
