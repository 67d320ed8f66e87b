/**
 * The bytes of signature bundles in R2, at `signatures/sha256/<hex>` (./keys.ts): stored as
 * uploaded, so `GET .../signatures/{id}` answers them byte for byte, one object per distinct
 * bundle whatever number of versions it signs (a bundle over the same files signs each
 * version that holds exactly them). Each object records the model that last stored it
 * (`customMetadata.model`), which the collector asks before deleting.
 *
 * Writers and the collector meet under the address's lease (D1's `blob_leases`, named by the
 * object's key): an upload holds it from its put until its signature is recorded in its
 * model's ModelState, and the collector from its last look to its delete, so the collector
 * never deletes bytes a signature is being recorded over.
 */
import { signatures } from "../db/schema";
import { orm } from "../db/session";
import { sql } from "drizzle-orm";
import type { Env } from "../env";
import { config } from "../env";
import { ProblemError } from "../domain/problem";
import { modelState } from "../model-writes/stub";
import { BlobStore } from "./blob-store";
import { SIGNATURE_PREFIX, signatureKey } from "./keys";
import { sweepListing } from "./sweep";
import { CallBudget } from "../domain/call-budget";
import { SweepCursors } from "../db/sweep-cursors";

/** An upload's lease: long enough for a put of 4 MiB and one ModelState call on a slow day. */
const UPLOAD_LEASE_MS = 60_000;

/** How long an upload waits for the address: another upload of the same bundle holds it for a put and a call. */
const LEASE_WAIT_MS = 10_000;

/**
 * Stores `bytes` (whose sha256 is `sha256`) and runs `record` while no collector can delete
 * them. Uploads of the same bundle take turns (each holds the address for a moment); 409 only
 * when the address stayed taken for LEASE_WAIT_MS.
 */
export async function storeBundle<T>(
  env: Env,
  input: { sha256: string; bytes: Uint8Array; model: string },
  record: () => Promise<T>,
): Promise<T> {
  const leases = new BlobStore(env.DB.withSession("first-primary"));
  const deadline = Date.now() + LEASE_WAIT_MS;
  for (;;) {
    const outcome = await leases.withLease(signatureKey(input.sha256), UPLOAD_LEASE_MS, async () => {
      // R2 checks the sha256 too: what is stored is what was verified.
      await env.ARTIFACTS.put(signatureKey(input.sha256), input.bytes, {
        sha256: input.sha256,
        httpMetadata: { contentType: "application/vnd.dev.sigstore.bundle.v0.3+json" },
        customMetadata: { model: input.model },
      });
      return record();
    });
    if (outcome.held) return outcome.value;
    if (Date.now() > deadline)
      throw new ProblemError("conflict", "This bundle is being stored or cleaned up by another request; send it again");
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 60));
  }
}

/** The stored bytes of a bundle, or null when R2 holds none (the signature was deleted meanwhile). */
export async function readBundle(env: Env, sha256: string): Promise<R2ObjectBody | null> {
  return env.ARTIFACTS.get(signatureKey(sha256));
}

/** One bundle's collection: its model asked, the lease taken, D1 and R2 looked at again, its model again, the delete, the lease let go. */
const PER_BUNDLE = 8;

/**
 * The scheduled cleanup's part: bundles no signature holds any more (their signatures, versions
 * or models were deleted, or an upload died between its put and its record), older than
 * BLOB_GC_GRACE_S. D1 is asked first (one query per page of the listing); the model that
 * stored a bundle is asked too, since D1 may trail its outbox. Returns how many went.
 *
 * Within `calls` (the scheduled run's share, src/cron/run.ts): the listing goes on from where the
 * last run stopped (`sweep_cursors`, "bundles", ./sweep.ts), a page of `listLimit` at a time.
 */
export async function collectBundles(
  env: Env,
  now: Date,
  calls: CallBudget = new CallBudget(Infinity),
  listLimit = 1000,
): Promise<number> {
  const graceMs = config(env).BLOB_GC_GRACE_S * 1000;
  const session = env.DB.withSession("first-primary");
  const leases = new BlobStore(session);
  const db = orm(session);
  const referenced = async (sha256s: string[]) => {
    if (sha256s.length === 0) return new Set<string>();
    const rows = await db
      .select({ sha256: signatures.bundleSha256 })
      .from(signatures)
      .where(sql`${signatures.bundleSha256} IN (SELECT value FROM json_each(${JSON.stringify(sha256s)}))`);
    return new Set(rows.map((r) => r.sha256));
  };
  let deleted = 0;
  const sweep = {
    name: "bundles",
    prefix: SIGNATURE_PREFIX,
    listLimit,
    at: now.toISOString(),
    include: ["customMetadata" as const],
  };
  await sweepListing(env.ARTIFACTS, new SweepCursors(session), calls, sweep, async (objects) => {
    const old = objects.filter((o) => now.getTime() - o.uploaded.getTime() > graceMs);
    if (old.length === 0) return objects.length;
    if (!calls.allows(1)) return 0;
    calls.spend(1);
    const held = await referenced(old.map((o) => o.key.slice(SIGNATURE_PREFIX.length)));
    let upTo = 0;
    for (const o of objects) {
      const sha256 = o.key.slice(SIGNATURE_PREFIX.length);
      if (old.includes(o) && !held.has(sha256)) {
        if (!calls.allows(PER_BUNDLE)) break;
        calls.spend(PER_BUNDLE);
        const model = o.customMetadata?.model;
        if (!model || !(await modelState(env, model).holdsSignatureBundle(sha256))) {
          await leases.withLease(o.key, UPLOAD_LEASE_MS, async () => {
            // Under the lease no upload is between its put and its record; one may have finished meanwhile.
            if ((await referenced([sha256])).size > 0) return;
            const head = await env.ARTIFACTS.head(o.key);
            if (!head || now.getTime() - head.uploaded.getTime() <= graceMs) return;
            const by = head.customMetadata?.model;
            if (by && (await modelState(env, by).holdsSignatureBundle(sha256))) return;
            await env.ARTIFACTS.delete(o.key);
            deleted += 1;
          });
        }
      }
      upTo += 1;
    }
    return upTo;
  });
  return deleted;
}
