/**
 * Rollouts through the HTTP API and the model's alarm (docs/rollouts.md): steps on time alone
 * when no node reports, holds that wait for the fleet, pause, resume, abort, guard trips and
 * other changes that end them, gates at the start, races, restarts, repeated alarms, grants.
 *
 * Time is the object's rollout clock, stepped by the test (the object reads it through its
 * `clock` field), and the alarm is run with runDurableObjectAlarm, so no test waits for a
 * hold to pass. The alarm may also fire by itself meanwhile: it reads the same clock, so it
 * can only take decisions already due.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AliasValue } from "../src/domain/alias";
import { summarize } from "../src/domain/fleet";
import { modelState } from "../src/model-writes/stub";
import { Rollout, type FleetShare } from "../src/domain/rollout";
import type { ModelState } from "../src/state/model-state";
import { call, createModel, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

type Internals = {
  clock: () => number;
  fleetShare: (alias: string, value: AliasValue) => FleetShare;
  ctx: DurableObjectState;
};

/** The object's rollout clock, set to `ms`. */
async function setClock(model: string, ms: number) {
  await runInDurableObject(modelStub(model), (instance: ModelState) => {
    // reason: the clock is the object's own field; tests step it rather than sleep.
    (instance as unknown as Internals).clock = () => ms;
  });
}

/** What the object's fleet reports to its rollouts: `share`, for every alias and value it is asked about. */
async function setFleet(model: string, share: (alias: string, value: AliasValue) => FleetShare) {
  await runInDurableObject(modelStub(model), (instance: ModelState) => {
    // reason: the fleet's summaries are the object's input; here the test stands in for the relays.
    (instance as unknown as Internals).fleetShare = share;
  });
}

/** Moves the clock to `ms` and runs the alarm (it must be set: a running rollout always has one). */
async function driveTo(model: string, ms: number) {
  await setClock(model, ms);
  expect(await runDurableObjectAlarm(modelStub(model))).toBe(true);
}

async function twoVersions(model: string, alias = "prod") {
  await createModel(model);
  await readyVersion(model, { "w.bin": new TextEncoder().encode(`${model} one`) });
  await readyVersion(model, { "w.bin": new TextEncoder().encode(`${model} two`) });
  expect((await json("PUT", `/v1/models/${model}/aliases/${alias}`, { body: { version: 1 } })).status).toBe(200);
}

const base = (model: string, alias = "prod") => `/v1/models/${model}/aliases/${alias}`;
const start = (model: string, body: unknown, opts: { alias?: string; token?: string } = {}) =>
  json("PUT", `${base(model, opts.alias)}/rollout`, { body, ...(opts.token ? { token: opts.token } : {}) });
const act = (model: string, action: string, body: unknown = {}, opts: { alias?: string; token?: string } = {}) =>
  json("POST", `${base(model, opts.alias)}/rollout:${action}`, { body, ...(opts.token ? { token: opts.token } : {}) });
const rollout = (model: string, alias = "prod") => json("GET", `${base(model, alias)}/rollout`);
const alias = async (model: string, name = "prod") =>
  (await json("GET", `/v1/models/${model}/aliases`)).body.items.find((a: { alias: string }) => a.alias === name);
const split = (from: number, to: number, w: number) =>
  w === 100
    ? { version: to, split: null }
    : {
        version: null,
        split: [
          { version: from, weight: 100 - w },
          { version: to, weight: w },
        ],
      };
const valueOf = (a: { version: number | null; split: unknown }) => ({ version: a.version, split: a.split });
const auditOf = async (model: string) =>
  (await json("GET", `/v1/audit?model=${model}&limit=200`)).body.items.reverse() as {
    action: string;
    actor: string;
    reason: string | null;
    from?: unknown;
    to?: unknown;
    detail?: Record<string, unknown>;
  }[];

/** Audit events of a rollout's steps, in step order. */
const byStep = (a: { detail?: Record<string, unknown> }, b: { detail?: Record<string, unknown> }) =>
  Number(a.detail?.step) - Number(b.detail?.step);

