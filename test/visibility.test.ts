/**
 * Which models a token sees is one rule (src/db/visibility.ts): the code check, the SQL
 * condition and its raw-SQL form agree for any claim and any name, and every list and search
 * route answers exactly the visible set, no more and no less, compared with `globMatch`
 * applied here. A pool of models (names that are prefixes of each other, with `.`, `-`, `_`,
 * and past D1's 50-byte pattern limit) is made once, each with something in every list: an
 * audit event, a version with lineage, a webhook and a minted token whose globs name it, the
 * MLflow bridge's registered model and version, and the OCI catalog's repository. Then
 * random tokens read them all.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { sqliteTable, text } from "drizzle-orm/sqlite-core";
import { orm } from "../src/db/session";
import { Visibility } from "../src/db/visibility";
import { visibleSql } from "../src/db/pattern-match";
import { globMatch, globTooComplex } from "../src/domain/glob";
import { MODEL_NAME_PATTERN } from "../src/domain/names";
import { createModel, createVersion, hsToken, json } from "./helpers";

/** A claim as a token carries it: absent (every model), empty (none), or globs. */
type Claim = readonly string[] | undefined;

/** The oracle: what a token with `claim` sees, by `globMatch` alone. */
const sees = (claim: Claim, name: string) => claim === undefined || claim.some((g) => globMatch(g, name));
/** Whether every name `reach` reaches (undefined: every model) is one `claim` sees, glob by glob (`globWithin`'s rule). */
const covers = (claim: Claim, reach: Claim) =>
  claim === undefined || (reach !== undefined && reach.every((r) => claim.some((g) => globMatch(g, r))));

const LONG = `long-${"x".repeat(60)}`;
/** Names chosen to trip prefix and wildcard handling; the rest of the pool is drawn at random. */
const FIXED_NAMES = [
  "a",
  "ab",
  "ab-c",
  "ab.c",
  "ab_c",
  "ab-c-d",
  "abc",
  "b",
  "b.a",
  "0",
  `${LONG}-one`,
  `${LONG}-two`,
  `${LONG}`,
];
const HUB = "a";

const nameArb = fc
  .tuple(fc.constantFrom("a", "b", "0"), fc.array(fc.constantFrom("a", "b", "c", "0", ".", "-", "_"), { maxLength: 6 }))
  .map(([head, tail]) => head + tail.join(""))
  .filter((n) => MODEL_NAME_PATTERN.test(n) && !n.includes(".."));

/** Globs a claim may hold (src/auth/verify.ts ClaimGlob), drawn mostly from the pool's names so they match something. */
function globArb(pool: readonly string[]): fc.Arbitrary<string> {
  const fromName = (n: string) =>
    fc.oneof(
      fc.constant(n),
      fc.nat(n.length).map((i) => `${n.slice(0, i)}*`),
      fc.nat(n.length).map((i) => `*${n.slice(i)}`),
      fc
        .tuple(fc.nat(n.length), fc.nat(n.length))
        .map(([i, j]) => `${n.slice(0, Math.min(i, j))}*${n.slice(Math.max(i, j))}`),
      fc.nat(n.length).map((i) => `${n.slice(0, i)}*${n.slice(i, i + 1)}*`),
      // `?` and `[...]` are literal in a claim's globs (only `*` is a wildcard): they match no model name.
      fc.nat(Math.max(0, n.length - 1)).map((i) => `${n.slice(0, i)}?${n.slice(i + 1)}`),
      fc.nat(n.length).map((i) => `${n.slice(0, i)}[a-z]*`),
    );
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.constantFrom(...pool).chain(fromName) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "*",
          "**",
          "*.*",
          "*-*",
          "*_*",
          "a*",
          "*a",
          "?",
          "[ab]*",
          `*${"x".repeat(55)}-two`,
          `${LONG}*`,
        ),
      },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.constantFrom("a", "b", ".", "-", "_", "*", "?"), { minLength: 1, maxLength: 5 })
          .map((c) => c.join("")),
      },
    )
    .filter((g) => g.length >= 1 && g.length <= 256 && globTooComplex(g) === null);
}

