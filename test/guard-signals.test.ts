/**
 * The signal route's in-isolate parts, without HTTP: the guard directory (what the isolate
 * knows of a model's guards, and how stale that may be) and the coalescer's bounds.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Coalescer, type GuardSignal, type SignalBatch } from "../src/guards/coalesce";
import { forgetGuards, guardsOf, type DirectoryOptions, type GuardedAlias } from "../src/caches/guard-directory";

/** Options with a clock the test moves, and the waitUntil promises collected. */
function options(ttlS: number) {
  const pending: Promise<unknown>[] = [];
  const clock = { now: 1_000_000 };
  const opts: DirectoryOptions = { ttlS, waitUntil: (p) => pending.push(p), now: () => clock.now };
  return { opts, clock, settle: () => Promise.all(pending) };
}

/** A load that counts its calls and answers what `answer` holds then. */
function counter(answer: { guards: GuardedAlias[] }) {
  const calls = { n: 0 };
  const load = async () => {
    calls.n += 1;
    await new Promise((r) => setTimeout(r, 5));
    return answer.guards;
  };
  return { calls, load };
}

const production: GuardedAlias = { alias: "production", metric: "err", versions: [2], min_nodes: 1 };

describe("the guard directory", () => {
  it("shares one load among the requests that miss together, then answers from memory for the TTL", async () => {
    const { opts, clock } = options(5);
    const { calls, load } = counter({ guards: [production] });
    const answers = await Promise.all(Array.from({ length: 20 }, () => guardsOf("gdir-a", opts, load)));
    expect(calls.n).toBe(1);
    for (const a of answers) expect(a.get("production")).toEqual(production);
    clock.now += 3_000;
    expect((await guardsOf("gdir-a", opts, load)).get("production")).toEqual(production);
    expect(calls.n).toBe(1);
  });

  it("is stale for at most the TTL: a guard set elsewhere is seen once it passes, sooner near its end", async () => {
    const { opts, clock, settle } = options(5);
    const answer = { guards: [] as GuardedAlias[] };
    const { calls, load } = counter(answer);
    expect((await guardsOf("gdir-b", opts, load)).size).toBe(0);
    // Set through another isolate: this one does not know yet.
    answer.guards = [production];
    clock.now += 3_000;
    expect((await guardsOf("gdir-b", opts, load)).has("production")).toBe(false);
    // In the last quarter of the TTL a hit still answers from memory and refreshes behind it.
    clock.now += 1_000;
    expect((await guardsOf("gdir-b", opts, load)).has("production")).toBe(false);
    await settle();
    expect(calls.n).toBe(2);
    expect((await guardsOf("gdir-b", opts, load)).has("production")).toBe(true);
    // Without requests in that last quarter, the first one after the TTL loads before answering.
    answer.guards = [];
    clock.now += 5_000;
    expect((await guardsOf("gdir-b", opts, load)).size).toBe(0);
    expect(calls.n).toBe(3);
  });

  it("forgets a model's guards when this isolate changes them, and reloads at once", async () => {
    const { opts } = options(5);
    const answer = { guards: [production] };
    const { calls, load } = counter(answer);
    await guardsOf("gdir-c", opts, load);
    answer.guards = [{ ...production, versions: [3] }];
    forgetGuards("gdir-c");
    expect((await guardsOf("gdir-c", opts, load)).get("production")!.versions).toEqual([3]);
    expect(calls.n).toBe(2);
  });

  it("keeps nothing with a TTL of 0, and keeps no failure", async () => {
    const { opts } = options(0);
    const { calls, load } = counter({ guards: [production] });
    await guardsOf("gdir-d", opts, load);
    await guardsOf("gdir-d", opts, load);
    expect(calls.n).toBe(2);
    const failing = async (): Promise<GuardedAlias[]> => {
      throw new Error("ModelState cannot answer (injected)");
    };
    const { opts: cached } = options(5);
    await expect(guardsOf("gdir-e", cached, failing)).rejects.toThrow("cannot answer");
    expect((await guardsOf("gdir-e", cached, load)).has("production")).toBe(true);
  });
});