const T0 = Date.parse("2031-01-01T00:00:00.000Z");
const THREE_STEPS = [
  { weight: 10, hold_s: 60 },
  { weight: 50, hold_s: 60 },
  { weight: 100, hold_s: 30 },
];

/** Opens a watch socket through the Worker and collects its messages. */
async function watch(model: string, name = "prod") {
  const res = await exports.default.fetch(
    new Request(`http://mreg.test${base(model, name)}/watch`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${await hsToken({ scope: "read" })}` },
    }),
  );
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const messages: { event: string; version: number | null; split: unknown; generation: number }[] = [];
  ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
  ws.accept();
  return { messages, close: () => ws.close(1000, "done") };
}

describe("a rollout with no node reporting", () => {
  it("moves the alias through every step on time alone, audited, in the history and heard by watchers", async () => {
    const m = "ro-time";
    await twoVersions(m);
    const watcher = await watch(m);
    await until(() => watcher.messages.length >= 1, "the watch's first message");
    await setClock(m, T0);

    const started = await start(m, { version: 2, steps: THREE_STEPS, reason: "canary of v2" });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(Rollout.parse(started.body)).toMatchObject({
      model: m,
      alias: "prod",
      from: 1,
      to: 2,
      step: 1,
      state: "running",
      min_fleet: 0.9,
      reason: "canary of v2",
      started_by: "alice",
      started_at: new Date(T0).toISOString(),
      step_started_at: new Date(T0).toISOString(),
      // No node reports: the hold starts with the step.
      hold_started_at: new Date(T0).toISOString(),
      next_at: new Date(T0 + 60_000).toISOString(),
    });
    expect(valueOf(await alias(m))).toEqual(split(1, 2, 10));

    // A second before the hold ends nothing moves; at its end the next step comes.
    await driveTo(m, T0 + 59_000);
    expect((await rollout(m)).body.step).toBe(1);
    await driveTo(m, T0 + 60_000);
    expect((await rollout(m)).body).toMatchObject({ step: 2, next_at: new Date(T0 + 120_000).toISOString() });
    expect(valueOf(await alias(m))).toEqual(split(1, 2, 50));
    await driveTo(m, T0 + 120_000);
    expect((await rollout(m)).body).toMatchObject({ step: 3, state: "running" });
    expect(valueOf(await alias(m))).toEqual({ version: 2, split: null });
    // The last step holds too (a guard may still take it back), then the rollout completes.
    await driveTo(m, T0 + 150_000);
    const done = (await rollout(m)).body;
    expect(done).toMatchObject({ step: 3, state: "completed", next_at: null });
    expect(done.history.map((h: { step: number; event: string }) => `${h.step}:${h.event}`)).toEqual([
      "1:step",
      "1:hold",
      "2:step",
      "2:hold",
      "3:step",
      "3:hold",
      "3:completed",
    ]);
    // Completed: the alarm has nothing more to do for it.
    await setClock(m, T0 + 10_000_000);
    await runDurableObjectAlarm(modelStub(m));
    expect((await rollout(m)).body.history).toHaveLength(7);

    // Each step is an alias change by whoever started the rollout, one audit event each.
    const history = (await json("GET", `${base(m)}/history`)).body.items.reverse();
    expect(history.slice(1).map((h: { action: string; actor: string; reason: string }) => [h.action, h.actor])).toEqual(
      [
        ["set", "alice"],
        ["set", "alice"],
        ["set", "alice"],
      ],
    );
    expect(history[1].reason).toBe("rollout step 1 of 3: canary of v2");
    // (Events of one millisecond list in any order: compared as a set, the steps by their number.)
    const audit = (await auditOf(m)).filter((e) => e.action.startsWith("rollout."));
    expect(audit.map((e) => `${e.action}:${e.actor}`).sort()).toEqual([
      "rollout.complete:alice",
      "rollout.start:alice",
      "rollout.step:alice",
      "rollout.step:alice",
      "rollout.step:alice",
    ]);
    const steps = audit.filter((e) => e.action === "rollout.step").sort(byStep);
    expect(steps.map((e) => e.detail?.generation)).toEqual(
      history.slice(1).map((h: { generation: number }) => h.generation),
    );
    expect(steps.map((e) => e.to)).toEqual([split(1, 2, 10), split(1, 2, 50), { version: 2, split: null }]);
    expect(new Set(audit.map((e) => e.detail?.rollout))).toEqual(new Set([done.id]));

    // Watchers heard each step, in order, as event `rollout`.
    await until(() => watcher.messages.length >= 4, "three steps on the watch");
    expect(watcher.messages.slice(1).map((w) => [w.event, w.split === null ? w.version : "split"])).toEqual([
      ["rollout", "split"],
      ["rollout", "split"],
      ["rollout", 2],
    ]);
    watcher.close();
  });
});

describe("a rollout whose fleet reports", () => {
  it("holds a step only once min_fleet of the reporting nodes serve what it intends", async () => {
    const m = "ro-fleet";
    await twoVersions(m);
    const asked: AliasValue[] = [];
    let fleet: FleetShare = { reporting: 10, share: 2 / 10 };
    await setFleet(m, (_alias, value) => {
      asked.push(value);
      return fleet;
    });
    await setClock(m, T0);
    const started = await start(m, { version: 2, steps: THREE_STEPS, min_fleet: 0.7 });
    expect(started.status).toBe(201);
    // Two of ten serve the split: the step waits for the fleet, no hold, nothing due.
    expect(started.body).toMatchObject({ step: 1, hold_started_at: null, next_at: null });
    expect(asked.at(-1)).toEqual(split(1, 2, 10));
    await driveTo(m, T0 + 600_000);
    expect((await rollout(m)).body).toMatchObject({ step: 1, hold_started_at: null });
    // Six of ten: still under 0.7.
    fleet = { reporting: 10, share: 6 / 10 };
    await driveTo(m, T0 + 601_000);
    expect((await rollout(m)).body.hold_started_at).toBeNull();
    // Exactly seven of ten.
    fleet = { reporting: 10, share: 7 / 10 };
    await driveTo(m, T0 + 602_000);
    expect((await rollout(m)).body).toMatchObject({
      step: 1,
      hold_started_at: new Date(T0 + 602_000).toISOString(),
      next_at: new Date(T0 + 662_000).toISOString(),
    });
    const held = (await rollout(m)).body.history.find((h: { event: string }) => h.event === "hold");
    expect(held.detail).toMatchObject({ reporting: 10, share: 0.7 });
    // The hold runs on even if the fleet wavers; the next step waits for its own.
    fleet = { reporting: 10, share: 0 };
    await driveTo(m, T0 + 662_000);
    expect((await rollout(m)).body).toMatchObject({ step: 2, hold_started_at: null, next_at: null });
    expect(asked.at(-1)).toEqual(split(1, 2, 50));
    // Nodes stop reporting: nothing to wait for.
    fleet = { reporting: 0, share: 1 };
    await driveTo(m, T0 + 663_000);
    expect((await rollout(m)).body).toMatchObject({ step: 2, next_at: new Date(T0 + 723_000).toISOString() });
  });

  it("reads the relays' summaries: a step holds once its nodes serve the member their key picks", async () => {
    const m = "ro-summaries";
    await twoVersions(m);
    const stub = modelState(env, m);
    // Ten nodes, one per tenth of the routing keys' range; a 90/10 split gives the last tenth v2.
    const report = (versionOf: (i: number) => number, state: (i: number) => "serving" | "syncing") =>
      stub.recordFleet({
        model: m,
        alias: "prod",
        relay: `${m}@prod#0`,
        summary: summarize(
          Array.from({ length: 10 }, (_, i) => ({
            node: `n${i}`,
            version: versionOf(i),
            state: state(i),
            reason: null,
            target: null,
            unit: (i + 0.5) / 10,
            lastSeenMs: Date.now(),
            stateSinceMs: Date.now(),
          })),
          null,
          Date.now(),
          90_000,
        ),
      });
    await report(
      () => 1,
      () => "serving",
    );
    await setClock(m, T0);
    const started = await start(m, { version: 2, steps: THREE_STEPS, min_fleet: 1 });
    expect(started.status).toBe(201);
    // Nine of ten serve what the split intends for them; the tenth still serves v1.
    expect(started.body).toMatchObject({ hold_started_at: null, next_at: null });
    await report(
      () => 1,
      (i) => (i === 9 ? "syncing" : "serving"),
    );
    await driveTo(m, T0 + 5_000);
    expect((await rollout(m)).body.hold_started_at).toBeNull();
    await report(
      (i) => (i === 9 ? 2 : 1),
      () => "serving",
    );
    await driveTo(m, T0 + 6_000);
    const holding = (await rollout(m)).body;
    expect(holding).toMatchObject({ step: 1, hold_started_at: new Date(T0 + 6_000).toISOString() });
    expect(holding.history.at(-1)).toMatchObject({ event: "hold", detail: { reporting: 10, share: 1 } });
  });

  it("looks at the fleet again a moment later while a step waits for it (the alarm stays armed)", async () => {
    const m = "ro-recheck";
    await twoVersions(m);
    await setFleet(m, () => ({ reporting: 4, share: 0 }));
    await setClock(m, T0);
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
    const alarm = await runInDurableObject(modelStub(m), (_i: ModelState, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(T0 + 1_000);
  });
});

