/**
 * D1's `signing_keys` and `signing_key_uses` (documented in src/db/schema.ts): the live keys
 * (what verification trusts), their contract shape, the page the list shows, and the two
 * statements a key's deletion and a signature's upload meet at: an upload records which
 * models its keys vouch in only while the keys are live, and a deletion reads those records
 * only after it marked the key deleted (D1 runs each batch as one transaction, so one of the
 * two sees the other; src/signing/revocation.ts).
 */
import { and, desc, eq, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { signingKeys, signingKeyUses, type SigningKeyRow } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import type { SigningKey } from "../domain/signature";

export type { SigningKeyRow };

/** The contract's SigningKey. */
export function signingKeyBody(row: SigningKeyRow): SigningKey {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    fingerprint: row.fingerprint,
    identity: row.kind === "identity" ? { issuer: row.identityIssuer ?? "", subject: row.identitySubject ?? "" } : null,
    created_at: row.createdAt,
    created_by: row.createdBy,
  };
}

export class SigningKeyStore {
  readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  /** Every live key: what an upload is verified against (a registry holds tens, not thousands). */
  live(): Promise<SigningKeyRow[]> {
    return this.db.select().from(signingKeys).where(isNull(signingKeys.deletedAt)).orderBy(signingKeys.id);
  }

  /** A page of live keys, newest first, after the id `before`. */
  list(before: string | undefined, limit: number): Promise<SigningKeyRow[]> {
    return this.db
      .select()
      .from(signingKeys)
      .where(and(isNull(signingKeys.deletedAt), before === undefined ? undefined : lt(signingKeys.id, before)))
      .orderBy(desc(signingKeys.id))
      .limit(limit + 1);
  }

  /** The key, live or being deleted (null once its deletion finished, or if it never was). */
  async get(id: string): Promise<SigningKeyRow | null> {
    return (await this.db.select().from(signingKeys).where(eq(signingKeys.id, id)))[0] ?? null;
  }

  /** The live key a new registration would clash with (its name, its key or CA, its identity), if any. */
  async clash(row: SigningKeyRow): Promise<SigningKeyRow | null> {
    const same = [eq(signingKeys.name, row.name)];
    if (row.fingerprint !== null)
      same.push(and(eq(signingKeys.kind, row.kind), eq(signingKeys.fingerprint, row.fingerprint))!);
    if (row.kind === "identity")
      same.push(
        and(
          eq(signingKeys.kind, "identity"),
          eq(signingKeys.identityIssuer, row.identityIssuer ?? ""),
          eq(signingKeys.identitySubject, row.identitySubject ?? ""),
        )!,
      );
    const found = await this.db
      .select()
      .from(signingKeys)
      .where(
        and(
          isNull(signingKeys.deletedAt),
          sql.join(
            same.map((s) => sql`(${s})`),
            sql` OR `,
          ),
        ),
      )
      .limit(1);
    return found[0] ?? null;
  }

  /** Keys whose deletion started and has not finished (a crash between the steps). */
  deleting(): Promise<SigningKeyRow[]> {
    return this.db.select().from(signingKeys).where(isNotNull(signingKeys.deletedAt)).orderBy(signingKeys.id);
  }

  /**
   * Records that `keyIds` vouch for a signature of `model`, for those of them still live, and
   * answers which are: one batch, so a deletion that marked a key before it does not get a use
   * recorded behind its back, and one that marks it after finds the use.
   */
  async recordUses(keyIds: readonly string[], model: string): Promise<Set<string>> {
    if (keyIds.length === 0) return new Set();
    const live = and(
      sql`${signingKeys.id} IN (SELECT value FROM json_each(${JSON.stringify(keyIds)}))`,
      isNull(signingKeys.deletedAt),
    );
    const [, stillLive] = await this.db.batch([
      this.db
        .insert(signingKeyUses)
        .select(
          this.db
            .select({ keyId: signingKeys.id, model: sql<string>`${model}`.as("model") })
            .from(signingKeys)
            .where(live),
        )
        .onConflictDoNothing(),
      this.db.select({ id: signingKeys.id }).from(signingKeys).where(live),
    ]);
    return new Set(stillLive.map((r) => r.id));
  }

  /** The models a key vouched for a signature in. */
  async usedBy(keyId: string): Promise<string[]> {
    const rows = await this.db
      .select({ model: signingKeyUses.model })
      .from(signingKeyUses)
      .where(eq(signingKeyUses.keyId, keyId));
    return rows.map((r) => r.model);
  }

  /** The uses of a deleted key in `models`, once each was told (a deletion spread over several runs). */
  async forgetUses(keyId: string, models: readonly string[]): Promise<void> {
    if (models.length === 0) return;
    await this.db
      .delete(signingKeyUses)
      .where(
        and(
          eq(signingKeyUses.keyId, keyId),
          sql`${signingKeyUses.model} IN (SELECT value FROM json_each(${JSON.stringify(models)}))`,
        ),
      );
  }

  /** The deletion's last step, once every model was told: the key and its records go. */
  async forget(keyId: string): Promise<void> {
    await this.db.batch([
      this.db.delete(signingKeyUses).where(eq(signingKeyUses.keyId, keyId)),
      this.db.delete(signingKeys).where(and(eq(signingKeys.id, keyId), isNotNull(signingKeys.deletedAt))),
    ]);
  }
}
