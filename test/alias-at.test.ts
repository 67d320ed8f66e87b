/**
 * Time travel (docs/fleet.md "What ran when"): `GET .../aliases/{alias}?at=` and
 * `/v1/resolve?uri=...&at=` answer what the alias held at an instant, from its history in the
 * model's object, by one indexed seek.
 */
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pickFromSplit, type AliasValue } from "../src/domain/alias";
import { AliasTable } from "../src/state/alias-table";
import { createModel, hsToken, json, modelStub, readyVersion } from "./helpers";

const shifted = (at: string, ms: number) => new Date(Date.parse(at) + ms).toISOString();
const at = (model: string, alias: string, instant: string, extra = "") =>
  json("GET", `/v1/models/${model}/aliases/${alias}?at=${encodeURIComponent(instant)}${extra}`);

describe("what an alias held at an instant", () => {
  it("answers from its history: nothing before the first set, each value between changes, nothing after a delete", async () => {
    await createModel("tt-main");
    for (let i = 1; i <= 3; i++) await readyVersion("tt-main", { "w.bin": new TextEncoder().encode(`tt ${i}`) });
    const set = (body: object) => json("PUT", "/v1/models/tt-main/aliases/prod", { body });
    await set({ version: 1, reason: "first" });
    await set({ version: 2, reason: "better auc" });
    const split = [
      { version: 2, weight: 90 },
      { version: 3, weight: 10 },
    ];
    await set({ split, reason: "canary" });
    await json("DELETE", "/v1/models/tt-main/aliases/prod?reason=retired");
    const history = ((await json("GET", "/v1/models/tt-main/aliases/prod/history")).body.items as any[]).reverse(); // reason: test reads the answer
    expect(history.map((h) => h.action)).toEqual(["set", "set", "set", "delete"]);

    expect((await at("tt-main", "prod", shifted(history[0].at, -1))).status).toBe(404);
    const first = await at("tt-main", "prod", history[0].at);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      model: "tt-main",
      alias: "prod",
      version: 1,
      split: null,
      generation: history[0].generation,
      set_at: history[0].at,
      set_by: "alice",
      reason: "first",
    });
    expect(first.headers.get("cache-control")).toBe("no-store");
    const second = (await at("tt-main", "prod", history[1].at)).body;
    expect(second).toMatchObject({ version: 2, reason: "better auc", generation: history[1].generation });
    // A split: the member a routing key picks, or none without a key.
    expect((await at("tt-main", "prod", history[2].at)).body).toMatchObject({ version: null, split, reason: "canary" });
    expect((await at("tt-main", "prod", history[2].at, "&key=node-7")).body.version).toBe(
      pickFromSplit(split, "tt-main", "prod", "node-7"),
    );
    // Any offset: the same instant in another zone.
    const zoned = new Date(Date.parse(history[1].at)).toISOString().replace("Z", "+00:00");
    expect((await at("tt-main", "prod", zoned)).body.generation).toBe(history[1].generation);
    expect((await at("tt-main", "prod", history[3].at)).status).toBe(404);
    expect((await at("tt-main", "prod", "2999-01-01T00:00:00Z")).status).toBe(404);

    const viaUri = await json(
      "GET",
      `/v1/resolve?uri=${encodeURIComponent("registry://tt-main@prod")}&at=${encodeURIComponent(history[1].at)}`,
    );
    expect(viaUri.body).toEqual(second);
  });

  it("refuses what it cannot answer: a bad instant, a version URI, with lineage; and another team's model", async () => {
    await createModel("tt-bad");
    await readyVersion("tt-bad", { "w.bin": new TextEncoder().encode("bad") });
    await json("PUT", "/v1/models/tt-bad/aliases/prod", { body: { version: 1 } });
    for (const instant of ["yesterday", "2026-11-27", "2026-11-27T04:05:06"]) {
      const res = await at("tt-bad", "prod", instant);
      expect(res.status, instant).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await at("tt-bad", "prod", new Date().toISOString(), "&include=lineage")).status).toBe(400);
    const versionUri = await json(
      "GET",
      `/v1/resolve?uri=${encodeURIComponent("registry://tt-bad/1")}&at=${encodeURIComponent(new Date().toISOString())}`,
    );
    expect(versionUri.status).toBe(400);
    expect((await at("no-such-model", "prod", new Date().toISOString())).status).toBe(404);
    const other = await hsToken({ scope: "read", models: ["team-b-*"] });
    expect(
      (await json("GET", `/v1/models/tt-bad/aliases/prod?at=${new Date().toISOString()}`, { token: other })).status,
    ).toBe(403);
  });

  it("picks the change in force at any instant, as a scan of the whole history would (property, on the table itself)", async () => {
    await createModel("tt-prop");
    await runInDurableObject(modelStub("tt-prop"), (_instance, state) => {
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              // Times with ties: writers' clocks may give two changes the same millisecond.
              t: fc.integer({ min: 0, max: 40 }),
              value: fc.option(fc.integer({ min: 1, max: 5 }), { nil: null }),
            }),
            { maxLength: 25 },
          ),
          fc.array(fc.integer({ min: -2, max: 42 }), { minLength: 1, maxLength: 10 }),
          (changes, instants) => {
            const table = new AliasTable(state.storage.sql);
            table.clear();
            const iso = (t: number) => new Date(Date.UTC(2026, 0, 1) + t).toISOString();
            // Generations ascend, times only roughly (clocks): sorted by time, ties by generation.
            const rows = changes
              .map((c, i) => ({ ...c, generation: i + 1 }))
              .sort((a, b) => a.t - b.t || a.generation - b.generation);
            for (const row of rows) {
              const value: AliasValue | null = row.value === null ? null : { version: row.value, split: null };
              table.record({
                alias: "prod",
                generation: row.generation,
                action: value ? "set" : "delete",
                from: null,
                to: value,
                actor: "a",
                reason: null,
                at: iso(row.t),
              });
            }
            for (const instant of instants) {
              const inForce = rows.filter((r) => r.t <= instant).at(-1);
              const got = table.changeAt("prod", iso(instant));
              expect(got?.generation ?? null).toBe(inForce?.generation ?? null);
              expect(got?.version ?? null).toBe(inForce?.value ?? null);
            }
          },
        ),
      );
    });
  });
});
