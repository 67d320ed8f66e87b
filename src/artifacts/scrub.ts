/**
 * Scrubbing: the scheduled job re-reads stored blobs and re-hashes them, least recently verified
 * first, so that bytes that rotted in storage are found before anyone needs them. A blob whose
 * bytes no longer hash to its sha256 (or whose object is gone, or has another size) is marked
 * corrupt: downloads answer 503 instead of the wrong bytes (./download.ts), every model holding
 * it hears of it (`blob.corrupt`), and the next upload of its sha256 writes the right bytes over
 * it and heals it (./blob-store.ts). docs/operations.md ("Scrubbing") has the settings and
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
 */
import { auditEvent, REGISTRY_MODEL, type AuditEvent } from "../domain/audit";
import { Sha256 } from "../domain/sha256";
import { runTarget } from "../domain/scrub-pace";
import { config, type Env } from "../env";
import { dispatchPending } from "../events/dispatch";
import { BlobStore } from "./blob-store";
import { blobKey } from "./keys";
import { ScrubStore, type Holder, type ScrubBlob } from "./scrub-store";
import { readObject, type ObjectReader } from "./verify-read";

const MiB = 1024 * 1024;

export interface ScrubTuning {
  /** Bytes per ranged read (R2 `get` with `range`). */
  rangeSize: number;
  /** Ranged reads in flight while a blob is hashed natively. */
  inFlight: number;
  /**
   * A blob hashed across runs has its state saved at least every this many bytes, not only at
   * the run's end: a run the platform stops (CPU time) loses at most this much work.
   */
  saveEvery: number;
  /**
   * The most R2 and D1 calls one run makes, each a subrequest: well inside the 1,000 a
   * scheduled invocation may make on the free plan (10,000 paid), beside the rest of the cron.
   */
  maxCalls: number;
}

/**
 * 16 MiB ranges: 64 reads for the default 1 GiB budget; a native read keeps 4 in flight (64 MiB
 * of buffers at most, half the isolate's memory limit, which the download path's readahead also
 * stays under).
 */