describe("pause, resume and abort", () => {
  it("pause stops the hold, resume starts it again, abort takes the alias back to from", async () => {
    const m = "ro-pause";
    await twoVersions(m);
    await setClock(m, T0);
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
    await setClock(m, T0 + 30_000);
    const paused = await act(m, "pause", { reason: "looking at latency" });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ state: "paused", step: 1, next_at: null, reason: "looking at latency" });
    // Pausing again changes nothing; the hold's end passes and nothing moves.
    expect((await act(m, "pause")).body.history).toHaveLength(paused.body.history.length);
    await setClock(m, T0 + 600_000);
    await runDurableObjectAlarm(modelStub(m));
    expect((await rollout(m)).body).toMatchObject({ state: "paused", step: 1 });
    expect(valueOf(await alias(m))).toEqual(split(1, 2, 10));

    // Resumed: the step holds again from now (no node reports).
    const resumed = await act(m, "resume", { reason: "latency is fine" });
    expect(resumed.body).toMatchObject({
      state: "running",
      step: 1,
      hold_started_at: new Date(T0 + 600_000).toISOString(),
      next_at: new Date(T0 + 660_000).toISOString(),
    });
    expect((await act(m, "resume")).body.history).toHaveLength(resumed.body.history.length);
    await driveTo(m, T0 + 660_000);
    expect((await rollout(m)).body.step).toBe(2);
    expect(valueOf(await alias(m))).toEqual(split(1, 2, 50));

    const generation = (await alias(m)).generation;
    const aborted = await act(m, "abort", { reason: "error budget" });
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({ state: "aborted", step: 2, reason: "error budget", next_at: null });
    expect(aborted.body.generation).toBe(generation + 1);
    const now = await alias(m);
    expect(valueOf(now)).toEqual({ version: 1, split: null });
    expect(now.generation).toBe(generation + 1);
    // One alias change, its one event the abort's, with the generation; history says rollback.
    const abortEvents = (await auditOf(m)).filter((e) => e.action === "rollout.abort");
    expect(abortEvents).toHaveLength(1);
    expect(abortEvents[0]).toMatchObject({ actor: "alice", reason: "error budget", to: { version: 1, split: null } });
    expect(abortEvents[0]!.detail).toMatchObject({ generation: generation + 1, rollout: aborted.body.id });
    const last = (await json("GET", `${base(m)}/history?limit=1`)).body.items[0];
    expect(last).toMatchObject({ action: "rollback", version: 1, generation: generation + 1 });
    expect(aborted.body.history.map((h: { event: string }) => h.event)).toEqual([
      "step",
      "hold",
      "paused",
      "resumed",
      "hold",
      "step",
      "hold",
      "aborted",
    ]);

    // Ended: pause, resume and abort are refused; the alarm leaves it alone.
    for (const action of ["pause", "resume", "abort"]) {
      const refused = await act(m, action);
      expect(refused.status, action).toBe(409);
      expect(refused.body.code).toBe("conflict");
    }
    await setClock(m, T0 + 10_000_000);
    await runDurableObjectAlarm(modelStub(m));
    expect(valueOf(await alias(m))).toEqual({ version: 1, split: null });
    // A new rollout may start now, and replaces the record.
    const again = await start(m, { version: 2, steps: [{ weight: 100, hold_s: 0 }] });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(aborted.body.id);
    expect(again.body.history.map((h: { event: string }) => h.event)).toEqual(["step", "hold"]);
  });

  it("answers 404 for an alias that never had one, and 400 for bodies that break the rules", async () => {
    const m = "ro-404";
    await twoVersions(m);
    expect((await rollout(m)).status).toBe(404);
    for (const action of ["pause", "resume", "abort"]) expect((await act(m, action)).status).toBe(404);
    const bad: unknown[] = [
      { version: 2, steps: [{ weight: 50, hold_s: 1 }] },
      { version: 2, steps: [] },
      {
        version: 2,
        steps: [
          { weight: 0, hold_s: 1 },
          { weight: 100, hold_s: 1 },
        ],
      },
      { version: 2, steps: [{ weight: 101, hold_s: 1 }] },
      { version: 2, steps: [{ weight: 100, hold_s: -1 }] },
      { version: 2, steps: [{ weight: 100, hold_s: 1.5 }] },
      { version: 2, steps: [{ weight: 100, hold_s: 8 * 86_400 }] },
      { version: 2, steps: Array.from({ length: 21 }, (_, i) => ({ weight: i === 20 ? 100 : 1 + i, hold_s: 0 })) },
      { version: 2, steps: [{ weight: 100, hold_s: 1 }], min_fleet: 1.5 },
      { version: 2, steps: [{ weight: 100, hold_s: 1, extra: true }] },
      { version: 0, steps: [{ weight: 100, hold_s: 1 }] },
      { steps: [{ weight: 100, hold_s: 1 }] },
    ];
    for (const body of bad) {
      const res = await start(m, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await start(m, { version: 2, steps: [{ weight: 100, hold_s: 1 }] }, { alias: "latest" })).status).toBe(400);
    expect((await rollout(m)).status).toBe(404);
  });

  it("starts only from an alias serving one version, to a ready version it does not serve", async () => {
    const m = "ro-from";
    await twoVersions(m);
    const steps = [{ weight: 100, hold_s: 0 }];
    expect((await start(m, { version: 1, steps })).body.code).toBe("conflict");
    expect((await start(m, { version: 2, steps }, { alias: "unset" })).body.code).toBe("conflict");
    await json("PUT", `${base(m, "canary")}`, {
      body: {
        split: [
          { version: 1, weight: 50 },
          { version: 2, weight: 50 },
        ],
      },
    });
    expect((await start(m, { version: 2, steps }, { alias: "canary" })).body.code).toBe("conflict");
    expect((await start(m, { version: 9, steps })).status).toBe(404);
    const pending = await json("POST", `/v1/models/${m}/versions`, { body: {} });
    const unready = await start(m, { version: pending.body.version, steps });
    expect(unready.status).toBe(409);
    expect(unready.body.code).toBe("version_not_ready");
    expect((await rollout(m)).status).toBe(404);
    expect((await start("ro-no-such-model", { version: 2, steps })).status).toBe(404);
  });
});

