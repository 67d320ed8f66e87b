/**
 * The scheduled cleanup (cron in wrangler.toml): aborts multipart uploads past `expires_at`,
 * applies retention policies (src/retention/apply.ts), deletes the bytes of blobs no version
 * (nor kept OCI manifest) has referenced for BLOB_GC_GRACE_S, and removes what crashed or
 * refused requests left behind: bytes at a content address never registered, staged objects,
 * blob sessions' objects no blob lies in, and OCI manifest bytes no kept manifest names. Retention runs before
 * collection, so the bytes of the versions it deletes start their grace period in the same run.
 *
 * One run is one invocation, bound by subrequests and CPU time (docs/operations.md "9. Limits: what a deployment meets"),
 * whatever the size of the store: it makes at most `maxCalls` R2, D1 and Durable Object calls.
 * What it leaves is taken by the next run: expired uploads and unreferenced blobs stay
 * candidates in D1 until handled, and the four sweeps of R2 listings (orphaned content, staged
 * leftovers, sessions' leftovers, unnamed OCI manifests) save the last key they looked at (`sweep_cursors`) and go on after it, starting
 * again from the beginning once a sweep reached the end.
 */
import { config, type Env } from "../env";
import { applyRetention, type RetentionReport } from "../retention/apply";
import { modelState, unwrap } from "../model-writes/stub";
import { BlobStore } from "./blob-store";
import { abortR2Uploads } from "../model-writes/r2-aborts";
import { BLOB_PREFIX, OCI_MANIFEST_PREFIX, SESSION_PREFIX, STAGING_PREFIX } from "./keys";

export interface CleanupReport {
  expiredUploads: number;
  retention: RetentionReport;
  deletedBlobs: number;
  /** Objects under `blobs/` that D1 never registered (a crash between their write and their registration). */
  deletedOrphans: number;
  deletedStaged: number;
  /** Objects under `sessions/` no blob lies in, past any use by their session (src/artifacts/keys.ts). */
  deletedSessionObjects: number;
  /** Bytes of OCI manifests no kept manifest names (a push refused after they were written). */
  deletedManifests: number;
  /** Calls made (R2, D1, Durable Objects), at most `maxCalls` but for the retention step's own. */
  calls: number;
  /** Whether the run stopped on its calls, leaving work to the next run. */
  stopped: "done" | "calls";
}

export interface CleanupTuning {
  /** The most calls one run makes: with the scrub's 500 after it, within the 1,000 subrequests of a free plan's invocation. */
  maxCalls: number;
  /** Keys per page of an R2 listing (R2 answers at most 1,000). */
  listLimit: number;
  /** Expired uploads' models and unreferenced blobs read from D1 at once. */
  page: number;
}

export const CLEANUP_TUNING: CleanupTuning = { maxCalls: 300, listLimit: 1000, page: 50 };

/** Staged objects older than this are leftovers of a request that died. */
const STAGED_MAX_AGE_MS = 24 * 3600 * 1000;
/** Calls one blob's collection may take: its model asked, the lease, the row, the bytes, the release. */
const PER_BLOB = 5;

