/**
 * The scheduled cleanup (cron in wrangler.toml): aborts multipart uploads past `expires_at`,
 * deletes the bytes of blobs no version has referenced for BLOB_GC_GRACE_S, and removes
 * transient objects a crashed request left behind.
 */
import { config, type Env } from "../env";
import { modelState } from "../state/client";
import { BlobStore } from "./blob-store";
import { abortR2Uploads } from "./bytes";
import { blobKey, TRANSIENT_PREFIXES } from "./keys";

export interface CleanupReport {
  expiredUploads: number;
  deletedBlobs: number;
  deletedTransient: number;
}

/** Transient objects older than this are leftovers of a request that died. */
const TRANSIENT_MAX_AGE_MS = 48 * 3600 * 1000;

export async function cleanup(env: Env, now: Date = new Date()): Promise<CleanupReport> {
  const cfg = config(env);
  const blobs = new BlobStore(env.DB);

  let expiredUploads = 0;
  for (const model of await blobs.modelsWithExpiredUploads(now.toISOString())) {
    const { aborts } = await modelState(env, model).expireUploads(now.toISOString());
    await abortR2Uploads(env.ARTIFACTS, aborts);
    expiredUploads += aborts.length;
  }

  const unreferenced = await blobs.collect(now, cfg.BLOB_GC_GRACE_S);
  if (unreferenced.length > 0) await env.ARTIFACTS.delete(unreferenced.map(blobKey));

  let deletedTransient = 0;
  for (const prefix of TRANSIENT_PREFIXES) {
    let cursor: string | undefined;
    do {
      const page = await env.ARTIFACTS.list({ prefix, cursor });
      const stale = page.objects.filter((o) => now.getTime() - o.uploaded.getTime() > TRANSIENT_MAX_AGE_MS).map((o) => o.key);
      if (stale.length > 0) await env.ARTIFACTS.delete(stale);
      deletedTransient += stale.length;
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
  return { expiredUploads, deletedBlobs: unreferenced.length, deletedTransient };
}
