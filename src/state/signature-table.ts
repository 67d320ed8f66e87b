/**
 * ModelState's signature tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module; every change queues its D1 projection in the outbox.
 *
 * - signatures:   each version's verified signatures: the signer, and the signing keys that
 *                 vouched for it (id and name, as the gate names keys either way), one row per
 *                 (version, bundle): a bundle uploaded twice is one signature. What the gate
 *                 reads, in the transaction that moves an alias or stage.
 * - revoked_keys: the signing keys whose deletion this model was told of (src/signatures/
 *                 revocation.ts): struck from every signature here, and from any that arrives
 *                 later, vouched for by an upload that read the key before it went. Key ids
 *                 are never reused; the table holds only keys that vouched for a signature of
 *                 this model, and outlives the model's deletion like the counters do.
 */
import type { Signer, SignatureFacts, Voucher } from "../domain/signature";
import type { Outbox } from "./outbox";

export const SIGNATURE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS signatures (
     id TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     bundle_sha256 TEXT NOT NULL,
     signer TEXT NOT NULL,
     vouchers TEXT NOT NULL,
     verified_at TEXT NOT NULL,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     UNIQUE (version, bundle_sha256)
   )`,
  `CREATE TABLE IF NOT EXISTS revoked_keys (key_id TEXT PRIMARY KEY, at TEXT NOT NULL)`,
];

type Row = {
  id: string;
  version: number;
  bundle_sha256: string;
  signer: string;
  vouchers: string;
  verified_at: string;
  created_at: string;
  created_by: string;
};

const toFacts = (row: Row): SignatureFacts => ({
  id: row.id,
  version: row.version,
  bundle_sha256: row.bundle_sha256,
  signer: JSON.parse(row.signer) as Signer,
  vouchers: JSON.parse(row.vouchers) as Voucher[],
  verified_at: row.verified_at,
  created_at: row.created_at,
  created_by: row.created_by,
});

export class SignatureTable {
  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
  ) {}

  /** A version's signatures, oldest first. */
  ofVersion(version: number): SignatureFacts[] {
    return this.sql.exec<Row>("SELECT * FROM signatures WHERE version = ? ORDER BY id", version).toArray().map(toFacts);
  }

  get(version: number, id: string): SignatureFacts | null {
    const row = this.sql.exec<Row>("SELECT * FROM signatures WHERE version = ? AND id = ?", version, id).toArray()[0];
    return row ? toFacts(row) : null;
  }

  byBundle(version: number, bundleSha256: string): SignatureFacts | null {
    const row = this.sql
      .exec<Row>("SELECT * FROM signatures WHERE version = ? AND bundle_sha256 = ?", version, bundleSha256)
      .toArray()[0];
    return row ? toFacts(row) : null;
  }

  /** Whether a signature of any version here is this bundle (the bundle collector asks, src/artifacts/signature-bundles.ts). */
  holdsBundle(bundleSha256: string): boolean {
    return this.sql.exec("SELECT 1 FROM signatures WHERE bundle_sha256 = ? LIMIT 1", bundleSha256).toArray().length > 0;
  }

  /** Writes a signature (new, or with its vouchers changed) and queues its D1 row. */
  put(model: string, s: SignatureFacts): void {
    this.sql.exec(
      `INSERT INTO signatures (id, version, bundle_sha256, signer, vouchers, verified_at, created_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET vouchers = excluded.vouchers, verified_at = excluded.verified_at`,
      s.id,
      s.version,
      s.bundle_sha256,
      JSON.stringify(s.signer),
      JSON.stringify(s.vouchers),
      s.verified_at,
      s.created_at,
      s.created_by,
    );
    this.outbox.enqueue({ kind: "signature", payload: { model, signature: s } });
  }

  delete(s: SignatureFacts): void {
    this.sql.exec("DELETE FROM signatures WHERE id = ?", s.id);
    this.outbox.enqueue({ kind: "signature_deleted", payload: { id: s.id } });
  }

  /** The signatures a signing key vouches for, in every version. */
  vouchedBy(keyId: string): SignatureFacts[] {
    return this.sql
      .exec<Row>(
        "SELECT s.* FROM signatures AS s, json_each(s.vouchers) AS v WHERE v.value ->> '$.id' = ? ORDER BY s.id",
        keyId,
      )
      .toArray()
      .map(toFacts);
  }

  /** Records that a key was deleted; false when this model had heard already. */
  revoke(keyId: string, at: string): boolean {
    const before = this.sql.exec("SELECT 1 FROM revoked_keys WHERE key_id = ?", keyId).toArray().length > 0;
    if (!before) this.sql.exec("INSERT INTO revoked_keys (key_id, at) VALUES (?, ?)", keyId, at);
    return !before;
  }

  /** Which of `keyIds` this model was told are deleted. */
  revoked(keyIds: readonly string[]): Set<string> {
    if (keyIds.length === 0) return new Set();
    return new Set(
      this.sql
        .exec<{ key_id: string }>(
          "SELECT key_id FROM revoked_keys WHERE key_id IN (SELECT value FROM json_each(?))",
          JSON.stringify(keyIds),
        )
        .toArray()
        .map((r) => r.key_id),
    );
  }

  /** Forgets a version's signatures (the version's deletion queues D1's side). */
  forgetVersion(version: number): void {
    this.sql.exec("DELETE FROM signatures WHERE version = ?", version);
  }

  /** Forgets every signature with the model; the revoked keys stay (key ids are never reused). */
  clear(): void {
    this.sql.exec("DELETE FROM signatures");
  }
}
