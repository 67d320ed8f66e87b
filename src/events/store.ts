/**
 * D1's webhooks and webhook_deliveries: the rows, their contract shapes, and the reads the
 * routes, the dispatcher and the consumer share. Secrets never leave this module but as
 * the decrypted list a delivery signs with.
 */
import { and, desc, eq, lt, sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { webhookDeliveries, webhooks } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import type { Visibility } from "../db/visibility";
import { openSecret } from "./secrets";

export type WebhookRow = typeof webhooks.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;
export type DeliveryStatus = DeliveryRow["status"];

/** The contract's Webhook (no secret). */
export function webhookBody(row: WebhookRow) {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as string[],
    models: JSON.parse(row.models) as string[],
    description: row.description,
    active: row.active,
    disabled_reason: row.disabledReason,
    created_at: row.createdAt,
    created_by: row.createdBy,
    updated_at: row.updatedAt,
  };
}

/** The contract's Delivery. */
export function deliveryBody(row: DeliveryRow) {
  return {
    id: row.id,
    webhook_id: row.webhookId,
    event_id: row.eventId,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    next_attempt_at: row.nextAttemptAt,
    delivered_at: row.deliveredAt,
  };
}

/** A webhook's `models` filter as what it reaches: NULL (every model) when empty (src/domain/webhook.ts `filterReach`). */
const FILTER_REACH = sql`(CASE WHEN json_array_length(${webhooks.models}) > 0 THEN ${webhooks.models} END)`;

export class WebhookStore {
  readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  /**
   * "This webhook is still as `row` was read": every write of a webhook bumps its revision,
   * so a change made from `row` is conditional on it. `where` selects the row itself (for
   * its UPDATE or DELETE); `holds` is the same test for statements on other tables.
   */
  static unchangedSince(row: Pick<WebhookRow, "id" | "revision">): { where: SQL; holds: SQL } {
    return {
      where: and(eq(webhooks.id, row.id), eq(webhooks.revision, row.revision))!,
      holds: sql`EXISTS (SELECT 1 FROM ${webhooks} WHERE ${webhooks.id} = ${row.id} AND ${webhooks.revision} = ${row.revision})`,
    };
  }

  get(id: string): Promise<WebhookRow | undefined> {
    return this.db.select().from(webhooks).where(eq(webhooks.id, id)).get();
  }

  /**
   * A page of webhooks, newest first (ids are time-sortable), below `before`: only those
   * whose `models` filter the token's claim covers (`Visibility.covers`, in SQL so that a
   * page holds `limit` visible rows however many are hidden).
   */
  list(before: string | undefined, limit: number, visibility: Visibility): Promise<WebhookRow[]> {
    const where: SQL[] = [visibility.coversSql(FILTER_REACH)];
    if (before) where.push(lt(webhooks.id, before));
    return this.db
      .select()
      .from(webhooks)
      .where(and(...where))
      .orderBy(desc(webhooks.id))
      .limit(limit + 1)
      .all();
  }

  activeRows(): Promise<WebhookRow[]> {
    return this.db.select().from(webhooks).where(eq(webhooks.active, true)).all();
  }

  /** Deliveries by id, each with its webhook (undefined when deleted): one query for a batch. */
  async deliveriesWithWebhooks(
    ids: string[],
  ): Promise<Map<string, { delivery: DeliveryRow; webhook: WebhookRow | undefined }>> {
    const rows = await this.db
      .select({ delivery: webhookDeliveries, webhook: webhooks })
      .from(webhookDeliveries)
      .leftJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
      .where(sql`${webhookDeliveries.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`)
      .all();
    return new Map(rows.map((r) => [r.delivery.id, { delivery: r.delivery, webhook: r.webhook ?? undefined }]));
  }

  delivery(webhookId: string, deliveryId: string): Promise<DeliveryRow | undefined> {
    return this.db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.id, deliveryId)))
      .get();
  }

  /** A page of a webhook's deliveries, newest first, below `before`. */
  deliveries(
    webhookId: string,
    status: DeliveryStatus | undefined,
    before: string | undefined,
    limit: number,
  ): Promise<DeliveryRow[]> {
    const where: SQL[] = [eq(webhookDeliveries.webhookId, webhookId)];
    if (status) where.push(eq(webhookDeliveries.status, status));
    if (before) where.push(lt(webhookDeliveries.id, before));
    return this.db
      .select()
      .from(webhookDeliveries)
      .where(and(...where))
      .orderBy(desc(webhookDeliveries.id))
      .limit(limit + 1)
      .all();
  }
}

/** The secrets a delivery signs with now: the current one, and the previous one within its overlap. */
export async function signingSecrets(webhookKey: string, row: WebhookRow, nowIso: string): Promise<string[]> {
  const secrets = [await openSecret(webhookKey, row.id, row.secret)];
  if (row.previousSecret && row.previousSecretExpiresAt && row.previousSecretExpiresAt > nowIso) {
    secrets.push(await openSecret(webhookKey, row.id, row.previousSecret));
  }
  return secrets;
}
