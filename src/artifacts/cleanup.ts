/**
 * The scheduled cleanup (cron in wrangler.toml): aborts multipart uploads past `expires_at`,
 * applies retention policies (src/retention/apply.ts), deletes the bytes of blobs no version
 * has referenced for BLOB_GC_GRACE_S, and removes what crashed requests left behind: bytes
 * at a content address never registered, and staged objects. Retention runs before
 * collection, so the bytes of the versions it deletes start their grace period in the same run.
 */
import { config, type Env } from "../env";
import { applyRetention, type RetentionReport } from "../retention/apply";
import { modelState, unwrap } from "../model-writes/stub";
import { BlobStore } from "./blob-store";
import { abortR2Uploads } from "../model-writes/r2-aborts";
import { BLOB_PREFIX, blobKey, OCI_MANIFEST_PREFIX, STAGING_PREFIX } from "./keys";

export interface CleanupReport {
  expiredUploads: number;
  retention: RetentionReport;
  deletedBlobs: number;
  /** Objects under `blobs/` that D1 never registered (a crash between their write and their registration). */
  deletedOrphans: number;
  deletedStaged: number;
  /** Bytes of OCI manifests no kept manifest names (a push refused after they were written). */
  deletedManifests: number;
}

/** Staged objects older than this are leftovers of a request that died. */
const STAGED_MAX_AGE_MS = 24 * 3600 * 1000;

export async function cleanup(env: Env, now: Date = new Date()): Promise<CleanupReport> {
  const cfg = config(env);
  // The collector decides on the newest state: its session starts at the primary.
  const blobs = new BlobStore(env.DB.withSession("first-primary"));

  let expiredUploads = 0;
  for (const model of await blobs.modelsWithExpiredUploads(now.toISOString())) {
    const { aborts } = unwrap(
      await modelState(env, model).expireUploads({ model, actor: "cleanup", at: now.toISOString() }),
    );
    await abortR2Uploads(env.ARTIFACTS, aborts);
    expiredUploads += aborts.length;
  }

  const retention = await applyRetention(env, now);

  // Each deletion holds the address's lease, so no upload writes there meanwhile.
  let deletedBlobs = 0;
  for (const { sha256, claimedBy } of await blobs.unreferencedSince(now, cfg.BLOB_GC_GRACE_S)) {
    // D1 may not show a reference its model's outbox still holds (D1 trailing, a stalled
    // flush): the model that last took these bytes is asked itself, from its own SQLite.
    if (claimedBy !== null && (await modelState(env, claimedBy).holdsBlob(sha256, now.toISOString()))) continue;
    // Not held: an upload is writing there, so the blob is wanted again; the next run looks again.
    await blobs.withLease(sha256, 60_000, async () => {
      if (!(await blobs.forget(sha256, now, cfg.BLOB_GC_GRACE_S))) return;
      await env.ARTIFACTS.delete(blobKey(sha256));
      deletedBlobs += 1;
    });
  }

  // Bytes written at a content address whose registration never happened: the request died
  // (a crash) between R2's write and D1's row. Nothing can reference them (a file is listed
  // only on a registered blob), so past the grace period, which no request lasts, they go,
  // under the address's lease and after a second look. One listing of R2 per run, one D1
  // query per page of it (R2 cannot list by age): 1,000 blobs cost one list operation.
  let deletedOrphans = 0;
  let blobCursor: string | undefined;
  const graceMs = cfg.BLOB_GC_GRACE_S * 1000;
  do {
    const page = await env.ARTIFACTS.list({ prefix: BLOB_PREFIX, cursor: blobCursor });
    const old = page.objects.filter((o) => now.getTime() - o.uploaded.getTime() > graceMs);
    const known = await blobs.registered(old.map((o) => o.key.slice(BLOB_PREFIX.length)));
    for (const o of old) {
      const sha256 = o.key.slice(BLOB_PREFIX.length);
      if (known.has(sha256)) continue;
      await blobs.withLease(sha256, 60_000, async () => {
        // Under the lease no upload writes here; one may have registered or rewritten it meanwhile.
        if ((await blobs.registered([sha256])).size > 0) return;
        const head = await env.ARTIFACTS.head(o.key);
        if (!head || now.getTime() - head.uploaded.getTime() <= graceMs) return;
        await env.ARTIFACTS.delete(o.key);
        deletedOrphans += 1;
      });
    }
    blobCursor = page.truncated ? page.cursor : undefined;
  } while (blobCursor);

  let deletedStaged = 0;
  let cursor: string | undefined;
  do {
    const page = await env.ARTIFACTS.list({ prefix: STAGING_PREFIX, cursor });
    const stale = page.objects
      .filter((o) => now.getTime() - o.uploaded.getTime() > STAGED_MAX_AGE_MS)
      .map((o) => o.key);
    if (stale.length > 0) await env.ARTIFACTS.delete(stale);
    deletedStaged += stale.length;
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  // A manifest's bytes are written before its model's object records it; a push refused then
  // (unknown blobs, a gate) leaves them named by nobody. Past a day no push is still on its way.
  let deletedManifests = 0;
  cursor = undefined;
  do {
    const page = await env.ARTIFACTS.list({ prefix: OCI_MANIFEST_PREFIX, cursor });
    const old = page.objects.filter((o) => now.getTime() - o.uploaded.getTime() > STAGED_MAX_AGE_MS);
    const kept = await blobs.manifestsKept(old.map((o) => o.key.slice(OCI_MANIFEST_PREFIX.length)));
    const unnamed = old.filter((o) => !kept.has(o.key.slice(OCI_MANIFEST_PREFIX.length))).map((o) => o.key);
    if (unnamed.length > 0) await env.ARTIFACTS.delete(unnamed);
    deletedManifests += unnamed.length;
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return { expiredUploads, retention, deletedBlobs, deletedOrphans, deletedStaged, deletedManifests };
}
