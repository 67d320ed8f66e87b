/**
 * What a ModelState decides about its fleets: it keeps each watch relay's latest summary of an
 * alias's nodes (./fleet-table.ts), answers the fleet view from them against what the alias
 * intends now, and raises the fleet's events, each at most once per change of the alias:
 * `fleet.refused` (the first node refusing what it is meant to serve), `fleet.converged` (every
 * reporting node serves what the alias intends) and `fleet.drift` (not converged
 * FLEET_DRIFT_AFTER_S after the change; the object's alarm makes that check).
 *
 * `fleetOf` and `shareServing` are the reads other decisions in this object make (a rollout's
 * hold waits for its share of the fleet): synchronous, from this object's own tables.
 */
import type { AliasValue } from "../domain/alias";
import {
  combine,
  FLEET_ACTOR,
  intendedOf,
  NOTHING,
  servingShare,
  type Fleet,
  type FleetCounts,
  type FleetSummary,
  type Intended,
} from "../domain/fleet";
import { timestamp } from "../domain/ids";
import { resolveNow } from "./alias-ops";
import type { FleetChange } from "./fleet-table";
import type { Outcome } from "./outcome";
import { appendAudit, type Rooms } from "./rooms";

/** The fleet of one alias against what it intends now. */
export interface FleetFacts extends FleetCounts {
  intended: Intended & { generation: number };
  /** When the alias last changed (ms since the epoch); null when not known (a virtual name not seen to change). */
  changedAtMs: number | null;
  /** Relays holding records of its nodes. */
  relays: number;
  /** Summaries taken from them, all time. */
  summaries: number;
}

/** What the alias intends now, and which change of it that is (its generation, or what a virtual name resolves to). */
function intendedNow(r: Rooms, model: string, alias: string): { intended: FleetFacts["intended"]; change: string } {
  const state = resolveNow(r, model, alias);
  const set = r.aliases.get(alias) !== null;
  if (state.ok) {
    const s = state.value;
    const value = intendedOf(s);
    return {
      intended: { ...value, generation: s.generation },
      change: set ? `g${s.generation}` : `=${JSON.stringify(value)}`,
    };
  }
  const last = r.aliases.lastChange(alias);
  return { intended: { ...NOTHING, generation: last?.generation ?? 0 }, change: last ? `g${last.generation}` : "=" };
}

/** When `change` of the alias happened: the alias's own history when it has one, else when this object first saw it. */
function changedAt(r: Rooms, alias: string, change: string, row: FleetChange | null): number | null {
  if (row && row.change === change) return row.changed_at_ms;
  const last = change.startsWith("g") ? r.aliases.lastChange(alias) : null;
  return last ? Date.parse(last.at) : null;
}

/** The fleet of `alias`: every relay's latest summary, judged against what the alias intends now. */
export function fleetOf(r: Rooms, model: string, alias: string): FleetFacts {
  const { intended, change } = intendedNow(r, model, alias);
  const summaries = r.fleet.summaries(alias);
  return {
    ...combine(
      summaries.map((s) => s.summary),
      intended,
    ),
    intended,
    changedAtMs: changedAt(r, alias, change, r.fleet.change(alias)),
    relays: summaries.filter((s) => s.summary.nodes > 0).length,
    summaries: summaries.reduce((n, s) => n + s.received, 0),
  };
}

/**
 * The share of `alias`'s reporting nodes that serve what `value` would intend for them (1 when
 * none reports). Exact for `value` once the relays have judged it (they do within a second of
 * hearing of it); before that, and for any value, exact when its split's boundaries fall on
 * whole per cents, which every split of whole-per-cent weights out of 100 does.
 */
export function shareServing(r: Rooms, alias: string, value: AliasValue | Intended): number {
  return servingShare(
    r.fleet.summaries(alias).map((s) => s.summary),
    value,
  );
}

/** The contract's Fleet, from the facts, at `now`. */
export function fleetView(model: string, alias: string, facts: FleetFacts, now: number): Fleet {
  return {
    model,
    alias,
    intended: facts.intended,
    nodes: facts.nodes,
    reporting: facts.reporting,
    by_version: facts.by_version,
    converged: facts.converged,
    in_step: facts.in_step,
    lagging: facts.lagging,
    refused: facts.refused,
    reasons: facts.reasons,
    since_change_s: facts.changedAtMs === null ? null : Math.max(0, Math.floor((now - facts.changedAtMs) / 1000)),
    updated_at: facts.updated_at === null ? null : timestamp(facts.updated_at),
    relays: facts.relays,
    summaries: facts.summaries,
  };
}

/**
 * A relay's summary of `alias`'s nodes: it replaces that relay's last one, and the fleet's
 * events are decided on the result. Records no change a resolution shows.
 */
export function recordSummary(
  r: Rooms,
  input: { model: string; alias: string; relay: string; summary: FleetSummary },
  now: number,
  driftAfterMs: number,
): Outcome<null> {
  r.fleet.put(input.alias, input.relay, input.summary);
  judge(r, input.model, input.alias, now, driftAfterMs);
  return { ok: true, value: null };
}

/** The alarm's part: every drift check due by `now`. */
export function checkDrifts(r: Rooms, model: string, now: number, driftAfterMs: number): Outcome<null> {
  for (const alias of r.fleet.driftsDue(now)) judge(r, model, alias, now, driftAfterMs);
  return { ok: true, value: null };
}

/**
 * Judges `alias`'s fleet against the change in force: starts judging a new change when the
 * alias moved since (its events not had yet, its drift check due FLEET_DRIFT_AFTER_S after
 * it), then raises whichever of its events are due. No event without a reporting node.
 */
function judge(r: Rooms, model: string, alias: string, now: number, driftAfterMs: number): void {
  const { change } = intendedNow(r, model, alias);
  let row = r.fleet.change(alias);
  if (!row || row.change !== change) {
    const at = changedAt(r, alias, change, null) ?? now;
    row = r.fleet.startChange(alias, change, at, at + driftAfterMs);
  }
  const facts = fleetOf(r, model, alias);
  const by = { model, actor: FLEET_ACTOR, at: timestamp(now) };
  const intendedVersion = facts.intended.version;
  const generation = facts.intended.generation;
  if (facts.reporting > 0 && row.refused_at === null && facts.first_refusal) {
    const refusal = facts.first_refusal;
    appendAudit(r, by, {
      action: "fleet.refused",
      alias,
      version: refusal.target ?? intendedVersion,
      reason: refusal.reason,
      detail: { generation, node: refusal.node, serving: refusal.version, refused_at: timestamp(refusal.at) },
    });
    r.fleet.mark(alias, "refused", by.at);
  }
  if (facts.reporting > 0 && row.converged_at === null && facts.converged) {
    appendAudit(r, by, {
      action: "fleet.converged",
      alias,
      version: intendedVersion,
      detail: { generation, took_s: Math.max(0, (now - row.changed_at_ms) / 1000), nodes: facts.reporting },
    });
    r.fleet.mark(alias, "converged", by.at);
  }
  if (row.drift_due_ms !== null && row.drift_due_ms <= now) {
    if (facts.reporting > 0 && !facts.converged) {
      appendAudit(r, by, {
        action: "fleet.drift",
        alias,
        version: intendedVersion,
        detail: {
          generation,
          after_s: Math.max(0, (now - row.changed_at_ms) / 1000),
          reporting: facts.reporting,
          in_step: facts.in_step,
          lagging: facts.lagging,
          refused: facts.refused,
          by_version: facts.by_version,
        },
      });
      r.fleet.mark(alias, "drift", by.at);
    } else r.fleet.driftJudged(alias);
  }
}
