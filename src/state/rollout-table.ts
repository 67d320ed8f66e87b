/**
 * ModelState's rollout tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module; its decisions are src/state/rollout-ops.ts.
 *
 * - rollouts:        each alias's latest rollout (a new one replaces it): versions, steps, the
 *                    step in force, its state and clock, who started it (and with which minted
 *                    token: its steps are audited as theirs), and the alias's generation after
 *                    its latest change. Older rollouts live on in the audit log.
 * - rollout_history: that rollout's events in order (a step applied, a hold started, paused,
 *                    resumed, completed, aborted), each with the step in force.
 * Both are forgotten with the model.
 */
import type { RolloutEvent, RolloutHistoryEntry, RolloutState, RolloutStep } from "../domain/rollout";

export const ROLLOUT_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS rollouts (
     alias TEXT PRIMARY KEY,
     id TEXT NOT NULL,
     from_version INTEGER NOT NULL,
     to_version INTEGER NOT NULL,
     steps TEXT NOT NULL,
     min_fleet REAL NOT NULL,
     step INTEGER NOT NULL,
     state TEXT NOT NULL,
     reason TEXT,
     started_at TEXT NOT NULL,
     started_by TEXT NOT NULL,
     started_token TEXT,
     step_started_at TEXT NOT NULL,
     hold_started_at TEXT,
     next_at TEXT,
     generation INTEGER NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS rollout_history (
     alias TEXT NOT NULL,
     seq INTEGER NOT NULL,
     step INTEGER NOT NULL,
     at TEXT NOT NULL,
     event TEXT NOT NULL,
     detail TEXT,
     PRIMARY KEY (alias, seq)
   )`,
];

/** A rollout as stored (the contract's Rollout without `model` and `history`). */
export interface RolloutRecord {
  id: string;
  alias: string;
  from: number;
  to: number;
  steps: RolloutStep[];
  min_fleet: number;
  step: number;
  state: RolloutState;
  reason: string | null;
  started_at: string;
  started_by: string;
  /** The minted token the rollout was started with, carried by its steps' audit events. */
  started_token: string | null;
  step_started_at: string;
  hold_started_at: string | null;
  next_at: string | null;
  generation: number;
}

type Row = Omit<RolloutRecord, "from" | "to" | "steps"> & { from_version: number; to_version: number; steps: string };

const fromRow = ({ from_version, to_version, steps, ...rest }: Row): RolloutRecord => ({
  ...rest,
  from: from_version,
  to: to_version,
  steps: JSON.parse(steps) as RolloutStep[],
});

export class RolloutTable {
  constructor(private readonly sql: SqlStorage) {}

  get(alias: string): RolloutRecord | null {
    const row = this.sql.exec<Row>("SELECT * FROM rollouts WHERE alias = ?", alias).toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** The rollouts that are running: the ones the alarm drives. */
  running(): RolloutRecord[] {
    return this.sql.exec<Row>("SELECT * FROM rollouts WHERE state = 'running' ORDER BY alias").toArray().map(fromRow);
  }

  /** Writes the alias's rollout (a new one replaces the one before, and its history). */
  put(r: RolloutRecord, fresh = false): void {
    if (fresh) this.sql.exec("DELETE FROM rollout_history WHERE alias = ?", r.alias);
    this.sql.exec(
      `INSERT INTO rollouts (alias, id, from_version, to_version, steps, min_fleet, step, state, reason, started_at,
         started_by, started_token, step_started_at, hold_started_at, next_at, generation)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (alias) DO UPDATE SET id = excluded.id, from_version = excluded.from_version,
         to_version = excluded.to_version, steps = excluded.steps, min_fleet = excluded.min_fleet,
         step = excluded.step, state = excluded.state, reason = excluded.reason, started_at = excluded.started_at,
         started_by = excluded.started_by, started_token = excluded.started_token,
         step_started_at = excluded.step_started_at, hold_started_at = excluded.hold_started_at,
         next_at = excluded.next_at, generation = excluded.generation`,
      r.alias,
      r.id,
      r.from,
      r.to,
      JSON.stringify(r.steps),
      r.min_fleet,
      r.step,
      r.state,
      r.reason,
      r.started_at,
      r.started_by,
      r.started_token,
      r.step_started_at,
      r.hold_started_at,
      r.next_at,
      r.generation,
    );
  }

  /** Appends one event to the alias's rollout history. */
  record(
    alias: string,
    entry: { step: number; at: string; event: RolloutEvent; detail: Record<string, unknown> | null },
  ) {
    this.sql.exec(
      `INSERT INTO rollout_history (alias, seq, step, at, event, detail)
       VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM rollout_history WHERE alias = ?), ?, ?, ?, ?)`,
      alias,
      alias,
      entry.step,
      entry.at,
      entry.event,
      entry.detail === null ? null : JSON.stringify(entry.detail),
    );
  }

  history(alias: string): RolloutHistoryEntry[] {
    return this.sql
      .exec<{ step: number; at: string; event: RolloutEvent; detail: string | null }>(
        "SELECT step, at, event, detail FROM rollout_history WHERE alias = ? ORDER BY seq",
        alias,
      )
      .toArray()
      .map((r) => ({ ...r, detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>) }));
  }

  clear(): void {
    this.sql.exec("DELETE FROM rollouts");
    this.sql.exec("DELETE FROM rollout_history");
  }
}
