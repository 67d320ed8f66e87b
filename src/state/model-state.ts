/**
 * ModelState: one Durable Object per model, the write side of everything a promotion decision
 * depends on: whether the model exists, version numbers, version records (status, files,
 * metrics, lineage), uploads, aliases. Each public method is an RPC the Worker calls through
 * src/model-writes/stub.ts, typed from this class (./rpc.ts). A method that commits a
 * transaction is a write: it answers a `Written`, which says what it touched (./outcome.ts).
 *
 * This class is the transaction boundary and nothing more. The state lives in rooms
 * (src/state/rooms.ts, opened by ./open-rooms.ts), each owning its tables (model-table,
 * meta-table, version-table, upload-table, alias-table, outbox) or sockets (watch); the
 * decisions live in the *-ops modules, synchronous functions over those rooms.
 *
 * Invariant: every write runs its decision inside one synchronous block (`transactionSync`),
 * with no `await` between reading state and committing the change. The change and its audit
 * event enter the outbox in that same transaction, and the alarm that guarantees their
 * projection is armed in the same commit; projecting them into D1 happens right after, and
 * again from the alarm until it lands. R2 is never touched here: methods tell the caller
 * which R2 work follows from a change.
 */
import { DurableObject } from "cloudflare:workers";
import { sha256Hex, timestamp } from "../domain/ids";
import { buildManifest } from "../domain/oci";
import { publish } from "../queue/publish";
import { sendSessionVerifyStep, sendVerifyStep } from "../queue/verify";
import type { ModelKind, ModelPatch, ModelRecord } from "../domain/model";
import type { ResolveState } from "../domain/resolution";
import type { UploadPart, UploadRecord } from "../domain/upload";
import type { BlobSession, BlobSessionView } from "../domain/blob-session";
import { manifestText, type ManifestEntry } from "../domain/manifest";
import type { StoredManifest } from "../domain/oci-push";
import type { Stage, VersionPatch, VersionRecord } from "../domain/version";
import type { AliasAt, AliasValue } from "../domain/alias";
import type { GatePolicy, GateResult } from "../domain/gate";
import type { GuardPolicy } from "../domain/guard";
import type { RetentionPolicy } from "../domain/retention";
import type { Fleet, FleetSummary } from "../domain/fleet";
import type { Rollout, RolloutStep } from "../domain/rollout";
import { config, type Env } from "../env";
import * as aliasOps from "./alias-ops";
import * as blobUploadOps from "./blob-upload-ops";
import * as deriveOps from "./derive-ops";
import { aliasBody, type AliasBody, type HistoryEntry } from "./alias-table";
import type { FanOutPort } from "./changes";
import { DownloadTable } from "./download-table";
import * as fleetOps from "./fleet-ops";
import type { Hold } from "./downstream-table";
import { RelayFanOut, relayStub, type RelayAttachment } from "./relay-fanout";
import { REVOCATION_CHECK_MS, upkeepSockets } from "./socket-upkeep";
import * as gateOps from "./gate-ops";
import type { Approval, GateBody } from "./gate-table";
import * as guardOps from "./guard-ops";
import * as blobSessionOps from "./blob-session-ops";
import * as ociOps from "./oci-ops";
import * as lineageOps from "./lineage-ops";
import * as modelOps from "./model-ops";
import { fail, written, type Outcome, type Written } from "./outcome";
import { openRooms } from "./open-rooms";
import * as retentionOps from "./retention-ops";
import * as signatureOps from "./signature-ops";
import * as rolloutOps from "./rollout-ops";
import type { OwnRetention } from "./retention-table";
import { modelNotFound, versionNotFound, type Actor, type Reasoned, type Rooms } from "./rooms";
import { MODEL_STATE_SCHEMA } from "./sql-schema";
import * as uploadOps from "./upload-ops";
import type { R2Aborts } from "./upload-table";
import * as versionOps from "./version-ops";
import { watcherOf } from "./watch";

export type { Outcome, Touched, Written } from "./outcome";
export type { Actor } from "./rooms";
export type { R2Aborts } from "./upload-table";
export type { UploadView } from "./upload-ops";
export type { CreateVersionInput, ReadyVersion, ReadyVersionInput } from "./version-ops";
export type { Derived, DeriveInput, DeriveStart, Started } from "./derive-ops";
export type { Attached } from "./oci-ops";
export type { OwnRetention } from "./retention-table";
export type { PolicySource, RetentionApplied, RetentionDecision, RetentionInputs } from "./retention-ops";

/** How soon the alarm retries a projection D1 has not taken yet. */
const RETRY_DELAY_MS = 5_000;

/**
 * A verification no step has moved for this long has its next step sent again by the alarm (its
 * message was lost with a crashed invocation); a step takes seconds, so one running still only
 * costs a duplicate, which its saved progress refuses (src/state/upload-ops.ts).
 */
const VERIFY_STALL_MS = 5 * 60_000;

/** How long download counts gather before one D1 write carries them all. */
const DOWNLOADS_BATCH_MS = 2_000;

/** The most decisions one alarm takes for one rollout (a hold and a step for each of its steps, and the completion). */
const ROLLOUT_TICKS_PER_ALARM = 2 * 20 + 2;

