/**
 * Routes of API.md "Events (webhooks)": subscriptions, their deliveries, ping and redeliver.
 * Every route needs `admin`: a webhook's URL may carry a token of the receiver's. A token
 * with `models` acts only on webhooks whose `models` filter lies within its globs (others
 * are not found). Changes commit with their audit event (the secret never in it, the URL
 * by its origin) through commitRegistryChange.
 */
import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { webhookDeliveries, webhooks } from "../db/schema";
import { queryDb } from "../db/session";
import { sortableId } from "../domain/ids";
import { endpointProblem, filterReach, urlOrigin } from "../domain/webhook";
import { auditedAs, visibilityOf, type Principal } from "../auth/principal";
import { config, type Env } from "../env";
import { defineRoute } from "../http/api";
import type { AppContext } from "../http/app-env";
import { decodeCursor, PageQuery, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { notFound, ProblemError } from "../domain/problem";
import { validationFailed } from "../http/validation";
import { deliveryFor, dispatchAfter, enqueueDelivery } from "./dispatch";
import { commitRegistryChange, commitRegistryChangeIf } from "./registry";
import { newSecret, sealSecret } from "./secrets";
import { deliveryBody, webhookBody, WebhookStore, type WebhookRow } from "./store";

/** How long a rotated-out secret keeps signing. */
const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

const Glob = z.string().min(1).max(256);
const WebhookId = z.string().regex(/^wh_[0-9A-Z]{26}$/, "not a webhook id");
const DeliveryId = z.string().regex(/^[0-9A-Z]{26}\.wh_[0-9A-Z]{26}$/, "not a delivery id");
const WebhookParams = z.object({ id: WebhookId });
const DeliveryParams = z.object({ id: WebhookId, delivery_id: DeliveryId });

export const CreateWebhookBody = z.strictObject({
  url: z.string().min(1).max(2048),
  events: z.array(Glob).max(100).default([]),
  models: z.array(Glob).max(100).default([]),
  description: z.string().max(1024).nullable().default(null),
});

export const PatchWebhookBody = z.strictObject({
  url: z.string().min(1).max(2048).optional(),
  events: z.array(Glob).max(100).optional(),
  models: z.array(Glob).max(100).optional(),
  description: z.string().max(1024).nullable().optional(),
  active: z.boolean().optional(),
  rotate_secret: z.literal(true).optional(),
});

export const Webhook = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()).describe("Globs of event types (audit actions, `ping`); empty: every type"),
    models: z.array(z.string()).describe("Globs of model names; empty: every model and registry-level events"),
    description: z.string().nullable(),
    active: z.boolean(),
    disabled_reason: z.string().nullable(),
    created_at: z.string(),
    created_by: z.string(),
    updated_at: z.string(),
    secret: z.string().optional().describe("`whsec_…`: only in the answer that created or rotated it"),
  })
  .meta({ id: "Webhook" });

export const Delivery = z
  .object({
    id: z.string(),
    webhook_id: z.string(),
    event_id: z.string(),
    type: z.string(),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    delivered_at: z.string().nullable(),
  })
  .meta({ id: "Delivery" });

const DeliveriesQuery = PageQuery.extend({ status: z.enum(["pending", "delivered", "failed"]).optional() });
const IdCursor = z.object({ id: z.string().min(1).max(128) });

function webhookKey(env: Env): string {
  const key = config(env).WEBHOOK_KEY;
  if (!key)
    throw new ProblemError(
      "unavailable",
      "Webhooks need the WEBHOOK_KEY secret, which this deployment has not set",
      {},
      { "retry-after": "3600" },
    );
  return key;
}

function checkUrl(env: Env, url: string): void {
  const problem = endpointProblem(url, config(env).ALLOW_HTTP_WEBHOOKS);
  if (problem) throw validationFailed("Invalid webhook URL", [{ path: "url", message: problem }]);
}

/**
 * The webhook, if the token may see it: a token with `models` sees only webhooks within
 * them, and any other is answered exactly as one that does not exist.
 */
async function existing(c: AppContext, id: string, principal: Principal): Promise<WebhookRow> {
  const row = await new WebhookStore(queryDb(c)).get(id);
  if (!row || !visibilityOf(principal).covers(filterReach(JSON.parse(row.models) as string[])))
    throw notFound(`Webhook '${id}'`);
  return row;
}

/** After a conditional write found the row changed: 404 if it is gone (or out of sight), else 409. */
async function lostRace(c: AppContext, id: string, principal: Principal): Promise<never> {
  await existing(c, id, principal);
  throw new ProblemError("conflict", `Webhook '${id}' changed while this request was applied; read it again and retry`);
}

/** A token with `models` may give a webhook only a `models` filter within its globs. */
function checkModels(principal: Principal, models: string[]): void {
  if (!visibilityOf(principal).covers(filterReach(models))) {
    throw new ProblemError(
      "forbidden",
      "This token is limited to some models: a webhook it creates or changes needs a `models` filter whose every glob lies within the token's (registry-level events and unfiltered webhooks need an unrestricted admin)",
    );
  }
}

