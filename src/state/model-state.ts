/**
 * ModelState: one Durable Object per model, the write side of everything a promotion decision
 * depends on: whether the model exists, version numbers, version records (status, files,
 * metrics, lineage), uploads, aliases. Each public method is an RPC the Worker calls through
 * src/state/client.ts.
 *
 * This class is the transaction boundary; the state lives in rooms, each owning its tables
 * (model-table, meta-table, version-table, upload-table, alias-table, outbox) or sockets
 * (watch).
 *
 * Invariant: every method decides and writes inside one synchronous block
 * (`transactionSync`), with no `await` between reading state and committing the change. The
 * change and its audit event enter the outbox in that same transaction, and the alarm that
 * guarantees their projection is armed in the same commit; projecting them into D1 happens
 * right after, and again from the alarm until it lands. R2 is never touched here: methods
 * tell the caller which R2 work follows from a change.
 */
import { DurableObject } from "cloudflare:workers";
import { isReserved, rollbackTarget, sameValue, valueVersions, type AliasValue } from "../domain/alias";
import { auditEvent, type AuditEvent } from "../domain/audit";
import { matchesAny } from "../domain/glob";
import { sha256Hex } from "../domain/ids";
import { manifestText, type ManifestEntry } from "../domain/manifest";
import { applyModelPatch, type ModelKind, type ModelPatch, type ModelRecord } from "../domain/model";
import type { ResolveState } from "../domain/resolution";
import { stagesTouched } from "../domain/stage";
import { missingParts, type UploadPart, type UploadRecord } from "../domain/upload";
import { applyVersionPatch, type Lineage, type Stage, type VersionHead, type VersionPatch, type VersionRecord } from "../domain/version";
import type { Env } from "../env";
import { aliasBody, AliasTable, type AliasAction, type AliasBody, type HistoryEntry } from "./alias-table";
import { MetaTable } from "./meta-table";
import { ModelTable } from "./model-table";
import { fail, type Outcome } from "./outcome";
import { Outbox } from "./outbox";
import { MODEL_STATE_SCHEMA } from "./sql-schema";
import { UploadTable, type R2Aborts } from "./upload-table";
import { VersionTable } from "./version-table";
import { Watch, type Watcher } from "./watch";

export type { Outcome } from "./outcome";
export type { R2Aborts } from "./upload-table";

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

/** How soon the alarm retries a projection D1 has not taken yet. */
const RETRY_DELAY_MS = 5_000;

type Reasoned = Actor & { reason: string | null };

