/**
 * ModelState: one Durable Object per model, the write side of everything a promotion decision
 * depends on. Each public method is an RPC the Worker calls through src/state/client.ts.
 *
 * Invariant: every method decides and writes inside one synchronous block
 * (`transactionSync`), with no `await` between reading state and committing the change. The
 * change and its audit event enter the outbox in that same transaction; projecting them into
 * D1 happens afterwards and may be retried (by the next write or by the alarm) until it lands.
 */
import { DurableObject } from "cloudflare:workers";
import { auditEvent, type AuditEvent } from "../domain/audit";
import { applyVersionPatch, type Lineage, type VersionPatch, type VersionRecord } from "../domain/version";
import type { Env } from "../env";
import type { ErrorCode } from "../http/problem";
import { project, type OutboxItem } from "./projection";
import { MODEL_STATE_SCHEMA } from "./sql-schema";

/** A method's answer: a value, or a contract error for the Worker to turn into problem+json. */
export type Outcome<T> = { ok: true; value: T; replayed?: boolean } | { ok: false; code: ErrorCode; detail: string };

export interface CreateVersionInput {
  model: string;
  actor: string;
  at: string;
  description: string | null;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  lineage: Lineage;
  /** `Idempotency-Key` and the hash of the request body it came with. */
  idempotency?: { key: string; requestHash: string };
}

export interface PatchVersionInput {
  model: string;
  version: number;
  actor: string;
  at: string;
  patch: VersionPatch;
}

const OUTBOX_BATCH = 50;
const RETRY_DELAY_MS = 5_000;

