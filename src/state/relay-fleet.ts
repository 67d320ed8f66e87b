/**
 * A watch relay's fleet: the records of the nodes whose key picks this relay, for each alias,
 * in the relay's own SQLite (a report costs no D1 write, and no write in the model's object),
 * and what the relay owes the model's object: a summary of them (src/domain/fleet.ts), at most
 * one a second per alias, whenever what it would say changed. Read and written synchronously;
 * only ./watch-relay.ts uses this module, and does the sending.
 *
 * - nodes:  one row per (alias, node): what it last reported, its routing unit for the alias,
 *           since when it serves its version (`since`) and is in its state (`state_since_ms`),
 *           when it was first and last heard from. Forgotten a day after its last report.
 * - fleets: one row per alias this relay keeps nodes of: the model, the relay's name, when it
 *           last sent a summary (`sent_at_ms`), how many nodes were reporting then
 *           (`sent_reporting`: a drop since means some went stale), and whether what it would
 *           say changed since (`dirty`). Removed with the alias's last node.
 */
import { timestamp } from "../domain/ids";
import {
  NODE_FORGET_MS,
  nodeUnit,
  summarize,
  type FleetSummary,
  type Intended,
  type Node,
  type NodeReport,
  type NodeRow,
  type NodeState,
} from "../domain/fleet";