const claimArb = (pool: readonly string[]): fc.Arbitrary<Claim> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant([] as string[]) },
    { weight: 6, arbitrary: fc.array(globArb(pool), { minLength: 1, maxLength: 4 }) },
  );

const sorted = (items: Iterable<string>) => [...items].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe("one visibility rule, as code and as SQL (unit property, in D1)", () => {
  const probe = sqliteTable("visibility_probe", { name: text("name").notNull() });
  const claimsTable = sqliteTable("visibility_claims", { id: text("id").notNull(), globs: text("globs") });

  beforeAll(async () => {
    await env.DB.exec("CREATE TABLE IF NOT EXISTS visibility_probe (name TEXT NOT NULL)");
    await env.DB.exec("CREATE TABLE IF NOT EXISTS visibility_claims (id TEXT NOT NULL, globs TEXT)");
  });

  // Any text, not only model names: the rule is about text (the registry's own events have the model "").
  const unit = fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom("a", "b", "-", ".", "_", "*", "?", "[", "]", "%", "é", "") },
    { weight: 1, arbitrary: fc.constant("ab".repeat(30)) },
  );
  const textArb = fc.array(unit, { maxLength: 8 }).map((u) => u.join(""));
  const anyGlob = textArb.filter((g) => g.length > 0 && globTooComplex(g) === null);
  const anyClaim: fc.Arbitrary<Claim> = fc.oneof(
    fc.constant(undefined),
    fc.constant([] as string[]),
    fc.array(anyGlob, { minLength: 1, maxLength: 5 }),
  );

  it("sees, all, sql, raw and the positional parameter agree with globMatch for random claims and names", async () => {
    await fc.assert(
      fc.asyncProperty(anyClaim, fc.uniqueArray(textArb, { minLength: 1, maxLength: 30 }), async (claim, names) => {
        const visibility = Visibility.of(claim);
        const expected = sorted(names.filter((n) => sees(claim, n)));
        expect(sorted(names.filter((n) => visibility.sees(n)))).toEqual(expected);
        // `all`: sees every name, the registry's "" included; exactly what a `*`-only glob or no claim gives.
        expect(visibility.all).toBe(
          sees(claim, "") && names.every((n) => sees(claim, n)) && sees(claim, "any-other.name"),
        );

        const db = orm(env.DB);
        await env.DB.batch([
          env.DB.prepare("DELETE FROM visibility_probe"),
          ...names.map((n) => env.DB.prepare("INSERT INTO visibility_probe (name) VALUES (?)").bind(n)),
        ]);
        const drizzleRows = await db.select().from(probe).where(visibility.sql(probe.name)).all();
        expect(sorted(drizzleRows.map((r) => r.name)), JSON.stringify(claim)).toEqual(expected);
        const raw = visibility.raw("name");
        const rawRows = await env.DB.prepare(`SELECT name FROM visibility_probe WHERE ${raw.text}`)
          .bind(...raw.params)
          .all<{ name: string }>();
        expect(sorted(rawRows.results.map((r) => r.name)), JSON.stringify(claim)).toEqual(expected);
        const positional = await env.DB.prepare(`SELECT name FROM visibility_probe WHERE ${visibleSql("name", "?1")}`)
          .bind(visibility.param)
          .all<{ name: string }>();
        expect(sorted(positional.results.map((r) => r.name)), JSON.stringify(claim)).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });

  it("covers (globs within globs) in code and in SQL agree with globMatch, a NULL claim reaching every model", async () => {
    await fc.assert(
      fc.asyncProperty(anyClaim, fc.array(anyClaim, { minLength: 1, maxLength: 12 }), async (held, reaches) => {
        const visibility = Visibility.of(held);
        const expected = reaches.flatMap((r, i) => (covers(held, r) ? [String(i)] : []));
        expect(reaches.flatMap((r, i) => (visibility.covers(r) ? [String(i)] : []))).toEqual(expected);
        await env.DB.batch([
          env.DB.prepare("DELETE FROM visibility_claims"),
          ...reaches.map((r, i) =>
            env.DB.prepare("INSERT INTO visibility_claims (id, globs) VALUES (?, ?)").bind(
              String(i),
              r === undefined ? null : JSON.stringify(r),
            ),
          ),
        ]);
        const rows = await orm(env.DB)
          .select({ id: claimsTable.id })
          .from(claimsTable)
          .where(visibility.coversSql(claimsTable.globs))
          .all();
        expect(
          rows.map((r) => r.id).sort((a, b) => Number(a) - Number(b)),
          JSON.stringify(held),
        ).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });
});

describe("every list and search route answers exactly the visible set (property)", () => {
  const poolSeed = Date.now() % 1_000_000;
  const pool = [...new Set([...FIXED_NAMES, ...fc.sample(nameArb, { numRuns: 24, seed: poolSeed })])];
  const root = () => hsToken({ sub: "root", scope: "admin" });
  /** Versions in the pool, as `model/version`: v1 of every model, and the hub's v2. */
  const versions: string[] = [];
  /** The hub's v2 names these parents (v1 of each), in this order. */
  const parents = pool.filter((m) => m !== HUB).slice(0, 32);
  const webhooks: { id: string; reach: Claim }[] = [];
  const tokens: { id: string; reach: Claim }[] = [];

  beforeAll(async () => {
    // Registry-level events reach no webhook here (`events` matches no action), but answer any that slips through.
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("ok"));
    for (const model of pool) {
      await createModel(model);
      const v = await createVersion(model, {
        lineage: { run_id: "vis-run", git_sha: "feedc0de", datasets: [{ uri: "s3://vis/data", snapshot: "s1" }] },
      });
      versions.push(`${model}/${v.version}`);
    }
    const hub = await createVersion(HUB, { lineage: { parents: parents.map((model) => ({ model, version: 1 })) } });
    versions.push(`${HUB}/${hub.version}`);
    expect(hub.version).toBe(2);

    const token = await root();
    const reaches: Claim[] = [
      undefined,
      ["*"],
      ["a*"],
      ["*-two"],
      ["ab*", "b*"],
      [`${LONG}*`],
      ...pool.slice(0, 12).map((m) => [m]),
      [`${pool[1]}*`],
    ];
    for (const reach of reaches) {
      const hook = await json("POST", "/v1/webhooks", {
        token,
        body: { url: "https://hooks.test/vis", events: ["vis.never"], models: reach ?? [] },
      });
      expect(hook.status, JSON.stringify(hook.body)).toBe(201);
      webhooks.push({ id: hook.body.id, reach });
      const minted = await json("POST", "/v1/tokens", {
        token,
        body: { sub: "vis", scope: "read", ...(reach ? { models: reach } : {}) },
      });
      expect(minted.status, JSON.stringify(minted.body)).toBe(201);
      tokens.push({ id: minted.body.id, reach });
    }
  }, 300_000);
  afterAll(() => vi.restoreAllMocks());

  /** Every page of a `/v1` list. */
  async function pages<T>(path: string, token: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 50; n++) {
      const sep = path.includes("?") ? "&" : "?";
      const res: { status: number; body: { items: T[]; next_cursor: string | null } } = await json(
        "GET",
        `${path}${sep}limit=200${cursor ? `&cursor=${cursor}` : ""}`,
        { token },
      );
      expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
      items.push(...res.body.items);
      cursor = res.body.next_cursor;
      if (!cursor) return items;
    }
    throw new Error(`${path}: paging did not end`);
  }

  it("for random token globs: /v1/models, audit, lineage lookups, webhooks, tokens, MLflow searches, the OCI catalog, redaction and the default retention", async () => {
    await fc.assert(
      fc.asyncProperty(claimArb(pool), async (claim) => {
        const token = await hsToken({ sub: "reader", scope: "admin", ...(claim ? { models: claim } : {}) });
        const why = `claim ${JSON.stringify(claim)} (pool seed ${poolSeed})`;
        const visible = sorted(pool.filter((m) => sees(claim, m)));

        const models = await pages<{ name: string }>("/v1/models", token);
        expect(
          models.map((m) => m.name),
          why,
        ).toEqual(visible);

        const audit = await pages<{ model: string }>("/v1/audit", token);
        expect(sorted(new Set(audit.map((e) => e.model))), why).toEqual(
          sorted([...pool, ""].filter((m) => sees(claim, m))),
        );

        for (const lookup of [
          "run_id=vis-run",
          "git_sha=feedc0de",
          "dataset=s3%3A%2F%2Fvis%2Fdata",
          "dataset=s3%3A%2F%2Fvis%2Fdata&snapshot=s1",
        ]) {
          const found = await pages<{ model: string; version: number }>(`/v1/lineage?${lookup}`, token);
          expect(sorted(found.map((r) => r.model)), `${lookup}, ${why}`).toEqual(visible);
        }

        const hooks = await pages<{ id: string }>("/v1/webhooks", token);
        expect(sorted(hooks.map((w) => w.id)), why).toEqual(
          sorted(webhooks.filter((w) => covers(claim, w.reach)).map((w) => w.id)),
        );

        const minted = await pages<{ id: string }>("/v1/tokens", token);
        expect(sorted(minted.map((t) => t.id)), why).toEqual(
          sorted(tokens.filter((t) => covers(claim, t.reach)).map((t) => t.id)),
        );

        const registered = await json("GET", "/api/2.0/mlflow/registered-models/search?max_results=1000", { token });
        expect(registered.status, why).toBe(200);
        expect(sorted((registered.body.registered_models ?? []).map((m: { name: string }) => m.name)), why).toEqual(
          visible,
        );
        expect(registered.body.next_page_token ?? "", why).toBe("");
        const mlflowVersions = await json("GET", "/api/2.0/mlflow/model-versions/search?max_results=1000", { token });
        expect(mlflowVersions.status, why).toBe(200);
        expect(
          sorted(
            (mlflowVersions.body.model_versions ?? []).map(
              (v: { name: string; version: string }) => `${v.name}/${v.version}`,
            ),
          ),
          why,
        ).toEqual(sorted(versions.filter((v) => sees(claim, v.slice(0, v.lastIndexOf("/"))))));

        const catalog = await json("GET", "/v2/_catalog", { token });
        expect([catalog.status, catalog.body.repositories], why).toEqual([200, visible]);

        // A parent in a model the token does not see is redacted, on the version and on its graph.
        if (sees(claim, HUB)) {
          const hub = await json("GET", `/v1/models/${HUB}/versions/2`, { token });
          expect(hub.body.lineage.parents, why).toEqual(
            parents.map((model) =>
              sees(claim, model) ? { model, version: 1 } : { model: null, version: null, redacted: true },
            ),
          );
          const graph = await json("GET", `/v1/models/${HUB}/versions/2/lineage?depth=1`, { token });
          const named: string[] = graph.body.nodes
            .filter((n: { model: string | null }) => n.model !== null)
            .map((n: { model: string }) => n.model);
          expect(sorted(named), why).toEqual(sorted([HUB, ...parents.filter((m) => sees(claim, m))]));
          expect(graph.body.nodes.length - named.length, why).toBe(parents.filter((m) => !sees(claim, m)).length);
        }

        // The registry's default retention policy covers every model: only a token that sees them all may set it.
        const retention = await json("PUT", "/v1/retention", { token, body: {} });
        expect(retention.status, why).toBe(sees(claim, "") ? 200 : 403);
      }),
      { numRuns: 50 },
    );
  }, 600_000);
});
