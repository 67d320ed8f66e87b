/**
 * ModelState: one Durable Object per model, the write side of everything a promotion decision
 * depends on: version numbers, version records (status, files, metrics, lineage), uploads.
 * Each public method is an RPC the Worker calls through src/state/client.ts.
 *
 * Invariant: every method decides and writes inside one synchronous block
 * (`transactionSync`), with no `await` between reading state and committing the change. The
 * change and its audit event enter the outbox in that same transaction; projecting them into
 * D1 happens afterwards and is retried (by the next write or by the alarm) until it lands.
 * R2 is never touched here: methods tell the caller which R2 work follows from a change.
 */
import { DurableObject } from "cloudflare:workers";
import { auditEvent, type AuditEvent } from "../domain/audit";
import { sha256Hex } from "../domain/ids";
import { manifestText, type ManifestEntry } from "../domain/manifest";
import { missingParts, type UploadPart, type UploadRecord } from "../domain/upload";
import { applyVersionPatch, withFile, type Lineage, type VersionPatch, type VersionRecord } from "../domain/version";
import type { Env } from "../env";
import type { ErrorCode } from "../http/problem";
import { project, type OutboxItem } from "./projection";
import { MODEL_STATE_SCHEMA } from "./sql-schema";

/** A method's answer: a value, or a contract error for the Worker to turn into problem+json. */
export type Outcome<T> =
  | { ok: true; value: T; replayed?: boolean }
  | { ok: false; code: ErrorCode; detail: string; extra?: Record<string, unknown> };

/** Who does a write, and when: recorded as the audit event's actor and time. */
export interface Actor {
  model: string;
  actor: string;
  at: string;
}

export interface CreateVersionInput extends Actor {
  description: string | null;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  lineage: Lineage;
  /** `Idempotency-Key` and the hash of the request body it came with. */
  idempotency?: { key: string; requestHash: string };
}

export interface UploadView extends UploadRecord {
  parts: UploadPart[];
}

/** What the caller must do in R2 after a change here: abort these multipart uploads. */
export interface R2Aborts {
  aborts: { r2_key: string; r2_upload_id: string }[];
}

const OUTBOX_BATCH = 50;
const RETRY_DELAY_MS = 5_000;