export const RELAY_FLEET_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS nodes (
     alias TEXT NOT NULL,
     node TEXT NOT NULL,
     version INTEGER,
     state TEXT NOT NULL,
     reason TEXT,
     target INTEGER,
     labels TEXT NOT NULL,
     agent TEXT,
     unit REAL NOT NULL,
     since TEXT NOT NULL,
     state_since_ms INTEGER NOT NULL,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     last_seen_ms INTEGER NOT NULL,
     PRIMARY KEY (alias, node)
   )`,
  `CREATE INDEX IF NOT EXISTS nodes_seen ON nodes (alias, last_seen_ms)`,
  `CREATE TABLE IF NOT EXISTS fleets (
     alias TEXT PRIMARY KEY,
     model TEXT NOT NULL,
     relay TEXT NOT NULL,
     sent_at_ms INTEGER NOT NULL,
     sent_reporting INTEGER NOT NULL,
     dirty INTEGER NOT NULL
   )`,
];

/** A summary at most this often per alias. */
export const SUMMARY_EVERY_MS = 1000;

/**
 * Reports are written at most this long after they arrive, a burst together (`flush`). A relay
 * that dies in between loses them: records are soft state, and every node reports again within
 * NODE_REPORT_S, so the fleet view is then that much late, never wrong for longer.
 */
export const REPORT_FLUSH_MS = 50;

/** What `GET .../fleet/nodes` filters by. */
export interface NodeQuery {
  version?: number;
  state?: NodeState;
  label?: [string, string];
  stale?: boolean;
  /** The last node of the page before (keyset: nodes in name order). */
  after?: string;
  limit: number;
}

export interface FleetOf {
  alias: string;
  model: string;
  relay: string;
}

type Row = {
  node: string;
  version: number | null;
  state: NodeState;
  reason: string | null;
  target: number | null;
  labels: string;
  agent: string | null;
  unit: number;
  since: string;
  state_since_ms: number;
  first_seen: string;
  last_seen: string;
  last_seen_ms: number;
};

export class RelayFleet {
  /**
   * `fleets`' identity columns by alias, as read or written by this instance: every report
   * asks for its alias's fleet, and the row changes only when a fleet opens or closes (here).
   */
  private readonly opened = new Map<string, FleetOf | null>();
  /** Reports taken and not yet written, by alias and node, oldest first (see `record` and `flush`). */
  private readonly pending = new Map<string, { fleet: FleetOf; report: NodeReport; now: number; firstSeen: number }>();
  /** Aliases whose summary flushed reports changed, until the relay takes them. */
  private readonly changed = new Set<string>();

  constructor(
    private readonly sql: SqlStorage,
    /** NODE_TTL_S, in ms: a node not heard from for this long is stale. */
    private readonly ttlMs: number,
  ) {}

  /** The fleet of `alias` this relay keeps, if it keeps one. */
  of(alias: string): FleetOf | null {
    const known = this.opened.get(alias);
    if (known !== undefined) return known;
    const fleet =
      this.sql
        .exec<{ alias: string; model: string; relay: string }>(
          "SELECT alias, model, relay FROM fleets WHERE alias = ?",
          alias,
        )
        .toArray()[0] ?? null;
    this.opened.set(alias, fleet);
    return fleet;
  }

  /** Starts keeping nodes of `alias` (of `model`, as relay `relay`). */
  open(fleet: FleetOf): void {
    this.sql.exec(
      "INSERT INTO fleets (alias, model, relay, sent_at_ms, sent_reporting, dirty) VALUES (?, ?, ?, 0, 0, 1) ON CONFLICT (alias) DO NOTHING",
      fleet.alias,
      fleet.model,
      fleet.relay,
    );
    this.opened.delete(fleet.alias);
  }

  /**
   * Takes a node's report; `flush` writes it with the others of its burst (the relay calls it
   * within REPORT_FLUSH_MS, and the reads here flush first). Several reports of one node in
   * between count as its last one: the records are what each node last said, not a log.
   */
  record(fleet: FleetOf, report: NodeReport, now: number): void {
    const key = `${fleet.alias}\u0000${report.node}`;
    const firstSeen = this.pending.get(key)?.firstSeen ?? now;
    this.pending.delete(key);
    this.pending.set(key, { fleet, report, now, firstSeen });
  }

  /**
   * Writes the reports taken since the last flush in two statements whatever their number (one
   * storage commit for a burst: an alias change makes every node report twice within a second),
   * and notes the aliases whose summary they change (`takeChanged`): a new node, another version,
   * state, reason or target, or a node back from stale. A report that only says "still the
   * same" (every NODE_REPORT_S) changes no summary, and costs no send.
   */
  flush(): void {
    if (this.pending.size === 0) return;
    const rows = JSON.stringify(
      [...this.pending.values()].map(({ fleet, report, now, firstSeen }) => [
        fleet.alias,
        report.node,
        report.version,
        report.state,
        report.reason,
        report.target,
        JSON.stringify(report.labels),
        report.agent,
        nodeUnit(fleet.model, fleet.alias, report.node),
        timestamp(now),
        now,
        timestamp(firstSeen),
      ]),
    );
    this.pending.clear();
    const changed = this.sql
      .exec<{ alias: string }>(
        `SELECT DISTINCT r.value ->> 0 AS alias FROM json_each(?1) r
         LEFT JOIN nodes n ON n.alias = r.value ->> 0 AND n.node = r.value ->> 1
         WHERE n.node IS NULL OR n.version IS NOT r.value ->> 2 OR n.state IS NOT r.value ->> 3
            OR n.reason IS NOT r.value ->> 4 OR n.target IS NOT r.value ->> 5 OR n.last_seen_ms <= (r.value ->> 10) - ?2`,
        rows,
        this.ttlMs,
      )
      .toArray();
    // "WHERE true": SQLite's way to tell the upsert's ON CONFLICT from a join's ON.
    this.sql.exec(
      `INSERT INTO nodes (alias, node, version, state, reason, target, labels, agent, unit, since, state_since_ms, first_seen, last_seen, last_seen_ms)
       SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 6, r.value ->> 7,
              r.value ->> 8, r.value ->> 9, r.value ->> 10, r.value ->> 11, r.value ->> 9, r.value ->> 10
       FROM json_each(?) r WHERE true
       ON CONFLICT (alias, node) DO UPDATE SET
         since = CASE WHEN nodes.version IS excluded.version THEN nodes.since ELSE excluded.since END,
         state_since_ms = CASE WHEN nodes.state = excluded.state AND nodes.version IS excluded.version AND nodes.target IS excluded.target
                               THEN nodes.state_since_ms ELSE excluded.state_since_ms END,
         version = excluded.version, state = excluded.state, reason = excluded.reason, target = excluded.target,
         labels = excluded.labels, agent = excluded.agent, last_seen = excluded.last_seen, last_seen_ms = excluded.last_seen_ms`,
      rows,
    );
    for (const { alias } of changed) {
      this.markDirty(alias);
      this.changed.add(alias);
    }
  }

  /** The aliases whose summary changed since the last call (flushed reports): the relay sends them soon. */
  takeChanged(): string[] {
    const aliases = [...this.changed];
    this.changed.clear();
    return aliases;
  }

  /** What the relay would tell the model's object now changed (a report, staleness, a new value of the alias). */
  markDirty(alias: string): void {
    this.sql.exec("UPDATE fleets SET dirty = 1 WHERE alias = ?", alias);
  }

  /** The summary of `alias`'s nodes judged against `value`, recorded as sent now (clean). */
  takeSummary(alias: string, value: Intended | null, now: number): FleetSummary {
    this.flush();
    const rows = this.sql.exec<Row>("SELECT * FROM nodes WHERE alias = ?", alias);
    const summary = summarize(
      (function* (): Generator<NodeRow> {
        for (const r of rows)
          yield {
            node: r.node,
            version: r.version,
            state: r.state,
            reason: r.reason,
            target: r.target,
            unit: r.unit,
            lastSeenMs: r.last_seen_ms,
            stateSinceMs: r.state_since_ms,
          };
      })(),
      value,
      now,
      this.ttlMs,
    );
    this.sql.exec(
      "UPDATE fleets SET sent_at_ms = ?, sent_reporting = ?, dirty = 0 WHERE alias = ?",
      now,
      summary.reporting,
      alias,
    );
    this.changed.delete(alias);
    return summary;
  }

  /**
   * Time's part: forgets nodes not heard from for a day, notes nodes gone stale since the last
   * summary (the reporting count only falls between summaries: every report that raises it
   * marks the fleet dirty), and answers the fleets whose summary is due now, and when this
   * relay must look again (null: never, on time's account).
   */
  upkeep(now: number): { due: FleetOf[]; next: number | null } {
    this.flush();
    let next: number | null = null;
    const soonest = (at: number | null) => {
      if (at !== null) next = next === null ? at : Math.min(next, at);
    };
    const due: FleetOf[] = [];
    for (const fleet of this.fleets()) {
      const forgot = this.sql.exec(
        "DELETE FROM nodes WHERE alias = ? AND last_seen_ms <= ?",
        fleet.alias,
        now - NODE_FORGET_MS,
      ).rowsWritten;
      const { reporting, oldestReporting, oldest } = this.sql
        .exec<{ reporting: number; oldestReporting: number | null; oldest: number | null }>(
          "SELECT count(CASE WHEN last_seen_ms > ?1 THEN 1 END) AS reporting, min(CASE WHEN last_seen_ms > ?1 THEN last_seen_ms END) AS oldestReporting, min(last_seen_ms) AS oldest FROM nodes WHERE alias = ?2",
          now - this.ttlMs,
          fleet.alias,
        )
        .one();
      const dirty = fleet.dirty === 1 || forgot > 0 || reporting !== fleet.sent_reporting;
      if (dirty) this.markDirty(fleet.alias);
      if (dirty) {
        if (now - fleet.sent_at_ms >= SUMMARY_EVERY_MS) due.push(fleet);
        else soonest(fleet.sent_at_ms + SUMMARY_EVERY_MS);
      }
      // The next node to go stale, and the next to be forgotten.
      soonest(oldestReporting === null ? null : oldestReporting + this.ttlMs);
      soonest(oldest === null ? null : oldest + NODE_FORGET_MS);
    }
    return { due, next };
  }

  /** Whether a summary of `alias` may go now (none went in the last second); else when it may. */
  sendableAt(alias: string): number {
    const row = this.sql
      .exec<{ sent_at_ms: number }>("SELECT sent_at_ms FROM fleets WHERE alias = ?", alias)
      .toArray()[0];
    return (row?.sent_at_ms ?? 0) + SUMMARY_EVERY_MS;
  }

  /** Whether `alias` has nodes left; when it has none, the fleet is closed (its last summary said so). */
  closeIfEmpty(alias: string): boolean {
    this.flush();
    const { n } = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM nodes WHERE alias = ?", alias).one();
    if (n > 0) return false;
    this.sql.exec("DELETE FROM fleets WHERE alias = ?", alias);
    this.opened.set(alias, null);
    return true;
  }

  /** A page of `alias`'s nodes in name order. */
  nodes(alias: string, q: NodeQuery, now: number): Node[] {
    this.flush();
    const where: string[] = [];
    const binds: (string | number)[] = [];
    const and = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      binds.push(...values);
    };
    and("alias = ?", alias);
    if (q.after !== undefined) and("node > ?", q.after);
    if (q.version !== undefined) and("version = ?", q.version);
    if (q.state !== undefined) and("state = ?", q.state);
    if (q.stale !== undefined) and(q.stale ? "last_seen_ms <= ?" : "last_seen_ms > ?", now - this.ttlMs);
    if (q.label !== undefined) and("EXISTS (SELECT 1 FROM json_each(labels) WHERE key = ? AND value = ?)", ...q.label);
    return this.sql
      .exec<Row>(`SELECT * FROM nodes WHERE ${where.join(" AND ")} ORDER BY node LIMIT ?`, ...binds, q.limit)
      .toArray()
      .map((r) => ({
        node: r.node,
        version: r.version,
        state: r.state,
        reason: r.reason,
        target: r.target,
        labels: JSON.parse(r.labels) as Record<string, string>,
        agent: r.agent,
        since: r.since,
        first_seen: r.first_seen,
        last_seen: r.last_seen,
        stale: r.last_seen_ms <= now - this.ttlMs,
      }));
  }

  private fleets(): (FleetOf & { sent_at_ms: number; sent_reporting: number; dirty: number })[] {
    return this.sql
      .exec<{ alias: string; model: string; relay: string; sent_at_ms: number; sent_reporting: number; dirty: number }>(
        "SELECT * FROM fleets ORDER BY alias",
      )
      .toArray();
  }
}