export class ModelState extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** The flush in progress, shared by every caller that wants its write projected. */
  private flushing: Promise<void> | null = null;
  /** Set when a write lands while a flush runs, so that flush goes round once more. */
  private flushAgain = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Schema setup is the only work done under blockConcurrencyWhile: it caps throughput.
    void ctx.blockConcurrencyWhile(async () => {
      for (const statement of MODEL_STATE_SCHEMA) this.sql.exec(statement);
    });
  }

  // ---- versions ---------------------------------------------------------------------------

  async createVersion(input: CreateVersionInput): Promise<Outcome<VersionRecord>> {
    const outcome = this.ctx.storage.transactionSync((): Outcome<VersionRecord> => {
      if (input.idempotency) {
        const seen = this.sql
          .exec<{ request_hash: string; version: number }>(
            "SELECT request_hash, version FROM idempotency WHERE key = ?",
            input.idempotency.key,
          )
          .toArray()[0];
        if (seen) {
          if (seen.request_hash !== input.idempotency.requestHash) {
            return {
              ok: false,
              code: "idempotency_conflict",
              detail: "This Idempotency-Key was used with a different request body",
            };
          }
          const record = this.readVersion(seen.version);
          if (record) return { ok: true, value: record, replayed: true };
          return { ok: false, code: "not_found", detail: `Version ${seen.version} was created with this key and has since been deleted` };
        }
      }
      const version = this.takeVersionNumber();
      const record: VersionRecord = {
        model: input.model,
        version,
        status: "pending",
        stage: "none",
        description: input.description,
        tags: input.tags,
        metrics: input.metrics,
        lineage: input.lineage,
        digest: null,
        created_at: input.at,
        created_by: input.actor,
        updated_at: input.at,
        ready_at: null,
        revision: 1,
      };
      this.writeVersion(record);
      if (input.idempotency) {
        this.sql.exec(
          "INSERT INTO idempotency (key, request_hash, version, created_at) VALUES (?, ?, ?, ?)",
          input.idempotency.key,
          input.idempotency.requestHash,
          version,
          input.at,
        );
      }
      this.appendAudit({ at: input.at, actor: input.actor, action: "version.create", model: input.model, version });
      return { ok: true, value: record };
    });
    if (outcome.ok && !outcome.replayed) await this.flushSoon();
    return outcome;
  }

  async patchVersion(input: PatchVersionInput): Promise<Outcome<VersionRecord>> {
    const outcome = this.ctx.storage.transactionSync((): Outcome<VersionRecord> => {
      const current = this.readVersion(input.version);
      if (!current) return { ok: false, code: "not_found", detail: `Version ${input.version} of '${input.model}' not found` };
      const patched = applyVersionPatch(current, input.patch, input.at);
      if (!patched.ok) {
        return { ok: false, code: "immutable", detail: `Version ${input.version} is ${current.status}: its lineage can no longer change` };
      }
      this.writeVersion(patched.record);
      this.appendAudit({
        at: input.at,
        actor: input.actor,
        action: "version.update",
        model: input.model,
        version: input.version,
        detail: { fields: patched.changed },
      });
      return { ok: true, value: patched.record };
    });
    if (outcome.ok) await this.flushSoon();
    return outcome;
  }

  async getVersion(version: number): Promise<VersionRecord | null> {
    return this.readVersion(version);
  }

  /**
   * Forgets the model: called before the Worker deletes the model's D1 rows. Everything the
   * outbox holds is projected first (audit events are never dropped), then the state is
   * cleared so a model created later under the same name starts afresh. The alias check
   * (409 `in_use`) belongs here, in the same step as the clearing, once aliases exist.
   */
  async dropModel(): Promise<Outcome<null>> {
    await this.flush();
    const outcome = this.ctx.storage.transactionSync((): Outcome<null> => {
      // A write that landed while the flush ran is not in D1 yet: refuse rather than lose it.
      if (this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n > 0) {
        return { ok: false, code: "conflict", detail: "The model changed while it was being deleted; retry" };
      }
      for (const table of ["versions", "idempotency", "meta"]) this.sql.exec(`DELETE FROM ${table}`);
      return { ok: true, value: null };
    });
    if (outcome.ok) await this.ctx.storage.deleteAlarm();
    return outcome;
  }

  // ---- outbox -----------------------------------------------------------------------------

  /** Projects the outbox into D1 now; rejects if D1 refused (the alarm then keeps trying). */
  async flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = this.drainOutbox().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Number of changes not yet in D1 (for tests and health checks). */
  async outboxDepth(): Promise<number> {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  override async alarm(): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      console.error("outbox flush failed; retrying", err);
      await this.ctx.storage.setAlarm(Date.now() + RETRY_DELAY_MS);
    }
  }

  /**
   * Called after a committed write: the caller's response waits for the projection so that
   * a read from D1 right after sees the write. A D1 failure does not fail the write (it is
   * committed here); the alarm retries.
   */
  private async flushSoon(): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      console.error("outbox flush failed; the alarm will retry", err);
      await this.ctx.storage.setAlarm(Date.now() + RETRY_DELAY_MS);
    }
  }

  private async drainOutbox(): Promise<void> {
    for (;;) {
      this.flushAgain = false;
      const rows = this.sql
        .exec<{ seq: number; kind: string; payload: string }>(
          "SELECT seq, kind, payload FROM outbox ORDER BY seq LIMIT ?",
          OUTBOX_BATCH,
        )
        .toArray();
      if (rows.length === 0) return;
      const items = rows.map((row) => ({ kind: row.kind, payload: JSON.parse(row.payload) }) as OutboxItem);
      await project(this.env.DB, items);
      this.sql.exec("DELETE FROM outbox WHERE seq <= ?", rows[rows.length - 1]!.seq);
      if (rows.length < OUTBOX_BATCH && !this.flushAgain) return;
    }
  }

  // ---- storage helpers (synchronous: safe inside transactionSync) ---------------------------

  /** Allocates the next version number: monotonic and never reused, even after deletions. */
  private takeVersionNumber(): number {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'next_version'").toArray()[0];
    const version = row ? Number(row.value) : 1;
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES ('next_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      String(version + 1),
    );
    return version;
  }

  private readVersion(version: number): VersionRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE version = ?", version).toArray()[0];
    return row ? (JSON.parse(row.record) as VersionRecord) : null;
  }

  /** Writes a version record and queues its snapshot for D1. */
  private writeVersion(record: VersionRecord): void {
    this.sql.exec(
      "INSERT INTO versions (version, status, record) VALUES (?, ?, ?) ON CONFLICT (version) DO UPDATE SET status = excluded.status, record = excluded.record",
      record.version,
      record.status,
      JSON.stringify(record),
    );
    this.enqueue({ kind: "version", payload: record });
  }

  private appendAudit(fields: Omit<AuditEvent, "id">): void {
    this.enqueue({ kind: "audit", payload: auditEvent(fields) });
  }

  private enqueue(item: OutboxItem): void {
    this.sql.exec("INSERT INTO outbox (kind, payload) VALUES (?, ?)", item.kind, JSON.stringify(item.payload));
    this.flushAgain = true;
  }
}
