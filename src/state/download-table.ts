/**
 * Downloads per version, counted off the download path: the file routes (/v1 and the Hugging
 * Face bridge, through src/artifacts/download.ts) call `ModelState.countDownloads` inside
 * `waitUntil` after the bytes start flowing, and the object's alarm projects the totals into
 * D1's `versions.downloads` a moment later, one batch for however many downloads arrived
 * meanwhile. A count is a statistic, not a decision: it is kept apart from the outbox so a
 * burst of downloads never queues audit-grade work.
 *
 * - downloads: one row per version ever downloaded; `total` is written by `countDownloads`,
 *   `projected` (the total D1 last took) by the alarm's projection.
 */
import { projectDownloads } from "./projection";

export const DOWNLOAD_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS downloads (
     version INTEGER PRIMARY KEY,
     total INTEGER NOT NULL,
     projected INTEGER NOT NULL DEFAULT 0
   )`,
];

export interface DownloadTotal {
  version: number;
  total: number;
}

export class DownloadTable {
  constructor(private readonly sql: SqlStorage) {}

  add(version: number, n: number): void {
    this.sql.exec(
      "INSERT INTO downloads (version, total) VALUES (?, ?) ON CONFLICT (version) DO UPDATE SET total = total + excluded.total",
      version,
      n,
    );
  }

  /** Totals D1 has not taken yet. */
  unprojected(): DownloadTotal[] {
    return this.sql
      .exec<{ version: number; total: number }>("SELECT version, total FROM downloads WHERE total > projected")
      .toArray();
  }

  /** D1 now holds these totals (a later count keeps its row unprojected). */
  projected(totals: DownloadTotal[]): void {
    for (const t of totals)
      this.sql.exec("UPDATE downloads SET projected = max(projected, ?) WHERE version = ?", t.total, t.version);
  }

  /** Writes the totals D1 has not taken into `versions.downloads` of `model` (none before it exists); rejects if D1 refused. */
  async project(d1: D1Database, model: string | undefined): Promise<void> {
    const totals = this.unprojected();
    if (totals.length === 0 || model === undefined) return;
    await projectDownloads(d1, model, totals);
    this.projected(totals);
  }
}