export class ModelState extends DurableObject<Env> {
  private readonly rooms: Rooms;
  /**
   * Where committed alias changes go: the watch relays that hold the sockets (the watch route
   * opens every socket on a relay), and this object's own sockets, opened here before relays
   * existed, until they close.
   */
  private readonly fanOut: FanOutPort[];
  /** Downloads per version, projected into D1 by the alarm. */
  private readonly downloads: DownloadTable;
  /** Resolutions computed since the last write: the hot path's answers from memory. */
  private readonly resolved = new Map<string, ResolveState>();
  /** When the object's alarm will fire (this object is its only setter), or null when none is set. */
  private alarmAt: number | null = null;
  /** The clock rollouts run on, in ms (tests step it rather than sleep: test/rollouts.test.ts). */
  private clock: () => number = Date.now;
  /** What the fleet reports of a value an alias intends, for a rollout step's hold (src/state/rollout-ops.ts). */
  private fleetShare: rolloutOps.FleetShareOf = (alias, value) => ({
    reporting: this.rooms.fleet.summaries(alias).reduce((n, s) => n + s.summary.reporting, 0),
    share: fleetOps.shareServing(this.rooms, alias, value),
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.rooms = openRooms(ctx, () => this.env.DB);
    const { outbox, meta } = this.rooms;
    this.downloads = new DownloadTable(sql);
    const relayFanOut = new RelayFanOut(
      this.rooms.relays,
      (relay) => relayStub(this.env, relay),
      (model, alias) => aliasOps.resolveNow(this.rooms, model, alias),
      () => meta.counter("generation"),
      (promise) => this.ctx.waitUntil(promise),
    );
    this.fanOut = [relayFanOut, this.rooms.watch];
    // Schema setup is the only work done under blockConcurrencyWhile: it caps throughput.
    void ctx.blockConcurrencyWhile(async () => {
      for (const statement of MODEL_STATE_SCHEMA) sql.exec(statement);
      this.alarmAt = await ctx.storage.getAlarm();
      // Changes a previous life committed but did not project or dispatch: do it now.
      if (outbox.depth() > 0 || outbox.eventsPending() > 0) this.armAlarm(Date.now());
      // Rollouts a previous life was driving go on from where they stand.
      this.armRollouts();
    });
  }

  // ---- the model as a whole ---------------------------------------------------------------

  async createModel(
    input: Actor & { kind: ModelKind; description: string | null; tags: Record<string, string> },
  ): Promise<Written<ModelRecord>> {
    return this.commit(() => modelOps.createModel(this.rooms, input));
  }

  async patchModel(input: Actor & { patch: ModelPatch }): Promise<Written<ModelRecord>> {
    return this.commit(() => modelOps.patchModel(this.rooms, input));
  }

  async dropModel(input: Actor): Promise<Written<R2Aborts>> {
    return this.commit(() => modelOps.dropModel(this.rooms, input));
  }

  // ---- versions and files -----------------------------------------------------------------

  async createVersion(input: versionOps.CreateVersionInput): Promise<Written<VersionRecord>> {
    return this.commit(() => versionOps.createVersion(this.rooms, input));
  }

  async patchVersion(input: Actor & { version: number; patch: VersionPatch }): Promise<Written<VersionRecord>> {
    return this.commit(() => versionOps.patchVersion(this.rooms, input));
  }

  /**
   * Makes a pending version `ready`. The digests (the version's, and its OCI manifest's) are
   * hashed outside the transaction (Web Crypto is async); the commit checks that the manifest
   * it hashed is still the version's, and starts again if a file changed meanwhile.
   */
  async finalize(input: Actor & { version: number }): Promise<Written<VersionRecord>> {
    for (;;) {
      const manifest = versionOps.manifestToFinalize(this.rooms, input);
      if (!manifest.ok) return manifest;
      // The files that manifest lists (read in the same synchronous step), for the OCI
      // manifest: its bytes are fixed by what becomes fixed here (files, ready_at = input.at).
      const files = this.rooms.versions.files(input.version);
      const digest = `sha256:${await sha256Hex(manifest.value)}`;
      const { digest: ociDigest } = await buildManifest({
        model: input.model,
        version: input.version,
        digest,
        readyAt: input.at,
        files,
      });
      const outcome = await this.commit(() =>
        versionOps.finalize(this.rooms, input, manifest.value, digest, ociDigest),
      );
      if (outcome !== "retry") return outcome;
    }
  }

  /**
   * The OCI manifest digests of those of `versions` that are ready, hashed from this object's
   * records, put in D1 through the outbox like every version fact, and answered, so the caller
   * needs no read of D1 after the write. Finalize records each version's; this is for versions
   * made ready before D1 had the column, which the OCI bridge finds without one.
   */
  async recordOciDigests(input: {
    model: string;
    versions: number[];
  }): Promise<Written<{ version: number; digest: string }[]>> {
    const sources = versionOps.manifestSources(this.rooms, input);
    const digests = await Promise.all(
      sources.map(async (source) => ({ version: source.version, digest: (await buildManifest(source)).digest })),
    );
    return this.commit(() => versionOps.recordOciDigests(this.rooms, input, digests));
  }

  /**
   * Makes a ready version in one step from a starting version's files and some edits
   * (./derive-ops.ts). As in `finalize`, the digests are hashed outside the transaction and
   * the commit starts again if the start, the result or the next version number moved meanwhile.
   */
  async deriveVersion(input: deriveOps.DeriveInput): Promise<Written<deriveOps.Derived>> {
    for (;;) {
      const planned = deriveOps.planDerive(this.rooms, input);
      if (!planned.ok) return planned;
      // Nothing changes: no version, and nothing committed.
      if ("unchanged" in planned.value)
        return written({ ok: true, value: { record: null, start: planned.value.unchanged } }, { names: [] });
      const plan = planned.value;
      const digest = `sha256:${await sha256Hex(plan.manifest)}`;
      const { digest: ociDigest } = await buildManifest({
        model: input.model,
        version: plan.version,
        digest,
        readyAt: plan.at,
        files: plan.changed.files,
      });
      const hashed = { version: plan.version, manifest: plan.manifest, at: plan.at, digest, ociDigest };
      const outcome = await this.commit(() => deriveOps.derive(this.rooms, input, hashed));
      if (outcome !== "retry") return outcome;
    }
  }

  async deleteVersion(input: Actor & { version: number }): Promise<Written<R2Aborts>> {
    return this.commit(() => versionOps.deleteVersion(this.rooms, input));
  }

  async checkWritable(input: { model: string; version: number; path?: string }): Promise<Outcome<null>> {
    return versionOps.checkWritable(this.rooms, input);
  }

  async attachFile(
    input: Actor & { version: number; file: ManifestEntry; deduplicated: boolean },
  ): Promise<Written<ManifestEntry>> {
    return this.commit(() => versionOps.attachFile(this.rooms, input));
  }

  async detachFile(input: Actor & { version: number; path: string }): Promise<Written<null>> {
    return this.commit(() => versionOps.detachFile(this.rooms, input));
  }

  /**
   * Whether this model holds these bytes, whatever D1 shows yet (the blob collector asks): a
   * version's file, a blob a stored OCI manifest keeps, a loose blob not yet expired, or bytes
   * a Hub blob upload of the model has claimed and not expired (sent before the commit that
   * will name them). `now` is the collector's time.
   */
  async holdsBlob(sha256: string, now: string): Promise<boolean> {
    if (blobSessionOps.heldSize(this.rooms, sha256, now) !== null) return true;
    const claimed = blobUploadOps.claimedBlobs(this.rooms, { sha256s: [sha256], now });
    return claimed.ok && claimed.value.length > 0;
  }

  /** The size of bytes this model holds (as `holdsBlob` counts them), or null. */
  async heldBlobSize(input: { sha256: string; now: string }): Promise<number | null> {
    return blobSessionOps.heldSize(this.rooms, input.sha256, input.now);
  }

  /**
   * Makes a ready version from bytes this model holds, in one step (./version-ops.ts
   * `createReadyVersion`). Its digest, and its OCI manifest's when none was pushed, are hashed
   * here first (Web Crypto is async); both depend only on the input.
   */
  async createReadyVersion(
    input: Omit<versionOps.ReadyVersionInput, "digest" | "ociDigest">,
  ): Promise<Written<versionOps.ReadyVersion>> {
    const digest = `sha256:${await sha256Hex(manifestText(input.files))}`;
    for (;;) {
      // Without a pushed manifest, the one mreg builds names the version number: hashed for
      // the number the version will get, and again if another version took it meanwhile.
      const expected = this.rooms.meta.counter("last_version") + 1;
      const ociDigest =
        input.manifest?.digest ??
        (await buildManifest({ model: input.model, version: expected, digest, readyAt: input.at, files: input.files }))
          .digest;
      const outcome = await this.commit((): Outcome<versionOps.ReadyVersion> | "retry" =>
        !input.manifest && this.rooms.meta.counter("last_version") + 1 !== expected
          ? "retry"
          : versionOps.createReadyVersion(this.rooms, { ...input, digest, ociDigest }),
      );
      if (outcome !== "retry") return outcome;
    }
  }

  /** The version's `created_at` (a child's, for the parent rule of a lineage patch). */
  async versionCreatedAt(input: { model: string; version: number }): Promise<Outcome<string>> {
    const head = this.rooms.versions.head(input.version);
    return head ? { ok: true, value: head.created_at } : versionNotFound(input);
  }

  // ---- blob sessions and OCI manifests ---------------------------------------------------

  async openBlobSession(input: Actor & { session: BlobSession }): Promise<Written<BlobSession>> {
    return this.commit(() => blobSessionOps.openSession(this.rooms, input));
  }

  async blobSession(input: { model: string; id: string }): Promise<Outcome<BlobSessionView>> {
    return blobSessionOps.getSession(this.rooms, input);
  }

  async claimBlobSession(input: {
    model: string;
    id: string;
    start: number | null;
    holder: string;
    until: string;
    now: string;
  }): Promise<Written<BlobSessionView>> {
    return this.commit(() => blobSessionOps.claimSession(this.rooms, input));
  }

  async recordBlobChunk(input: Parameters<typeof blobSessionOps.recordChunk>[1]): Promise<Written<BlobSession>> {
    return this.commit(() => blobSessionOps.recordChunk(this.rooms, input));
  }

  async releaseBlobSession(input: { model: string; id: string; holder: string }): Promise<Written<null>> {
    return this.commit(() => blobSessionOps.releaseSession(this.rooms, input));
  }

  async finishBlobSession(input: Parameters<typeof blobSessionOps.finishSession>[1]): Promise<Written<BlobSession>> {
    return this.commit(() => blobSessionOps.finishSession(this.rooms, input));
  }

  /** An end verified in steps (src/artifacts/session-steps.ts): the session becomes `verifying`. */
  async beginSessionVerify(
    input: Parameters<typeof blobSessionOps.beginSessionVerify>[1],
  ): Promise<Written<BlobSession>> {
    const outcome = await this.commit(() => blobSessionOps.beginSessionVerify(this.rooms, input));
    if (outcome.ok) this.armAlarm(Date.now() + VERIFY_STALL_MS);
    return outcome;
  }

  /** A step's progress through a verifying session, saved only if no other step saved from the same offset. */
  async saveSessionVerifyProgress(
    input: Parameters<typeof blobSessionOps.saveSessionVerifyProgress>[1],
  ): Promise<Written<boolean>> {
    const outcome = await this.commit(() => blobSessionOps.saveSessionVerifyProgress(this.rooms, input));
    if (outcome.ok && outcome.value) this.armAlarm(Date.now() + VERIFY_STALL_MS);
    return outcome;
  }

  async settleSessionVerify(
    input: Parameters<typeof blobSessionOps.settleSessionVerify>[1],
  ): Promise<Written<BlobSession>> {
    return this.commit(() => blobSessionOps.settleSessionVerify(this.rooms, input));
  }

  async abandonBlobSession(input: Actor & { id: string }): Promise<Written<R2Aborts>> {
    return this.commit(() => blobSessionOps.abandonSession(this.rooms, input));
  }

  async holdLooseBlob(input: Actor & { sha256: string; size: number; expiresAt: string }): Promise<Written<null>> {
    return this.commit(() => blobSessionOps.holdLooseBlob(this.rooms, input));
  }

  async attachManifest(input: Actor & { manifest: StoredManifest }): Promise<Written<ociOps.Attached>> {
    return this.commit(() => ociOps.attachManifest(this.rooms, input));
  }

  async deleteAttachment(input: Actor & { digest: string }): Promise<Written<StoredManifest>> {
    return this.commit(() => ociOps.deleteAttachment(this.rooms, input));
  }

  // ---- lineage across models --------------------------------------------------------------

  /** On the parent's object, before a child of another model names `version`: checks it exists and is older, and holds it. */
  async holdForChild(input: {
    model: string;
    version: number;
    childModel: string;
    childCreatedAt: string;
    at: string;
  }): Promise<Written<null>> {
    return this.commit(() => lineageOps.holdForChild(this.rooms, input));
  }

  /** On a child's object: which of `versions` of `parentModel` a version here names as parent. */
  async namedParents(input: { parentModel: string; versions: number[] }): Promise<number[]> {
    return lineageOps.namedParents(this.rooms, input);
  }

  /** The holds other models put on this model's versions (retention prunes the stale ones). */
  async downstreamHolds(): Promise<Hold[]> {
    return this.rooms.downstream.all();
  }

  // ---- multipart uploads ------------------------------------------------------------------

  async openUpload(input: Actor & { upload: UploadRecord }): Promise<Written<uploadOps.UploadView>> {
    return this.commit(() => uploadOps.openUpload(this.rooms, input));
  }

  async getUpload(input: { model: string; version: number; uploadId: string }): Promise<Outcome<uploadOps.UploadView>> {
    return uploadOps.getUpload(this.rooms, input);
  }

  async recordPart(input: {
    version: number;
    uploadId: string;
    part: UploadPart;
    now: string;
  }): Promise<Written<UploadPart>> {
    return this.commit(() => uploadOps.recordPart(this.rooms, input));
  }

  async uploadToComplete(input: {
    version: number;
    uploadId: string;
    now: string;
  }): Promise<Outcome<uploadOps.UploadView>> {
    return uploadOps.uploadToComplete(this.rooms, input);
  }

  async finishUpload(
    input: Actor & { uploadId: string; result: "completed" | "failed"; deduplicated: boolean; reason?: string },
  ): Promise<Written<ManifestEntry>> {
    return this.commit(() => uploadOps.finishUpload(this.rooms, input));
  }

  /** `complete` of a file verified over several invocations (src/artifacts/verify-steps.ts): the upload becomes `verifying`. */
  async beginVerify(input: Parameters<typeof uploadOps.beginVerify>[1]): Promise<Written<uploadOps.UploadView>> {
    const outcome = await this.commit(() => uploadOps.beginVerify(this.rooms, input));
    if (outcome.ok) this.armAlarm(Date.now() + VERIFY_STALL_MS);
    return outcome;
  }

  /** A verification step's progress, saved only if no other step saved from the same offset. */
  async saveVerifyProgress(input: Parameters<typeof uploadOps.saveVerifyProgress>[1]): Promise<Written<boolean>> {
    const outcome = await this.commit(() => uploadOps.saveVerifyProgress(this.rooms, input));
    if (outcome.ok && outcome.value) this.armAlarm(Date.now() + VERIFY_STALL_MS);
    return outcome;
  }

  async abortUpload(input: Actor & { version: number; uploadId: string }): Promise<Written<R2Aborts>> {
    return this.commit(() => uploadOps.abortUpload(this.rooms, input));
  }

  // ---- blob uploads: bytes sent before a version names them (./blob-upload-ops.ts) -------

  async openBlobUpload(
    input: Actor & { upload: UploadRecord },
  ): Promise<Written<{ upload: uploadOps.UploadView; existing: boolean }>> {
    return this.commit(() => blobUploadOps.openBlobUpload(this.rooms, input));
  }

  async openBlobUploadOf(input: {
    sha256: string;
    size: number;
    now: string;
  }): Promise<Outcome<uploadOps.UploadView | null>> {
    return blobUploadOps.openBlobUploadOf(this.rooms, input);
  }

  async finishBlobUpload(
    input: Actor & { uploadId: string; result: "completed" | "failed"; reason?: string },
  ): Promise<Written<{ sha256: string; size: number }>> {
    return this.commit(() => blobUploadOps.finishBlobUpload(this.rooms, input));
  }

  async recordBlobUpload(input: Actor & { upload: UploadRecord }): Promise<Written<null>> {
    return this.commit(() => blobUploadOps.recordBlobUpload(this.rooms, input));
  }

  async claimedBlobs(input: { sha256s: string[]; now: string }): Promise<Outcome<{ sha256: string; size: number }[]>> {
    return blobUploadOps.claimedBlobs(this.rooms, input);
  }

  async expireUploads(input: Actor): Promise<Written<R2Aborts>> {
    return this.commit(() => uploadOps.expireUploads(this.rooms, input));
  }

  // ---- aliases and stages -----------------------------------------------------------------

  async listAliases(model: string): Promise<AliasBody[]> {
    return this.rooms.aliases.all().map((a) => aliasBody(model, a));
  }

  async aliasHistory(input: { alias: string; before?: number; limit: number }): Promise<HistoryEntry[]> {
    return this.rooms.aliases.history(input.alias, input.before, input.limit);
  }

  /** What `alias` held at the instant `at` (its history's change in force then). */
  async aliasAt(input: { model: string; alias: string; at: string; key?: string }): Promise<Outcome<AliasAt>> {
    if (!this.rooms.model.get()) return modelNotFound(input);
    return aliasOps.aliasAt(this.rooms, input);
  }

  async setAlias(
    input: Reasoned & { alias: string; value: AliasValue; expectedGeneration?: number },
  ): Promise<Written<AliasBody>> {
    return this.commit(() => aliasOps.setAlias(this.rooms, input));
  }

  async deleteAlias(input: Reasoned & { alias: string; admin: boolean }): Promise<Written<null>> {
    return this.commit(() => aliasOps.deleteAlias(this.rooms, input));
  }

  async rollbackAlias(input: Reasoned & { alias: string; toVersion?: number }): Promise<Written<AliasBody>> {
    return this.commit(() => aliasOps.rollbackAlias(this.rooms, input));
  }

  async swapAliases(input: Reasoned & { aliases: [string, string] }): Promise<Written<[AliasBody, AliasBody]>> {
    return this.commit(() => aliasOps.swapAliases(this.rooms, input));
  }

  async setStage(
    input: Reasoned & { version: number; stage: Stage; archiveExisting: boolean; grants?: readonly string[] },
  ): Promise<Written<VersionRecord>> {
    return this.commit(() => aliasOps.setStage(this.rooms, input));
  }

  /**
   * What `model@alias` resolves to now, from memory, else from this object's own SQLite (no
   * D1). The memory is emptied by every write, so it never outlives a change.
   */
  async resolveState(input: { model: string; alias: string }): Promise<Outcome<ResolveState>> {
    const known = this.resolved.get(input.alias);
    if (known) return { ok: true, value: known };
    const outcome = aliasOps.resolveNow(this.rooms, input.model, input.alias);
    if (outcome.ok) this.resolved.set(input.alias, outcome.value);
    return outcome;
  }

  // ---- gates and approvals ---------------------------------------------------------------

  async listGates(): Promise<GateBody[]> {
    return this.rooms.gates.all();
  }

  async setGate(input: Actor & { target: string; policy: GatePolicy }): Promise<Written<GateBody>> {
    return this.commit(() => gateOps.setGate(this.rooms, input));
  }

  async deleteGate(input: Actor & { target: string }): Promise<Written<null>> {
    return this.commit(() => gateOps.deleteGate(this.rooms, input));
  }

  /** The dry run: exactly what a promotion of `version` to `target` would get now. */
  async checkGate(input: { model: string; target: string; version: number }): Promise<Outcome<GateResult>> {
    const head = this.rooms.versions.head(input.version);
    if (!head) return versionNotFound(input);
    return { ok: true, value: gateOps.checkGate(this.rooms, input.target, [input.version]) };
  }

  async approve(
    input: Actor & { version: number; target: string; comment: string | null },
  ): Promise<Written<Approval>> {
    return this.commit(() => gateOps.approve(this.rooms, input));
  }

  async listApprovals(input: { model: string; version: number }): Promise<Outcome<Approval[]>> {
    if (!this.rooms.versions.head(input.version)) return versionNotFound(input);
    return { ok: true, value: this.rooms.gates.approvals(input.version) };
  }

  // ---- signatures --------------------------------------------------------------------------

  /**
   * What a signature of `version` is checked against: its files, once it is ready (404 when
   * there is no such version, 409 `version_not_ready` before). A ready version's files never
   * change, so a verdict reached on them holds when the signature is recorded.
   */
  async signingSubject(input: { model: string; version: number }): Promise<Outcome<ManifestEntry[]>> {
    const head = this.rooms.versions.head(input.version);
    if (!head) return versionNotFound(input);
    if (head.status !== "ready")
      return fail(
        "version_not_ready",
        `Version ${input.version} is ${head.status}: only a ready version's files are signed`,
      );
    return { ok: true, value: this.rooms.versions.files(input.version) };
  }

  async addSignature(input: signatureOps.AddSignatureInput): Promise<Written<signatureOps.AddedSignature>> {
    return this.commit(() => signatureOps.addSignature(this.rooms, input));
  }

  async deleteSignature(input: Actor & { version: number; id: string }): Promise<Written<null>> {
    return this.commit(() => signatureOps.deleteSignature(this.rooms, input));
  }

  /** A signing key was deleted: it vouches for no signature of this model from now on (src/signing/revocation.ts). */
  async revokeSigningKey(input: { model: string; keyId: string; at: string }): Promise<Written<{ struck: number }>> {
    return this.commit(() => signatureOps.revokeKey(this.rooms, input));
  }

  /** Whether a signature here is this bundle, whatever D1 shows yet (the bundle collector asks). */
  async holdsSignatureBundle(bundleSha256: string): Promise<boolean> {
    return this.rooms.signatures.holdsBundle(bundleSha256);
  }

  // ---- guards and signals ----------------------------------------------------------------

  async setGuard(input: Actor & { alias: string; policy: GuardPolicy }): Promise<Written<guardOps.GuardView>> {
    return this.commit(() => guardOps.setGuard(this.rooms, input));
  }

  async getGuard(input: { model: string; alias: string }): Promise<Outcome<guardOps.GuardView>> {
    return guardOps.getGuard(this.rooms, { ...input, now: Date.now() });
  }

  async deleteGuard(input: Actor & { alias: string }): Promise<Written<null>> {
    return this.commit(() => guardOps.deleteGuard(this.rooms, input));
  }

  /** Which aliases have a guard, the versions they serve and the metric: the Worker's filter for signals. */
  async guardedAliases(): Promise<guardOps.GuardedAlias[]> {
    return guardOps.guardedAliases(this.rooms);
  }

  /** A batch of signals (one Worker isolate's, for one alias, coalesced: the guard's metric per version). */
  async signal(input: {
    model: string;
    alias: string;
    metric: string;
    samples: guardOps.BatchSample[];
  }): Promise<Written<guardOps.SignalResult>> {
    return this.commit(() => guardOps.signal(this.rooms, { ...input, atMs: Date.now() }));
  }

  // ---- the fleet ----------------------------------------------------------------------------

  /**
   * A watch relay's summary of one alias's nodes (at most one a second per relay): it replaces
   * the relay's last one, and the fleet's events are decided on it (./fleet-ops.ts). It moves no
   * resolution, so it answers no `Written`: the relays call it from below the Worker's stub.
   */
  async recordFleet(input: { model: string; alias: string; relay: string; summary: FleetSummary }): Promise<void> {
    const driftAfterMs = config(this.env).FLEET_DRIFT_AFTER_S * 1000;
    await this.commit(() => fleetOps.recordSummary(this.rooms, input, Date.now(), driftAfterMs));
    this.armDriftCheck();
  }

  /** The fleet view of `alias`: the relays' summaries against what the alias intends now. */
  async fleet(input: { model: string; alias: string }): Promise<Outcome<Fleet>> {
    if (!this.rooms.model.get()) return modelNotFound(input);
    const facts = fleetOps.fleetOf(this.rooms, input.model, input.alias);
    return { ok: true, value: fleetOps.fleetView(input.model, input.alias, facts, Date.now()) };
  }

  /** The relays that may hold records of `alias`'s nodes: those that summarized them, and those attached to it. */
  async fleetRelays(input: { model: string; alias: string }): Promise<Outcome<string[]>> {
    if (!this.rooms.model.get()) return modelNotFound(input);
    const attached = this.rooms.relays.of([input.alias]).get(input.alias)?.relays ?? [];
    return { ok: true, value: [...new Set([...this.rooms.fleet.relays(input.alias), ...attached])].sort() };
  }

  // ---- retention ---------------------------------------------------------------------------

  /** The model's own policy, or null while the registry default applies. */
  async getRetention(input: { model: string }): Promise<Outcome<OwnRetention | null>> {
    return retentionOps.ownRetention(this.rooms, input);
  }

  async setRetention(input: Actor & { policy: RetentionPolicy }): Promise<Written<OwnRetention>> {
    return this.commit(() => retentionOps.setRetention(this.rooms, input));
  }

  async deleteRetention(input: Actor): Promise<Written<null>> {
    return this.commit(() => retentionOps.deleteRetention(this.rooms, input));
  }

  /** The preview: what `policy` (else the policy in force) would delete at `at`; changes nothing. */
  async previewRetention(
    input: retentionOps.RetentionInputs & { policy?: RetentionPolicy },
  ): Promise<Outcome<retentionOps.RetentionDecision>> {
    return retentionOps.planRetention(this.rooms, input);
  }

  /** The scheduled cleanup's step: decides and deletes in one transaction. */
  async applyRetention(
    input: retentionOps.RetentionInputs & { actor: string },
  ): Promise<Written<retentionOps.RetentionApplied>> {
    return this.commit(() => retentionOps.applyRetention(this.rooms, input));
  }

  // ---- rollouts ---------------------------------------------------------------------------

  /** Starts a rollout of `alias` to `version`, applying its first step (src/state/rollout-ops.ts). */
  async startRollout(
    input: Reasoned & { alias: string; version: number; steps: RolloutStep[]; minFleet: number },
  ): Promise<Written<Rollout>> {
    const now = this.clock();
    const outcome = await this.commit(() =>
      rolloutOps.startRollout(this.rooms, { ...input, at: timestamp(now) }, this.fleetShare, now),
    );
    this.armRollouts();
    return outcome;
  }

  async getRollout(input: { model: string; alias: string }): Promise<Outcome<Rollout>> {
    return rolloutOps.getRollout(this.rooms, input);
  }

  async pauseRollout(input: Reasoned & { alias: string }): Promise<Written<Rollout>> {
    const at = timestamp(this.clock());
    return this.commit(() => rolloutOps.pauseRollout(this.rooms, { ...input, at }));
  }

  async resumeRollout(input: Reasoned & { alias: string }): Promise<Written<Rollout>> {
    const now = this.clock();
    const outcome = await this.commit(() =>
      rolloutOps.resumeRollout(this.rooms, { ...input, at: timestamp(now) }, this.fleetShare, now),
    );
    this.armRollouts();
    return outcome;
  }

  async abortRollout(input: Reasoned & { alias: string }): Promise<Written<Rollout>> {
    const at = timestamp(this.clock());
    return this.commit(() => rolloutOps.abortRollout(this.rooms, { ...input, at }));
  }

  /**
   * The alarm's part for rollouts: each running rollout's decisions due now, each in its own
   * transaction, until it has nothing left to do; then the alarm is armed for the next.
   */
  private async driveRollouts(): Promise<void> {
    const now = this.clock();
    const model = this.rooms.model.get()?.name;
    if (model === undefined) return;
    for (const alias of rolloutOps.runningAliases(this.rooms)) {
      for (let i = 0; i < ROLLOUT_TICKS_PER_ALARM; i++) {
        let acted = false;
        await this.commit(() => {
          acted = rolloutOps.tickRollout(this.rooms, model, alias, now, this.fleetShare).acted;
          return { ok: true, value: null };
        });
        if (!acted) break;
      }
    }
    this.armRollouts();
  }

  /** Arms the alarm for the running rollouts' next decision, if any runs. */
  private armRollouts(): void {
    const wake = rolloutOps.rolloutWake(this.rooms, this.clock());
    if (wake !== null) this.armAlarm(wake);
  }

  // ---- watch ------------------------------------------------------------------------------

  /**
   * Watch: a WebSocket (hibernating) that gets the current Resolution, then one per change,
   * and is closed (4001) when the token that opened it expires (`expires` in ms) or, for a
   * minted token (`token`: its id), is revoked.
   */
  override async fetch(request: Request): Promise<Response> {
    const watcher = watcherOf(request);
    if (!watcher) return new Response("expected a WebSocket upgrade for a model's alias", { status: 400 });
    const { 0: client, 1: server } = new WebSocketPair();
    this.rooms.watch.accept(server, watcher);
    if (watcher.expiresAt !== undefined) this.armAlarm(watcher.expiresAt);
    if (watcher.tokenId !== undefined) this.armAlarm(Date.now() + REVOCATION_CHECK_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * A watch relay (src/state/watch-relay.ts) taking its first socket of `alias`: registered to
   * hear of the alias's changes from the next commit on, and told the state now, with the
   * fan-out sequence number it stands at. One synchronous step: no commit falls between.
   */
  async attachRelay(input: { model: string; alias: string; relay: string }): Promise<RelayAttachment> {
    return this.ctx.storage.transactionSync(() => {
      const seq = this.rooms.meta.counter("fanout");
      this.rooms.relays.attach(input.model, input.alias, input.relay, seq);
      return {
        seq,
        state: aliasOps.resolveNow(this.rooms, input.model, input.alias),
        generation: this.rooms.meta.counter("generation"),
        exists: this.rooms.model.get() !== null,
      };
    });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Clients may ping with any text; the answer is the current state.
    if (message === "ping") this.rooms.watch.current(ws);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // 1005 (no status) and 1006 (abnormal) describe a close; they cannot be sent back.
    ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  // ---- download counts ---------------------------------------------------------------------

  /**
   * Counts `n` downloads of `version`; the Worker calls this inside waitUntil, after the bytes
   * have started. D1 hears of it from the alarm, batched with every count of the next moment.
   */
  async countDownloads(input: { version: number; n: number }): Promise<void> {
    this.downloads.add(input.version, input.n);
    this.armAlarm(Date.now() + DOWNLOADS_BATCH_MS);
  }

  // ---- outbox and alarm -------------------------------------------------------------------

  /** Projects the outbox into D1 now; rejects if D1 refused (the alarm then keeps trying). */
  async flush(): Promise<void> {
    return this.rooms.outbox.flush();
  }

  /** Number of changes not yet in D1 (for tests and health checks). */
  async outboxDepth(): Promise<number> {
    return this.rooms.outbox.depth();
  }

  /**
   * The one alarm serves them all: the outbox's retries, event dispatch, closing sockets whose
   * tokens expired or were revoked, the fleet's drift checks and the rollouts' steps. Each part
   * arms it again for its own next moment (`armAlarm` keeps the earliest), so none loses its turn.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const next = await upkeepSockets(this.rooms.watch, this.env.DB, Date.now());
    if (next !== null) this.armAlarm(next);
    await this.checkDrifts();
    try {
      await this.driveRollouts();
    } catch (err) {
      console.error("a rollout's step failed; retrying", err);
      this.armAlarm(Date.now() + RETRY_DELAY_MS);
    }
    await this.resendStalledVerifications();
    try {
      await this.flush();
      await this.downloads.project(this.env.DB, this.rooms.model.get()?.name);
      await this.sendEvents();
    } catch (err) {
      console.error("outbox flush, download counts or event dispatch failed; retrying", err);
      this.armAlarm(Date.now() + RETRY_DELAY_MS);
    }
  }

  /** The fleet's drift checks due now (their events go out with this alarm's flush), and the alarm for the next. */
  private async checkDrifts(): Promise<void> {
    const model = this.rooms.model.get()?.name;
    const due = this.rooms.fleet.nextDriftDue();
    if (model !== undefined && due !== null && due <= Date.now()) {
      const driftAfterMs = config(this.env).FLEET_DRIFT_AFTER_S * 1000;
      await this.commit(() => fleetOps.checkDrifts(this.rooms, model, Date.now(), driftAfterMs));
    }
    this.armDriftCheck();
  }

  private armDriftCheck(): void {
    const due = this.rooms.fleet.nextDriftDue();
    if (due !== null) this.armAlarm(due);
  }

  /** Sends again the next step of each verification no step has moved lately; keeps watching while any is under way. */
  private async resendStalledVerifications(): Promise<void> {
    const now = Date.now();
    const stalled = uploadOps.stalledVerifications(this.rooms, new Date(now - VERIFY_STALL_MS).toISOString());
    const before = new Date(now - VERIFY_STALL_MS).toISOString();
    const sessions = blobSessionOps.stalledSessionVerifications(this.rooms, before);
    for (const upload of stalled) {
      await sendVerifyStep(this.env, upload).catch((err: unknown) =>
        console.error("re-sending a verification step failed; the next alarm retries", err),
      );
    }
    for (const session of sessions) {
      await sendSessionVerifyStep(this.env, session).catch((err: unknown) =>
        console.error("re-sending a session's verification step failed; the next alarm retries", err),
      );
    }
    if (this.rooms.uploads.verifying().length > 0 || this.rooms.blobSessions.verifying().length > 0)
      this.armAlarm(now + VERIFY_STALL_MS);
  }

  /** Puts the events D1 has taken on the queue, where webhooks are matched (src/queue/publish.ts). */
  private sendEvents(): Promise<void> {
    return this.rooms.outbox.sendEvents((events) => publish(this.env, events));
  }

  /**
   * Runs `decide` as one synchronous transaction. When it queued work for D1, the alarm is
   * armed in the same commit (no `await` in between), so the projection happens even if this
   * object is evicted right after; then the outbox is flushed before answering, so that a D1
   * read right after sees the write. A D1 failure does not fail the write; the alarm retries.
   * What the write moved for serving goes to the fan-out ports once committed, and back to
   * the caller as the outcome's `touched` (the Worker forgets its cached answers from it).
   * `decide` may answer `retry` instead (finalize, when a file changed while it hashed).
   */
  private commit<T>(decide: () => Outcome<T>): Promise<Written<T>>;
  private commit<T>(decide: () => Outcome<T> | "retry"): Promise<Written<T> | "retry">;
  private async commit<T>(decide: () => Outcome<T> | "retry"): Promise<Written<T> | "retry"> {
    const { outbox, changes } = this.rooms;
    changes.reset();
    outbox.changed = false;
    let seq = 0;
    const result = this.ctx.storage.transactionSync(() => {
      const decided = decide();
      // Numbers the changes relays hear of, in the same commit as the changes themselves.
      if (changes.moved) seq = this.rooms.meta.bump("fanout");
      return decided;
    });
    if (outbox.changed) this.armAlarm(Date.now() + RETRY_DELAY_MS);
    // Every change a resolution depends on is projected, so only those clear the memory
    // (a batch of guard signals that changes nothing else keeps it).
    if (outbox.changed) this.resolved.clear();
    const moved = changes.take();
    if (moved.changes.length > 0) for (const port of this.fanOut) port.publish(moved.changes, seq);
    if (outbox.changed) {
      try {
        await this.flush();
        // Webhooks hear of it after the write has answered: off the write path. The alarm
        // armed above retries a dispatch that fails.
        this.ctx.waitUntil(
          this.sendEvents().catch((err: unknown) => console.error("event dispatch failed; the alarm will retry", err)),
        );
      } catch (err) {
        console.error("outbox flush failed; the alarm will retry", err);
      }
    }
    return typeof result === "string" ? result : written(result, moved.touched);
  }

  /** Makes the alarm fire no later than `at` (a later one is brought forward, an earlier one kept). */
  private armAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((err: unknown) => console.error("setting the alarm failed", err));
  }
}
