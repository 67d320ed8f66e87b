/**
 * Scrubbing: the scheduled job re-reads stored blobs and re-hashes them, least recently verified
 * first, so that bytes that rotted in storage are found before anyone needs them. A blob whose
 * bytes no longer hash to its sha256 (or whose object is gone, or has another size) is marked
 * corrupt: downloads answer 503 instead of the wrong bytes (./download.ts), every model holding
 * it hears of it (`blob.corrupt`), and the next upload of its sha256 writes the right bytes over
 * it and heals it (./blob-store.ts). docs/operations.md "8. Scrubbing: stored bytes checked again" has the settings and
 * their arithmetic.
 *
 * Each run sets out to hash its share of the stored bytes (src/domain/scrub-pace.ts), at most
 * SCRUB_BYTES_PER_RUN, and makes at most `maxCalls` R2 and D1 calls: a deployed invocation is
 * bound by CPU time and subrequests, and a blob may be hundreds of GB. A blob that fits in what
 * is left of the run is hashed natively (`crypto.DigestStream`, ranges in flight); a larger one
 * is read in ranges through the plain TypeScript SHA-256, whose state is saved in D1 on the
 * blob's row as the run goes and at its end, and the next run goes on from there.
 *
 * Nothing is marked on a guess. The ranges of a blob hashed across runs are read under
 * `etagMatches` of the etag its first range had, so bytes replaced meanwhile start the hash
 * again. A verdict is given only under the address's lease, which every writer and the
 * collector hold: the blob must still be registered and sound, and R2 must still hold the very
 * object that was hashed (same etag; or none, for a missing one). A blob deleted while its scrub
 * was under way has no row any more (its progress went with it), so it is never marked.
 *
 * A blob is read where its row says it lies (./keys.ts `blobLocation`: a blob session's object,
 * or the content address); a blob healed meanwhile by bytes that lie elsewhere gets no verdict.
 */
import { auditEvent, REGISTRY_MODEL, type AuditEvent } from "../domain/audit";
import { Sha256 } from "../domain/sha256";
import { runTarget } from "../domain/scrub-pace";
import { config, type Config, type Env } from "../env";
import { dispatchPending } from "../events/dispatch";
import { BlobStore } from "./blob-store";
import { ScrubStore, type Holder, type ScrubBlob } from "./scrub-store";
import { hashInto } from "./sha256-stream";
import { readObject, type ObjectReader, type RangedReadOptions } from "./verify-read";

const MiB = 1024 * 1024;
const DAY_MS = 24 * 3600 * 1000;

export interface ScrubTuning {
  /**
   * Bytes per ranged read (R2 `get` with `range`), at least: a larger budget reads larger
   * ranges (a 64th of it, up to `MAX_RANGE`), so its reads stay within the cap on calls.
   */
  rangeSize: number;
  /** Ranged reads in flight while a blob is hashed natively, at `rangeSize` (fewer for larger ranges: the same window). */
  inFlight: number;
  /**
   * A blob hashed across runs has its state saved at least every this many bytes (or a 16th of
   * the budget, when more), not only at the run's end: a run the platform stops (CPU time)
   * loses at most this much work.
   */
  saveEvery: number;
  /**
   * The most R2 and D1 calls one run makes, each a subrequest: under half the 1,000 D1 queries a
   * Workers Paid invocation may make, leaving the rest to the cron's other jobs (src/cron/run.ts).
   */
  maxCalls: number;
}

/**
 * 16 MiB ranges: 64 reads for the default 1 GiB budget; a native read keeps 4 in flight (64 MiB
 * of buffers at most, half the isolate's memory limit).
 */
export const SCRUB_TUNING: ScrubTuning = { rangeSize: 16 * MiB, inFlight: 4, saveEvery: 256 * MiB, maxCalls: 450 };

/** The largest range read at once, whatever the budget. */
const MAX_RANGE = 256 * MiB;
/** A budget is read in about this many ranges (never in ranges smaller than `rangeSize`). */
const RANGES_PER_BUDGET = 64;
/** A budget's state is saved at least this many times a run. */
const SAVES_PER_BUDGET = 16;

/** Calls kept back for what ends a run: a verdict (lease, row, head, holders, mark, release, dispatch) and the run's records. */
const CLOSING_CALLS = 12;
/** Blobs read from D1 at a time. */
const PAGE = 50;
/** Each `blob.corrupt` event names at most this many files, and a verdict writes at most `MAX_EVENTS` events. */
const FILES_PER_EVENT = 500;
const MAX_EVENTS = 100;
/** How long a verdict holds the address's lease (its few calls take well under a second). */
const VERDICT_LEASE_MS = 60_000;