describe("what ends a rollout", () => {
  it("a guard trip takes the alias back to from (not the previous step) and aborts it with the guard's reason", async () => {
    const m = "ro-guard";
    await twoVersions(m);
    const guard = await json("PUT", `${base(m)}/guard`, {
      body: { metric: "err", max: 0.5, window_s: 300, min_samples: 5 },
    });
    expect(guard.status).toBe(200);
    await setClock(m, T0);
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
    await driveTo(m, T0 + 60_000);
    expect(valueOf(await alias(m))).toEqual(split(1, 2, 50));
    const signal = await call("POST", `${base(m)}/signals`, {
      body: { version: 2, metrics: { err: 0.9 }, count: 10 },
      token: await hsToken({ scope: "report" }),
    });
    expect(signal.status).toBe(202);
    await until(async () => (await rollout(m)).body.state === "aborted", "the guard to abort the rollout");
    expect(valueOf(await alias(m))).toEqual({ version: 1, split: null });
    const ended = (await rollout(m)).body;
    expect(ended.reason).toMatch(/err/);
    const audit = await auditOf(m);
    const trip = audit.find((e) => e.action === "rollback" && e.actor === "guard")!;
    expect(trip.to).toEqual({ version: 1, split: null });
    expect(trip.from).toEqual(split(1, 2, 50));
    const abort = audit.find((e) => e.action === "rollout.abort")!;
    expect(abort).toMatchObject({ actor: "guard", reason: trip.reason });
    expect(ended.reason).toBe(trip.reason);
    // The alarm does not bring the rollout back.
    await setClock(m, T0 + 10_000_000);
    await runDurableObjectAlarm(modelStub(m));
    expect(valueOf(await alias(m))).toEqual({ version: 1, split: null });
  });

  // Each other change of the alias ends it, in that change's own transaction: the alias keeps that change.
  const cases: { name: string; alias: string; change: (m: string) => Promise<Response> }[] = [
    { name: "a PUT", alias: "prod", change: (m) => call("PUT", base(m), { body: { version: 1, reason: "manual" } }) },
    { name: "a rollback", alias: "prod", change: (m) => call("POST", `${base(m)}/rollback`, { body: {} }) },
    { name: "a delete", alias: "prod", change: (m) => call("DELETE", base(m)) },
    {
      name: "a swap",
      alias: "prod",
      change: async (m) => {
        await call("PUT", base(m, "other"), { body: { version: 1 } });
        return call("POST", `/v1/models/${m}/aliases:swap`, { body: { aliases: ["prod", "other"] } });
      },
    },
    {
      name: "a stage move of its name",
      alias: "production",
      change: (m) => call("POST", `/v1/models/${m}/versions/1/stage`, { body: { stage: "production" } }),
    },
  ];
  for (const { name, alias: aliasName, change } of cases) {
    it(`${name} of the alias aborts it, and the alarm then leaves the alias alone`, async () => {
      const m = `ro-end-${name
        .split(" ")
        .at(-1)!
        .replace(/[^a-z]/g, "")}`;
      await twoVersions(m, aliasName);
      await setClock(m, T0);
      expect((await start(m, { version: 2, steps: THREE_STEPS }, { alias: aliasName })).status).toBe(201);
      const res = await change(m);
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      const after = await json("GET", `/v1/models/${m}/aliases`);
      const ended = (await rollout(m, aliasName)).body;
      expect(ended.state).toBe("aborted");
      expect(ended.history.at(-1)).toMatchObject({ event: "aborted", step: 1 });
      expect(ended.reason).toContain(`${aliasName} `);
      const abort = (await auditOf(m)).filter((e) => e.action === "rollout.abort");
      expect(abort).toHaveLength(1);
      expect(abort[0]!.detail?.generation).toBeUndefined();
      await setClock(m, T0 + 10_000_000);
      await runDurableObjectAlarm(modelStub(m));
      expect((await json("GET", `/v1/models/${m}/aliases`)).body).toEqual(after.body);
    });
  }

  it("a model deleted and created again has no rollout", async () => {
    const m = "ro-drop";
    await twoVersions(m);
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
    expect((await call("DELETE", base(m))).status).toBe(204);
    expect((await call("DELETE", `/v1/models/${m}`)).status).toBe(204);
    await createModel(m);
    expect((await rollout(m)).status).toBe(404);
  });
});