export async function cleanup(
  env: Env,
  now: Date = new Date(),
  tuning: CleanupTuning = CLEANUP_TUNING,
): Promise<CleanupReport> {
  const cfg = config(env);
  // The collector decides on the newest state: its session starts at the primary.
  const blobs = new BlobStore(env.DB.withSession("first-primary"));
  let calls = 0;
  const left = () => tuning.maxCalls - calls;
  let stopped: CleanupReport["stopped"] = "done";

  let expiredUploads = 0;
  calls += 1;
  for (const model of await blobs.modelsWithExpiredUploads(now.toISOString(), tuning.page)) {
    if (left() < 2) {
      stopped = "calls";
      break;
    }
    const { aborts } = unwrap(
      await modelState(env, model).expireUploads({ model, actor: "cleanup", at: now.toISOString() }),
    );
    await abortR2Uploads(env.ARTIFACTS, aborts);
    calls += 1 + aborts.length;
    expiredUploads += aborts.length;
  }

  const retention = await applyRetention(env, now);

  // Each deletion holds the address's lease, so no upload writes there meanwhile.
  let deletedBlobs = 0;
  calls += 2;
  for (const { sha256, claimedBy } of await blobs.unreferencedSince(now, cfg.BLOB_GC_GRACE_S, tuning.page)) {
    if (left() < PER_BLOB) {
      stopped = "calls";
      break;
    }
    calls += PER_BLOB;
    // D1 may not show a reference its model's outbox still holds (D1 trailing, a stalled
    // flush): the model that last took these bytes is asked itself, from its own SQLite.
    if (claimedBy !== null && (await modelState(env, claimedBy).holdsBlob(sha256, now.toISOString()))) continue;
    // Not held: an upload is writing there, so the blob is wanted again; the next run looks again.
    await blobs.withLease(sha256, 60_000, async () => {
      const key = await blobs.forget(sha256, now, cfg.BLOB_GC_GRACE_S);
      if (key === null) return;
      await env.ARTIFACTS.delete(key);
      deletedBlobs += 1;
    });
  }

  /**
   * Goes through an R2 listing from where the last run stopped, a page at a time, handing each
   * page to `handle` (which says how many calls it made, and how far it got); saves where it
   * stopped. False when it ran out of calls.
   */
  const sweep = async (
    name: string,
    prefix: string,
    handle: (objects: R2Object[], callsLeft: number) => Promise<{ calls: number; upTo: number }>,
  ): Promise<boolean> => {
    // Where it stopped, read and saved, and at least one page listed.
    if (left() < 3) return false;
    calls += 2;
    let after = await blobs.sweptTo(name);
    let done = false;
    while (left() >= 1) {
      const page = await env.ARTIFACTS.list({
        prefix,
        limit: tuning.listLimit,
        ...(after ? { startAfter: after } : {}),
      });
      calls += 1;
      const handled = await handle(page.objects, left());
      calls += handled.calls;
      if (handled.upTo > 0) after = page.objects[handled.upTo - 1]!.key;
      if (handled.upTo < page.objects.length) break;
      if (!page.truncated) {
        done = true;
        break;
      }
    }
    await blobs.saveSweep(name, done ? null : after, now.toISOString());
    return done;
  };

  // Bytes written at a content address whose registration never happened: the request died
  // (a crash) between R2's write and D1's row, or a corrupt blob was healed by bytes that lie
  // elsewhere and the request died before deleting these. Nothing can reference them (a file is
  // listed only on a registered blob, read where its row says), so past the grace period, which
  // no request lasts, they go, under the address's lease and after a second look. One D1 query
  // per page of the listing (R2 cannot list by age): 1,000 blobs cost one list operation.
  let deletedOrphans = 0;
  const graceMs = cfg.BLOB_GC_GRACE_S * 1000;
  const orphansDone = await sweep("orphans", BLOB_PREFIX, async (objects, callsLeft) => {
    const old = objects.filter((o) => now.getTime() - o.uploaded.getTime() > graceMs);
    if (old.length > 0 && callsLeft < 1) return { calls: 0, upTo: 0 };
    const known = await blobs.namedKeys(old.map((o) => o.key));
    let used = old.length > 0 ? 1 : 0;
    let upTo = 0;
    for (const o of objects) {
      const sha256 = o.key.slice(BLOB_PREFIX.length);
      if (old.includes(o) && !known.has(o.key)) {
        if (callsLeft - used < PER_BLOB) break;
        used += PER_BLOB;
        await blobs.withLease(sha256, 60_000, async () => {
          // Under the lease no upload writes here; one may have registered or rewritten it meanwhile.
          if ((await blobs.namedKeys([o.key])).has(o.key)) return;
          const head = await env.ARTIFACTS.head(o.key);
          if (!head || now.getTime() - head.uploaded.getTime() <= graceMs) return;
          await env.ARTIFACTS.delete(o.key);
          deletedOrphans += 1;
        });
      }
      upTo += 1;
    }
    return { calls: used, upTo };
  });

  /**
   * Deletes the objects of a page older than `maxAgeMs` that no blob lies in: one D1 query and
   * one R2 call when there are some. Every object here was written by one request for itself, so
   * past the age no request is still on its way to registering one (a blob session's end holds it
   * at most its `UPLOAD_TTL_S` and the read of its bytes).
   */
  const unnamedOlderThan = (maxAgeMs: number) => async (objects: R2Object[], callsLeft: number) => {
    const stale = objects.filter((o) => now.getTime() - o.uploaded.getTime() > maxAgeMs).map((o) => o.key);
    if (stale.length === 0) return { calls: 0, upTo: objects.length, deleted: 0 };
    if (callsLeft < 2) return { calls: 0, upTo: 0, deleted: 0 };
    const named = await blobs.namedKeys(stale);
    const unnamed = stale.filter((k) => !named.has(k));
    if (unnamed.length > 0) await env.ARTIFACTS.delete(unnamed);
    return { calls: unnamed.length > 0 ? 2 : 1, upTo: objects.length, deleted: unnamed.length };
  };

  // Staged leftovers. Sessions opened before blobs could lie elsewhere assembled here
  // (`staging/session-<id>`) and may have become blobs where they lie: those are kept.
  let deletedStaged = 0;
  const staged = unnamedOlderThan(STAGED_MAX_AGE_MS);
  const stagedDone = await sweep("staging", STAGING_PREFIX, async (objects, callsLeft) => {
    const handled = await staged(objects, callsLeft);
    deletedStaged += handled.deleted;
    return handled;
  });

  // What blob sessions left: scratch objects, and assemblies that never became a blob (the
  // session was abandoned or expired, or its end died before the blob's row was written).
  let deletedSessionObjects = 0;
  const sessionLeftovers = unnamedOlderThan(cfg.UPLOAD_TTL_S * 1000 + STAGED_MAX_AGE_MS);
  const sessionsDone = await sweep("sessions", SESSION_PREFIX, async (objects, callsLeft) => {
    const handled = await sessionLeftovers(objects, callsLeft);
    deletedSessionObjects += handled.deleted;
    return handled;
  });

  // A manifest's bytes are written before its model's object records it; a push refused then
  // (unknown blobs, a gate) leaves them named by nobody. Past a day no push is still on its way.
  let deletedManifests = 0;
  const manifestsDone = await sweep("manifests", OCI_MANIFEST_PREFIX, async (objects, callsLeft) => {
    const old = objects.filter((o) => now.getTime() - o.uploaded.getTime() > STAGED_MAX_AGE_MS);
    if (old.length === 0) return { calls: 0, upTo: objects.length };
    if (callsLeft < 2) return { calls: 0, upTo: 0 };
    const kept = await blobs.manifestsKept(old.map((o) => o.key.slice(OCI_MANIFEST_PREFIX.length)));
    const unnamed = old.filter((o) => !kept.has(o.key.slice(OCI_MANIFEST_PREFIX.length))).map((o) => o.key);
    if (unnamed.length > 0) await env.ARTIFACTS.delete(unnamed);
    deletedManifests += unnamed.length;
    return { calls: unnamed.length > 0 ? 2 : 1, upTo: objects.length };
  });
  if (!orphansDone || !stagedDone || !sessionsDone || !manifestsDone) stopped = "calls";
  return {
    expiredUploads,
    retention,
    deletedBlobs,
    deletedOrphans,
    deletedStaged,
    deletedSessionObjects,
    deletedManifests,
    calls,
    stopped,
  };
}
