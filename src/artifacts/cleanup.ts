/**
 * The scheduled cleanup (cron in wrangler.toml): aborts multipart uploads past `expires_at`,
 * applies retention policies (src/retention/apply.ts), deletes the bytes of blobs no version
 * has referenced for BLOB_GC_GRACE_S, and removes staged objects a crashed request left
 * behind. Retention runs before collection, so the bytes of the versions it deletes start
 * their grace period in the same run.
 */
import { config, type Env } from "../env";
import { applyRetention, type RetentionReport } from "../retention/apply";
import { modelState } from "../state/client";
import { BlobStore } from "./blob-store";
import { abortR2Uploads } from "./bytes";
import { blobKey, STAGING_PREFIX } from "./keys";

export interface CleanupReport {
  expiredUploads: number;
  retention: RetentionReport;
  deletedBlobs: number;
  deletedStaged: number;
}

/** Staged objects older than this are leftovers of a request that died. */
const STAGED_MAX_AGE_MS = 24 * 3600 * 1000;

export async function cleanup(env: Env, now: Date = new Date()): Promise<CleanupReport> {
  const cfg = config(env);
  // The collector decides on the newest state: its session starts at the primary.
  const blobs = new BlobStore(env.DB.withSession("first-primary"));

  let expiredUploads = 0;
  for (const model of await blobs.modelsWithExpiredUploads(now.toISOString())) {
    const { aborts } = await modelState(env, model).expireUploads({ model, actor: "cleanup", at: now.toISOString() });
    await abortR2Uploads(env.ARTIFACTS, aborts);
    expiredUploads += aborts.length;
  }

  const retention = await applyRetention(env, now);

  // Each deletion holds the address's lease, so no upload writes there meanwhile.
  let deletedBlobs = 0;
  for (const { sha256, claimedBy } of await blobs.unreferencedSince(now, cfg.BLOB_GC_GRACE_S)) {
    // D1 may not show a reference its model's outbox still holds (D1 trailing, a stalled
    // flush): the model that last took these bytes is asked itself, from its own SQLite.
    if (claimedBy !== null && (await modelState(env, claimedBy).holdsBlob(sha256))) continue;
    // Not held: an upload is writing there, so the blob is wanted again; the next run looks again.
    await blobs.withLease(sha256, 60_000, async () => {
      if (!(await blobs.forget(sha256, now, cfg.BLOB_GC_GRACE_S))) return;
      await env.ARTIFACTS.delete(blobKey(sha256));
      deletedBlobs += 1;
    });
  }

  let deletedStaged = 0;
  let cursor: string | undefined;
  do {
    const page = await env.ARTIFACTS.list({ prefix: STAGING_PREFIX, cursor });
    const stale = page.objects.filter((o) => now.getTime() - o.uploaded.getTime() > STAGED_MAX_AGE_MS).map((o) => o.key);
    if (stale.length > 0) await env.ARTIFACTS.delete(stale);
    deletedStaged += stale.length;
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return { expiredUploads, retention, deletedBlobs, deletedStaged };
}