describe("gates and races", () => {
  it("refuses to start a rollout the alias's gate refuses now (409 gate_failed with the checks, audited)", async () => {
    const m = "ro-gate";
    await twoVersions(m);
    const gate = await json("PUT", `/v1/models/${m}/gates/prod`, { body: { metrics: [{ name: "auc", min: 0.9 }] } });
    expect(gate.status).toBe(200);
    const refused = await start(m, { version: 2, steps: THREE_STEPS, reason: "try" });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("gate_failed");
    expect(refused.body.checks).toEqual([expect.objectContaining({ check: "metrics.auc", passed: false })]);
    expect((await rollout(m)).status).toBe(404);
    expect(valueOf(await alias(m))).toEqual({ version: 1, split: null });
    const denied = (await auditOf(m)).filter((e) => e.action === "promotion_denied");
    expect(denied).toHaveLength(1);
    expect(denied[0]!.detail).toMatchObject({ target: "prod", versions: [2] });
    // Meeting the gate, it starts.
    await json("PATCH", `/v1/models/${m}/versions/2`, { body: { metrics: { auc: 0.95 } } });
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
  });

  it("lets one of two racing starts through; the other is 409 conflict", async () => {
    for (let round = 0; round < 5; round++) {
      const m = `ro-race-${round}`;
      await twoVersions(m);
      const [a, b] = await Promise.all([
        start(m, { version: 2, steps: THREE_STEPS, reason: "a" }),
        start(m, { version: 2, steps: THREE_STEPS, reason: "b" }),
      ]);
      expect([a.status, b.status].sort()).toEqual([201, 409]);
      expect([a, b].find((r) => r.status === 409)!.body.code).toBe("conflict");
      const winner = [a, b].find((r) => r.status === 201)!.body;
      expect((await rollout(m)).body.id).toBe(winner.id);
      expect((await auditOf(m)).filter((e) => e.action === "rollout.step")).toHaveLength(1);
    }
  });
});

