/** API.md "Auth" (tokens), "Events (webhooks)" and "Retention". */
import { seg, type Transport } from "./transport";
import type {
  CreateToken,
  CreateWebhook,
  Delivery,
  MintedToken,
  ModelRetention,
  Page,
  PageQuery,
  PatchWebhook,
  RetentionPolicy,
  RetentionPreview,
  Token,
  Webhook,
} from "./types";

export class Tokens {
  constructor(private readonly t: Transport) {}

  /** Mints a token: the answer carries `token`, shown only here. Needs `admin`; never more than the caller holds. */
  create(body: CreateToken, signal?: AbortSignal): Promise<MintedToken> {
    return this.t.json({ method: "POST", path: "/v1/tokens", json: body, signal, what: "mint a token" });
  }

  /** The live tokens the caller may manage, newest first, without the tokens themselves. */
  list(query: PageQuery = {}, signal?: AbortSignal): Promise<Page<Token>> {
    return this.t.json({ method: "GET", path: "/v1/tokens", query: { ...query }, signal, what: "list tokens" });
  }

  /** Revokes a token: refused within 10 s everywhere. */
  async revoke(id: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({ method: "DELETE", path: `/v1/tokens/${seg(id)}`, signal, what: `revoke token ${id}` });
  }
}

const hookPath = (id: string) => `/v1/webhooks/${seg(id)}`;

export class Webhooks {
  constructor(private readonly t: Transport) {}

  /** The answer carries `secret` (`whsec_…`), shown only here. Needs `admin`. */
  create(body: CreateWebhook, signal?: AbortSignal): Promise<Webhook> {
    return this.t.json({ method: "POST", path: "/v1/webhooks", json: body, signal, what: "create a webhook" });
  }

  list(query: PageQuery = {}, signal?: AbortSignal): Promise<Page<Webhook>> {
    return this.t.json({ method: "GET", path: "/v1/webhooks", query: { ...query }, signal, what: "list webhooks" });
  }

  get(id: string, signal?: AbortSignal): Promise<Webhook> {
    return this.t.json({ method: "GET", path: hookPath(id), signal, what: `webhook ${id}` });
  }

  update(id: string, patch: PatchWebhook, signal?: AbortSignal): Promise<Webhook> {
    return this.t.json({ method: "PATCH", path: hookPath(id), json: patch, signal, what: `update webhook ${id}` });
  }

  async delete(id: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({ method: "DELETE", path: hookPath(id), signal, what: `delete webhook ${id}` });
  }

  /** Queues a `ping` event; the answer names its event and delivery. */
  ping(id: string, signal?: AbortSignal): Promise<{ event_id: string; delivery_id: string }> {
    return this.t.json({ method: "POST", path: `${hookPath(id)}/ping`, signal, what: `ping webhook ${id}` });
  }

  deliveries(
    id: string,
    query: PageQuery & { status?: Delivery["status"] } = {},
    signal?: AbortSignal,
  ): Promise<Page<Delivery>> {
    return this.t.json({
      method: "GET",
      path: `${hookPath(id)}/deliveries`,
      query: { ...query },
      signal,
      what: `deliveries of webhook ${id}`,
    });
  }

  async redeliver(id: string, deliveryId: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "POST",
      path: `${hookPath(id)}/deliveries/${seg(deliveryId)}/redeliver`,
      signal,
      what: `redeliver ${deliveryId}`,
    });
  }
}

export class Retention {
  constructor(private readonly t: Transport) {}

  getDefault(signal?: AbortSignal): Promise<RetentionPolicy> {
    return this.t.json({ method: "GET", path: "/v1/retention", signal, what: "the default retention policy" });
  }

  setDefault(policy: RetentionPolicy, signal?: AbortSignal): Promise<RetentionPolicy> {
    return this.t.json({
      method: "PUT",
      path: "/v1/retention",
      json: policy,
      idempotent: true,
      signal,
      what: "set the default retention policy",
    });
  }

  get(model: string, signal?: AbortSignal): Promise<ModelRetention> {
    return this.t.json({
      method: "GET",
      path: `/v1/models/${seg(model)}/retention`,
      signal,
      what: `retention of '${model}'`,
    });
  }

  set(model: string, policy: RetentionPolicy, signal?: AbortSignal): Promise<ModelRetention> {
    return this.t.json({
      method: "PUT",
      path: `/v1/models/${seg(model)}/retention`,
      json: policy,
      idempotent: true,
      signal,
      what: `set retention of '${model}'`,
    });
  }

  async delete(model: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: `/v1/models/${seg(model)}/retention`,
      signal,
      what: `remove retention of '${model}'`,
    });
  }

  /** What a policy (the model's own without one) would delete now. Changes nothing. */
  preview(model: string, policy?: RetentionPolicy, signal?: AbortSignal): Promise<RetentionPreview> {
    return this.t.json({
      method: "POST",
      path: `/v1/models/${seg(model)}/retention/preview`,
      json: policy ? { policy } : {},
      idempotent: true,
      signal,
      what: `retention preview of '${model}'`,
    });
  }
}
