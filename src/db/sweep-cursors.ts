/**
 * D1's `sweep_cursors` (migration 0017): where each resumable pass of the scheduled run stopped,
 * one row a pass (the cleanup's sweeps of R2 listings and the bundle collector's,
 * src/artifacts/sweep.ts; retention's pass over the models, src/retention/apply.ts). The next run
 * goes on after `after`; null: from the start.
 */
import { eq } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { sweepCursors } from "./schema";
import { orm, type D1Handle } from "./session";

export class SweepCursors {
  private readonly db: DrizzleD1Database;

  constructor(d1: D1Handle) {
    this.db = orm(d1);
  }

  /** Where the pass `sweep` stopped: the last key (or name) it got through, or null (from the start). */
  async after(sweep: string): Promise<string | null> {
    const row = await this.db
      .select({ after: sweepCursors.after })
      .from(sweepCursors)
      .where(eq(sweepCursors.sweep, sweep))
      .get();
    return row?.after ?? null;
  }

  async save(sweep: string, after: string | null, at: string): Promise<void> {
    await this.db
      .insert(sweepCursors)
      .values({ sweep, after, at })
      .onConflictDoUpdate({ target: sweepCursors.sweep, set: { after, at } });
  }
}