describe("the alarm drives it", () => {
  it("resumes where it was after the object is evicted, from the stored alarm or a fresh instance's own", async () => {
    const m = "ro-restart";
    await twoVersions(m);
    await setClock(m, T0);
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
    await driveTo(m, T0 + 60_000);
    await evictDurableObject(modelStub(m));
    const stored = await runInDurableObject(modelStub(m), (_i: ModelState, state) => state.storage.getAlarm());
    expect(stored).not.toBeNull();
    await driveTo(m, T0 + 120_000);
    expect((await rollout(m)).body).toMatchObject({ step: 3, state: "running" });

    // The alarm lost (as if cleared): a new life finds the running rollout and arms it again.
    await runInDurableObject(modelStub(m), (_i: ModelState, state) => state.storage.deleteAlarm());
    await evictDurableObject(modelStub(m));
    const rearmed = await runInDurableObject(modelStub(m), (_i: ModelState, state) => state.storage.getAlarm());
    expect(rearmed).not.toBeNull();
    await driveTo(m, T0 + 150_000);
    expect((await rollout(m)).body.state).toBe("completed");
  });

  it("takes each decision once however often the alarm runs, together or one after another", async () => {
    const m = "ro-twice";
    await twoVersions(m);
    await setClock(m, T0);
    expect((await start(m, { version: 2, steps: THREE_STEPS })).status).toBe(201);
    await driveTo(m, T0 + 60_000);
    await setClock(m, T0 + 60_000);
    await runDurableObjectAlarm(modelStub(m));
    await runInDurableObject(modelStub(m), async (instance: ModelState) => {
      await Promise.all([instance.alarm(), instance.alarm(), instance.alarm()]);
    });
    const now = (await rollout(m)).body;
    expect(now.step).toBe(2);
    expect(
      now.history.filter((h: { event: string }) => h.event === "step").map((h: { step: number }) => h.step),
    ).toEqual([1, 2]);
    expect((await auditOf(m)).filter((e) => e.action === "rollout.step")).toHaveLength(2);
    const history = (await json("GET", `${base(m)}/history`)).body.items;
    expect(history).toHaveLength(3);
  });

  it("goes through every step in one alarm when the holds are zero", async () => {
    const m = "ro-zero";
    await twoVersions(m);
    await setClock(m, T0);
    const steps = [10, 25, 50, 75, 100].map((weight) => ({ weight, hold_s: 0 }));
    expect((await start(m, { version: 2, steps })).status).toBe(201);
    await driveTo(m, T0);
    const done = (await rollout(m)).body;
    expect(done.state).toBe("completed");
    expect(done.history.filter((h: { event: string }) => h.event === "step")).toHaveLength(5);
    const audited = (await auditOf(m)).filter((e) => e.action === "rollout.step").sort(byStep);
    expect(audited.map((e) => [e.detail?.step, e.detail?.weight])).toEqual([
      [1, 10],
      [2, 25],
      [3, 50],
      [4, 75],
      [5, 100],
    ]);
  });
});

