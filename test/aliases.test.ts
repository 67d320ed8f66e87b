import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createModel, createVersion, hsToken, json, readyVersion } from "./helpers";

/** A model with `n` ready versions (1..n), each holding one small file. */
async function modelWithReady(name: string, n: number) {
  await createModel(name);
  for (let i = 1; i <= n; i++) await readyVersion(name, { "w.bin": new TextEncoder().encode(`${name} v${i}`) });
}

const put = (model: string, alias: string, body: unknown, token?: string) =>
  json("PUT", `/v1/models/${model}/aliases/${alias}`, { body, ...(token ? { token } : {}) });
const resolve = (model: string, alias: string, query = "") =>
  json("GET", `/v1/models/${model}/aliases/${alias}${query}`);

describe("PUT /v1/models/{model}/aliases/{alias}", () => {
  it("sets an alias, folds its case, and resolves it with an ETag of the generation", async () => {
    await modelWithReady("a-set", 2);
    const res = await put("a-set", "Production", { version: 1, reason: "first deploy" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      model: "a-set",
      alias: "production",
      version: 1,
      split: null,
      generation: 1,
      updated_by: "alice",
    });

    const resolved = await resolve("a-set", "PRODUCTION");
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      model: "a-set",
      alias: "production",
      version: 1,
      generation: 1,
      uri: "registry://a-set/1",
      split: null,
    });
    expect(resolved.body.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(resolved.body.files).toEqual([expect.objectContaining({ path: "w.bin" })]);
    expect(resolved.headers.get("etag")).toBe('"1"');
    const notModified = await call("GET", "/v1/models/a-set/aliases/production", {
      headers: { "if-none-match": '"1"' },
    });
    expect(notModified.status).toBe(304);

    // Reads elsewhere show it.
    expect((await json("GET", "/v1/models/a-set")).body.aliases).toEqual({ production: 1 });
    expect((await json("GET", "/v1/models/a-set/versions/1")).body.aliases).toEqual(["production"]);
    expect((await json("GET", "/v1/models/a-set/aliases")).body.items).toEqual([
      expect.objectContaining({ alias: "production", version: 1 }),
    ]);
  });

  it("refuses reserved and malformed names (400)", async () => {
    await modelWithReady("a-names", 1);
    for (const alias of ["latest", "v2", "V10", "9lives", "a".repeat(65), "bad.name", "ünï"]) {
      const res = await put("a-names", encodeURIComponent(alias), { version: 1 });
      expect(res.status, alias).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("needs a ready version (409 version_not_ready) that exists (404)", async () => {
    await modelWithReady("a-ready", 1);
    await createVersion("a-ready");
    const pending = await put("a-ready", "prod", { version: 2 });
    expect(pending.status).toBe(409);
    expect(pending.body.code).toBe("version_not_ready");
    expect((await put("a-ready", "prod", { version: 9 })).status).toBe(404);
    expect(
      (
        await put("a-ready", "prod", {
          split: [
            { version: 1, weight: 1 },
            { version: 2, weight: 1 },
          ],
        })
      ).status,
    ).toBe(409);
  });

  it("validates the body", async () => {
    await modelWithReady("a-body", 1);
    for (const body of [
      {},
      { version: 1, split: [{ version: 1, weight: 1 }] },
      { version: 0 },
      { split: [] },
      { split: [{ version: 1, weight: 0 }] },
      {
        split: [
          { version: 1, weight: 1 },
          { version: 1, weight: 2 },
        ],
      },
      { version: 1, expected_generation: -1 },
    ]) {
      expect((await put("a-body", "prod", body)).status, JSON.stringify(body)).toBe(400);
    }
  });

  it("checks scope and the token's aliases globs", async () => {
    await modelWithReady("a-scope", 1);
    const writer = await hsToken({ scope: "read write" });
    expect((await put("a-scope", "staging", { version: 1 }, writer)).status).toBe(403);
    const ci = await hsToken({ scope: "read promote", aliases: ["staging", "challenger-*"] });
    expect((await put("a-scope", "staging", { version: 1 }, ci)).status).toBe(200);
    expect((await put("a-scope", "challenger-7", { version: 1 }, ci)).status).toBe(200);
    const denied = await put("a-scope", "production", { version: 1 }, ci);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("forbidden");
  });

  it("compare-and-sets with expected_generation", async () => {
    await modelWithReady("a-cas", 2);
    expect((await put("a-cas", "prod", { version: 1, expected_generation: 0 })).status).toBe(200);
    const stale = await put("a-cas", "prod", { version: 2, expected_generation: 0 });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe("conflict");
    expect((await put("a-cas", "prod", { version: 2, expected_generation: 1 })).status).toBe(200);
  });

  it("lets exactly one of 100 concurrent sets with the same expected_generation win", async () => {
    await modelWithReady("a-race", 2);
    await put("a-race", "prod", { version: 1 });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => put("a-race", "prod", { version: 2, expected_generation: 1 })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const losers = results.filter((r) => r.status === 409);
    expect(losers).toHaveLength(99);
    expect(losers.every((r) => r.body.code === "conflict")).toBe(true);
  });

  it("numbers 100 concurrent unconditional sets 1..100, keeps 100 history entries and 100 audit events", async () => {
    await modelWithReady("a-gen", 2);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => put("a-gen", "prod", { version: (i % 2) + 1 })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.map((r) => r.body.generation as number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const history = await json("GET", "/v1/models/a-gen/aliases/prod/history?limit=200");
    expect(history.body.items).toHaveLength(100);
    expect(history.body.items.map((h: { generation: number }) => h.generation)).toEqual(
      Array.from({ length: 100 }, (_, i) => 100 - i),
    );
    const events = await env.DB.prepare(
      "SELECT count(*) AS n FROM audit_events WHERE model = 'a-gen' AND action = 'alias.set'",
    ).first<{ n: number }>();
    expect(events!.n).toBe(100);
  });
});

describe("rollback", () => {
  it("goes back one change per rollback (an undo), audited as rollback", async () => {
    await modelWithReady("r-undo", 3);
    for (const v of [1, 2, 3]) await put("r-undo", "prod", { version: v });
    const first = await json("POST", "/v1/models/r-undo/aliases/prod/rollback", {
      body: { reason: "3am: error rate" },
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ version: 2, generation: 4 });
    const second = await json("POST", "/v1/models/r-undo/aliases/prod/rollback", { body: {} });
    expect(second.body.version).toBe(1);
    const third = await json("POST", "/v1/models/r-undo/aliases/prod/rollback");
    expect(third.status).toBe(409);
    expect(third.body.code).toBe("conflict");
    const history = await json("GET", "/v1/models/r-undo/aliases/prod/history");
    expect(
      history.body.items.slice(0, 2).map((h: { action: string; version: number }) => [h.action, h.version]),
    ).toEqual([
      ["rollback", 1],
      ["rollback", 2],
    ]);
    const audit = await json("GET", "/v1/audit?model=r-undo&action=rollback");
    expect(audit.body.items).toHaveLength(2);
    expect(audit.body.items[1]).toMatchObject({
      alias: "prod",
      from: { version: 3, split: null },
      to: { version: 2, split: null },
      reason: "3am: error rate",
    });
  });

  it("restores a split, and after a new set rolls back to the value before it", async () => {
    await modelWithReady("r-split", 3);
    await put("r-split", "prod", { version: 1 });
    await put("r-split", "prod", {
      split: [
        { version: 1, weight: 90 },
        { version: 2, weight: 10 },
      ],
    });
    await put("r-split", "prod", { version: 2 });
    const back = await json("POST", "/v1/models/r-split/aliases/prod/rollback");
    expect(back.body).toMatchObject({
      version: null,
      split: [
        { version: 1, weight: 90 },
        { version: 2, weight: 10 },
      ],
    });
    await put("r-split", "prod", { version: 3 });
    expect((await json("POST", "/v1/models/r-split/aliases/prod/rollback")).body.split).toHaveLength(2);
  });

  it("rolls back to_version only to a version that held the alias", async () => {
    await modelWithReady("r-to", 3);
    await put("r-to", "prod", { version: 1 });
    await put("r-to", "prod", { version: 3 });
    expect((await json("POST", "/v1/models/r-to/aliases/prod/rollback", { body: { to_version: 2 } })).status).toBe(409);
    const res = await json("POST", "/v1/models/r-to/aliases/prod/rollback", { body: { to_version: 1 } });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(1);
  });

  it("restores a deleted alias", async () => {
    await modelWithReady("r-del", 1);
    await put("r-del", "prod", { version: 1 });
    expect((await call("DELETE", "/v1/models/r-del/aliases/prod?reason=oops")).status).toBe(204);
    expect((await resolve("r-del", "prod")).status).toBe(404);
    expect((await json("POST", "/v1/models/r-del/aliases/prod/rollback")).body.version).toBe(1);
  });
});

describe("swap and delete", () => {
  it("exchanges two aliases in one generation", async () => {
    await modelWithReady("s-swap", 2);
    await put("s-swap", "champion", { version: 1 });
    await put("s-swap", "challenger", { version: 2 });
    const res = await json("POST", "/v1/models/s-swap/aliases:swap", {
      body: { aliases: ["champion", "Challenger"], reason: "A/B won" },
    });
    expect(res.status).toBe(200);
    expect(
      res.body.items.map((a: { alias: string; version: number; generation: number }) => [
        a.alias,
        a.version,
        a.generation,
      ]),
    ).toEqual([
      ["champion", 2, 3],
      ["challenger", 1, 3],
    ]);
    const missing = await json("POST", "/v1/models/s-swap/aliases:swap", { body: { aliases: ["champion", "ghost"] } });
    expect(missing.status).toBe(404);
    // Neither changed.
    expect((await resolve("s-swap", "champion")).body.version).toBe(2);
    expect(
      (await json("POST", "/v1/models/s-swap/aliases:swap", { body: { aliases: ["champion", "champion"] } })).status,
    ).toBe(400);
    const audit = await json("GET", "/v1/audit?model=s-swap&alias=challenger&action=alias.swap");
    expect(audit.body.items).toHaveLength(1);
  });

  it("names the swap's generation in its audit event, as every other alias change does (test/chaos ties audit to history by it)", async () => {
    await modelWithReady("s-swap-gen", 2);
    await put("s-swap-gen", "blue", { version: 1 });
    await put("s-swap-gen", "green", { version: 2 });
    const swapped = await json("POST", "/v1/models/s-swap-gen/aliases:swap", { body: { aliases: ["blue", "green"] } });
    expect(swapped.status).toBe(200);
    const audit = await json("GET", "/v1/audit?model=s-swap-gen&action=alias.swap");
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].detail).toMatchObject({ generation: 3 });
    const history = await json("GET", "/v1/models/s-swap-gen/aliases/blue/history");
    expect(history.body.items[0]).toMatchObject({ generation: 3, action: "swap" });
  });

  it("deletes an alias (204, then 404) and refuses to delete what an alias holds (409 in_use)", async () => {
    await modelWithReady("s-del", 1);
    await put("s-del", "prod", { version: 1 });
    const version = await call("DELETE", "/v1/models/s-del/versions/1");
    expect(version.status).toBe(409);
    expect(((await version.json()) as { code: string }).code).toBe("in_use");
    const model = await json("DELETE", "/v1/models/s-del");
    expect(model.status).toBe(409);
    expect(model.body.code).toBe("in_use");
    expect((await call("DELETE", "/v1/models/s-del/aliases/prod")).status).toBe(204);
    expect((await call("DELETE", "/v1/models/s-del/aliases/prod")).status).toBe(404);
    expect((await json("GET", "/v1/models/s-del")).body.aliases).toEqual({});
    expect((await call("DELETE", "/v1/models/s-del")).status).toBe(204);
  });
});

describe("stages", () => {
  it("moves versions through stages, with and without archive_existing, each move audited", async () => {
    await modelWithReady("st", 3);
    await createVersion("st");
    const stage = (v: number, body: unknown) => json("POST", `/v1/models/st/versions/${v}/stage`, { body });
    expect((await stage(4, { stage: "staging" })).body.code).toBe("version_not_ready");
    expect((await stage(1, { stage: "production" })).body.stage).toBe("production");
    expect((await stage(2, { stage: "production" })).body.stage).toBe("production");
    // Without archive_existing both stay in production; the fallback picks the highest.
    expect((await resolve("st", "production")).body.version).toBe(2);
    const moved = await stage(3, { stage: "production", archive_existing: true, reason: "v3 wins" });
    expect(moved.status).toBe(200);
    const stages = (await json("GET", "/v1/models/st/versions")).body.items.map(
      (v: { version: number; stage: string }) => [v.version, v.stage],
    );
    expect(stages).toEqual([
      [4, "none"],
      [3, "production"],
      [2, "archived"],
      [1, "archived"],
    ]);
    expect((await json("GET", "/v1/audit?model=st&action=version.stage")).body.items).toHaveLength(5);
    // Deleting the production version is refused.
    expect((await call("DELETE", "/v1/models/st/versions/3")).status).toBe(409);
    // An alias named production wins over the stage.
    await put("st", "production", { version: 1 });
    expect((await resolve("st", "production")).body.version).toBe(1);
    expect((await stage(1, { stage: "nowhere" })).status).toBe(400);
    const ci = await hsToken({ scope: "read promote", aliases: ["staging"] });
    expect(
      (await json("POST", "/v1/models/st/versions/2/stage", { token: ci, body: { stage: "production" } })).status,
    ).toBe(403);
  });
});

describe("resolution", () => {
  it("resolves latest and v<n> virtually, and registry:// URIs", async () => {
    await modelWithReady("res", 2);
    await createVersion("res");
    expect((await resolve("res", "latest")).body.version).toBe(2);
    expect((await resolve("res", "v1")).body.version).toBe(1);
    expect((await resolve("res", "v3")).body.code).toBe("version_not_ready");
    expect((await resolve("res", "v9")).status).toBe(404);
    await put("res", "production", { version: 1 });
    const uri = (u: string) => json("GET", `/v1/resolve?uri=${encodeURIComponent(u)}`);
    expect((await uri("registry://res@Production")).body).toMatchObject({ alias: "production", version: 1 });
    expect((await uri("registry://res/2")).body).toMatchObject({ version: 2, uri: "registry://res/2" });
    expect((await uri("registry://res@latest")).body.version).toBe(2);
    expect((await uri("registry://res@v1")).body.version).toBe(1);
    for (const bad of [
      "res@prod",
      "registry://res",
      "registry://Res@prod",
      "registry://res/0",
      "registry://res@",
      "registry://res/1/2",
      "http://res@prod",
      "registry://res@pro@d",
    ]) {
      const res = await uri(bad);
      expect(res.status, bad).toBe(400);
    }
    expect((await uri("registry://res@nothing")).status).toBe(404);
    expect((await json("GET", "/v1/resolve")).status).toBe(400);
    const scoped = await hsToken({ scope: "read", models: ["other-*"] });
    expect(
      (await json("GET", `/v1/resolve?uri=${encodeURIComponent("registry://res@production")}`, { token: scoped }))
        .status,
    ).toBe(403);
  });

  it("splits 90/10 within ±2 points over 10,000 keys, the same key always alike", async () => {
    await modelWithReady("split", 2);
    await put("split", "prod", {
      split: [
        { version: 1, weight: 90 },
        { version: 2, weight: 10 },
      ],
    });
    const { pickFromSplit } = await import("../src/domain/alias");
    const split = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    let ones = 0;
    for (let i = 0; i < 10_000; i++) if (pickFromSplit(split, "split", "prod", `user-${i}`) === 1) ones++;
    expect(Math.abs(ones / 100 - 90)).toBeLessThanOrEqual(2);
    // Over HTTP: the same key, the same version, every time.
    const first = await resolve("split", "prod", "?key=user-42");
    for (let i = 0; i < 5; i++)
      expect((await resolve("split", "prod", "?key=user-42")).body.version).toBe(first.body.version);
    expect(first.body.split).toEqual(split);
    expect(first.body.version).toBe(pickFromSplit(split, "split", "prod", "user-42"));
  });
});

describe("audit", () => {
  it("filters by model, actor, action and time, newest first, with keyset pages", async () => {
    const token = await hsToken({ sub: "auditor-bot" });
    await json("POST", "/v1/models", { token, body: { name: "au" } });
    for (let i = 0; i < 3; i++) await json("POST", "/v1/models/au/versions", { token, body: {} });
    const all = await json("GET", "/v1/audit?model=au");
    expect(all.body.items.map((e: { action: string }) => e.action)).toEqual([
      "version.create",
      "version.create",
      "version.create",
      "model.create",
    ]);
    expect(all.body.items[0]).toMatchObject({ actor: "auditor-bot", model: "au", version: 3 });
    const byActor = await json("GET", "/v1/audit?actor=auditor-bot&limit=2");
    expect(byActor.body.items).toHaveLength(2);
    const next = await json("GET", `/v1/audit?actor=auditor-bot&limit=2&cursor=${byActor.body.next_cursor}`);
    expect(next.body.items).toHaveLength(2);
    expect(next.body.next_cursor).toBeNull();
    const future = await json("GET", `/v1/audit?model=au&since=${encodeURIComponent("2999-01-01T00:00:00Z")}`);
    expect(future.body.items).toEqual([]);
    const past = await json("GET", `/v1/audit?model=au&until=${encodeURIComponent("2000-01-01T00:00:00Z")}`);
    expect(past.body.items).toEqual([]);
    expect((await json("GET", "/v1/audit?since=yesterday")).status).toBe(400);
    const scoped = await hsToken({ scope: "read", models: ["zzz-*"] });
    expect((await json("GET", "/v1/audit?model=au", { token: scoped })).body.items).toEqual([]);
  });

  it("filters by alias exactly: `_` and `%` are no wildcards, and a swap matches each of its aliases", async () => {
    await modelWithReady("au-alias", 1);
    for (const alias of ["a_b", "axb", "a_b2", "b_a_b"])
      expect((await put("au-alias", alias, { version: 1 })).status).toBe(200);
    expect(
      (await json("POST", "/v1/models/au-alias/aliases:swap", { body: { aliases: ["axb", "b_a_b"] } })).status,
    ).toBe(200);
    const aliasesOf = async (filter: string) =>
      (await json("GET", `/v1/audit?model=au-alias&alias=${encodeURIComponent(filter)}`)).body.items.map(
        (e: { alias: string; action: string }) => `${e.action} ${e.alias}`,
      );
    expect(await aliasesOf("a_b")).toEqual(["alias.set a_b"]);
    expect(await aliasesOf("axb")).toEqual(["alias.swap axb,b_a_b", "alias.set axb"]);
    expect(await aliasesOf("b_a_b")).toEqual(["alias.swap axb,b_a_b", "alias.set b_a_b"]);
    expect(await aliasesOf("A_B")).toEqual(["alias.set a_b"]);
    for (const filter of ["a%", "%", "_", "a_", "a%b", "axb,b_a_b", ","])
      expect(await aliasesOf(filter), filter).toEqual([]);
  });
});
