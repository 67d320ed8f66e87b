/**
 * Retention's side of D1: the registry default (`retention_default`, this module is its only
 * writer), and the reads the scheduled cleanup and the preview need: models with a policy of
 * their own (`model_retention`, the outbox's projection), the cross-model lineage parents to
 * protect, and the models the default may delete something of.
 */
import { and, eq, ne } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { modelRetention, retentionDefault, versionParents, versions } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import type { AuditEvent } from "../domain/audit";
import { type ProtectedParent, type RetentionPolicy } from "../domain/retention";
import { commitRegistryChange } from "../events/registry";

export interface StoredPolicy {
  policy: RetentionPolicy;
  updated_at: string;
  updated_by: string;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The models without a policy of their own that hold a version the default's rules could
 * let go at `?6`: a ready one beyond the `keep_last` newest (?2) and ready before ?3, a
 * pending one created before ?4, a failed one last changed before ?5. Protections are not
 * looked at here (the model's object decides); this only spares the objects of models with
 * nothing to delete a call. An unset rule's parameter is null and matches nothing; ?1 says
 * whether a rule for ready versions is set at all.
 */
const MODELS_UNDER_DEFAULT_SQL = `SELECT DISTINCT model FROM (
    SELECT model, status, created_at, ready_at, updated_at,
           row_number() OVER (PARTITION BY model, status ORDER BY version DESC) AS position
      FROM versions
     WHERE model NOT IN (SELECT model FROM model_retention)
  )
  WHERE (status = 'ready' AND ?1 = 1 AND (?2 IS NULL OR position > ?2) AND (?3 IS NULL OR coalesce(ready_at, created_at) <= ?3))
     OR (status = 'pending' AND created_at <= ?4)
     OR (status = 'failed' AND updated_at <= ?5)
  ORDER BY model`;

export class RetentionStore {
  private readonly db: DrizzleD1Database;

  constructor(private readonly d1: D1Handle) {
    this.db = orm(d1);
  }

  /** The registry default, or null while none was ever set (the empty policy then applies). */
  async defaultPolicy(): Promise<StoredPolicy | null> {
    const row = await this.db.select().from(retentionDefault).where(eq(retentionDefault.id, 1)).get();
    return row
      ? { policy: JSON.parse(row.policy) as RetentionPolicy, updated_at: row.updatedAt, updated_by: row.updatedBy }
      : null;
  }

  /**
   * Sets the registry default, with its `retention.set` audit event (model: the registry) in
   * the same batch. `from` is the policy read just before: two admins setting it at the same
   * instant may both name the same predecessor; the stored policy is the later write's.
   */
  async setDefault(
    policy: RetentionPolicy,
    by: { actor: string; token?: string },
    at: string,
  ): Promise<{ stored: StoredPolicy; event: AuditEvent }> {
    const { actor } = by;
    const before = await this.defaultPolicy();
    const stored: StoredPolicy = { policy, updated_at: at, updated_by: actor };
    const row = { id: 1, policy: JSON.stringify(policy), updatedAt: at, updatedBy: actor };
    const event = await commitRegistryChange(
      this.d1,
      [
        this.db
          .insert(retentionDefault)
          .values(row)
          .onConflictDoUpdate({
            target: retentionDefault.id,
            set: { policy: row.policy, updatedAt: at, updatedBy: actor },
          }),
      ],
      { at, ...by, action: "retention.set", ...(before ? { from: before.policy } : {}), to: policy },
    );
    return { stored, event };
  }

  /**
   * Versions of `model` that an existing version of another model names as its parent (one
   * child each is enough to say why). Edges of deleted versions stay in D1 for the graph's
   * sake; the join with `versions` leaves them out here.
   */
  async protectedParents(model: string): Promise<ProtectedParent[]> {
    const rows = await this.db
      .select({
        version: versionParents.parentVersion,
        childModel: versionParents.model,
        childVersion: versionParents.version,
      })
      .from(versionParents)
      .innerJoin(versions, and(eq(versions.model, versionParents.model), eq(versions.version, versionParents.version)))
      .where(and(eq(versionParents.parentModel, model), ne(versionParents.model, model)))
      .orderBy(versionParents.parentVersion, versionParents.model, versionParents.version)
      .all();
    return rows.map((r) => ({ version: r.version, child: { model: r.childModel, version: r.childVersion } }));
  }

  /** Models with a policy of their own, as last projected from their objects. */
  async ownPolicies(): Promise<{ model: string; policy: RetentionPolicy }[]> {
    const rows = await this.db
      .select({ model: modelRetention.model, policy: modelRetention.policy })
      .from(modelRetention)
      .orderBy(modelRetention.model)
      .all();
    return rows.map((r) => ({ model: r.model, policy: JSON.parse(r.policy) as RetentionPolicy }));
  }

  /** The models without a policy of their own that `policy` (the default) may delete something of at `now`. */
  async modelsUnderDefault(policy: RetentionPolicy, now: Date): Promise<string[]> {
    const cutoff = (days: number | undefined) =>
      days === undefined ? null : new Date(now.getTime() - days * DAY_MS).toISOString();
    const readyRule = policy.keep_last !== undefined || policy.max_age_days !== undefined ? 1 : 0;
    const { results } = await this.d1
      .prepare(MODELS_UNDER_DEFAULT_SQL)
      .bind(
        readyRule,
        policy.keep_last ?? null,
        cutoff(policy.max_age_days),
        cutoff(policy.pending_max_age_days),
        cutoff(policy.failed_max_age_days),
      )
      .all<{ model: string }>();
    return results.map((r) => r.model);
  }
}
