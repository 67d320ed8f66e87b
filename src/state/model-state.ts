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
import { isReserved, rollbackTarget, sameValue, valueVersions, type AliasValue } from "../domain/alias";
import { auditEvent, type AuditEvent } from "../domain/audit";
import { sha256Hex } from "../domain/ids";
import { manifestText, type ManifestEntry } from "../domain/manifest";
import { missingParts, type UploadPart, type UploadRecord } from "../domain/upload";
import { resolutionFor, type ResolveState } from "../domain/resolution";
import { applyVersionPatch, withFile, type Lineage, type Stage, type VersionPatch, type VersionRecord } from "../domain/version";
import type { Env } from "../env";
import type { ErrorCode } from "../http/problem";
import { aliasBody, AliasTable, type AliasAction, type AliasBody, type HistoryEntry } from "./alias-table";
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

/** What a watching socket asked for; kept with the socket across hibernation. */
interface Watcher {
  model: string;
  alias: string;
  key?: string;
}

const OUTBOX_BATCH = 50;
const RETRY_DELAY_MS = 5_000;

const fail = (code: ErrorCode, detail: string, extra?: Record<string, unknown>) =>
  ({ ok: false, code, detail, ...(extra ? { extra } : {}) }) as const;

export class ModelState extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly aliases: AliasTable;
  /** Resolutions computed since the last write: the hot path's answers from memory. */
  private readonly resolved = new Map<string, ResolveState>();
  /** Watch messages of the transaction being committed, sent once it has committed. */
  private pendingWatch: { alias: string; event: string }[] = [];
  /** The flush in progress, shared by every caller that wants its write projected. */
  private flushing: Promise<void> | null = null;
  /** Set when a write lands while a flush runs, so that flush goes round once more. */
  private flushAgain = false;
  /** Whether the transaction being committed queued anything for D1. */
  private changed = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.aliases = new AliasTable(this.sql);
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
      if (!patched.ok && patched.reason === "too_large") {
        return fail("validation_failed", `Invalid patch: ${patched.path} ${patched.message}`, { errors: [{ path: patched.path, message: patched.message }] });
      }
      if (!patched.ok) return fail("immutable", `Version ${input.version} is ${current.status}: its lineage can no longer change`);
      this.writeVersion(patched.record);
      this.appendAudit(input, { action: "version.update", version: input.version, detail: { fields: patched.changed } });
      return { ok: true, value: patched.record };
    });
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
        this.watchChanged(["latest", `v${input.version}`], "finalize");
        return { ok: true, value: ready };
      });
      if (outcome !== "retry") return outcome;
    }
  }

  /**
   * Deletes a version: refused (409 `in_use`) while an alias or the `production` stage holds
   * it. Its number is never reused. Open uploads end with it.
   */
  async deleteVersion(input: Actor & { version: number }): Promise<Outcome<R2Aborts>> {
    return this.commit((): Outcome<R2Aborts> => {
      const current = this.readVersion(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.stage === "production") {
        return fail("in_use", `Version ${input.version} is in the production stage; move it out first`);
      }
      const holders = this.aliases.holding(input.version);
      if (holders.length > 0) return fail("in_use", `Version ${input.version} is held by the aliases ${holders.join(", ")}`);
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
      this.watchChanged(["latest"], "delete");
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


  // ---- aliases: the serving path ------------------------------------------------------------

  async listAliases(model: string): Promise<AliasBody[]> {
    return this.aliases.all().map((a) => aliasBody(model, a));
  }

  async aliasHistory(input: { alias: string; before?: number; limit: number }): Promise<HistoryEntry[]> {
    return this.aliases.history(input.alias, input.before, input.limit);
  }

  /**
   * Points an alias at a ready version or a split of ready versions. With
   * `expectedGeneration`, the alias must still be at that generation (0: not set).
   */
  async setAlias(
    input: Actor & { alias: string; value: AliasValue; reason: string | null; expectedGeneration?: number },
  ): Promise<Outcome<AliasBody>> {
    return this.commit((): Outcome<AliasBody> => {
      const current = this.aliases.get(input.alias);
      if (input.expectedGeneration !== undefined && (current?.generation ?? 0) !== input.expectedGeneration) {
        return fail("conflict", `Alias '${input.alias}' is at generation ${current?.generation ?? 0}, not ${input.expectedGeneration}`, {
          generation: current?.generation ?? 0,
        });
      }
      const unready = this.unreadyRefusal(valueVersions(input.value));
      if (unready) return unready;
      // Gate seam: the gates issue evaluates the target's policy here, on the state just read,
      // in this same synchronous step, and refuses with 409 `gate_failed`.
      const state = this.changeAlias(input, input.alias, "set", current?.value ?? null, input.value)!;
      return { ok: true, value: aliasBody(input.model, state) };
    });
  }

  async deleteAlias(input: Actor & { alias: string; reason: string | null }): Promise<Outcome<null>> {
    return this.commit((): Outcome<null> => {
      const current = this.aliases.get(input.alias);
      if (!current) return fail("not_found", `Alias '${input.alias}' is not set`);
      this.changeAlias(input, input.alias, "delete", current.value, null);
      return { ok: true, value: null };
    });
  }

  /**
   * The emergency path: no gates. Without `toVersion`, restores the value from before the
   * newest change not yet rolled back (so a second rollback goes back one more change); with
   * it, only a version that held the alias before.
   */
  async rollbackAlias(input: Actor & { alias: string; toVersion?: number; reason: string | null }): Promise<Outcome<AliasBody>> {
    return this.commit((): Outcome<AliasBody> => {
      const current = this.aliases.get(input.alias);
      let target: AliasValue | null;
      if (input.toVersion !== undefined) {
        if (!this.aliases.everHeld(input.alias, input.toVersion)) {
          return fail("conflict", `Version ${input.toVersion} has never held alias '${input.alias}'`);
        }
        target = { version: input.toVersion, split: null };
      } else {
        target = rollbackTarget(this.aliases.steps(input.alias));
        if (!target) return fail("conflict", `Alias '${input.alias}' has no earlier value to roll back to`);
      }
      const unready = this.unreadyRefusal(valueVersions(target));
      if (unready) return unready;
      const state = this.changeAlias(input, input.alias, "rollback", current?.value ?? null, target)!;
      return { ok: true, value: aliasBody(input.model, state) };
    });
  }

  /** Exchanges two aliases' values in one step (one generation): both change, or neither. */
  async swapAliases(input: Actor & { aliases: [string, string]; reason: string | null }): Promise<Outcome<[AliasBody, AliasBody]>> {
    return this.commit((): Outcome<[AliasBody, AliasBody]> => {
      const [a, b] = input.aliases;
      const first = this.aliases.get(a);
      const second = this.aliases.get(b);
      if (!first || !second) return fail("not_found", `Alias '${!first ? a : b}' is not set`);
      // Gate seam: each alias's policy is checked against the value it receives, here.
      const generation = this.takeGeneration();
      const record = (alias: string, from: AliasValue, to: AliasValue) =>
        this.aliases.record({ alias, generation, action: "swap", from, to, actor: input.actor, reason: input.reason, at: input.at })!;
      const stateA = record(a, first.value, second.value);
      const stateB = record(b, second.value, first.value);
      for (const s of [stateA, stateB]) this.enqueue({ kind: "alias", payload: aliasBody(input.model, s) });
      this.appendAudit(input, {
        action: "alias.swap",
        alias: `${a},${b}`,
        from: { [a]: first.value, [b]: second.value },
        to: { [a]: second.value, [b]: first.value },
        reason: input.reason,
      });
      this.watchChanged([a, b], "swap");
      return { ok: true, value: [aliasBody(input.model, stateA), aliasBody(input.model, stateB)] };
    });
  }

  /**
   * What `model@alias` resolves to now, from memory, else from this object's own SQLite (no
   * D1). The memory is emptied by every write, so it never outlives a change.
   */
  async resolveState(input: { model: string; alias: string }): Promise<Outcome<ResolveState>> {
    const known = this.resolved.get(input.alias);
    if (known) return { ok: true, value: known };
    const outcome = this.resolveNow(input.model, input.alias);
    if (outcome.ok) this.resolved.set(input.alias, outcome.value);
    return outcome;
  }

  /**
   * The legacy stage flow: moves a version to a stage; with `archiveExisting`, the versions
   * in that stage move to `archived`. Staging and production take ready versions only.
   */
  async setStage(
    input: Actor & { version: number; stage: Stage; archiveExisting: boolean; reason: string | null },
  ): Promise<Outcome<VersionRecord>> {
    return this.commit((): Outcome<VersionRecord> => {
      const current = this.readVersion(input.version);
      if (!current) return this.versionNotFound(input);
      if ((input.stage === "staging" || input.stage === "production") && current.status !== "ready") {
        return fail("version_not_ready", `Version ${input.version} is ${current.status}; only ready versions enter ${input.stage}`);
      }
      // Gate seam: the policy of the stage target is checked here, before anything is written.
      const moved = this.moveStage(input, current, input.stage);
      if (input.archiveExisting && input.stage !== "archived" && input.stage !== "none") {
        for (const other of this.versionsInStage(input.stage)) {
          if (other.version !== input.version) this.moveStage(input, other, "archived");
        }
      }
      if (input.stage === "production" || current.stage === "production") this.watchChanged(["production"], "stage");
      return { ok: true, value: moved };
    });
  }

  /** Watch: a WebSocket (hibernating) that gets the current Resolution, then one per change. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const model = url.searchParams.get("model");
    const alias = url.searchParams.get("alias");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !model || !alias) {
      return new Response("expected a WebSocket upgrade for a model's alias", { status: 400 });
    }
    const key = url.searchParams.get("key") ?? undefined;
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [alias]);
    const watcher: Watcher = { model, alias, key };
    server.serializeAttachment(watcher);
    server.send(this.watchMessage(watcher, "current"));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Clients may ping with any text; the answer is the current state.
    if (message === "ping") ws.send(this.watchMessage(ws.deserializeAttachment() as Watcher, "current"));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    ws.close(code, reason);
  }

  // ---- the model as a whole ---------------------------------------------------------------

  /**
   * Forgets the model: called before the Worker deletes the model's D1 rows. Everything the
   * outbox holds is projected first (audit events are never dropped), then the state is
   * cleared so a model created later under the same name starts afresh. Returns the open
   * uploads for the caller to abort in R2. Refused (409 `in_use`) while any alias is set.
   */
  async dropModel(): Promise<Outcome<R2Aborts>> {
    await this.flush();
    const outcome = this.ctx.storage.transactionSync((): Outcome<R2Aborts> => {
      // A write that landed while the flush ran is not in D1 yet: refuse rather than lose it.
      if (this.outboxCount() > 0) return fail("conflict", "The model changed while it was being deleted; retry");
      const set = this.aliases.all().map((a) => a.alias);
      if (set.length > 0) return fail("in_use", `The aliases ${set.join(", ")} are set; delete them first`);
      const aborts = this.sql
        .exec<{ record: string }>("SELECT record FROM uploads WHERE status = 'open'")
        .toArray()
        .map((r) => JSON.parse(r.record) as UploadRecord)
        .map((u) => ({ r2_key: u.r2_key, r2_upload_id: u.r2_upload_id }));
      for (const table of ["versions", "idempotency", "uploads", "upload_parts", "meta"]) this.sql.exec(`DELETE FROM ${table}`);
      this.aliases.clear();
      return { ok: true, value: { aborts } };
    });
    this.resolved.clear();
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
    this.pendingWatch = [];
    this.changed = false;
    const result = this.ctx.storage.transactionSync(decide);
    this.resolved.clear();
    this.sendWatchMessages();
    if (this.changed) {
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


  // ---- alias and stage helpers (synchronous) ------------------------------------------------

  /** The model's alias generation counter: +1 for every alias change (a swap is one). */
  private takeGeneration(): number {
    return this.bumpCounter("generation");
  }

  private currentGeneration(): number {
    return this.counter("generation");
  }

  /** Records one alias change with its audit event, D1 projection and watch message. */
  private changeAlias(actor: Actor & { reason: string | null }, alias: string, action: AliasAction, from: AliasValue | null, to: AliasValue | null) {
    const generation = this.takeGeneration();
    const state = this.aliases.record({ alias, generation, action, from, to, actor: actor.actor, reason: actor.reason, at: actor.at });
    this.enqueue(
      state
        ? { kind: "alias", payload: aliasBody(actor.model, state) }
        : { kind: "alias_deleted", payload: { model: actor.model, alias, generation } },
    );
    const auditAction = action === "rollback" ? "rollback" : action === "delete" ? "alias.delete" : "alias.set";
    this.appendAudit(actor, {
      action: auditAction,
      alias,
      version: to?.version ?? null,
      from,
      to,
      reason: actor.reason,
      detail: { generation, unchanged: sameValue(from, to) || undefined },
    });
    this.watchChanged([alias], action);
    return state;
  }

  /** 404 for a version that does not exist, 409 `version_not_ready` for one not ready. */
  private unreadyRefusal(versions: number[]) {
    for (const version of versions) {
      const record = this.readVersion(version);
      if (!record) return fail("not_found", `Version ${version} does not exist`);
      if (record.status !== "ready") return fail("version_not_ready", `Version ${version} is ${record.status}, not ready`);
    }
    return null;
  }

  private moveStage(actor: Actor & { reason: string | null }, record: VersionRecord, stage: Stage): VersionRecord {
    const moved = { ...record, stage, updated_at: actor.at, revision: record.revision + 1 };
    this.writeVersion(moved);
    this.appendAudit(actor, { action: "version.stage", version: record.version, from: record.stage, to: stage, reason: actor.reason });
    return moved;
  }

  private versionsInStage(stage: Stage): VersionRecord[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM versions ORDER BY version DESC")
      .toArray()
      .map((r) => JSON.parse(r.record) as VersionRecord)
      .filter((v) => v.stage === stage);
  }

  private highestReady(): VersionRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE status = 'ready' ORDER BY version DESC LIMIT 1").toArray()[0];
    return row ? (JSON.parse(row.record) as VersionRecord) : null;
  }

  /**
   * Resolution from this object's state: a set alias; else `latest` (highest ready
   * version), `v<n>`, or, for a stage name, the highest version in that stage.
   */
  private resolveNow(model: string, alias: string): Outcome<ResolveState> {
    const target = (v: VersionRecord) => ({ version: v.version, digest: v.digest, files: v.files });
    const set = this.aliases.get(alias);
    if (set) {
      const versions = valueVersions(set.value).map((n) => this.readVersion(n));
      if (versions.some((v) => v === null)) return fail("not_found", `A version of alias '${alias}' no longer exists`);
      return {
        ok: true,
        value: {
          model,
          alias,
          generation: set.generation,
          etag: String(set.generation),
          split: set.value.split,
          targets: (versions as VersionRecord[]).map(target),
        },
      };
    }
    let virtual: VersionRecord | null = null;
    if (alias === "latest") virtual = this.highestReady();
    else if (isReserved(alias)) {
      virtual = this.readVersion(Number(alias.slice(1)));
      if (virtual && virtual.status !== "ready") return fail("version_not_ready", `Version ${virtual.version} is ${virtual.status}`);
    } else if (alias === "staging" || alias === "production" || alias === "archived") {
      virtual = this.versionsInStage(alias)[0] ?? null;
    }
    if (!virtual) return fail("not_found", `Alias '${alias}' of '${model}' resolves to nothing`);
    const generation = this.currentGeneration();
    return {
      ok: true,
      value: { model, alias, generation, etag: `${generation}.${virtual.version}`, split: null, targets: [target(virtual)] },
    };
  }

  private watchChanged(aliases: string[], event: string): void {
    for (const alias of aliases) this.pendingWatch.push({ alias, event });
  }

  /** Sends the watch messages of a committed transaction, in commit (generation) order. */
  private sendWatchMessages(): void {
    const pending = this.pendingWatch;
    this.pendingWatch = [];
    for (const { alias, event } of pending) {
      for (const ws of this.ctx.getWebSockets(alias)) {
        try {
          ws.send(this.watchMessage(ws.deserializeAttachment() as Watcher, event));
        } catch {
          // A socket that closed meanwhile; webSocketClose tidies it up.
        }
      }
    }
  }

  private watchMessage(watcher: Watcher, event: string): string {
    const state = this.resolveNow(watcher.model, watcher.alias);
    return JSON.stringify(
      state.ok
        ? { event, generation: state.value.generation, resolution: resolutionFor(state.value, watcher.key) }
        : { event, generation: this.currentGeneration(), resolution: null, detail: state.detail },
    );
  }

  // ---- storage helpers (synchronous: safe inside transactionSync) ---------------------------

  private outboxCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  /** Allocates the next version number: monotonic and never reused, even after deletions. */
  private takeVersionNumber(): number {
    return this.bumpCounter("last_version");
  }

  /** A counter kept in `meta` (0 when never bumped). */
  private counter(key: string): number {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return row ? Number(row.value) : 0;
  }

  private bumpCounter(key: string): number {
    const next = this.counter(key) + 1;
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      key,
      String(next),
    );
    return next;
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
    this.changed = true;
    this.flushAgain = true;
  }
}
