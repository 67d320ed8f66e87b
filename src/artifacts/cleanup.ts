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
import { sweepListing } from "./sweep";
import { CallBudget } from "../domain/call-budget";
import { SweepCursors } from "../db/sweep-cursors";

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
  /** Calls made (R2, D1, Durable Objects), at most `maxCalls`; retention's are its own (`retentionCalls`). */
  calls: number;
  /** Whether the run stopped on its calls, leaving work to the next run. */
  stopped: "done" | "calls";
}

export interface CleanupTuning {
  /** The most calls one run makes: its share of the scheduled run's (src/cron/run.ts). */
  maxCalls: number;
  /** Keys per page of an R2 listing (R2 answers at most 1,000). */
  listLimit: number;
  /** Expired uploads' models and unreferenced blobs read from D1 at once. */
  page: number;
  /** The most calls retention's pass over the models makes in one run (src/retention/apply.ts). */
  retentionCalls: number;
}

export const CLEANUP_TUNING: CleanupTuning = { maxCalls: 300, listLimit: 1000, page: 50, retentionCalls: 40 };

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
  const calls = new CallBudget(tuning.maxCalls);
  let stopped: CleanupReport["stopped"] = "done";

  let expiredUploads = 0;
  calls.spend(1);
  for (const model of await blobs.modelsWithExpiredUploads(now.toISOString(), tuning.page)) {
    if (!calls.allows(2)) {
      stopped = "calls";
      break;
    }
    const { aborts } = unwrap(
      await modelState(env, model).expireUploads({ model, actor: "cleanup", at: now.toISOString() }),
    );
    await abortR2Uploads(env.ARTIFACTS, aborts);
    calls.spend(1 + aborts.length);
    expiredUploads += aborts.length;
  }

  const retention = await applyRetention(env, now, new CallBudget(tuning.retentionCalls));

  // Each deletion holds the address's lease, so no upload writes there meanwhile.
  let deletedBlobs = 0;
  calls.spend(2);
  for (const { sha256, claimedBy } of await blobs.unreferencedSince(now, cfg.BLOB_GC_GRACE_S, tuning.page)) {
    if (!calls.allows(PER_BLOB)) {
      stopped = "calls";
      break;
    }
    calls.spend(PER_BLOB);
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

  const sweep = (name: string, prefix: string, handle: (objects: R2Object[]) => Promise<number>) =>
    sweepListing(
      env.ARTIFACTS,
      new SweepCursors(env.DB.withSession("first-primary")),
      calls,
      { name, prefix, listLimit: tuning.listLimit, at: now.toISOString() },
      handle,
    );

  // Bytes written at a content address whose registration never happened: the request died
  // (a crash) between R2's write and D1's row, or a corrupt blob was healed by bytes that lie
  // elsewhere and the request died before deleting these. Nothing can reference them (a file is
  // listed only on a registered blob, read where its row says), so past the grace period, which
  // no request lasts, they go, under the address's lease and after a second look. One D1 query
  // per page of the listing (R2 cannot list by age): 1,000 blobs cost one list operation.
  let deletedOrphans = 0;
  const graceMs = cfg.BLOB_GC_GRACE_S * 1000;
  const orphansDone = await sweep("orphans", BLOB_PREFIX, async (objects) => {
    const old = objects.filter((o) => now.getTime() - o.uploaded.getTime() > graceMs);
    if (old.length > 0 && !calls.allows(1)) return 0;
    if (old.length > 0) calls.spend(1);
    const known = await blobs.namedKeys(old.map((o) => o.key));
    let upTo = 0;
    for (const o of objects) {
      const sha256 = o.key.slice(BLOB_PREFIX.length);
      if (old.includes(o) && !known.has(o.key)) {
        if (!calls.allows(PER_BLOB)) break;
        calls.spend(PER_BLOB);
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
    return upTo;
  });

  /**
   * Deletes the objects of a page older than `maxAgeMs` that no blob lies in: one D1 query and
   * one R2 call when there are some; answers how many it deleted, or null when the calls ran out.
   * Every object here was written by one request for itself, so past the age no request is still
   * on its way to registering one (a blob session's end holds it at most its `UPLOAD_TTL_S` and
   * the read of its bytes).
   */
  const deleteUnnamedOlderThan = async (objects: R2Object[], maxAgeMs: number): Promise<number | null> => {
    const stale = objects.filter((o) => now.getTime() - o.uploaded.getTime() > maxAgeMs).map((o) => o.key);
    if (stale.length === 0) return 0;
    if (!calls.allows(2)) return null;
    const named = await blobs.namedKeys(stale);
    const unnamed = stale.filter((k) => !named.has(k));
    calls.spend(unnamed.length > 0 ? 2 : 1);
    if (unnamed.length > 0) await env.ARTIFACTS.delete(unnamed);
    return unnamed.length;
  };

  // Staged leftovers. Sessions opened before blobs could lie elsewhere assembled here
  // (`staging/session-<id>`) and may have become blobs where they lie: those are kept.
  let deletedStaged = 0;
  const stagedDone = await sweep("staging", STAGING_PREFIX, async (objects) => {
    const deleted = await deleteUnnamedOlderThan(objects, STAGED_MAX_AGE_MS);
    if (deleted === null) return 0;
    deletedStaged += deleted;
    return objects.length;
  });

  // What blob sessions left: scratch objects, and assemblies that never became a blob (the
  // session was abandoned or expired, or its end died before the blob's row was written).
  let deletedSessionObjects = 0;
  const sessionsDone = await sweep("sessions", SESSION_PREFIX, async (objects) => {
    const deleted = await deleteUnnamedOlderThan(objects, cfg.UPLOAD_TTL_S * 1000 + STAGED_MAX_AGE_MS);
    if (deleted === null) return 0;
    deletedSessionObjects += deleted;
    return objects.length;
  });

  // A manifest's bytes are written before its model's object records it; a push refused then
  // (unknown blobs, a gate) leaves them named by nobody. Past a day no push is still on its way.
  let deletedManifests = 0;
  const manifestsDone = await sweep("manifests", OCI_MANIFEST_PREFIX, async (objects) => {
    const old = objects.filter((o) => now.getTime() - o.uploaded.getTime() > STAGED_MAX_AGE_MS);
    if (old.length === 0) return objects.length;
    if (!calls.allows(2)) return 0;
    const kept = await blobs.manifestsKept(old.map((o) => o.key.slice(OCI_MANIFEST_PREFIX.length)));
    const unnamed = old.filter((o) => !kept.has(o.key.slice(OCI_MANIFEST_PREFIX.length))).map((o) => o.key);
    calls.spend(unnamed.length > 0 ? 2 : 1);
    if (unnamed.length > 0) await env.ARTIFACTS.delete(unnamed);
    deletedManifests += unnamed.length;
    return objects.length;
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
    calls: calls.spent,
    stopped,
  };
}
