/**
 * ModelState's alias tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module.
 *
 * - aliases:       the current value of each alias, with the generation of its last change.
 * - alias_history: every change, kept forever: generation, action, value before and after,
 *                  indexed by time too, for what the alias held at an instant.
 */
import { valueVersions, type AliasValue, type HistoryStep, type SplitEntry } from "../domain/alias";

export const ALIAS_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS aliases (
     alias TEXT PRIMARY KEY,
     value TEXT NOT NULL,
     generation INTEGER NOT NULL,
     updated_at TEXT NOT NULL,
     updated_by TEXT NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS alias_history (
     alias TEXT NOT NULL,
     generation INTEGER NOT NULL,
     action TEXT NOT NULL,
     from_value TEXT,
     to_value TEXT,
     actor TEXT NOT NULL,
     reason TEXT,
     at TEXT NOT NULL,
     PRIMARY KEY (alias, generation)
   )`,
  // What an alias held at an instant (`?at=`): one seek, however long its history.
  `CREATE INDEX IF NOT EXISTS alias_history_at ON alias_history (alias, at, generation)`,
];

export type AliasAction = HistoryStep["action"];

export interface AliasState {
  alias: string;
  value: AliasValue;
  generation: number;
  updated_at: string;
  updated_by: string;
}

/** The contract's Alias. */
export interface AliasBody {
  model: string;
  alias: string;
  version: number | null;
  split: SplitEntry[] | null;
  generation: number;
  updated_at: string;
  updated_by: string;
}

/** One entry of the contract's alias history: the value after the change. */
export interface HistoryEntry {
  generation: number;
  version: number | null;
  split: SplitEntry[] | null;
  action: AliasAction;
  actor: string;
  reason: string | null;
  at: string;
}

export const aliasBody = (model: string, s: AliasState): AliasBody => ({
  model,
  alias: s.alias,
  version: s.value.version,
  split: s.value.split,
  generation: s.generation,
  updated_at: s.updated_at,
  updated_by: s.updated_by,
});

const parseValue = (text: string | null) => (text === null ? null : (JSON.parse(text) as AliasValue));

type StateRow = { alias: string; value: string; generation: number; updated_at: string; updated_by: string };
const toState = (r: StateRow): AliasState => ({ ...r, value: JSON.parse(r.value) as AliasValue });

type HistoryRow = {
  generation: number;
  action: AliasAction;
  to_value: string | null;
  actor: string;
  reason: string | null;
  at: string;
};
/** A history row as readers see it, with the value it changed to (null: a deletion). */
const toHistoryEntry = (r: HistoryRow): HistoryEntry & { value: AliasValue | null } => {
  const value = parseValue(r.to_value);
  return {
    generation: r.generation,
    version: value?.version ?? null,
    split: value?.split ?? null,
    action: r.action,
    actor: r.actor,
    reason: r.reason,
    at: r.at,
    value,
  };
};

export class AliasTable {
  constructor(private readonly sql: SqlStorage) {}

  get(alias: string): AliasState | null {
    const row = this.sql.exec<StateRow>("SELECT * FROM aliases WHERE alias = ?", alias).toArray()[0];
    return row ? toState(row) : null;
  }

  all(): AliasState[] {
    return this.sql.exec<StateRow>("SELECT * FROM aliases ORDER BY alias").toArray().map(toState);
  }

  /** The aliases whose value includes `version` (as the version or in its split). */
  holding(version: number): string[] {
    return this.all()
      .filter((a) => valueVersions(a.value).includes(version))
      .map((a) => a.alias);
  }

  /** Writes a change: the new value (null deletes the alias) and its history entry. */
  record(change: {
    alias: string;
    generation: number;
    action: AliasAction;
    from: AliasValue | null;
    to: AliasValue | null;
    actor: string;
    reason: string | null;
    at: string;
  }): AliasState | null {
    this.sql.exec(
      "INSERT INTO alias_history (alias, generation, action, from_value, to_value, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      change.alias,
      change.generation,
      change.action,
      change.from === null ? null : JSON.stringify(change.from),
      change.to === null ? null : JSON.stringify(change.to),
      change.actor,
      change.reason,
      change.at,
    );
    if (change.to === null) {
      this.sql.exec("DELETE FROM aliases WHERE alias = ?", change.alias);
      return null;
    }
    const state: AliasState = {
      alias: change.alias,
      value: change.to,
      generation: change.generation,
      updated_at: change.at,
      updated_by: change.actor,
    };
    this.sql.exec(
      "INSERT INTO aliases (alias, value, generation, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (alias) DO UPDATE SET value = excluded.value, generation = excluded.generation, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
      state.alias,
      JSON.stringify(state.value),
      state.generation,
      state.updated_at,
      state.updated_by,
    );
    return state;
  }

  /** What rollback needs of the alias's history, newest first. */
  steps(alias: string): HistoryStep[] {
    return this.sql
      .exec<{ action: AliasAction; from_value: string | null }>(
        "SELECT action, from_value FROM alias_history WHERE alias = ? ORDER BY generation DESC",
        alias,
      )
      .toArray()
      .map((r) => ({ action: r.action, from: parseValue(r.from_value) }));
  }

  /** Every value the alias has been set to, newest first (a gate's baseline once it is deleted). */
  *pastValues(alias: string): Generator<AliasValue> {
    const rows = this.sql.exec<{ to_value: string }>(
      "SELECT to_value FROM alias_history WHERE alias = ? AND to_value IS NOT NULL ORDER BY generation DESC",
      alias,
    );
    for (const row of rows) yield parseValue(row.to_value)!;
  }

  /** Whether `version` has held the alias on its own (a rollback target must have). */
  everHeld(alias: string, version: number): boolean {
    return this.sql
      .exec<{ to_value: string | null }>(
        "SELECT to_value FROM alias_history WHERE alias = ? AND to_value IS NOT NULL",
        alias,
      )
      .toArray()
      .some((r) => parseValue(r.to_value)?.version === version);
  }

  history(alias: string, beforeGeneration: number | undefined, limit: number): HistoryEntry[] {
    return this.sql
      .exec<HistoryRow>(
        "SELECT generation, action, to_value, actor, reason, at FROM alias_history WHERE alias = ? AND generation < ? ORDER BY generation DESC LIMIT ?",
        alias,
        beforeGeneration ?? Number.MAX_SAFE_INTEGER,
        limit,
      )
      .toArray()
      .map((r) => {
        const { value: _value, ...entry } = toHistoryEntry(r);
        return entry;
      });
  }

  /** The alias's newest change (a deletion included), or null when it never had one. */
  lastChange(alias: string): { generation: number; at: string } | null {
    return (
      this.sql
        .exec<{ generation: number; at: string }>(
          "SELECT generation, at FROM alias_history WHERE alias = ? ORDER BY generation DESC LIMIT 1",
          alias,
        )
        .toArray()[0] ?? null
    );
  }

  /**
   * The change in force at `at` (an RFC 3339 UTC timestamp with milliseconds, as every `at`
   * here is): the newest whose time is not after it; null when the alias had none by then. Its
   * value is null when that change was a deletion. Times are the writers' clocks, so two changes
   * made within the same millisecond order by generation.
   */
  changeAt(alias: string, at: string): (HistoryEntry & { value: AliasValue | null }) | null {
    const row = this.sql
      .exec<HistoryRow>(
        "SELECT generation, action, to_value, actor, reason, at FROM alias_history WHERE alias = ? AND at <= ? ORDER BY at DESC, generation DESC LIMIT 1",
        alias,
        at,
      )
      .toArray()[0];
    return row ? toHistoryEntry(row) : null;
  }

  clear(): void {
    this.sql.exec("DELETE FROM aliases");
    this.sql.exec("DELETE FROM alias_history");
  }
}
