/**
 * D1's `signatures` (the projection of each model's ModelState signature table, documented in
 * src/db/schema.ts): what the lists read. The gate never reads here: it reads the object's own
 * table, in the transaction that moves the alias.
 */
import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { signatures, type SignatureRow } from "../db/schema";
import { orm, type D1Handle } from "../db/session";
import type { Signature, Signer } from "../domain/signature";

export function signatureOfRow(row: SignatureRow): Signature {
  return {
    id: row.id,
    signer: JSON.parse(row.signer) as Signer,
    trusted_by: JSON.parse(row.trustedBy) as string[],
    verified_at: row.verifiedAt,
    created_at: row.createdAt,
    created_by: row.createdBy,
    bundle_sha256: row.bundleSha256,
  };
}

export class SignatureStore {
  private readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  /** A version's signatures, oldest first. */
  ofVersion(model: string, version: number): Promise<SignatureRow[]> {
    return this.db
      .select()
      .from(signatures)
      .where(and(eq(signatures.model, model), eq(signatures.version, version)))
      .orderBy(asc(signatures.id));
  }

  /** The signatures of several versions of a model (the model page's "signed" column), oldest first. */
  ofVersions(model: string, versions: readonly number[]): Promise<SignatureRow[]> {
    if (versions.length === 0) return Promise.resolve([]);
    return (
      this.db
        .select()
        .from(signatures)
        // One bound parameter however many versions (D1 binds at most 100).
        .where(
          and(
            eq(signatures.model, model),
            sql`${signatures.version} IN (SELECT value FROM json_each(${JSON.stringify(versions)}))`,
          ),
        )
        .orderBy(asc(signatures.version), asc(signatures.id))
    );
  }

  /** A model's newest signatures (by version, then id), at most `limit`: what a search by referrer digest goes through. */
  newestOfModel(model: string, limit: number): Promise<SignatureRow[]> {
    return this.db
      .select()
      .from(signatures)
      .where(eq(signatures.model, model))
      .orderBy(desc(signatures.version), desc(signatures.id))
      .limit(limit);
  }

  /** Whether a signature of `model` holds the bundle with this sha256 (`signatures_bundle`). */
  async holdsBundle(model: string, sha256: string): Promise<boolean> {
    const row = await this.db
      .select({ id: signatures.id })
      .from(signatures)
      .where(and(eq(signatures.bundleSha256, sha256), eq(signatures.model, model)))
      .limit(1)
      .get();
    return row !== undefined;
  }

  async get(model: string, version: number, id: string): Promise<SignatureRow | null> {
    const rows = await this.db
      .select()
      .from(signatures)
      .where(and(eq(signatures.id, id), eq(signatures.model, model), eq(signatures.version, version)));
    return rows[0] ?? null;
  }
}