const fail = (code: ErrorCode, detail: string, extra?: Record<string, unknown>) =>
  ({ ok: false, code, detail, ...(extra ? { extra } : {}) }) as const;

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
    return this.commit((): Outcome<VersionRecord> => {
      if (input.idempotency) {
        const seen = this.sql
          .exec<{ request_hash: string; version: number }>(
            "SELECT request_hash, version FROM idempotency WHERE key = ?",
            input.idempotency.key,
          )
          .toArray()[0];
        if (seen) {
          if (seen.request_hash !== input.idempotency.requestHash) {
            return fail("idempotency_conflict", "This Idempotency-Key was used with a different request body");
          }
          const record = this.readVersion(seen.version);
          if (record) return { ok: true, value: record, replayed: true };
          return fail("not_found", `Version ${seen.version}, created with this key, has since been deleted`);
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
        files: [],
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
      this.appendAudit(input, { action: "version.create", version });
      return { ok: true, value: record };
    });
  }

  async patchVersion(input: Actor & { version: number; patch: VersionPatch }): Promise<Outcome<VersionRecord>> {
    return this.commit((): Outcome<VersionRecord> => {
      const current = this.readVersion(input.version);
      if (!current) return this.versionNotFound(input);
      const patched = applyVersionPatch(current, input.patch, input.at);
      if (!patched.ok) return fail("immutable", `Version ${input.version} is ${current.status}: its lineage can no longer change`);
      this.writeVersion(patched.record);
      this.appendAudit(input, { action: "version.update", version: input.version, detail: { fields: patched.changed } });
      return { ok: true, value: patched.record };
    });
  }

  async getVersion(version: number): Promise<VersionRecord | null> {
    return this.readVersion(version);
  }

  /**
   * Makes a pending version `ready`: it needs at least one file and no open upload. The
   * digest is hashed outside the transaction (Web Crypto is async), then the commit checks
   * that the manifest it hashed is still the version's, and starts again if a file changed.
   */
  async finalize(input: Actor & { version: number }): Promise<Outcome<VersionRecord>> {
    for (;;) {
      const current = this.readVersion(input.version);
      const refused = current ? this.finalizeRefusal(current) : this.versionNotFound(input);
      if (refused) return refused;
      const manifest = manifestText(current!.files);
      const digest = `sha256:${await sha256Hex(manifest)}`;
      const outcome = await this.commit((): Outcome<VersionRecord> | "retry" => {
        const now = this.readVersion(input.version);
        const stillRefused = now ? this.finalizeRefusal(now) : this.versionNotFound(input);
        if (stillRefused) return stillRefused;
        if (manifestText(now!.files) !== manifest) return "retry";
        const ready: VersionRecord = {
          ...now!,
          status: "ready",
          digest,
          ready_at: input.at,
          updated_at: input.at,
          revision: now!.revision + 1,
        };
        this.writeVersion(ready);
        this.appendAudit(input, { action: "version.finalize", version: input.version, to: { digest } });
        return { ok: true, value: ready };
      });
      if (outcome !== "retry") return outcome;
    }
  }

  /**
   * Deletes a version: refused (409 `in_use`) while the `production` stage holds it; aliases
   * join this check when they arrive. Its number is never reused. Open uploads end with it.
   */
  async deleteVersion(input: Actor & { version: number }): Promise<Outcome<R2Aborts>> {
    return this.commit((): Outcome<R2Aborts> => {
      const current = this.readVersion(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.stage === "production") {
        return fail("in_use", `Version ${input.version} is in the production stage; move it out first`);
      }
      const aborts = this.closeUploads(
        this.sql
          .exec<{ record: string }>("SELECT record FROM uploads WHERE version = ? AND status = 'open'", input.version)
          .toArray()
          .map((r) => JSON.parse(r.record) as UploadRecord),
        "aborted",
      );
      this.sql.exec("DELETE FROM upload_parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE version = ?)", input.version);
      this.sql.exec("DELETE FROM uploads WHERE version = ?", input.version);
      this.sql.exec("DELETE FROM versions WHERE version = ?", input.version);
      this.enqueue({ kind: "version_deleted", payload: { model: input.model, version: input.version } });
      this.appendAudit(input, { action: "version.delete", version: input.version, from: { digest: current.digest } });
      return { ok: true, value: { aborts } };
    });
  }

  // ---- files ------------------------------------------------------------------------------

  /** Whether files of the version may be written now (a fast check before bytes are sent). */
  async checkWritable(input: { model: string; version: number }): Promise<Outcome<null>> {
    const current = this.readVersion(input.version);
    if (!current) return this.versionNotFound(input);
    if (current.status !== "pending") return this.immutable(current);
    return { ok: true, value: null };
  }

  /** Attaches verified bytes to a pending version at `file.path` (replacing what was there). */
  async attachFile(input: Actor & { version: number; file: ManifestEntry; deduplicated: boolean }): Promise<Outcome<ManifestEntry>> {
    return this.commit((): Outcome<ManifestEntry> => {
      const current = this.readVersion(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.status !== "pending") return this.immutable(current);
      this.attach(current, input, input.file, input.deduplicated);
      return { ok: true, value: input.file };
    });
  }

  async detachFile(input: Actor & { version: number; path: string }): Promise<Outcome<null>> {
    return this.commit((): Outcome<null> => {
      const current = this.readVersion(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.status !== "pending") return this.immutable(current);
      const file = current.files.find((f) => f.path === input.path);
      if (!file) return fail("not_found", `Version ${input.version} has no file '${input.path}'`);
      this.writeVersion({
        ...current,
        files: current.files.filter((f) => f.path !== input.path),
        updated_at: input.at,
        revision: current.revision + 1,
      });
      this.appendAudit(input, { action: "file.delete", version: input.version, from: file });
      return { ok: true, value: null };
    });
  }

  // ---- multipart uploads ------------------------------------------------------------------

  /** Records a multipart upload the caller has opened in R2 (the caller aborts it if refused). */
  async openUpload(input: Actor & { upload: UploadRecord }): Promise<Outcome<UploadView>> {
    return this.commit((): Outcome<UploadView> => {
      const current = this.readVersion(input.upload.version);
      if (!current) return this.versionNotFound({ model: input.model, version: input.upload.version });
      if (current.status !== "pending") return this.immutable(current);
      this.writeUpload(input.upload);
      this.enqueue({
        kind: "upload_opened",
        payload: {
          upload_id: input.upload.upload_id,
          model: input.model,
          version: input.upload.version,
          expires_at: input.upload.expires_at,
        },
      });
      return { ok: true, value: { ...input.upload, parts: [] } };
    });
  }

  async getUpload(input: { model: string; version: number; uploadId: string }): Promise<Outcome<UploadView>> {
    const upload = this.readUpload(input.uploadId);
    if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
    return { ok: true, value: { ...upload, parts: this.readParts(upload.upload_id) } };
  }

  /** Records a part R2 has accepted; a re-sent part replaces the earlier one. */
  async recordPart(input: { version: number; uploadId: string; part: UploadPart; now: string }): Promise<Outcome<UploadPart>> {
    return this.commit((): Outcome<UploadPart> => {
      const upload = this.readUpload(input.uploadId);
      if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
      const refused = this.uploadRefusal(upload, input.now);
      if (refused) return refused;
      this.sql.exec(
        "INSERT INTO upload_parts (upload_id, part, size, etag) VALUES (?, ?, ?, ?) ON CONFLICT (upload_id, part) DO UPDATE SET size = excluded.size, etag = excluded.etag",
        input.uploadId,
        input.part.part,
        input.part.size,
        input.part.etag,
      );
      return { ok: true, value: input.part };
    });
  }

  /**
   * Checks that an upload may complete: open, not expired, every part present with its size.
   * Changes nothing; `finishUpload` records the outcome once the bytes are verified.
   */
  async uploadToComplete(input: { version: number; uploadId: string; now: string }): Promise<Outcome<UploadView>> {
    const upload = this.readUpload(input.uploadId);
    if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
    const refused = this.uploadRefusal(upload, input.now);
    if (refused) return refused;
    const parts = this.readParts(upload.upload_id);
    const missing = missingParts(upload.part_count, parts);
    if (missing.length > 0) {
      return fail("conflict", `Parts ${missing.join(", ")} have not been uploaded`, { missing_parts: missing });
    }
    return { ok: true, value: { ...upload, parts } };
  }

  /** Ends an upload: `completed` attaches its verified file to the version; `failed` does not. */
  async finishUpload(
    input: Actor & { uploadId: string; result: "completed" | "failed"; deduplicated: boolean },
  ): Promise<Outcome<ManifestEntry>> {
    return this.commit((): Outcome<ManifestEntry> => {
      const upload = this.readUpload(input.uploadId);
      if (!upload) return fail("not_found", `Upload '${input.uploadId}' not found`);
      if (upload.status !== "open") return fail("conflict", `Upload '${input.uploadId}' is ${upload.status}`);
      const file = { path: upload.path, size: upload.size, sha256: upload.sha256 };
      const current = this.readVersion(upload.version);
      if (!current) return this.versionNotFound({ model: input.model, version: upload.version });
      // Unreachable while finalize waits for open uploads; kept so the rule holds regardless.
      if (current.status !== "pending") return this.immutable(current);
      this.closeUploads([upload], input.result);
      if (input.result === "completed") this.attach(current, input, file, input.deduplicated);
      return { ok: true, value: file };
    });
  }

  async abortUpload(input: { version: number; uploadId: string }): Promise<Outcome<R2Aborts>> {
    return this.commit((): Outcome<R2Aborts> => {
      const upload = this.readUpload(input.uploadId);
      if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
      if (upload.status !== "open") return { ok: true, value: { aborts: [] } };
      return { ok: true, value: { aborts: this.closeUploads([upload], "aborted") } };
    });
  }

  /** Aborts every open upload past its `expires_at` (the scheduled cleanup calls this). */
  async expireUploads(now: string): Promise<R2Aborts> {
    const outcome = await this.commit((): Outcome<R2Aborts> => {
      const expired = this.sql
        .exec<{ record: string }>("SELECT record FROM uploads WHERE status = 'open' AND expires_at <= ?", now)
        .toArray()
        .map((r) => JSON.parse(r.record) as UploadRecord);
      return { ok: true, value: { aborts: this.closeUploads(expired, "aborted") } };
    });
    return outcome.ok ? outcome.value : { aborts: [] };
  }

  // ---- the model as a whole ---------------------------------------------------------------

  /**
   * Forgets the model: called before the Worker deletes the model's D1 rows. Everything the
   * outbox holds is projected first (audit events are never dropped), then the state is
   * cleared so a model created later under the same name starts afresh. Returns the open
   * uploads for the caller to abort in R2. The alias check (409 `in_use`) joins this step
   * when aliases arrive.
   */
  async dropModel(): Promise<Outcome<R2Aborts>> {
    await this.flush();
    const outcome = this.ctx.storage.transactionSync((): Outcome<R2Aborts> => {
      // A write that landed while the flush ran is not in D1 yet: refuse rather than lose it.
      if (this.outboxCount() > 0) return fail("conflict", "The model changed while it was being deleted; retry");
      const aborts = this.sql
        .exec<{ record: string }>("SELECT record FROM uploads WHERE status = 'open'")
        .toArray()
        .map((r) => JSON.parse(r.record) as UploadRecord)
        .map((u) => ({ r2_key: u.r2_key, r2_upload_id: u.r2_upload_id }));
      for (const table of ["versions", "idempotency", "uploads", "upload_parts", "meta"]) this.sql.exec(`DELETE FROM ${table}`);
      return { ok: true, value: { aborts } };
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
    return this.outboxCount();
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
   * Runs `decide` as one synchronous transaction, then, if it changed anything, projects the
   * outbox before answering so that a D1 read right after sees the write. A D1 failure does
   * not fail the write (it is committed here); the alarm retries.
   */
  private async commit<T>(decide: () => T): Promise<T> {
    const before = this.outboxCount();
    const result = this.ctx.storage.transactionSync(decide);
    if (this.outboxCount() > before) {
      try {
        await this.flush();
      } catch (err) {
        console.error("outbox flush failed; the alarm will retry", err);
        await this.ctx.storage.setAlarm(Date.now() + RETRY_DELAY_MS);
      }
    }
    return result;
  }

  private async drainOutbox(): Promise<void> {
    for (;;) {
      this.flushAgain = false;
      const rows = this.sql
        .exec<{ seq: number; kind: string; payload: string }>("SELECT seq, kind, payload FROM outbox ORDER BY seq LIMIT ?", OUTBOX_BATCH)
        .toArray();
      if (rows.length === 0) return;
      const items = rows.map((row) => ({ kind: row.kind, payload: JSON.parse(row.payload) }) as OutboxItem);
      await project(this.env.DB, items);
      this.sql.exec("DELETE FROM outbox WHERE seq <= ?", rows[rows.length - 1]!.seq);
      if (rows.length < OUTBOX_BATCH && !this.flushAgain) return;
    }
  }

  // ---- storage helpers (synchronous: safe inside transactionSync) ---------------------------

  private outboxCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

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

  private attach(current: VersionRecord, actor: Actor, file: ManifestEntry, deduplicated: boolean): void {
    const previous = current.files.find((f) => f.path === file.path);
    this.writeVersion({
      ...current,
      files: withFile(current.files, file),
      updated_at: actor.at,
      revision: current.revision + 1,
    });
    this.appendAudit(actor, {
      action: "file.add",
      version: current.version,
      ...(previous ? { from: previous } : {}),
      to: file,
      detail: { deduplicated },
    });
  }

  private readUpload(uploadId: string): UploadRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM uploads WHERE upload_id = ?", uploadId).toArray()[0];
    return row ? (JSON.parse(row.record) as UploadRecord) : null;
  }

  private readParts(uploadId: string): UploadPart[] {
    return this.sql
      .exec<{ part: number; size: number; etag: string }>("SELECT part, size, etag FROM upload_parts WHERE upload_id = ? ORDER BY part", uploadId)
      .toArray()
      .map((p) => ({ part: p.part, size: p.size, etag: p.etag }));
  }

  private writeUpload(upload: UploadRecord): void {
    this.sql.exec(
      "INSERT INTO uploads (upload_id, version, status, expires_at, record) VALUES (?, ?, ?, ?, ?) ON CONFLICT (upload_id) DO UPDATE SET status = excluded.status, record = excluded.record",
      upload.upload_id,
      upload.version,
      upload.status,
      upload.expires_at,
      JSON.stringify(upload),
    );
  }

  /** Ends uploads with `status`, drops their part records, and returns them for R2 cleanup. */
  private closeUploads(uploads: UploadRecord[], status: "completed" | "failed" | "aborted") {
    for (const upload of uploads) {
      this.writeUpload({ ...upload, status });
      this.sql.exec("DELETE FROM upload_parts WHERE upload_id = ?", upload.upload_id);
      this.enqueue({ kind: "upload_closed", payload: { upload_id: upload.upload_id } });
    }
    return uploads.map((u) => ({ r2_key: u.r2_key, r2_upload_id: u.r2_upload_id }));
  }

  private uploadRefusal(upload: UploadRecord, now: string) {
    if (upload.status !== "open") return fail("conflict", `Upload '${upload.upload_id}' is ${upload.status}`);
    if (upload.expires_at <= now) return fail("conflict", `Upload '${upload.upload_id}' expired at ${upload.expires_at}`);
    return null;
  }

  private finalizeRefusal(record: VersionRecord) {
    if (record.status !== "pending") return this.immutable(record);
    if (record.files.length === 0) return fail("conflict", `Version ${record.version} has no files`);
    const open = this.sql
      .exec<{ upload_id: string }>("SELECT upload_id FROM uploads WHERE version = ? AND status = 'open'", record.version)
      .toArray();
    if (open.length > 0) {
      return fail("conflict", `Version ${record.version} has unfinished uploads: ${open.map((u) => u.upload_id).join(", ")}`);
    }
    return null;
  }

  private versionNotFound(input: { model: string; version: number }) {
    return fail("not_found", `Version ${input.version} of '${input.model}' not found`);
  }

  private immutable(record: VersionRecord) {
    return fail("immutable", `Version ${record.version} is ${record.status}: its files and lineage can no longer change`);
  }

  private appendAudit(actor: Actor, fields: Omit<AuditEvent, "id" | "at" | "actor" | "model">): void {
    this.enqueue({ kind: "audit", payload: auditEvent({ at: actor.at, actor: actor.actor, model: actor.model, ...fields }) });
  }

  private enqueue(item: OutboxItem): void {
    this.sql.exec("INSERT INTO outbox (kind, payload) VALUES (?, ?)", item.kind, JSON.stringify(item.payload));
    this.flushAgain = true;
  }
}
