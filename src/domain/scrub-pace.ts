/**
 * How much a scheduled scrub run re-hashes (src/artifacts/scrub.ts): its share of the stored
 * bytes, so that the scrub goes round them once every `CYCLE_SHARE` of `SCRUB_DAYS`, and never
 * more than the run's budget. Taking the least recently verified blobs first, a store that the
 * budget covers is then checked in full well within `SCRUB_DAYS`, without re-reading everything
 * every run; a store that outgrew it falls behind, and once a blob has gone unchecked for
 * `BEHIND_SHARE` of the period every run takes its whole budget until it catches up.
 */

const DAY_MS = 24 * 3600 * 1000;

/** The scrub goes round the store once in this share of SCRUB_DAYS, leaving the rest as slack. */
export const CYCLE_SHARE = 0.8;
/** A sound blob unchecked for this share of SCRUB_DAYS means the pace is not keeping up: full budget. */
export const BEHIND_SHARE = 0.9;

export interface PaceInput {
  /** SCRUB_BYTES_PER_RUN. */
  budget: number;
  /** SCRUB_DAYS; 0: no pacing, every run takes its whole budget. */
  scrubDays: number;
  /** The bytes of every blob not known to be corrupt. */
  storedBytes: number;
  /** The least recent verification among those blobs (RFC 3339; '' for never), or null when there are none. */
  oldestCheck: string | null;
  /** When the previous run started, or null when none is recorded. */
  lastRun: string | null;
  /** This run's time, in ms since the epoch. */
  now: number;
}

/** The bytes this run sets out to hash: between 0 and the budget. */
export function runTarget(p: PaceInput): number {
  if (p.storedBytes <= 0 || p.oldestCheck === null) return 0;
  if (p.scrubDays === 0 || p.lastRun === null) return p.budget;
  const period = p.scrubDays * DAY_MS;
  // '' (never verified) parses as NaN: as old as can be.
  const checked = Date.parse(p.oldestCheck);
  if (!(p.now - checked < BEHIND_SHARE * period)) return p.budget;
  const since = Math.max(0, p.now - Date.parse(p.lastRun));
  if (!Number.isFinite(since)) return p.budget;
  return Math.min(p.budget, Math.ceil((p.storedBytes * since) / (CYCLE_SHARE * period)));
}