export interface ScrubReport {
  /** The bytes the run set out to hash: its share of the store, at most the budget. */
  target: number;
  /** The bytes it hashed. */
  bytes: number;
  /** Blobs it found sound, in the order it took them. */
  verified: string[];
  /** Blobs it marked corrupt. */
  corrupt: string[];
  /** Subrequests: R2's, and the others (D1, the queue). */
  calls: { r2: number; other: number };
  /** What ended the run: its share done, its calls spent, or no blob left that was due. */
  stopped: "target" | "calls" | "done";
}

/** What a hash found wrong with a blob's stored bytes, to be confirmed under the lease. */
type Finding =
  | { kind: "mismatch"; etag: string; actual: string }
  | { kind: "size"; etag: string; found: number }
  | { kind: "missing" };

export async function scrub(
  env: Env,
  now: Date = new Date(),
  tuning: ScrubTuning = SCRUB_TUNING,
): Promise<ScrubReport> {
  return new ScrubRun(env, now, tuning).run();
}

/** One scheduled run: what it may still spend, and what it found. */
class ScrubRun {
  private readonly at: string;
  private readonly cfg: Config;
  private readonly calls = { r2: 0, other: 0 };
  private readonly store: ScrubStore;
  private readonly leases: BlobStore;
  /** R2, each call counted. */
  private readonly bucket: ObjectReader;
  /** Bytes per ranged read, native reads' window, and how often a state is saved, for this budget. */
  private readonly rangeSize: number;
  private readonly reading: RangedReadOptions;
  private readonly saveEvery: number;
  /** Bytes the run may still hash. */
  private left = 0;
  private report: ScrubReport;
  /** Sound blobs not yet recorded as verified (written in one statement per batch of them). */
  private unrecorded: string[] = [];
  private unrecordedBytes = 0;

  constructor(
    private readonly env: Env,
    private readonly now: Date,
    private readonly tuning: ScrubTuning,
  ) {
    this.at = now.toISOString();
    this.cfg = config(env);
    // The collector's and the uploads' view: the primary.
    const d1 = env.DB.withSession("first-primary");
    this.store = new ScrubStore(d1, () => this.calls.other++);
    this.leases = new BlobStore(d1);
    const calls = this.calls;
    this.bucket = {
      head(key) {
        calls.r2++;
        return env.ARTIFACTS.head(key);
      },
      get: ((key: string, options?: R2GetOptions) => {
        calls.r2++;
        return env.ARTIFACTS.get(key, options);
      }) as R2Bucket["get"],
    };
    const budget = this.cfg.SCRUB_BYTES_PER_RUN;
    this.rangeSize = Math.max(tuning.rangeSize, Math.min(MAX_RANGE, Math.ceil(budget / RANGES_PER_BUDGET)));
    this.reading = {
      rangeSize: this.rangeSize,
      inFlight: Math.max(1, Math.floor((tuning.inFlight * tuning.rangeSize) / this.rangeSize)),
    };
    this.saveEvery = Math.max(tuning.saveEvery, Math.ceil(budget / SAVES_PER_BUDGET));
    this.report = { target: 0, bytes: 0, verified: [], corrupt: [], calls: this.calls, stopped: "done" };
  }

  private callsLeft(): number {
    return this.tuning.maxCalls - this.calls.r2 - this.calls.other;
  }

  async run(): Promise<ScrubReport> {
    const plan = await this.store.plan();
    const target = runTarget({
      budget: this.cfg.SCRUB_BYTES_PER_RUN,
      scrubDays: this.cfg.SCRUB_DAYS,
      now: this.now.getTime(),
      ...plan,
    });
    this.report.target = target;
    this.left = target;
    this.report.stopped = await this.scan();
    await this.record();
    if (this.report.corrupt.length > 0) {
      this.calls.other += 3; // pending events read, sent to the queue, deleted
      // The cron's own dispatch retries what fails here.
      await dispatchPending(this.env).catch((err: unknown) =>
        console.error("scrub: dispatching blob.corrupt failed", err),
      );
    }
    const keepFrom = new Date(this.now.getTime() - 2 * Math.max(this.cfg.SCRUB_DAYS, 1) * DAY_MS).toISOString();
    await this.store.recordRun(
      {
        at: this.at,
        target,
        bytes: this.report.bytes,
        verified: this.report.verified.length,
        corrupt: this.report.corrupt.length,
        calls: this.calls.r2 + this.calls.other + 1,
        oldestCheck: plan.oldestCheck,
      },
      keepFrom,
    );
    return this.report;
  }

