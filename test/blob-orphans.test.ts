/**
 * Bytes at a content address that D1 never registered: a crash between writing
 * `blobs/sha256/<hex>` and recording the blob (test/chaos found them still in R2 long after
 * the grace period). The scheduled cleanup deletes them once they are older than the grace
 * period, and never touches registered blobs or younger objects.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cleanup } from "../src/artifacts/cleanup";
import { blobKey } from "../src/artifacts/keys";
import { bytesOf, createModel, readyVersion, sha256Of } from "./helpers";

const hex = (n: number) => n.toString(16).padStart(64, "0");
const present = async (key: string) => (await env.ARTIFACTS.head(key)) !== null;

describe("orphaned blob objects", () => {
  it("deletes unregistered objects under blobs/ past the grace period, keeps registered and young ones", async () => {
    const grace = { ...env, BLOB_GC_GRACE_S: "300" };
    const orphan = hex(0xdead01);
    await env.ARTIFACTS.put(blobKey(orphan), "bytes a crash left behind");
    await createModel("orphans");
    const held = bytesOf(900, 77);
    await readyVersion("orphans", { "w.bin": held });
    const registered = await sha256Of(held);

    // Within the grace period: an upload may be about to register them.
    const young = await cleanup(grace);
    expect(young.deletedOrphans).toBe(0);
    expect(await present(blobKey(orphan))).toBe(true);

    const later = await cleanup(grace, new Date(Date.now() + 301_000));
    expect(later.deletedOrphans).toBe(1);
    expect(await present(blobKey(orphan))).toBe(false);
    expect(await present(blobKey(registered))).toBe(true);
  });
});
