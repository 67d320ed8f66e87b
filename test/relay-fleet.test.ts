/**
 * A relay's node records (src/state/relay-fleet.ts) are written in bursts: reports are taken,
 * then flushed together in two statements. Held here against a plain model of "each node's
 * last report", for random reports cut into random bursts: what is written, what each flush
 * says changed, and how `since` and `first_seen` carry over.
 */
import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NodeReport, NodeState } from "../src/domain/fleet";
import { RELAY_FLEET_SCHEMA, RelayFleet, type FleetOf } from "../src/state/relay-fleet";
import type { WatchRelay } from "../src/state/watch-relay";

const TTL = 90_000;
const STATES: NodeState[] = ["serving", "syncing", "refused"];

const report = fc.record({
  alias: fc.constantFrom("prod", "canary"),
  node: fc.constantFrom("a", "b", "é"),
  version: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  state: fc.constantFrom(...STATES),
  reason: fc.option(fc.constantFrom("bad weights", "check failed"), { nil: null }),
  target: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  zone: fc.constantFrom("z0", "z1"),
  /** Ms after the previous report; now and then long enough for a node to go stale. */
  gap: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 50 }), weight: 19 },
    { arbitrary: fc.constant(TTL + 1), weight: 1 },
  ),
  /** A flush follows this report. */
  flush: fc.boolean(),
});

type Kept = { version: number | null; state: string; reason: string | null; target: number | null; seen: number };

describe("a relay's node records", () => {
  it("written in bursts, are each node's last report, and each flush names exactly the aliases whose summary changed", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(report, { minLength: 1, maxLength: 40 }), async (reports) => {
        const stub = env.WATCH_RELAYS.getByName(`relay-fleet-prop-${run++}`) as DurableObjectStub<WatchRelay>;
        await runInDurableObject(stub, (_instance, state) => {
          const sql = state.storage.sql;
          for (const statement of RELAY_FLEET_SCHEMA) sql.exec(statement);
          sql.exec("DELETE FROM nodes");
          sql.exec("DELETE FROM fleets");
          const fleet = new RelayFleet(sql, TTL);
          const fleets = new Map<string, FleetOf>();
          for (const alias of ["prod", "canary"]) {
            const f = { alias, model: "m", relay: `m@${alias}#0` };
            fleet.open(f);
            fleets.set(alias, f);
          }
          const flushed = new Map<string, Kept>(); // alias\0node → what the table holds
          const firstSeen = new Map<string, number>();
          const sinceOf = new Map<string, number>();
          let pending = new Map<string, Kept & { alias: string }>();
          let now = Date.now();
          const flushAndCheck = () => {
            const expected = new Set<string>();
            for (const [key, last] of pending) {
              const before = flushed.get(key);
              const changed =
                !before ||
                before.version !== last.version ||
                before.state !== last.state ||
                before.reason !== last.reason ||
                before.target !== last.target ||
                before.seen <= last.seen - TTL;
              if (changed) expected.add(last.alias);
              if (!before || before.version !== last.version) sinceOf.set(key, last.seen);
              flushed.set(key, last);
            }
            pending = new Map();
            fleet.flush();
            expect(new Set(fleet.takeChanged())).toEqual(expected);
          };
          for (const r of reports) {
            now += r.gap;
            const key = `${r.alias}\u0000${r.node}`;
            const taken: NodeReport = {
              node: r.node,
              version: r.version,
              state: r.state,
              reason: r.reason,
              target: r.target,
              labels: { zone: r.zone },
              agent: null,
            };
            fleet.record(fleets.get(r.alias)!, taken, now);
            if (!flushed.has(key) && !pending.has(key)) firstSeen.set(key, now);
            pending.set(key, { alias: r.alias, ...taken, seen: now });
            if (r.flush) flushAndCheck();
          }
          flushAndCheck();
          const rows = sql
            .exec<{
              alias: string;
              node: string;
              version: number | null;
              state: string;
              reason: string | null;
              target: number | null;
              last_seen_ms: number;
              since: string;
              first_seen: string;
            }>("SELECT alias, node, version, state, reason, target, last_seen_ms, since, first_seen FROM nodes")
            .toArray();
          expect(rows.length).toBe(flushed.size);
          for (const row of rows) {
            const key = `${row.alias}\u0000${row.node}`;
            const kept = flushed.get(key)!;
            expect({ ...row, since: undefined, first_seen: undefined }).toEqual({
              alias: row.alias,
              node: row.node,
              version: kept.version,
              state: kept.state,
              reason: kept.reason,
              target: kept.target,
              last_seen_ms: kept.seen,
              since: undefined,
              first_seen: undefined,
            });
            expect(Date.parse(row.since)).toBe(sinceOf.get(key));
            expect(Date.parse(row.first_seen)).toBe(firstSeen.get(key));
          }
        });
      }),
      { numRuns: 300 },
    );
  });
});