/** What an audit event says of a webhook: its subscription fields with the URL's origin only, never its secret. */
function audited(row: WebhookRow) {
  const { id, url, events, models, description, active } = webhookBody(row);
  return { id, url: urlOrigin(url), events, models, description, active };
}

export const webhookRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/webhooks",
    operationId: "createWebhook",
    summary: "Subscribe an endpoint to events",
    description:
      "Every audit event is an event whose `type` is its action. `events` and `models` are globs (empty: all). `url` must be https:// (http:// to a loopback host only with `ALLOW_HTTP_WEBHOOKS=true`); `localhost` and literal private, loopback, link-local, unique-local, unspecified and carrier-grade-NAT addresses (any notation) are refused, loopback excepted under that flag. The answer carries the signing `secret` once.",
    tag: "Webhooks",
    scope: "admin",
    body: CreateWebhookBody,
    responses: { 201: { description: "The webhook, with its secret", schema: Webhook } },
    errors: ["validation_failed", "forbidden", "unavailable", "payload_too_large", "unsupported_media_type"],
    async handler(c, { body, principal }) {
      checkUrl(c.env, body.url);
      checkModels(principal, body.models);
      const key = webhookKey(c.env);
      const at = new Date().toISOString();
      const id = `wh_${sortableId()}`;
      const secret = newSecret();
      const row: WebhookRow = {
        id,
        url: body.url,
        events: JSON.stringify(body.events),
        models: JSON.stringify(body.models),
        description: body.description,
        active: true,
        disabledReason: null,
        secret: await sealSecret(key, id, secret),
        previousSecret: null,
        previousSecretExpiresAt: null,
        failingSince: null,
        createdAt: at,
        createdBy: principal.sub,
        updatedAt: at,
        revision: 0,
      };
      const db = queryDb(c);
      const store = new WebhookStore(db);
      await commitRegistryChange(db, [store.db.insert(webhooks).values(row)], {
        at,
        ...auditedAs(principal),
        action: "webhook.create",
        to: audited(row),
      });
      dispatchAfter(c);
      return c.json({ ...webhookBody(row), secret }, 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/webhooks",
    operationId: "listWebhooks",
    summary: "The webhooks, newest first",
    description: "A token with `models` sees only webhooks whose `models` filter lies within its globs.",
    tag: "Webhooks",
    scope: "admin",
    query: PageQuery,
    responses: { 200: { description: "A page of webhooks", schema: pageOf(Webhook) } },
    errors: ["validation_failed"],
    async handler(c, { query, principal }) {
      const before = query.cursor ? decodeCursor(query.cursor, IdCursor).id : undefined;
      const rows = await new WebhookStore(queryDb(c)).list(before, query.limit, visibilityOf(principal));
      return c.json(toPage(rows, query.limit, (r) => ({ id: r.id }), webhookBody));
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/webhooks/{id}",
    operationId: "getWebhook",
    summary: "A webhook",
    tag: "Webhooks",
    scope: "admin",
    params: WebhookParams,
    responses: { 200: { description: "The webhook", schema: Webhook } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      return c.json(webhookBody(await existing(c, params.id, principal)));
    },
  }),

  defineRoute({
    method: "patch",
    path: "/v1/webhooks/{id}",
    operationId: "updateWebhook",
    summary: "Change a webhook, re-enable it, or rotate its secret",
    description:
      "`active: true` re-enables a disabled webhook (clearing `disabled_reason`); fields the body does not name stay as they are. `rotate_secret: true` answers a new `secret`; the old one keeps signing too (a second `v1,` signature) for 24 hours. Applied as one conditional update: 409 `conflict` when the webhook changed since this request read it (another change, a rotation, the system's disable), and nothing is written.",
    tag: "Webhooks",
    scope: "admin",
    params: WebhookParams,
    body: PatchWebhookBody,
    responses: { 200: { description: "The webhook (with the new secret when rotated)", schema: Webhook } },
    errors: [
      "validation_failed",
      "forbidden",
      "not_found",
      "conflict",
      "unavailable",
      "payload_too_large",
      "unsupported_media_type",
    ],
    async handler(c, { params, body, principal }) {
      const current = await existing(c, params.id, principal);
      if (body.url !== undefined) checkUrl(c.env, body.url);
      if (body.models !== undefined) checkModels(principal, body.models);
      const at = new Date().toISOString();
      // Only what the body names changes (a disable the body does not mention stays), and
      // only if the row is still the one read: one conditional update.
      const changes: Partial<WebhookRow> = {
        ...(body.url !== undefined ? { url: body.url } : {}),
        ...(body.events !== undefined ? { events: JSON.stringify(body.events) } : {}),
        ...(body.models !== undefined ? { models: JSON.stringify(body.models) } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.active !== undefined
          ? {
              active: body.active,
              disabledReason: body.active ? null : "disabled by an administrator",
              failingSince: null,
            }
          : {}),
        updatedAt: at,
        revision: current.revision + 1,
      };
      let secret: string | undefined;
      if (body.rotate_secret) {
        const key = webhookKey(c.env);
        secret = newSecret();
        changes.previousSecret = current.secret;
        changes.previousSecretExpiresAt = new Date(Date.parse(at) + ROTATION_OVERLAP_MS).toISOString();
        changes.secret = await sealSecret(key, current.id, secret);
      }
      const next: WebhookRow = { ...current, ...changes };
      const db = queryDb(c);
      const store = new WebhookStore(db);
      const unchanged = WebhookStore.unchangedSince(current);
      const event = await commitRegistryChangeIf(
        db,
        unchanged.holds,
        [store.db.update(webhooks).set(changes).where(unchanged.where)],
        {
          at,
          ...auditedAs(principal),
          action: "webhook.update",
          from: audited(current),
          to: audited(next),
          ...(body.rotate_secret
            ? { detail: { secret_rotated: true, previous_secret_expires_at: next.previousSecretExpiresAt } }
            : {}),
        },
      );
      if (!event) await lostRace(c, current.id, principal);
      dispatchAfter(c);
      return c.json({ ...webhookBody(next), ...(secret ? { secret } : {}) });
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/webhooks/{id}",
    operationId: "deleteWebhook",
    summary: "Remove a webhook and its delivery records",
    tag: "Webhooks",
    scope: "admin",
    params: WebhookParams,
    responses: { 204: { description: "Removed" } },
    errors: ["validation_failed", "not_found", "conflict"],
    async handler(c, { params, principal }) {
      const current = await existing(c, params.id, principal);
      const db = queryDb(c);
      const store = new WebhookStore(db);
      // Conditional like a PATCH: the audit event says what was deleted, and the deliveries
      // go only with the webhook.
      const unchanged = WebhookStore.unchangedSince(current);
      const event = await commitRegistryChangeIf(
        db,
        unchanged.holds,
        [
          store.db.delete(webhookDeliveries).where(and(eq(webhookDeliveries.webhookId, current.id), unchanged.holds)),
          store.db.delete(webhooks).where(unchanged.where),
        ],
        { at: new Date().toISOString(), ...auditedAs(principal), action: "webhook.delete", from: audited(current) },
      );
      if (!event) await lostRace(c, current.id, principal);
      dispatchAfter(c);
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/webhooks/{id}/ping",
    operationId: "pingWebhook",
    summary: "Send a test event of type `ping`",
    description:
      "Delivered like any event (signed, retried) and listed in the webhook's deliveries; the answer names the delivery. A disabled webhook's ping is recorded as a failed delivery that says why.",
    tag: "Webhooks",
    scope: "admin",
    params: WebhookParams,
    responses: { 202: { description: "Queued", schema: z.object({ event_id: z.string(), delivery_id: z.string() }) } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      const webhook = await existing(c, params.id, principal);
      const at = new Date().toISOString();
      const event = {
        id: sortableId(),
        at,
        actor: principal.sub,
        action: "ping" as const,
        model: "",
        detail: { webhook_id: webhook.id },
      };
      await enqueueDelivery(c.env, deliveryFor(event, webhook.id, at));
      return c.json({ event_id: event.id, delivery_id: `${event.id}.${webhook.id}` }, 202);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/webhooks/{id}/deliveries",
    operationId: "listDeliveries",
    summary: "A webhook's deliveries, newest first",
    tag: "Webhooks",
    scope: "admin",
    params: WebhookParams,
    query: DeliveriesQuery,
    responses: { 200: { description: "A page of deliveries", schema: pageOf(Delivery) } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, query, principal }) {
      await existing(c, params.id, principal);
      const before = query.cursor ? decodeCursor(query.cursor, IdCursor).id : undefined;
      const rows = await new WebhookStore(queryDb(c)).deliveries(params.id, query.status, before, query.limit);
      return c.json(toPage(rows, query.limit, (r) => ({ id: r.id }), deliveryBody));
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    operationId: "redeliver",
    summary: "Send a delivery again",
    description: "The same body and `webhook-id` as before, freshly signed; retried for another 24 h if it fails.",
    tag: "Webhooks",
    scope: "admin",
    params: DeliveryParams,
    responses: { 202: { description: "Queued" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      await existing(c, params.id, principal);
      const store = new WebhookStore(queryDb(c));
      const delivery = await store.delivery(params.id, params.delivery_id);
      if (!delivery) throw notFound(`Delivery '${params.delivery_id}' of webhook '${params.id}'`);
      const at = new Date().toISOString();
      await store.db
        .update(webhookDeliveries)
        .set({ status: "pending", nextAttemptAt: at, firstAttemptAt: at })
        .where(eq(webhookDeliveries.id, delivery.id));
      await c.env.DELIVERIES.send({ kind: "delivery", delivery_id: delivery.id, webhook_id: delivery.webhookId });
      return c.body(null, 202);
    },
  }),
];
