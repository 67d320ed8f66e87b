/**
 * The model's object's side of the fleet (src/state/fleet-ops.ts): it keeps each relay's
 * latest summary, answers the fleet view and the share of a split from them, and raises the
 * fleet's events once per change. Summaries are sent here as a relay would send them.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { nodeUnit, summarize, type Intended, type NodeRow } from "../src/domain/fleet";
import { fleetOf, shareServing } from "../src/state/fleet-ops";
import { createModel, json, modelStub, readyVersion } from "./helpers";

const TTL = 90_000;

function rows(model: string, alias: string, nodes: [string, number | null, NodeRow["state"]][]): NodeRow[] {
  const now = Date.now();
  return nodes.map(([node, version, state]) => ({
    node,
    version,
    state,
    reason: state === "refused" ? "check failed: bad weights" : null,
    target: null,
    unit: nodeUnit(model, alias, node),
    lastSeenMs: now,
    stateSinceMs: now,
  }));
}

async function modelWith(name: string, versions: number) {
  await createModel(name);
  for (let i = 1; i <= versions; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} ${i}`) });
}

const send = (model: string, alias: string, relay: string, r: NodeRow[], value: Intended | null) =>
  modelStub(model).recordFleet({ model, alias, relay, summary: summarize(r, value, Date.now(), TTL) });

const fleetEvents = async (model: string) =>
  (await json("GET", `/v1/audit?model=${model}&actor=fleet`)).body.items as { action: string; detail: any }[]; // reason: audit details are free-form

describe("the model's object's fleet", () => {
  it("answers the fleet view and a split's share from the relays' summaries, and holds no node of its own", async () => {
    await modelWith("fs-view", 2);
    await json("PUT", "/v1/models/fs-view/aliases/prod", { body: { version: 2 } });
    const v2: Intended = { version: 2, split: null };
    await send(
      "fs-view",
      "prod",
      "fs-view@prod#0",
      rows("fs-view", "prod", [
        ["a", 2, "serving"],
        ["b", 1, "refused"],
      ]),
      v2,
    );
    await send(
      "fs-view",
      "prod",
      "fs-view@prod#1",
      rows("fs-view", "prod", [
        ["c", 2, "serving"],
        ["d", 1, "syncing"],
      ]),
      v2,
    );
    const { body } = await json("GET", "/v1/models/fs-view/aliases/prod/fleet");
    expect(body).toMatchObject({
      model: "fs-view",
      alias: "prod",
      intended: { version: 2, split: null },
      nodes: 4,
      reporting: 4,
      in_step: 2,
      converged: false,
      refused: 1,
      lagging: 1,
      reasons: [{ reason: "check failed: bad weights", nodes: 1 }],
      relays: 2,
      summaries: 2,
    });
    expect(body.by_version).toEqual([
      { version: 2, nodes: 2, serving: 2, syncing: 0, refused: 0, degraded: 0 },
      { version: 1, nodes: 2, serving: 0, syncing: 1, refused: 1, degraded: 0 },
    ]);
    expect(await modelStub("fs-view").fleetRelays({ model: "fs-view", alias: "prod" })).toEqual({
      ok: true,
      value: ["fs-view@prod#0", "fs-view@prod#1"],
    });
    const read = await runInDurableObject(modelStub("fs-view"), (instance) => {
      // reason: the rooms are private to the class; the rollout decisions read them from inside it.
      const r = (instance as any).rooms;
      return {
        facts: fleetOf(r, "fs-view", "prod"),
        all: shareServing(r, "prod", v2),
        nothing: shareServing(r, "prod", { version: 9, split: null }),
      };
    });
    expect(read.facts).toMatchObject({ reporting: 4, in_step: 2, converged: false });
    expect(read.all).toBe(0.5);
    expect(read.nothing).toBe(0);
  });

  it("raises fleet.refused and fleet.converged once per change of the alias, and fleet.drift from its alarm", async () => {
    await modelWith("fs-events", 2);
    await json("PUT", "/v1/models/fs-events/aliases/prod", { body: { version: 1 } });
    const v1: Intended = { version: 1, split: null };
    const v2: Intended = { version: 2, split: null };
    await send("fs-events", "prod", "r0", rows("fs-events", "prod", [["a", 1, "serving"]]), v1);
    await send("fs-events", "prod", "r0", rows("fs-events", "prod", [["a", 1, "serving"]]), v1);
    expect((await fleetEvents("fs-events")).map((e) => e.action)).toEqual(["fleet.converged"]);

    await json("PUT", "/v1/models/fs-events/aliases/prod", { body: { version: 2 } });
    await send("fs-events", "prod", "r0", rows("fs-events", "prod", [["a", 1, "refused"]]), v2);
    await send("fs-events", "prod", "r0", rows("fs-events", "prod", [["a", 1, "refused"]]), v2);
    const refused = await fleetEvents("fs-events");
    expect(refused.map((e) => e.action)).toEqual(["fleet.refused", "fleet.converged"]);
    expect(refused[0]).toMatchObject({
      version: 2,
      reason: "check failed: bad weights",
      detail: { node: "a", serving: 1 },
    });

    // The drift check is the alarm's, FLEET_DRIFT_AFTER_S after the change: bring it forward.
    await runInDurableObject(modelStub("fs-events"), (_i, state) => {
      state.storage.sql.exec("UPDATE fleet_changes SET drift_due_ms = ?", Date.now() - 1);
    });
    await runDurableObjectAlarm(modelStub("fs-events"));
    await runDurableObjectAlarm(modelStub("fs-events"));
    const after = await fleetEvents("fs-events");
    expect(after.map((e) => e.action)).toEqual(["fleet.drift", "fleet.refused", "fleet.converged"]);
    expect(after[0]!.detail).toMatchObject({ reporting: 1, in_step: 0, refused: 1, lagging: 0 });

    await send("fs-events", "prod", "r0", rows("fs-events", "prod", [["a", 2, "serving"]]), v2);
    await send("fs-events", "prod", "r0", rows("fs-events", "prod", [["a", 2, "serving"]]), v2);
    const converged = await fleetEvents("fs-events");
    expect(converged.map((e) => e.action)).toEqual([
      "fleet.converged",
      "fleet.drift",
      "fleet.refused",
      "fleet.converged",
    ]);
    expect(converged[0]!.detail.took_s).toBeGreaterThanOrEqual(0);
  });
});