  /** Takes the blobs least recently verified first until the run's share or its calls are spent. */
  private async scan(): Promise<ScrubReport["stopped"]> {
    let after: ScrubBlob | null = null;
    for (;;) {
      if (this.left <= 0) return "target";
      if (this.callsLeft() < 1 + CLOSING_CALLS) return "calls";
      const page = await this.store.next(after, this.at, PAGE);
      for (const blob of page) {
        if (this.left <= 0) return "target";
        // Natively when it fits in what is left of the run's bytes and calls (and perhaps a
        // write of the blobs verified so far); else range by range, as far as those allow.
        const wholeCalls = 1 + Math.ceil(blob.size / this.rangeSize);
        if (blob.progress === null && blob.size <= this.left && wholeCalls + 1 + CLOSING_CALLS <= this.callsLeft())
          await this.whole(blob);
        else if ((await this.inParts(blob)) === "calls") return "calls";
        after = blob;
      }
      if (page.length < PAGE) return "done";
    }
  }

  /** A blob that fits in what is left of the run, hashed natively. */
  private async whole(blob: ScrubBlob): Promise<void> {
    const read = await readObject(this.bucket, blob.key, blob.size, this.reading);
    if (read.kind === "read" || read.kind === "replaced") {
      this.left -= blob.size;
      this.report.bytes += blob.size;
    }
    switch (read.kind) {
      case "read":
        if (read.sha256 === blob.sha256) return this.sound(blob);
        return this.judge(blob, { kind: "mismatch", etag: read.etag, actual: read.sha256 });
      case "missing":
        return this.judge(blob, { kind: "missing" });
      case "size":
        return this.judge(blob, { kind: "size", etag: read.etag, found: read.found });
      case "replaced":
        // Written while it was read: what is there now is taken by a later run.
        return;
    }
  }

  /**
   * A blob larger than what is left of the run, or under way already: its ranges through the
   * resumable hash, from where the last run left it, as far as this run may go. "calls" when
   * the run's calls ran out first.
   */
  private async inParts(blob: ScrubBlob): Promise<"calls" | void> {
    const key = blob.key;
    let saved = blob.progress;
    let hash = resumed(saved);
    if (saved && !hash) {
      // A state that cannot be taken up (written by another version of this code): start again.
      await this.store.resetProgress(blob.sha256);
      saved = null;
    }
    hash ??= new Sha256();
    let etag = saved?.etag ?? null;
    let unsaved = 0;
    const save = async () => {
      const to = { offset: hash.bytes, etag: etag!, state: hash.save() };
      const took = await this.store.saveProgress(blob.sha256, saved, to);
      saved = to;
      unsaved = 0;
      return took;
    };
    while (hash.bytes < blob.size && this.left > 0) {
      // A range, and perhaps a save of the state or of the blobs verified so far.
      if (this.callsLeft() < 2 + CLOSING_CALLS) {
        if (unsaved > 0) await save();
        return "calls";
      }
      const offset = hash.bytes;
      const length = Math.min(this.rangeSize, blob.size - offset, this.left);
      const got = await this.bucket.get(key, {
        range: { offset, length },
        ...(etag !== null ? { onlyIf: { etagMatches: etag } } : {}),
      });
      if (got === null) return this.judge(blob, { kind: "missing" });
      if (!("body" in got)) {
        // Not the object the hash began on any more: begin again on a later run.
        return this.store.resetProgress(blob.sha256);
      }
      if (got.size !== blob.size) {
        await got.body.cancel();
        return this.judge(blob, { kind: "size", etag: got.etag, found: got.size });
      }
      etag ??= got.etag;
      const read = await hashInto(got.body, hash);
      if (read !== length) throw new Error(`R2 answered ${read} bytes for a range of ${length} of ${key}`);
      this.left -= length;
      this.report.bytes += length;
      unsaved += length;
      if (hash.bytes < blob.size && unsaved >= this.saveEvery && !(await save())) return;
    }
    if (hash.bytes < blob.size) {
      if (unsaved > 0) await save();
      return;
    }
    const actual = hash.digestHex();
    if (actual === blob.sha256) return this.sound(blob);
    return this.judge(blob, { kind: "mismatch", etag: etag!, actual });
  }