export class ModelState extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly model: ModelTable;
  private readonly meta: MetaTable;
  private readonly outbox: Outbox;
  private readonly versions: VersionTable;
  private readonly uploads: UploadTable;
  private readonly aliases: AliasTable;
  private readonly watch: Watch;
  /** Resolutions computed since the last write: the hot path's answers from memory. */
  private readonly resolved = new Map<string, ResolveState>();
  /** When the object's alarm will fire (this object is its only setter), or null when none is set. */
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.outbox = new Outbox(this.sql, () => this.env.DB);
    this.model = new ModelTable(this.sql, this.outbox);
    this.meta = new MetaTable(this.sql);
    this.versions = new VersionTable(this.sql, this.outbox);
    this.uploads = new UploadTable(this.sql, this.outbox);
    this.aliases = new AliasTable(this.sql);
    this.watch = new Watch(ctx, (model, alias) => this.resolveNow(model, alias), () => this.meta.counter("generation"));
    // Schema setup is the only work done under blockConcurrencyWhile: it caps throughput.
    void ctx.blockConcurrencyWhile(async () => {
      for (const statement of MODEL_STATE_SCHEMA) this.sql.exec(statement);
      this.alarmAt = await ctx.storage.getAlarm();
      // Changes a previous life committed but did not project: drain them now.
      if (this.outbox.depth() > 0) this.armAlarm(Date.now());
    });
  }

  // ---- the model as a whole ---------------------------------------------------------------

  /**
   * Creates the model. A model deleted before keeps its counters, so a re-created one goes
   * on numbering versions and alias generations where the old one stopped: no
   * `registry://m/3` or ETag ever names two different things.
   */
  async createModel(
    input: Actor & { kind: ModelKind; description: string | null; tags: Record<string, string> },
  ): Promise<Outcome<ModelRecord>> {
    return this.commit((): Outcome<ModelRecord> => {
      if (this.model.get()) return fail("already_exists", `Model '${input.model}' already exists`);
      const record: ModelRecord = {
        name: input.model,
        kind: input.kind,
        description: input.description,
        tags: input.tags,
        created_at: input.at,
        created_by: input.actor,
        updated_at: input.at,
      };
      this.model.put(record);
      this.appendAudit(input, { action: "model.create", to: { kind: input.kind } });
      return { ok: true, value: record };
    });
  }

  async patchModel(input: Actor & { patch: ModelPatch }): Promise<Outcome<ModelRecord>> {
    return this.commit((): Outcome<ModelRecord> => {
      const current = this.model.get();
      if (!current) return this.modelNotFound(input);
      const patched = applyModelPatch(current, input.patch, input.at);
      if (!patched.ok) return this.tooLarge(patched);
      this.model.put(patched.record);
      this.appendAudit(input, { action: "model.update", detail: { fields: Object.keys(input.patch) } });
      return { ok: true, value: patched.record };
    });
  }

  /**
   * Deletes the model: its versions, uploads and aliases go, here and (through the outbox,
   * after everything queued before) in D1; its counters stay. Refused (409 `in_use`) while
   * any alias is set. Returns the open uploads for the caller to abort in R2.
   */
  async dropModel(input: Actor): Promise<Outcome<R2Aborts>> {
    return this.commit((): Outcome<R2Aborts> => {
      if (!this.model.get()) return this.modelNotFound(input);
      const set = this.aliases.all().map((a) => a.alias);
      if (set.length > 0) return fail("in_use", `The aliases ${set.join(", ")} are set; delete them first`);
      const aborts = this.closeUploads({ ...input, reason: "model deleted" }, this.uploads.open(), "aborted");
      this.versions.clear();
      this.uploads.clear();
      this.aliases.clear();
      this.model.delete(input.model);
      this.appendAudit(input, { action: "model.delete" });
      this.watch.changed(this.watchedAliases(), "delete");
      return { ok: true, value: { aborts } };
    });
  }

  // ---- versions ---------------------------------------------------------------------------

  async createVersion(input: CreateVersionInput): Promise<Outcome<VersionRecord>> {
    return this.commit((): Outcome<VersionRecord> => {
      // Checked in this transaction: a create racing the model's deletion lands before it or not at all.
      if (!this.model.get()) return this.modelNotFound(input);
      if (input.idempotency) {
        const seen = this.versions.idempotent(input.idempotency.key);
        if (seen) {
          if (seen.request_hash !== input.idempotency.requestHash) {
            return fail("idempotency_conflict", "This Idempotency-Key was used with a different request body");
          }
          const record = this.versions.get(seen.version);
          if (record) return { ok: true, value: record, replayed: true };
          return fail("not_found", `Version ${seen.version}, created with this key, has since been deleted`);
        }
      }
      const version = this.meta.bump("last_version");
      const head: VersionHead = {
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
      this.versions.put(head);
      if (input.idempotency) this.versions.rememberIdempotent(input.idempotency.key, input.idempotency.requestHash, version, input.at);
      this.appendAudit(input, { action: "version.create", version });
      return { ok: true, value: { ...head, files: [] } };
    });
  }

  async patchVersion(input: Actor & { version: number; patch: VersionPatch }): Promise<Outcome<VersionRecord>> {
    return this.commit((): Outcome<VersionRecord> => {
      const current = this.versions.head(input.version);
      if (!current) return this.versionNotFound(input);
      const patched = applyVersionPatch(current, input.patch, input.at);
      if (!patched.ok && patched.reason === "too_large") return this.tooLarge(patched);
      if (!patched.ok) return fail("immutable", `Version ${input.version} is ${current.status}: its lineage can no longer change`);
      this.versions.put(patched.record);
      this.appendAudit(input, { action: "version.update", version: input.version, detail: { fields: patched.changed } });
      return { ok: true, value: { ...patched.record, files: this.versions.files(input.version) } };
    });
  }

  /**
   * Makes a pending version `ready`: it needs at least one file and no open upload. The
   * digest is hashed outside the transaction (Web Crypto is async), then the commit checks
   * that the manifest it hashed is still the version's, and starts again if a file changed.
   */
  async finalize(input: Actor & { version: number }): Promise<Outcome<VersionRecord>> {
    for (;;) {
      const current = this.versions.head(input.version);
      const refused = current ? this.finalizeRefusal(current) : this.versionNotFound(input);
      if (refused) return refused;
      const manifest = manifestText(this.versions.files(input.version));
      const digest = `sha256:${await sha256Hex(manifest)}`;
      const outcome = await this.commit((): Outcome<VersionRecord> | "retry" => {
        const now = this.versions.head(input.version);
        const stillRefused = now ? this.finalizeRefusal(now) : this.versionNotFound(input);
        if (stillRefused) return stillRefused;
        const files = this.versions.files(input.version);
        if (manifestText(files) !== manifest) return "retry";
        const ready: VersionHead = { ...now!, status: "ready", digest, ready_at: input.at, updated_at: input.at, revision: now!.revision + 1 };
        this.versions.put(ready);
        this.appendAudit(input, { action: "version.finalize", version: input.version, to: { digest } });
        this.watch.changed(["latest", `v${input.version}`], "finalize");
        return { ok: true, value: { ...ready, files } };
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
      const current = this.versions.head(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.stage === "production") {
        return fail("in_use", `Version ${input.version} is in the production stage; move it out first`);
      }
      const holders = this.aliases.holding(input.version);
      if (holders.length > 0) return fail("in_use", `Version ${input.version} is held by the aliases ${holders.join(", ")}`);
      const aborts = this.closeUploads({ ...input, reason: "version deleted" }, this.uploads.open(input.version), "aborted");
      this.uploads.deleteOfVersion(input.version);
      this.versions.delete(input.version);
      this.outbox.enqueue({ kind: "version_deleted", payload: { model: input.model, version: input.version } });
      this.appendAudit(input, { action: "version.delete", version: input.version, from: { digest: current.digest } });
      this.watch.changed(["latest", `v${input.version}`, ...stagesTouched(current.stage, "none", false)], "delete");
      return { ok: true, value: { aborts } };
    });
  }

  // ---- files ------------------------------------------------------------------------------

  /** Whether files of the version may be written now (a fast check before bytes are sent). */
  async checkWritable(input: { model: string; version: number }): Promise<Outcome<null>> {
    const current = this.versions.head(input.version);
    if (!current) return this.versionNotFound(input);
    if (current.status !== "pending") return this.immutable(current);
    return { ok: true, value: null };
  }

  /** Attaches verified bytes to a pending version at `file.path` (replacing what was there). */
  async attachFile(input: Actor & { version: number; file: ManifestEntry; deduplicated: boolean }): Promise<Outcome<ManifestEntry>> {
    return this.commit((): Outcome<ManifestEntry> => {
      const current = this.versions.head(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.status !== "pending") return this.immutable(current);
      this.attach(current, input, input.file, { deduplicated: input.deduplicated });
      return { ok: true, value: input.file };
    });
  }

  async detachFile(input: Actor & { version: number; path: string }): Promise<Outcome<null>> {
    return this.commit((): Outcome<null> => {
      const current = this.versions.head(input.version);
      if (!current) return this.versionNotFound(input);
      if (current.status !== "pending") return this.immutable(current);
      const file = this.versions.file(input.version, input.path);
      if (!file) return fail("not_found", `Version ${input.version} has no file '${input.path}'`);
      this.versions.removeFile(current, input.path);
      this.versions.put({ ...current, updated_at: input.at, revision: current.revision + 1 });
      this.appendAudit(input, { action: "file.delete", version: input.version, from: file });
      return { ok: true, value: null };
    });
  }

  /** Whether a version of this model holds these bytes, whatever D1 shows yet. */
  async holdsBlob(sha256: string): Promise<boolean> {
    return this.versions.holds(sha256);
  }

  // ---- multipart uploads ------------------------------------------------------------------

  /** Records a multipart upload the caller has opened in R2 (the caller aborts it if refused). */
  async openUpload(input: Actor & { upload: UploadRecord }): Promise<Outcome<UploadView>> {
    return this.commit((): Outcome<UploadView> => {
      const current = this.versions.head(input.upload.version);
      if (!current) return this.versionNotFound({ model: input.model, version: input.upload.version });
      if (current.status !== "pending") return this.immutable(current);
      this.uploads.pruneClosed(input.at);
      this.uploads.opened(input.upload);
      const { upload_id, path, size, sha256 } = input.upload;
      this.appendAudit(input, { action: "upload.open", version: current.version, to: { path, size, sha256 }, detail: { upload_id } });
      return { ok: true, value: { ...input.upload, parts: [] } };
    });
  }

  async getUpload(input: { model: string; version: number; uploadId: string }): Promise<Outcome<UploadView>> {
    const upload = this.uploads.get(input.uploadId);
    if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
    return { ok: true, value: { ...upload, parts: this.uploads.parts(upload.upload_id) } };
  }

  /** Records a part R2 has accepted; a re-sent part replaces the earlier one. */
  async recordPart(input: { version: number; uploadId: string; part: UploadPart; now: string }): Promise<Outcome<UploadPart>> {
    return this.commit((): Outcome<UploadPart> => {
      const upload = this.uploads.get(input.uploadId);
      if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
      const refused = this.uploadRefusal(upload, input.now);
      if (refused) return refused;
      this.uploads.recordPart(input.uploadId, input.part);
      return { ok: true, value: input.part };
    });
  }

  /**
   * Checks that an upload may complete: open, not expired, every part present with its size.
   * Changes nothing; `finishUpload` records the outcome once the bytes are verified.
   */
  async uploadToComplete(input: { version: number; uploadId: string; now: string }): Promise<Outcome<UploadView>> {
    const upload = this.uploads.get(input.uploadId);
    if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
    const refused = this.uploadRefusal(upload, input.now);
    if (refused) return refused;
    const parts = this.uploads.parts(upload.upload_id);
    const missing = missingParts(upload.part_count, parts);
    if (missing.length > 0) {
      return fail("conflict", `Parts ${missing.join(", ")} have not been uploaded`, { missing_parts: missing });
    }
    return { ok: true, value: { ...upload, parts } };
  }

  /**
   * Ends an upload: `completed` attaches its verified file to the version (its audit event is
   * that `file.add`); `failed` does not (`upload.fail`).
   */
  async finishUpload(
    input: Actor & { uploadId: string; result: "completed" | "failed"; deduplicated: boolean },
  ): Promise<Outcome<ManifestEntry>> {
    return this.commit((): Outcome<ManifestEntry> => {
      const upload = this.uploads.get(input.uploadId);
      if (!upload) return fail("not_found", `Upload '${input.uploadId}' not found`);
      if (upload.status !== "open") return fail("conflict", `Upload '${input.uploadId}' is ${upload.status}`);
      const file = { path: upload.path, size: upload.size, sha256: upload.sha256 };
      const current = this.versions.head(upload.version);
      if (!current) return this.versionNotFound({ model: input.model, version: upload.version });
      // Unreachable while finalize waits for open uploads; kept so the rule holds regardless.
      if (current.status !== "pending") return this.immutable(current);
      if (input.result === "completed") {
        this.uploads.close([upload], "completed");
        this.attach(current, input, file, { deduplicated: input.deduplicated, upload_id: upload.upload_id });
      } else {
        this.closeUploads({ ...input, reason: "the bytes did not match the declared size and sha256" }, [upload], "failed");
      }
      return { ok: true, value: file };
    });
  }

  async abortUpload(input: Actor & { version: number; uploadId: string }): Promise<Outcome<R2Aborts>> {
    return this.commit((): Outcome<R2Aborts> => {
      const upload = this.uploads.get(input.uploadId);
      if (!upload || upload.version !== input.version) return fail("not_found", `Upload '${input.uploadId}' not found`);
      if (upload.status !== "open") return { ok: true, value: { aborts: [] } };
      return { ok: true, value: { aborts: this.closeUploads({ ...input, reason: null }, [upload], "aborted") } };
    });
  }

  /** Aborts every open upload past its `expires_at` (the scheduled cleanup calls this, as actor `cleanup`). */
  async expireUploads(input: Actor): Promise<R2Aborts> {
    const outcome = await this.commit((): Outcome<R2Aborts> => {
      return { ok: true, value: { aborts: this.closeUploads({ ...input, reason: "expired" }, this.uploads.openExpired(input.at), "aborted") } };
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
    input: Reasoned & { alias: string; value: AliasValue; expectedGeneration?: number },
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

  async deleteAlias(input: Reasoned & { alias: string }): Promise<Outcome<null>> {
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
  async rollbackAlias(input: Reasoned & { alias: string; toVersion?: number }): Promise<Outcome<AliasBody>> {
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
  async swapAliases(input: Reasoned & { aliases: [string, string] }): Promise<Outcome<[AliasBody, AliasBody]>> {
    return this.commit((): Outcome<[AliasBody, AliasBody]> => {
      const [a, b] = input.aliases;
      const first = this.aliases.get(a);
      const second = this.aliases.get(b);
      if (!first || !second) return fail("not_found", `Alias '${!first ? a : b}' is not set`);
      // Gate seam: each alias's policy is checked against the value it receives, here.
      const generation = this.meta.bump("generation");
      const record = (alias: string, from: AliasValue, to: AliasValue) =>
        this.aliases.record({ alias, generation, action: "swap", from, to, actor: input.actor, reason: input.reason, at: input.at })!;
      const stateA = record(a, first.value, second.value);
      const stateB = record(b, second.value, first.value);
      for (const s of [stateA, stateB]) this.outbox.enqueue({ kind: "alias", payload: aliasBody(input.model, s) });
      this.appendAudit(input, {
        action: "alias.swap",
        alias: `${a},${b}`,
        from: { [a]: first.value, [b]: second.value },
        to: { [a]: second.value, [b]: first.value },
        reason: input.reason,
      });
      this.watch.changed([a, b], "swap");
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
   * `grants` (the token's `aliases` globs) must cover every stage the move touches.
   */
  async setStage(
    input: Reasoned & { version: number; stage: Stage; archiveExisting: boolean; grants?: readonly string[] },
  ): Promise<Outcome<VersionRecord>> {
    return this.commit((): Outcome<VersionRecord> => {
      const current = this.versions.head(input.version);
      if (!current) return this.versionNotFound(input);
      // Checked here, against the stage the version is in now, so no move can slip past it.
      const touched = stagesTouched(current.stage, input.stage, input.archiveExisting);
      const ungranted = touched.filter((stage) => input.grants !== undefined && !matchesAny(input.grants, stage));
      if (ungranted.length > 0) return fail("forbidden", `This token may not move versions in or out of ${ungranted.join(", ")}`);
      if ((input.stage === "staging" || input.stage === "production") && current.status !== "ready") {
        return fail("version_not_ready", `Version ${input.version} is ${current.status}; only ready versions enter ${input.stage}`);
      }
      // Gate seam: the policy of the stage target is checked here, before anything is written.
      const moved = this.moveStage(input, current, input.stage);
      if (input.archiveExisting && input.stage !== "archived" && input.stage !== "none") {
        for (const other of this.versions.inStage(input.stage)) {
          if (other.version !== input.version) this.moveStage(input, other, "archived");
        }
      }
      this.watch.changed(touched, "stage");
      return { ok: true, value: { ...moved, files: this.versions.files(input.version) } };
    });
  }

  /**
   * Watch: a WebSocket (hibernating) that gets the current Resolution, then one per change,
   * and is closed (4001) when the token that opened it expires (`expires` in ms).
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const model = url.searchParams.get("model");
    const alias = url.searchParams.get("alias");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !model || !alias) {
      return new Response("expected a WebSocket upgrade for a model's alias", { status: 400 });
    }
    const key = url.searchParams.get("key") ?? undefined;
    const expires = url.searchParams.get("expires");
    const watcher: Watcher = { model, alias, key, ...(expires ? { expiresAt: Number(expires) } : {}) };
    const { 0: client, 1: server } = new WebSocketPair();
    this.watch.accept(server, watcher);
    if (watcher.expiresAt !== undefined) this.armAlarm(watcher.expiresAt);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Clients may ping with any text; the answer is the current state.
    if (message === "ping") this.watch.current(ws);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    ws.close(code, reason);
  }

  // ---- outbox and alarm -------------------------------------------------------------------

  /** Projects the outbox into D1 now; rejects if D1 refused (the alarm then keeps trying). */
  async flush(): Promise<void> {
    return this.outbox.flush();
  }

  /** Number of changes not yet in D1 (for tests and health checks). */
  async outboxDepth(): Promise<number> {
    return this.outbox.depth();
  }

  /** The one alarm serves both: the outbox's retries and closing sockets whose tokens expired. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const nextExpiry = this.watch.closeExpired(Date.now());
    if (nextExpiry !== null) this.armAlarm(nextExpiry);
    try {
      await this.flush();
    } catch (err) {
      console.error("outbox flush failed; retrying", err);
      this.armAlarm(Date.now() + RETRY_DELAY_MS);
    }
  }

  /**
   * Runs `decide` as one synchronous transaction. When it queued work for D1, the alarm is
   * armed in the same commit (no `await` in between), so the projection happens even if this
   * object is evicted right after; then the outbox is flushed before answering, so that a D1
   * read right after sees the write. A D1 failure does not fail the write; the alarm retries.
   */
  private async commit<T>(decide: () => T): Promise<T> {
    this.watch.reset();
    this.outbox.changed = false;
    const result = this.ctx.storage.transactionSync(decide);
    if (this.outbox.changed) this.armAlarm(Date.now() + RETRY_DELAY_MS);
    this.resolved.clear();
    this.watch.sendPending();
    if (this.outbox.changed) {
      try {
        await this.flush();
      } catch (err) {
        console.error("outbox flush failed; the alarm will retry", err);
      }
    }
    return result;
  }

  /** Makes the alarm fire no later than `at` (a later one is brought forward, an earlier one kept). */
  private armAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((err: unknown) => console.error("setting the alarm failed", err));
  }

  // ---- alias and stage helpers (synchronous) ------------------------------------------------

  /** Records one alias change with its audit event, D1 projection and watch message. */
  private changeAlias(actor: Reasoned, alias: string, action: AliasAction, from: AliasValue | null, to: AliasValue | null) {
    const generation = this.meta.bump("generation");
    const state = this.aliases.record({ alias, generation, action, from, to, actor: actor.actor, reason: actor.reason, at: actor.at });
    this.outbox.enqueue(
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
    this.watch.changed([alias], action);
    return state;
  }

  /** 404 for a version that does not exist, 409 `version_not_ready` for one not ready. */
  private unreadyRefusal(versions: number[]) {
    for (const version of versions) {
      const record = this.versions.head(version);
      if (!record) return fail("not_found", `Version ${version} does not exist`);
      if (record.status !== "ready") return fail("version_not_ready", `Version ${version} is ${record.status}, not ready`);
    }
    return null;
  }

  private moveStage(actor: Reasoned, record: VersionHead, stage: Stage): VersionHead {
    const moved = { ...record, stage, updated_at: actor.at, revision: record.revision + 1 };
    this.versions.put(moved);
    this.appendAudit(actor, { action: "version.stage", version: record.version, from: record.stage, to: stage, reason: actor.reason });
    return moved;
  }

  /**
   * Resolution from this object's state: a set alias; else `latest` (highest ready
   * version), `v<n>`, or, for a stage name, the highest version in that stage.
   */
  private resolveNow(model: string, alias: string): Outcome<ResolveState> {
    const target = (v: VersionRecord) => ({ version: v.version, digest: v.digest, files: v.files });
    const set = this.aliases.get(alias);
    if (set) {
      const versions = valueVersions(set.value).map((n) => this.versions.get(n));
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
    if (alias === "latest") virtual = this.versions.highestReady();
    else if (isReserved(alias)) {
      virtual = this.versions.get(Number(alias.slice(1)));
      if (virtual && virtual.status !== "ready") return fail("version_not_ready", `Version ${virtual.version} is ${virtual.status}`);
    } else if (alias === "staging" || alias === "production" || alias === "archived") {
      virtual = this.versions.highestInStage(alias);
    }
    if (!virtual) return fail("not_found", `Alias '${alias}' of '${model}' resolves to nothing`);
    const generation = this.meta.counter("generation");
    return {
      ok: true,
      value: { model, alias, generation, etag: `${generation}.${virtual.version}`, split: null, targets: [target(virtual)] },
    };
  }

  /** Every alias some socket watches. */
  private watchedAliases(): Set<string> {
    const aliases = new Set<string>();
    for (const ws of this.ctx.getWebSockets()) aliases.add((ws.deserializeAttachment() as Watcher).alias);
    return aliases;
  }

  // ---- shared helpers (synchronous: safe inside transactionSync) ----------------------------

  /** Adds or replaces one file row (and its one D1 row), bumps the version, and audits `file.add`. */
  private attach(current: VersionHead, actor: Actor, file: ManifestEntry, detail: { deduplicated: boolean; upload_id?: string }): void {
    const previous = this.versions.file(current.version, file.path);
    this.versions.putFile(current, file);
    this.versions.put({ ...current, updated_at: actor.at, revision: current.revision + 1 });
    this.appendAudit(actor, {
      action: "file.add",
      version: current.version,
      ...(previous ? { from: previous } : {}),
      to: file,
      detail,
    });
  }

  /** Ends uploads without a file (`aborted` or `failed`), each audited; returns them for R2 to abort. */
  private closeUploads(actor: Reasoned, uploads: UploadRecord[], status: "aborted" | "failed"): R2Aborts["aborts"] {
    for (const upload of uploads) {
      this.appendAudit(actor, {
        action: status === "failed" ? "upload.fail" : "upload.abort",
        version: upload.version,
        reason: actor.reason,
        detail: { upload_id: upload.upload_id, path: upload.path },
      });
    }
    return this.uploads.close(uploads, status);
  }

  private uploadRefusal(upload: UploadRecord, now: string) {
    if (upload.status !== "open") return fail("conflict", `Upload '${upload.upload_id}' is ${upload.status}`);
    if (upload.expires_at <= now) return fail("conflict", `Upload '${upload.upload_id}' expired at ${upload.expires_at}`);
    return null;
  }

  private finalizeRefusal(record: VersionHead) {
    if (record.status !== "pending") return this.immutable(record);
    if (!this.versions.hasFiles(record.version)) return fail("conflict", `Version ${record.version} has no files`);
    const open = this.uploads.open(record.version);
    if (open.length > 0) {
      return fail("conflict", `Version ${record.version} has unfinished uploads: ${open.map((u) => u.upload_id).join(", ")}`);
    }
    return null;
  }

  /** A merge that would pass a contract limit: 400, as if the body itself had been too large. */
  private tooLarge(refusal: { path: string; message: string }) {
    return fail("validation_failed", `Invalid request body: ${refusal.path} ${refusal.message}`, {
      errors: [{ path: refusal.path, message: refusal.message }],
    });
  }

  private modelNotFound(input: { model: string }) {
    return fail("not_found", `Model '${input.model}' not found`);
  }

  private versionNotFound(input: { model: string; version: number }) {
    return fail("not_found", `Version ${input.version} of '${input.model}' not found`);
  }

  private immutable(record: VersionHead) {
    return fail("immutable", `Version ${record.version} is ${record.status}: its files and lineage can no longer change`);
  }

  private appendAudit(actor: Actor, fields: Omit<AuditEvent, "id" | "at" | "actor" | "model">): void {
    this.outbox.enqueue({ kind: "audit", payload: auditEvent({ at: actor.at, actor: actor.actor, model: actor.model, ...fields }) });
  }
}