export const SCRUB_TUNING: ScrubTuning = { rangeSize: 16 * MiB, inFlight: 4, saveEvery: 256 * MiB, maxCalls: 500 };

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
  const cfg = config(env);
  const at = now.toISOString();
  const calls = { r2: 0, other: 0 };
  const callsLeft = () => tuning.maxCalls - calls.r2 - calls.other;
  // The collector's and the uploads' view: the primary.
  const d1 = env.DB.withSession("first-primary");
  const store = new ScrubStore(d1, () => calls.other++);
  const leases = new BlobStore(d1);
  const bucket: ObjectReader = {
    head(key) {
      calls.r2++;
      return env.ARTIFACTS.head(key);
    },
    get: ((key: string, options?: R2GetOptions) => {
      calls.r2++;
      return env.ARTIFACTS.get(key, options);
    }) as R2Bucket["get"],
  };

  const plan = await store.plan();
  const target = runTarget({ budget: cfg.SCRUB_BYTES_PER_RUN, scrubDays: cfg.SCRUB_DAYS, now: now.getTime(), ...plan });
  const report: ScrubReport = { target, bytes: 0, verified: [], corrupt: [], calls, stopped: "done" };
  let left = target;
  /** Sound blobs not yet recorded as verified (written in one statement per batch of them). */
  let unrecorded: string[] = [];
  let unrecordedBytes = 0;
  const record = async () => {
    await store.verified(unrecorded, at);
    unrecorded = [];
    unrecordedBytes = 0;
  };
  const sound = async (blob: ScrubBlob) => {
    report.verified.push(blob.sha256);
    unrecorded.push(blob.sha256);
    unrecordedBytes += blob.size;
    if (unrecorded.length >= PAGE || unrecordedBytes >= tuning.saveEvery) await record();
  };

  /** Confirms a finding under the address's lease and marks the blob corrupt; anything changed meanwhile: no verdict. */
  const judge = async (blob: ScrubBlob, finding: Finding) => {
    calls.other += 2; // the lease and its release
    const outcome = await leases.withLease(blob.sha256, VERDICT_LEASE_MS, async () => {
      if (!(await store.isSound(blob.sha256))) return false;
      const head = await bucket.head(blobKey(blob.sha256));
      const stands = finding.kind === "missing" ? head === null : head?.etag === finding.etag;
      if (!stands) {
        await store.resetProgress(blob.sha256);
        return false;
      }
      const holders = await store.holders(blob.sha256, FILES_PER_EVENT * MAX_EVENTS + 1);
      return store.markCorrupt(blob.sha256, at, corruptionEvents(blob, finding, holders, at));
    });
    if (outcome.held && outcome.value) report.corrupt.push(blob.sha256);
  };

  /** A blob that fits in what is left of the run, hashed natively. */
  const whole = async (blob: ScrubBlob) => {
    const read = await readObject(bucket, blobKey(blob.sha256), blob.size, tuning);
    if (read.kind === "read" || read.kind === "replaced") {
      left -= blob.size;
      report.bytes += blob.size;
    }
    switch (read.kind) {
      case "read":
        if (read.sha256 === blob.sha256) await sound(blob);
        else await judge(blob, { kind: "mismatch", etag: read.etag, actual: read.sha256 });
        return;
      case "missing":
        return judge(blob, { kind: "missing" });
      case "size":
        return judge(blob, { kind: "size", etag: read.etag, found: read.found });
      case "replaced":
        // Written while it was read: what is there now is taken by a later run.
        return;
    }
  };

  /**
   * A blob larger than what is left of the run, or under way already: its ranges through the
   * resumable hash, from where the last run left it, as far as this run may go.
   */
  const inParts = async (blob: ScrubBlob): Promise<"calls" | undefined> => {
    const key = blobKey(blob.sha256);
    let saved = blob.progress;
    let hash = resumed(saved);
    if (saved && !hash) {
      // A state that cannot be taken up (written by another version of this code): start again.
      await store.resetProgress(blob.sha256);
      saved = null;
    }
    hash ??= new Sha256();
    let etag = saved?.etag ?? null;
    let unsaved = 0;
    const save = async () => {
      const to = { offset: hash.bytes, etag: etag!, state: hash.save() };
      const took = await store.saveProgress(blob.sha256, saved, to);
      saved = to;
      unsaved = 0;
      return took;
    };
    while (hash.bytes < blob.size) {
      if (left <= 0) break;
      // A range, and perhaps a save of the state or of the blobs verified so far.
      if (callsLeft() < 2 + CLOSING_CALLS) {
        if (unsaved > 0) await save();
        return "calls";
      }
      const offset = hash.bytes;
      const length = Math.min(tuning.rangeSize, blob.size - offset, left);
      const got = await bucket.get(key, {
        range: { offset, length },
        ...(etag !== null ? { onlyIf: { etagMatches: etag } } : {}),
      });
      if (got === null) {
        await judge(blob, { kind: "missing" });
        return;
      }
      if (!("body" in got)) {
        // Not the object the hash began on any more: begin again on a later run.
        await store.resetProgress(blob.sha256);
        return;
      }
      if (got.size !== blob.size) {
        await got.body.cancel();
        await judge(blob, { kind: "size", etag: got.etag, found: got.size });
        return;
      }
      etag ??= got.etag;
      const read = await hashInto(got.body, hash);
      if (read !== length) throw new Error(`R2 answered ${read} bytes for a range of ${length} of ${key}`);
      left -= length;
      report.bytes += length;
      unsaved += length;
      if (hash.bytes < blob.size && unsaved >= tuning.saveEvery && !(await save())) return;
    }
    if (hash.bytes < blob.size) {
      if (unsaved > 0) await save();
      return;
    }
    const actual = hash.digestHex();
    if (actual === blob.sha256) await sound(blob);
    else await judge(blob, { kind: "mismatch", etag: etag!, actual });
  };

  let after: ScrubBlob | null = null;
  scan: for (;;) {
    if (left <= 0) {
      report.stopped = "target";
      break;
    }
    if (callsLeft() < 1 + CLOSING_CALLS) {
      report.stopped = "calls";
      break;
    }
    const page = await store.next(after, at, PAGE);
    for (const blob of page) {
      if (left <= 0) {
        report.stopped = "target";
        break scan;
      }
      if (blob.progress === null && blob.size <= left) {
        // A head, one ranged read per range, and perhaps a write of the blobs verified so far.
        if (callsLeft() < 2 + Math.max(1, Math.ceil(blob.size / tuning.rangeSize)) + CLOSING_CALLS) {
          report.stopped = "calls";
          break scan;
        }
        await whole(blob);
      } else if ((await inParts(blob)) === "calls") {
        report.stopped = "calls";
        break scan;
      }
      after = blob;
    }
    if (page.length < PAGE) break;
  }
  await record();
  if (report.corrupt.length > 0) {
    calls.other += 3; // pending events read, sent to the queue, deleted
    // The cron's own dispatch retries what fails here.
    await dispatchPending(env).catch((err: unknown) => console.error("scrub: dispatching blob.corrupt failed", err));
  }
  const keepFrom = new Date(now.getTime() - 2 * Math.max(cfg.SCRUB_DAYS, 1) * 24 * 3600 * 1000).toISOString();
  await store.recordRun(
    {
      at,
      target,
      bytes: report.bytes,
      verified: report.verified.length,
      corrupt: report.corrupt.length,
      calls: calls.r2 + calls.other + 1,
      oldestCheck: plan.oldestCheck,
    },
    keepFrom,
  );
  return report;
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

/** Feeds a body into `hash` chunk by chunk; returns how many bytes it had. */
async function hashInto(body: ReadableStream<Uint8Array>, hash: Sha256): Promise<number> {
  const reader = body.getReader();
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return read;
    hash.update(value);
    read += value.byteLength;
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
