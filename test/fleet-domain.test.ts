/**
 * The fleet's pure rules (src/domain/fleet.ts): a relay's summary of its nodes, the fleet
 * combined from several relays' summaries, and the share of nodes serving what a split
 * intends, against a node-by-node count with the resolve path's own split hash.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pickFromSplit } from "../src/domain/alias";
import {
  combine,
  memberAt,
  nodeUnit,
  NODE_STATES,
  servingShare,
  summarize,
  type Intended,
  type NodeRow,
} from "../src/domain/fleet";

const MODEL = "m";
const ALIAS = "prod";
const NOW = 1_800_000_000_000;
const TTL = 90_000;

const row = (node: string, version: number | null, state: NodeRow["state"], extra: Partial<NodeRow> = {}): NodeRow => ({
  node,
  version,
  state,
  reason: state === "refused" ? "check failed" : null,
  target: null,
  unit: nodeUnit(MODEL, ALIAS, node),
  lastSeenMs: NOW - 1000,
  stateSinceMs: NOW - 5000,
  ...extra,
});

const arbRow = fc
  .record({
    node: fc.string({ minLength: 1, maxLength: 12 }),
    version: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
    state: fc.constantFrom(...NODE_STATES),
    target: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
    ageMs: fc.integer({ min: 0, max: 3 * TTL }),
    since: fc.integer({ min: 0, max: 100_000 }),
  })
  .map((r): NodeRow => ({
    node: r.node,
    version: r.version,
    state: r.state,
    reason: r.state === "refused" ? `reason ${r.version}` : null,
    target: r.target,
    unit: nodeUnit(MODEL, ALIAS, r.node),
    lastSeenMs: NOW - r.ageMs,
    stateSinceMs: NOW - r.since,
  }));

/** Distinct nodes (a relay keeps one record per node). */
const arbRows = fc.uniqueArray(arbRow, { selector: (r) => r.node, maxLength: 60 });

/** A value of the alias: one version, or a split of whole per cents out of 100 (what a rollout sets). */
const arbIntended: fc.Arbitrary<Intended> = fc.oneof(
  fc.integer({ min: 1, max: 4 }).map((version) => ({ version, split: null })),
  fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 99 }))
    .filter(([a, b]) => a !== b)
    .map(([from, to, w]) => ({
      version: null,
      split: [
        { version: from, weight: 100 - w },
        { version: to, weight: w },
      ],
    })),
);

const reporting = (rows: NodeRow[]) => rows.filter((r) => r.lastSeenMs > NOW - TTL);
const exactInStep = (rows: NodeRow[], value: Intended) =>
  reporting(rows).filter((r) => r.state === "serving" && r.version === memberAt(value, r.unit)).length;

/** Deals rows out to `relays` relays by a node hash, as the routes do. */
function dealt(rows: NodeRow[], relays: number): NodeRow[][] {
  const out: NodeRow[][] = Array.from({ length: relays }, () => []);
  for (const r of rows) out[Math.floor(r.unit * relays)]!.push(r);
  return out;
}

describe("a node's place in a split", () => {
  it("is the member a resolve with its key answers", () => {
    fc.assert(
      fc.property(arbIntended, fc.string({ minLength: 1 }), (value, node) => {
        if (!value.split) return;
        expect(memberAt(value, nodeUnit(MODEL, ALIAS, node))).toBe(pickFromSplit(value.split, MODEL, ALIAS, node));
      }),
    );
  });
});

describe("summaries", () => {
  it("count reporting nodes per version and state, leave stale ones out, and judge each against the value", () => {
    const rows = [
      row("a", 7, "serving"),
      row("b", 7, "serving"),
      row("c", 6, "refused"),
      row("d", 6, "syncing"),
      row("e", 7, "serving", { lastSeenMs: NOW - TTL - 1 }),
    ];
    const s = summarize(rows, { version: 7, split: null }, NOW, TTL);
    expect(s.nodes).toBe(5);
    expect(s.reporting).toBe(4);
    expect(s.by_version).toEqual([
      { version: 7, nodes: 2, serving: 2, syncing: 0, refused: 0, degraded: 0 },
      { version: 6, nodes: 2, serving: 0, syncing: 1, refused: 1, degraded: 0 },
    ]);
    expect(s.reasons).toEqual([{ reason: "check failed", nodes: 1 }]);
    expect(s.judged).toMatchObject({ in_step: 2, refusing: 1, first_refusal: { node: "c", version: 6 } });
  });

  it("count a refusal naming another version as none of what the alias intends", () => {
    const s = summarize([row("c", 6, "refused", { target: 5 })], { version: 7, split: null }, NOW, TTL);
    expect(s.judged).toMatchObject({ refusing: 0, first_refusal: null });
  });

  it("combined over any dealing of the nodes to relays, give the counts of all the nodes together (property)", () => {
    fc.assert(
      fc.property(arbRows, arbIntended, fc.integer({ min: 1, max: 5 }), (rows, value, relays) => {
        const fleet = combine(
          dealt(rows, relays).map((part) => summarize(part, value, NOW, TTL)),
          value,
        );
        const live = reporting(rows);
        expect(fleet.nodes).toBe(rows.length);
        expect(fleet.reporting).toBe(live.length);
        expect(fleet.in_step).toBe(exactInStep(rows, value));
        expect(fleet.refused).toBe(live.filter((r) => r.state === "refused").length);
        expect(fleet.converged).toBe(fleet.in_step === live.length);
        expect(fleet.lagging).toBe(live.length - fleet.in_step - fleet.refused);
        expect(fleet.by_version.reduce((n, v) => n + v.nodes, 0)).toBe(live.length);
      }),
    );
  });

  it("are not taken as converged while a relay judged another value, even when its nodes happen to fit", () => {
    const rows = [row("a", 7, "serving")];
    const judgedOld = summarize(rows, { version: 6, split: null }, NOW, TTL);
    const fleet = combine([judgedOld], { version: 7, split: null });
    expect(fleet.in_step).toBe(1);
    expect(fleet.converged).toBe(false);
  });
});

describe("the share serving what a split intends", () => {
  it("equals the node-by-node count for any whole-per-cent split, whatever value the relays judged (property)", () => {
    fc.assert(
      fc.property(arbRows, arbIntended, arbIntended, (rows, judgedAgainst, asked) => {
        const summaries = dealt(rows, 3).map((part) => summarize(part, judgedAgainst, NOW, TTL));
        const live = reporting(rows).length;
        const expected = live === 0 ? 1 : exactInStep(rows, asked) / live;
        expect(servingShare(summaries, asked)).toBeCloseTo(expected, 12);
      }),
    );
  });

  it("is 1 when no node reports", () => {
    expect(servingShare([], { version: 3, split: null })).toBe(1);
    expect(servingShare([summarize([], null, NOW, TTL)], { version: 3, split: null })).toBe(1);
  });
});
