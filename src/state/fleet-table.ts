/**
 * ModelState's fleet tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module; ./fleet-ops.ts decides over it.
 *
 * - fleet_summaries: each watch relay's latest summary of one alias's nodes (src/domain/fleet.ts
 *   `FleetSummary`, made at `at_ms`), replaced by the next (at most one a second per relay), and
 *   how many it has sent (`received`). The nodes themselves live in the relays (src/state/watch-relay.ts); this
 *   object holds only these, so the fleet view reads a handful of rows whatever the fleet's size.
 * - fleet_changes:   per alias, the change of its value the fleet is judged against now (`change`:
 *   its generation, or what a virtual name resolves to), when it happened, and which of the
 *   fleet's events (refused, converged, drift) it has had: each at most once per change.
 *   `drift_due_ms` is when the drift check is due (the object's alarm), null once made.
 */
import type { FleetSummary } from "../domain/fleet";

export const FLEET_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS fleet_summaries (
     alias TEXT NOT NULL,
     relay TEXT NOT NULL,
     summary TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     received INTEGER NOT NULL,
     PRIMARY KEY (alias, relay)
   )`,
  `CREATE TABLE IF NOT EXISTS fleet_changes (
     alias TEXT PRIMARY KEY,
     change TEXT NOT NULL,
     changed_at_ms INTEGER NOT NULL,
     refused_at TEXT,
     converged_at TEXT,
     drift_at TEXT,
     drift_due_ms INTEGER
   )`,
  `CREATE INDEX IF NOT EXISTS fleet_changes_drift ON fleet_changes (drift_due_ms) WHERE drift_due_ms IS NOT NULL`,
];

export interface RelaySummary {
  relay: string;
  summary: FleetSummary;
  received: number;
}

export type FleetChange = {
  alias: string;
  change: string;
  changed_at_ms: number;
  refused_at: string | null;
  converged_at: string | null;
  drift_at: string | null;
  drift_due_ms: number | null;
};

export type FleetEvent = "refused" | "converged" | "drift";

export class FleetTable {
  constructor(private readonly sql: SqlStorage) {}

  /** Every relay's latest summary of `alias`, by relay name. */
  summaries(alias: string): RelaySummary[] {
    return this.sql
      .exec<{ relay: string; summary: string; received: number }>(
        "SELECT relay, summary, received FROM fleet_summaries WHERE alias = ? ORDER BY relay",
        alias,
      )
      .toArray()
      .map((r) => ({ relay: r.relay, summary: JSON.parse(r.summary) as FleetSummary, received: r.received }));
  }

  /** Replaces the relay's summary of `alias` with `summary`, counting it; an older one than held (a retry overtaken) is only counted. */
  put(alias: string, relay: string, summary: FleetSummary): void {
    this.sql.exec(
      `INSERT INTO fleet_summaries (alias, relay, summary, at_ms, received) VALUES (?, ?, ?, ?, 1)
       ON CONFLICT (alias, relay) DO UPDATE SET received = received + 1,
         summary = CASE WHEN excluded.at_ms >= at_ms THEN excluded.summary ELSE summary END,
         at_ms = max(at_ms, excluded.at_ms)`,
      alias,
      relay,
      JSON.stringify(summary),
      summary.at,
    );
  }

  /** The relays that hold (or held) records of `alias`'s nodes. */
  relays(alias: string): string[] {
    return this.sql
      .exec<{ relay: string }>("SELECT relay FROM fleet_summaries WHERE alias = ? ORDER BY relay", alias)
      .toArray()
      .map((r) => r.relay);
  }

  change(alias: string): FleetChange | null {
    return this.sql.exec<FleetChange>("SELECT * FROM fleet_changes WHERE alias = ?", alias).toArray()[0] ?? null;
  }

  /** Starts judging `alias` against a new change: none of its events has happened yet. */
  startChange(alias: string, change: string, changedAtMs: number, driftDueMs: number): FleetChange {
    const row: FleetChange = {
      alias,
      change,
      changed_at_ms: changedAtMs,
      refused_at: null,
      converged_at: null,
      drift_at: null,
      drift_due_ms: driftDueMs,
    };
    this.sql.exec(
      "INSERT INTO fleet_changes (alias, change, changed_at_ms, refused_at, converged_at, drift_at, drift_due_ms) VALUES (?, ?, ?, NULL, NULL, NULL, ?) ON CONFLICT (alias) DO UPDATE SET change = excluded.change, changed_at_ms = excluded.changed_at_ms, refused_at = NULL, converged_at = NULL, drift_at = NULL, drift_due_ms = excluded.drift_due_ms",
      alias,
      change,
      changedAtMs,
      driftDueMs,
    );
    return row;
  }

  /** Records that the change had `event` at `at` (the drift check, made or not, is no longer due). */
  mark(alias: string, event: FleetEvent, at: string): void {
    if (event === "refused") this.sql.exec("UPDATE fleet_changes SET refused_at = ? WHERE alias = ?", at, alias);
    else if (event === "converged")
      this.sql.exec("UPDATE fleet_changes SET converged_at = ? WHERE alias = ?", at, alias);
    else this.sql.exec("UPDATE fleet_changes SET drift_at = ?, drift_due_ms = NULL WHERE alias = ?", at, alias);
  }

  /** The drift check of `alias`'s change was made (and found the fleet converged). */
  driftJudged(alias: string): void {
    this.sql.exec("UPDATE fleet_changes SET drift_due_ms = NULL WHERE alias = ?", alias);
  }

  /** Aliases whose drift check is due at `now`. */
  driftsDue(now: number): string[] {
    return this.sql
      .exec<{ alias: string }>(
        "SELECT alias FROM fleet_changes WHERE drift_due_ms IS NOT NULL AND drift_due_ms <= ? ORDER BY drift_due_ms",
        now,
      )
      .toArray()
      .map((r) => r.alias);
  }

  /** When the next drift check is due, or null. */
  nextDriftDue(): number | null {
    return this.sql
      .exec<{ due: number | null }>("SELECT min(drift_due_ms) AS due FROM fleet_changes WHERE drift_due_ms IS NOT NULL")
      .one().due;
  }

  clear(): void {
    this.sql.exec("DELETE FROM fleet_summaries");
    this.sql.exec("DELETE FROM fleet_changes");
  }
}