  private async sound(blob: ScrubBlob): Promise<void> {
    this.report.verified.push(blob.sha256);
    this.unrecorded.push(blob.sha256);
    this.unrecordedBytes += blob.size;
    if (this.unrecorded.length >= PAGE || this.unrecordedBytes >= this.saveEvery) await this.record();
  }

  private async record(): Promise<void> {
    await this.store.verified(this.unrecorded, this.at);
    this.unrecorded = [];
    this.unrecordedBytes = 0;
  }

  /** Confirms a finding under the address's lease and marks the blob corrupt; anything changed meanwhile: no verdict. */
  private async judge(blob: ScrubBlob, finding: Finding): Promise<void> {
    this.calls.other += 2; // the lease and its release
    const outcome = await this.leases.withLease(blob.sha256, VERDICT_LEASE_MS, async () => {
      const key = await this.store.soundKey(blob.sha256);
      if (key === null) return false;
      // Healed meanwhile by bytes uploaded elsewhere: what was read is not the blob any more.
      const head = key === blob.key ? await this.bucket.head(key) : undefined;
      const stands = head !== undefined && (finding.kind === "missing" ? head === null : head?.etag === finding.etag);
      if (!stands) {
        await this.store.resetProgress(blob.sha256);
        return false;
      }
      const holders = await this.store.holders(blob.sha256, FILES_PER_EVENT * MAX_EVENTS + 1);
      return this.store.markCorrupt(blob.sha256, this.at, corruptionEvents(blob, finding, holders, this.at));
    });
    if (outcome.held && outcome.value) this.report.corrupt.push(blob.sha256);
  }
}

/** The hash a saved state takes up again, or null when there is none or it cannot be read. */
function resumed(progress: ScrubBlob["progress"]): Sha256 | null {
  if (!progress) return null;
  try {
    const hash = Sha256.restore(progress.state);
    return hash.bytes === progress.offset ? hash : null;
  } catch {
    return null;
  }
}

const findingText = (blob: ScrubBlob, finding: Finding): string => {
  switch (finding.kind) {
    case "mismatch":
      return `hash to ${finding.actual}`;
    case "size":
      return `are ${finding.found} bytes, not ${blob.size}`;
    case "missing":
      return "are gone";
  }
};

/**
 * The `blob.corrupt` events of a verdict: one per model holding the bytes (more for a model with
 * more than FILES_PER_EVENT such files), each naming only that model's versions and paths, so a
 * reader or webhook limited to some models learns of theirs and nothing of others'; bytes no
 * file holds (awaiting collection) get one registry-level event, which only unrestricted readers
 * see. A verdict names at most MAX_EVENTS × FILES_PER_EVENT files (`truncated` says when more).
 */
function corruptionEvents(blob: ScrubBlob, finding: Finding, holders: Holder[], at: string): AuditEvent[] {
  const truncated = holders.length > FILES_PER_EVENT * MAX_EVENTS;
  const found =
    finding.kind === "mismatch"
      ? { sha256: finding.actual }
      : finding.kind === "size"
        ? { size: finding.found }
        : { missing: true };
  const event = (model: string, files: Holder[]) =>
    auditEvent({
      at,
      actor: "scrub",
      action: "blob.corrupt",
      model,
      reason: `The stored bytes of ${blob.sha256} ${findingText(blob, finding)}: they are not served until a file with these bytes is uploaded again`,
      detail: {
        sha256: blob.sha256,
        size: blob.size,
        found,
        versions: files.map(({ version, path }) => ({ version, path })),
      },
    });
  if (holders.length === 0) return [event(REGISTRY_MODEL, [])];
  const events: AuditEvent[] = [];
  const byModel = new Map<string, Holder[]>();
  for (const h of holders.slice(0, FILES_PER_EVENT * MAX_EVENTS)) {
    const files = byModel.get(h.model);
    if (files) files.push(h);
    else byModel.set(h.model, [h]);
  }
  for (const [model, files] of byModel)
    for (let i = 0; i < files.length && events.length < MAX_EVENTS; i += FILES_PER_EVENT)
      events.push(event(model, files.slice(i, i + FILES_PER_EVENT)));
  if (truncated) {
    const last = events[events.length - 1]!;
    events[events.length - 1] = { ...last, detail: { ...(last.detail as object), truncated: true } };
  }
  return events;
}
