/**
 * Going through an R2 listing within a scheduled run's calls (src/domain/call-budget.ts), from where
 * the last run stopped: the last key looked at is saved in D1 (`sweep_cursors`, one row a sweep)
 * and the next run lists after it; a sweep that reached the end starts again from the first key.
 * The cleanup's sweeps (./cleanup.ts) and the bundle collector (./signature-bundles.ts) use it.
 */
import type { CallBudget } from "../domain/call-budget";
import { SweepCursors } from "../db/sweep-cursors";

export interface Sweep {
  /** Its row in `sweep_cursors`. */
  name: string;
  prefix: string;
  /** Keys a page (R2 answers at most 1,000). */
  listLimit: number;
  /** When the run happens (saved with the cursor). */
  at: string;
  include?: ("httpMetadata" | "customMetadata")[];
}

/**
 * Lists `sweep.prefix` a page at a time after where it stopped, handing each page to `handle`,
 * which spends the calls it makes and answers how many of the page's objects it got through;
 * saves where it stopped. True when it reached the end, false when it ran out of calls.
 */
export async function sweepListing(
  bucket: R2Bucket,
  cursors: SweepCursors,
  calls: CallBudget,
  sweep: Sweep,
  handle: (objects: R2Object[]) => Promise<number>,
): Promise<boolean> {
  // Where it stopped, read and saved, and at least one page listed.
  if (!calls.allows(3)) return false;
  calls.spend(2);
  let after = await cursors.after(sweep.name);
  let done = false;
  while (calls.allows(1)) {
    calls.spend(1);
    const page = await bucket.list({
      prefix: sweep.prefix,
      limit: sweep.listLimit,
      ...(after ? { startAfter: after } : {}),
      ...(sweep.include ? { include: sweep.include } : {}),
    });
    const upTo = await handle(page.objects);
    if (upTo > 0) after = page.objects[upTo - 1]!.key;
    if (upTo < page.objects.length) break;
    if (!page.truncated) {
      done = true;
      break;
    }
  }
  await cursors.save(sweep.name, done ? null : after, sweep.at);
  return done;
}
