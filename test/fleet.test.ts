/**
 * The fleet end to end inside workerd (docs/fleet.md): nodes report over their watch sockets
 * or by POST, to the relay their key picks; relays keep the records and send the model's
 * object summaries, at most one a second; the fleet view, the node list, staleness and
 * forgetting (the relay's alarm, time driven by backdating its records), converged, lagging and
 * refused against splits, the fleet's events once per change, and who may report.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashUnit, pickFromSplit } from "../src/domain/alias";
import { relayName, relayShard } from "../src/domain/fleet";
import type { WatchRelay } from "../src/state/watch-relay";
import { createModel, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

// reason: tests read arbitrary response shapes
type Body = Record<string, any>;

const SHARDS = 16;
const relayOf = (model: string, alias: string, node: string) =>
  relayName(model, alias, relayShard(node, SHARDS, hashUnit));
const relayStub = (name: string) => env.WATCH_RELAYS.getByName(name) as DurableObjectStub<WatchRelay>;

async function modelWith(name: string, versions: number, alias?: { version: number } | { split: unknown }) {
  await createModel(name);
  for (let i = 1; i <= versions; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} ${i}`) });
  if (alias) expect((await json("PUT", `/v1/models/${name}/aliases/prod`, { body: alias })).status).toBe(200);
}

const post = (model: string, alias: string, body: Body, token?: string) =>
  json("POST", `/v1/models/${model}/aliases/${alias}/nodes`, { body, ...(token ? { token } : {}) });

const fleet = async (model: string, alias = "prod") =>
  (await json("GET", `/v1/models/${model}/aliases/${alias}/fleet`)).body;

const nodes = async (model: string, query = "", alias = "prod") =>
  (await json("GET", `/v1/models/${model}/aliases/${alias}/fleet/nodes${query}`)).body;

async function socket(model: string, alias: string, key: string, scope = "read report", claims: Body = {}) {
  const res = await exports.default.fetch(
    new Request(`http://mreg.test/v1/models/${model}/aliases/${alias}/watch?key=${encodeURIComponent(key)}`, {
      headers: { upgrade: "websocket", authorization: `Bearer ${await hsToken({ scope, ...claims })}` },
    }),
  );
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const messages: Body[] = [];
  ws.addEventListener("message", (e) => {
    messages.push(JSON.parse(e.data as string) as Body);
  });
  ws.accept();
  await until(() => messages.length >= 1, "the socket's current state");
  return { ws, messages, report: (body: Body) => ws.send(JSON.stringify({ type: "report", ...body })) };
}

const fleetEvents = async (model: string) =>
  ((await json("GET", `/v1/audit?model=${model}&actor=fleet`)).body.items as Body[]).map((e) => e.action).reverse();

describe("reports", () => {
  it("land on the relay the node's key picks, whether sent over the socket or by POST, as one record", async () => {
    await modelWith("fl-one", 2, { version: 2 });
    expect((await post("fl-one", "prod", { node: "node-a", version: 1, state: "syncing", target: 2 })).status).toBe(
      202,
    );
    const s = await socket("fl-one", "prod", "node-a");
    s.report({ version: 2, state: "serving", labels: { zone: "eu-1" }, agent: "mreg-agent/test" });
    await until(async () => (await fleet("fl-one")).converged === true, "the socket's report in the fleet view");
    const page = await nodes("fl-one");
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({
      node: "node-a",
      version: 2,
      state: "serving",
      labels: { zone: "eu-1" },
      agent: "mreg-agent/test",
      stale: false,
    });
    expect(Date.parse(page.items[0].first_seen)).toBeLessThanOrEqual(Date.parse(page.items[0].since));
    // Both ways in reached the one relay the key picks, and only it.
    expect(await modelStub("fl-one").fleetRelays({ model: "fl-one", alias: "prod" })).toEqual({
      ok: true,
      value: [relayOf("fl-one", "prod", "node-a")],
    });
    const held = await runInDurableObject(relayStub(relayOf("fl-one", "prod", "node-a")), (_i, state) =>
      state.storage.sql.exec<{ node: string }>("SELECT node FROM nodes").toArray(),
    );
    expect(held).toEqual([{ node: "node-a" }]);
    s.ws.close(1000, "done");
  });

  it("reach the model's object at most once a second per relay (its calls counted), however fast they come", async () => {
    await modelWith("fl-rate", 1, { version: 1 });
    const relay = relayOf("fl-rate", "prod", "busy");
    const started = Date.now();
    const states = ["serving", "degraded"] as const;
    for (let i = 0; i < 40; i++)
      expect(
        (await post("fl-rate", "prod", { node: "busy", version: 1, state: states[i % 2], reason: `r${i}` })).status,
      ).toBe(202);
    // The last report's state (degraded, r39) reaches the view, a summary at most a second after it.
    await until(async () => (await fleet("fl-rate")).by_version[0]?.degraded === 1, "the last report in the view");
    const elapsed = Date.now() - started;
    const received = await runInDurableObject(
      modelStub("fl-rate"),
      (_i, state) =>
        state.storage.sql
          .exec<{ received: number }>("SELECT received FROM fleet_summaries WHERE relay = ?", relay)
          .one().received,
    );
    // Each summary waits a second after the one before: in `elapsed` ms, at most elapsed/1000 + 1 of them.
    expect(received).toBeLessThanOrEqual(Math.floor(elapsed / 1000) + 1);
    expect(received).toBeGreaterThanOrEqual(1);
    // A report that changes nothing (a node's every-30-s "still the same") sends no summary at all.
    const before = (await fleet("fl-rate")).summaries;
    for (let i = 0; i < 5; i++)
      await post("fl-rate", "prod", { node: "busy", version: 1, state: "degraded", reason: "r39" });
    await runDurableObjectAlarm(relayStub(relay));
    expect((await fleet("fl-rate")).summaries).toBe(before);
  });

  it("mark a node stale after NODE_TTL_S and forget it after a day (the relay's alarm, its clock driven by backdating)", async () => {
    await modelWith("fl-time", 1, { version: 1 });
    for (const node of ["n1", "n2"]) await post("fl-time", "prod", { node, version: 1, state: "serving" });
    await until(async () => (await fleet("fl-time")).reporting === 2, "two reporting nodes");
    const backdate = (node: string, ms: number) =>
      runInDurableObject(relayStub(relayOf("fl-time", "prod", node)), (_i, state) => {
        state.storage.sql.exec("UPDATE nodes SET last_seen_ms = last_seen_ms - ? WHERE node = ?", ms, node);
        state.storage.sql.exec("UPDATE fleets SET sent_at_ms = 0");
      });
    await backdate("n1", 91_000);
    await runDurableObjectAlarm(relayStub(relayOf("fl-time", "prod", "n1")));
    await until(async () => (await fleet("fl-time")).reporting === 1, "n1 stale");
    expect(await fleet("fl-time")).toMatchObject({ nodes: 2, reporting: 1, converged: true });
    expect((await nodes("fl-time", "?stale=true")).items.map((n: Body) => n.node)).toEqual(["n1"]);
    expect((await nodes("fl-time", "?stale=false")).items.map((n: Body) => n.node)).toEqual(["n2"]);
    // A stale node that reports again is reporting again.
    await post("fl-time", "prod", { node: "n1", version: 1, state: "serving" });
    await until(async () => (await fleet("fl-time")).reporting === 2, "n1 back");
    await backdate("n1", 24 * 3600_000 + 1);
    await runDurableObjectAlarm(relayStub(relayOf("fl-time", "prod", "n1")));
    await until(async () => (await fleet("fl-time")).nodes === 1, "n1 forgotten");
    expect((await nodes("fl-time")).items.map((n: Body) => n.node)).toEqual(["n2"]);
  });
});

describe("the fleet view", () => {
  it("judges each node by the split member its key picks: converged, lagging and refused", async () => {
    const split = [
      { version: 1, weight: 70 },
      { version: 2, weight: 30 },
    ];
    await modelWith("fl-split", 2, { split });
    const names = Array.from({ length: 12 }, (_, i) => `host-${i}`);
    const member = (n: string) => pickFromSplit(split, "fl-split", "prod", n);
    expect(new Set(names.map(member)).size).toBe(2);
    for (const n of names) await post("fl-split", "prod", { node: n, version: member(n), state: "serving" });
    await until(async () => (await fleet("fl-split")).reporting === 12, "twelve nodes");
    await until(async () => (await fleet("fl-split")).converged, "converged on the split");
    const f = await fleet("fl-split");
    expect(f).toMatchObject({ intended: { version: null, split }, in_step: 12, lagging: 0, refused: 0 });
    expect(f.by_version.map((v: Body) => [v.version, v.serving])).toEqual(
      [1, 2]
        .map((v) => [v, names.filter((n) => member(n) === v).length])
        .sort((a, b) => b[1]! - a[1]! || b[0]! - a[0]!),
    );
    // One node on the other member, one refusing its own: neither is in step.
    const [wrong, refusing] = names;
    const other = (n: string) => (member(n) === 1 ? 2 : 1);
    await post("fl-split", "prod", { node: wrong!, version: other(wrong!), state: "serving" });
    await post("fl-split", "prod", {
      node: refusing!,
      version: other(refusing!),
      state: "refused",
      target: member(refusing!),
      reason: "check failed: AUC 0.71 < 0.9",
    });
    await until(async () => (await fleet("fl-split")).refused === 1, "the refusal");
    await until(async () => (await fleet("fl-split")).lagging === 1, "the lagging node");
    expect(await fleet("fl-split")).toMatchObject({
      converged: false,
      in_step: 10,
      reasons: [{ reason: "check failed: AUC 0.71 < 0.9", nodes: 1 }],
    });
  });

  it("re-judges the nodes when the alias moves, and raises each of the fleet's events once per change", async () => {
    await modelWith("fl-events", 2, { version: 1 });
    const s = await socket("fl-events", "prod", "solo");
    s.report({ version: 1, state: "serving" });
    await until(async () => (await fleetEvents("fl-events")).includes("fleet.converged"), "converged on v1");
    expect(await fleetEvents("fl-events")).toEqual(["fleet.converged"]);

    await json("PUT", "/v1/models/fl-events/aliases/prod", { body: { version: 2 } });
    // The relay hears of v2 and judges its node again: no longer in step.
    await until(async () => (await fleet("fl-events")).lagging === 1, "the node lagging after the change");
    expect(await fleet("fl-events")).toMatchObject({ converged: false, intended: { version: 2 } });
    s.report({ version: 1, state: "refused", target: 2, reason: "check failed (0)" });
    await until(async () => (await fleetEvents("fl-events")).includes("fleet.refused"), "fleet.refused");
    // Refusing again (after its retry backoff) is no new event of this change.
    s.report({ version: 1, state: "refused", target: 2, reason: "check failed (1)" });
    await until(async () => (await fleet("fl-events")).reasons[0]?.reason === "check failed (1)", "the second refusal");
    // Drift is due FLEET_DRIFT_AFTER_S after the change: bring its time forward, let the alarm judge.
    await runInDurableObject(modelStub("fl-events"), (_i, state) => {
      state.storage.sql.exec("UPDATE fleet_changes SET drift_due_ms = ? WHERE drift_due_ms IS NOT NULL", Date.now());
    });
    await runDurableObjectAlarm(modelStub("fl-events"));
    await until(async () => (await fleetEvents("fl-events")).includes("fleet.drift"), "fleet.drift");
    s.report({ version: 2, state: "serving" });
    await until(async () => (await fleetEvents("fl-events")).length === 4, "fleet.converged on v2");
    await runDurableObjectAlarm(modelStub("fl-events"));
    s.report({ version: 2, state: "degraded" });
    s.report({ version: 2, state: "serving" });
    await until(async () => (await fleet("fl-events")).converged, "back in step");
    const events = await fleetEvents("fl-events");
    expect(events).toEqual(["fleet.converged", "fleet.refused", "fleet.drift", "fleet.converged"]);
    const refused = (await json("GET", "/v1/audit?model=fl-events&action=fleet.refused")).body.items[0];
    expect(refused).toMatchObject({ actor: "fleet", alias: "prod", version: 2, reason: "check failed (0)" });
    expect(refused.detail).toMatchObject({ node: "solo", serving: 1 });
    s.ws.close(1000, "done");
  });
});

describe("who may report, and see", () => {
  it("needs the report scope and the alias's grant, by POST and over the socket alike", async () => {
    await modelWith("fl-auth", 1, { version: 1 });
    const body = { node: "n", version: 1, state: "serving" };
    expect((await post("fl-auth", "prod", body, await hsToken({ scope: "read" }))).status).toBe(403);
    const canary = await hsToken({ scope: "report", aliases: ["canary"] });
    expect((await post("fl-auth", "prod", body, canary)).status).toBe(403);
    expect((await post("fl-auth", "canary", body, canary)).status).toBe(202);
    const readOnly = await socket("fl-auth", "prod", "r", "read");
    readOnly.report({ version: 1, state: "serving" });
    await until(() => readOnly.messages.length >= 2, "an answer to the refused report");
    expect(readOnly.messages[1]).toMatchObject({ event: "report_refused" });
    expect(readOnly.messages[1]!.detail).toContain("'report' scope");
    const other = await socket("fl-auth", "prod", "o", "read report", { aliases: ["canary"] });
    other.report({ node: "o", version: 1, state: "serving" });
    await until(() => other.messages.length >= 2, "an answer to the refused report");
    expect(other.messages[1]).toMatchObject({ event: "report_refused" });
    const lying = await socket("fl-auth", "prod", "me");
    lying.report({ node: "someone-else", version: 1, state: "serving" });
    lying.report({ version: "one", state: "serving" });
    await until(() => lying.messages.length >= 3, "two refusals");
    expect(lying.messages.slice(1).map((m) => m.event)).toEqual(["report_refused", "report_refused"]);
    expect(lying.messages[1]!.detail).toContain("'me'");
    expect((await nodes("fl-auth")).items).toEqual([]);
    for (const s of [readOnly, other, lying]) s.ws.close(1000, "done");
  });

  it("validates reports, and answers 404 for a model that does not exist and 403 for another team's", async () => {
    await modelWith("team-a-fleet", 1, { version: 1 });
    for (const bad of [
      { node: "", version: 1, state: "serving" },
      { node: "n", version: 0, state: "serving" },
      { node: "n", version: 1, state: "asleep" },
      {
        node: "n",
        version: 1,
        state: "serving",
        labels: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])),
      },
      { node: "n", version: 1, state: "serving", labels: { "bad key!": "v" } },
      { node: "n", version: 1, state: "serving", extra: true },
    ]) {
      const res = await post("team-a-fleet", "prod", bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await post("no-such-model", "prod", { node: "n", version: 1, state: "serving" })).status).toBe(404);
    expect((await json("GET", "/v1/models/no-such-model/aliases/prod/fleet")).status).toBe(404);
    expect((await json("GET", "/v1/models/no-such-model/aliases/prod/fleet/nodes")).status).toBe(404);
    const teamB = await hsToken({ scope: "read report", models: ["team-b-*"] });
    expect((await post("team-a-fleet", "prod", { node: "n", version: 1, state: "serving" }, teamB)).status).toBe(403);
    expect((await json("GET", "/v1/models/team-a-fleet/aliases/prod/fleet", { token: teamB })).status).toBe(403);
    expect((await json("GET", "/v1/models/team-a-fleet/aliases/prod/fleet/nodes", { token: teamB })).status).toBe(403);
  });
});

describe("the node list", () => {
  it("pages through every relay's nodes in name order, filtered by version, state and label", async () => {
    await modelWith("fl-page", 2, { version: 2 });
    const names = Array.from({ length: 23 }, (_, i) => `n-${String(i).padStart(2, "0")}`);
    for (const [i, node] of names.entries())
      await post("fl-page", "prod", {
        node,
        version: i % 3 === 0 ? 1 : 2,
        state: i % 3 === 0 ? "syncing" : "serving",
        labels: { zone: i % 2 ? "odd" : "even" },
      });
    await until(async () => (await fleet("fl-page")).nodes === 23, "23 nodes summarized");
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Body = await nodes("fl-page", `?limit=5${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.items.map((n: Body) => n.node));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(names);
    const syncing = (await nodes("fl-page", "?state=syncing&limit=200")).items.map((n: Body) => n.node);
    expect(syncing).toEqual(names.filter((_, i) => i % 3 === 0));
    expect((await nodes("fl-page", "?version=1")).items.map((n: Body) => n.node)).toEqual(syncing);
    const odd = (await nodes("fl-page", "?label=zone:odd&limit=200")).items.map((n: Body) => n.node);
    expect(odd).toEqual(names.filter((_, i) => i % 2));
    expect((await json("GET", "/v1/models/fl-page/aliases/prod/fleet/nodes?cursor=nonsense")).status).toBe(400);
    expect((await json("GET", "/v1/models/fl-page/aliases/prod/fleet/nodes?label=nocolon")).status).toBe(400);
  });
});

describe("the model page", () => {
  it("shows each alias's fleet: counts per version and state, the refused nodes and why, how long since the change", async () => {
    await modelWith("fl-page-ui", 2, { version: 2 });
    for (let i = 0; i < 4; i++) await post("fl-page-ui", "prod", { node: `ok-${i}`, version: 2, state: "serving" });
    await post("fl-page-ui", "prod", {
      node: "stuck-0",
      version: 1,
      state: "refused",
      target: 2,
      reason: "hook failed",
    });
    await until(async () => (await fleet("fl-page-ui")).reporting === 5, "five nodes");
    const signIn = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/sign-in", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: await hsToken({ scope: "read" }), next: "/" }),
        redirect: "manual",
      }),
    );
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const html = await (
      await exports.default.fetch(new Request("http://127.0.0.1:8787/m/fl-page-ui", { headers: { cookie } }))
    ).text();
    const cell = /<div data-fleet="">(.*?)<\/ul><\/div>/s.exec(html)?.[1]?.replace(/<[^>]+>/g, " ") ?? "";
    expect(cell).toContain("4 nodes on v2, 1 on v1 (1 refused); refused: hook failed");
    expect(cell).toContain("4 of 5 in step, 0 lagging, 1 refused");
    expect(cell).toMatch(/\d+ s since the change/);
    expect(cell).toContain("stuck-0");
    expect(cell).toContain("refused v2");
  });
});
