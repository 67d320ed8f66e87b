/**
 * The scheduled cleanup keeps each run within one invocation's budget (docs/operations.md
 * "9. Limits: what a deployment meets"; src/artifacts/cleanup.ts): at most `maxCalls` calls, whatever the store holds, and the
 * next run goes on after the last key the previous one looked at.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cleanup, CLEANUP_TUNING, type CleanupReport } from "../src/artifacts/cleanup";
import { BlobStore } from "../src/artifacts/blob-store";
import { blobKey } from "../src/artifacts/keys";

const hex = (n: number) => n.toString(16).padStart(64, "0");

describe("the cleanup within a budget", () => {
  it("sweeps 40 orphaned objects over several bounded runs, each going on where the last stopped", async () => {
    // 10 registered blobs first in key order, then 40 orphans (bytes never registered).
    const blobs = new BlobStore(env.DB);
    for (let i = 0; i < 10; i++) {
      await env.ARTIFACTS.put(blobKey(hex(i)), "x");
      await blobs.register(hex(i), 1, new Date().toISOString());
    }
    const orphans = Array.from({ length: 40 }, (_, i) => blobKey(hex(1000 + i)));
    for (const key of orphans) await env.ARTIFACTS.put(key, "y");
    const later = new Date(Date.now() + 3 * 3600 * 1000);
    const tuning = { ...CLEANUP_TUNING, maxCalls: 40, listLimit: 8, page: 50 };

    const reports: CleanupReport[] = [];
    const cursors: (string | null)[] = [];
    for (let run = 0; run < 30; run++) {
      const report = await cleanup(env, later, tuning);
      reports.push(report);
      const row = await env.DB.prepare("SELECT after FROM sweep_cursors WHERE sweep = 'orphans'").first<{
        after: string | null;
      }>();
      cursors.push(row?.after ?? null);
      if (report.stopped === "done") break;
    }
    // Every run within its calls; more than one run was needed, and together they took every orphan.
    expect(reports.length).toBeGreaterThan(1);
    for (const r of reports) expect(r.calls).toBeLessThanOrEqual(tuning.maxCalls);
    expect(reports.reduce((n, r) => n + r.deletedOrphans, 0)).toBe(40);
    for (const key of orphans) expect(await env.ARTIFACTS.head(key)).toBeNull();
    for (let i = 0; i < 10; i++) expect(await env.ARTIFACTS.head(blobKey(hex(i)))).not.toBeNull();
    // Each stopped run saved a key further on than the last: the sweep went on, never from the start.
    const saved = cursors.slice(0, -1);
    expect(saved.every((c) => c !== null)).toBe(true);
    for (let i = 1; i < saved.length; i++) expect(saved[i]! > saved[i - 1]!).toBe(true);
    // The sweep that reached the end starts again next time.
    expect(cursors.at(-1)).toBeNull();
  });
});