describe("grants", () => {
  it("needs promote and the alias grant to start, pause, resume or abort; read to look; the model's grant first", async () => {
    const m = "ro-grants";
    await twoVersions(m);
    const body = { version: 2, steps: THREE_STEPS };
    const staging = await hsToken({ scope: "read promote", aliases: ["staging"] });
    const reader = await hsToken({ scope: "read" });
    const otherTeam = await hsToken({ scope: "read promote", models: ["team-b-*"] });
    for (const token of [staging, reader, otherTeam]) {
      const res = await start(m, body, { token });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    expect((await rollout(m)).status).toBe(404);
    const prodOnly = await hsToken({ scope: "read promote", aliases: ["prod"] });
    expect((await start(m, body, { token: prodOnly })).status).toBe(201);
    expect((await json("GET", `${base(m)}/rollout`, { token: reader })).status).toBe(200);
    expect((await json("GET", `${base(m)}/rollout`, { token: otherTeam })).status).toBe(403);
    for (const action of ["pause", "resume", "abort"]) {
      for (const token of [staging, reader, otherTeam])
        expect((await act(m, action, {}, { token })).status, `${action}`).toBe(403);
    }
    expect((await act(m, "pause", {}, { token: prodOnly })).status).toBe(200);
    expect((await act(m, "abort", {}, { token: prodOnly })).status).toBe(200);
  });

  it("audits the steps as whoever started it, with their minted token", async () => {
    const m = "ro-minted";
    await twoVersions(m);
    const minted = await json("POST", "/v1/tokens", {
      body: { sub: "release-bot", scope: "read promote", ttl_s: 3600 },
    });
    expect(minted.status).toBe(201);
    await setClock(m, T0);
    const steps = [
      { weight: 50, hold_s: 10 },
      { weight: 100, hold_s: 0 },
    ];
    expect((await start(m, { version: 2, steps }, { token: minted.body.token })).status).toBe(201);
    await driveTo(m, T0 + 10_000);
    const audit = (await auditOf(m)).filter((e) => e.action.startsWith("rollout."));
    expect(audit.map((e) => e.action).sort()).toEqual([
      "rollout.complete",
      "rollout.start",
      "rollout.step",
      "rollout.step",
    ]);
    for (const e of audit) expect(e).toMatchObject({ actor: "release-bot", token: minted.body.id });
  });
});

describe("the served OpenAPI", () => {
  it("documents the five routes, the Rollout and its errors", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    const path = "/v1/models/{model}/aliases/{alias}/rollout";
    expect(Object.keys(doc.paths[path]).sort()).toEqual(["get", "put"]);
    for (const action of ["pause", "resume", "abort"]) expect(doc.paths[`${path}:${action}`].post).toBeDefined();
    const put = doc.paths[path].put;
    expect(put.responses["201"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Rollout" });
    expect(put.responses["409"].description).toContain("gate_failed");
    expect(Object.keys(doc.components.schemas.Rollout.properties)).toEqual(
      expect.arrayContaining(["next_at", "history"]),
    );
  });
});