describe("the signal coalescer", () => {
  // The batches' 50 ms on a clock the test moves: what goes early and what goes at its time
  // must not depend on how long the machine takes between two lines.
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());
  const signal = (
    model: string,
    alias: string,
    version: number,
    value: number,
    metric = "err",
    node = "node-1",
    minNodes = 1,
  ): GuardSignal => ({
    model,
    alias,
    metric,
    version,
    value,
    count: 1,
    node,
    minNodes,
  });

  function harness(maxOpenBatches: number, maxVersionsPerBatch: number) {
    const coalescer = new Coalescer({ maxOpenBatches, maxVersionsPerBatch });
    const sent: SignalBatch[] = [];
    const pending: Promise<unknown>[] = [];
    const add = (s: GuardSignal) =>
      coalescer.add(
        s,
        50,
        (p) => pending.push(p),
        async (batch) => {
          sent.push(batch);
        },
      );
    // The batches' time comes: every timer fires, then every send settles.
    const settle = async () => {
      await vi.runAllTimersAsync();
      await Promise.all(pending);
    };
    return { coalescer, sent, add, settle };
  }

  it("holds at most maxOpenBatches batches: a new alias sends the oldest open batch at once", async () => {
    const { coalescer, sent, add, settle } = harness(3, 20);
    for (let i = 0; i < 10; i++) {
      await add(signal("m", `a${i}`, 1, i));
      await add(signal("m", `a${i}`, 1, i));
      expect(coalescer.openBatches).toBeLessThanOrEqual(3);
    }
    await vi.advanceTimersByTimeAsync(0);
    // The seven oldest went early, in the order they were opened, each with both its samples.
    expect(sent.map((b) => b.alias)).toEqual(["a0", "a1", "a2", "a3", "a4", "a5", "a6"]);
    expect(sent[4]).toEqual({
      model: "m",
      alias: "a4",
      metric: "err",
      samples: [{ version: 1, count: 2, sum: 8, nodes: ["node-1"] }],
    });
    expect(coalescer.openBatches).toBe(3);
    // The rest go when their time comes.
    await settle();
    expect(sent.map((b) => b.alias)).toEqual(["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]);
    expect(coalescer.openBatches).toBe(0);
  });

  it("holds at most maxVersionsPerBatch versions, and one metric, per batch", async () => {
    const { coalescer, sent, add, settle } = harness(10, 2);
    await add(signal("m", "prod", 1, 0.1));
    await add(signal("m", "prod", 2, 0.2));
    await add(signal("m", "prod", 1, 0.3));
    expect(sent).toHaveLength(0);
    // A third version cannot join: the batch of two goes now, a new one opens.
    await add(signal("m", "prod", 3, 0.5));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([
      {
        model: "m",
        alias: "prod",
        metric: "err",
        samples: [
          { version: 1, count: 2, sum: expect.closeTo(0.4, 12), nodes: ["node-1"] },
          { version: 2, count: 1, sum: 0.2, nodes: ["node-1"] },
        ],
      },
    ]);
    // The guard's metric changed (a new guard): the open batch goes, the new metric's opens.
    await add(signal("m", "prod", 3, 7, "latency"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent[1]).toEqual({
      model: "m",
      alias: "prod",
      metric: "err",
      samples: [{ version: 3, count: 1, sum: 0.5, nodes: ["node-1"] }],
    });
    expect(coalescer.openBatches).toBe(1);
    // Nothing is lost: the last batch goes when its time comes.
    await settle();
    expect(sent[2]).toEqual({
      model: "m",
      alias: "prod",
      metric: "latency",
      samples: [{ version: 3, count: 1, sum: 7, nodes: ["node-1"] }],
    });
    expect(coalescer.openBatches).toBe(0);
  });

  it("keeps distinct nodes apart per version, up to the guard's min_nodes names (what the object keeps per bucket)", async () => {
    const { sent, add, settle } = harness(10, 20);
    // Signals that name no node are one node, the anonymous one (""), like any other.
    await add(signal("m", "prod", 2, 0.1, "err", "", 3));
    for (let i = 0; i < 50; i++) await add(signal("m", "prod", i % 2 === 0 ? 1 : 2, 0.1, "err", `node-${i % 7}`, 3));
    await settle();
    expect(sent).toHaveLength(1);
    const one = sent[0]!.samples.find((s) => s.version === 1);
    const two = sent[0]!.samples.find((s) => s.version === 2);
    // Every sample counts; names stop at three per version.
    expect(one).toMatchObject({ version: 1, count: 25, nodes: ["node-0", "node-2", "node-4"] });
    expect(two).toMatchObject({ version: 2, count: 26, nodes: ["", "node-1", "node-3"] });
  });
});
