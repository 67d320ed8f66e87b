/**
 * Webhooks obey the token's `models` globs (API.md "Events (webhooks)"): a narrow admin
 * creates only webhooks whose `models` lie within its globs, and sees, changes and deletes
 * only those; another team's webhook, or an unfiltered one, is a 404 on every route.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { matchesAnySql } from "../src/db/pattern-match";
import { globsParam } from "../src/db/pattern-sql";
import { globMatch, globTooComplex } from "../src/domain/glob";
import { hsToken, json } from "./helpers";

let teamA: string;
const admin = () => hsToken({ sub: "platform", scope: "admin" });

async function create(body: Record<string, unknown>, token?: string) {
  const res = await json("POST", "/v1/webhooks", {
    body: { url: "https://hooks.test/t", ...body },
    ...(token ? { token } : {}),
  });
  return res;
}

async function created(body: Record<string, unknown>, token?: string): Promise<{ id: string; secret: string }> {
  const res = await create(body, token);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string };
}

async function listAll(token: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const res: { status: number; body: { items: { id: string }[]; next_cursor: string | null } } = await json(
      "GET",
      `/v1/webhooks?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
      { token },
    );
    expect(res.status).toBe(200);
    ids.push(...res.body.items.map((w) => w.id));
    cursor = res.body.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error("paging did not end");
}

beforeAll(async () => {
  teamA = await hsToken({ sub: "team-a-bot", scope: "admin", models: ["team-a-*"] });
  // Pings are delivered by the local queue's consumer: answer them here, not on the network.
  vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("ok"));
});
afterAll(() => vi.restoreAllMocks());

describe("webhooks and a token's models", () => {
  it("lets a narrow admin create only webhooks whose models lie within its globs", async () => {
    for (const models of [[], ["*"], ["team-b-*"], ["team-*"], ["team-a-*", "team-b-*"], ["team-a*"], ["*team-a-*"]]) {
      const res = await create({ models }, teamA);
      expect(res.status, JSON.stringify(models)).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    expect((await create({ events: ["webhook.*"] }, teamA)).status).toBe(403);
    const own = await created({ models: ["team-a-*"] }, teamA);
    const narrower = await created({ models: ["team-a-fraud-*", "team-a-x"] }, teamA);
    expect((await json("GET", `/v1/webhooks/${own.id}`, { token: teamA })).status).toBe(200);
    expect((await json("GET", `/v1/webhooks/${narrower.id}`, { token: teamA })).status).toBe(200);
  });

  it("answers 404 on every route for another team's webhook and for an unfiltered one, and changes nothing", async () => {
    const root = await admin();
    const others = [
      await created({ models: ["team-b-*"] }, root),
      await created({}, root),
      await created({ models: ["team-a-x", "team-b-y"] }, root),
    ];
    for (const other of others) {
      const ping = await json("POST", `/v1/webhooks/${other.id}/ping`, { token: root });
      expect(ping.status).toBe(202);
      const before = await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(other.id).first();
      for (const [method, path, body] of [
        ["GET", `/v1/webhooks/${other.id}`, undefined],
        ["PATCH", `/v1/webhooks/${other.id}`, { url: "https://attacker.test/x" }],
        ["PATCH", `/v1/webhooks/${other.id}`, { rotate_secret: true }],
        ["PATCH", `/v1/webhooks/${other.id}`, { models: ["team-a-*"] }],
        ["DELETE", `/v1/webhooks/${other.id}`, undefined],
        ["POST", `/v1/webhooks/${other.id}/ping`, undefined],
        ["GET", `/v1/webhooks/${other.id}/deliveries`, undefined],
        ["POST", `/v1/webhooks/${other.id}/deliveries/${ping.body.delivery_id}/redeliver`, undefined],
      ] as const) {
        const res = await json(method, path, { token: teamA, ...(body ? { body } : {}) });
        expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(404);
        expect(res.body.code).toBe("not_found");
        // The same answer as for a webhook that does not exist: no hint this one does.
        expect(res.body.detail).not.toContain("team-b");
      }
      expect(await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?").bind(other.id).first()).toEqual(before);
      expect((await json("GET", `/v1/webhooks/${other.id}`, { token: root })).status).toBe(200);
    }
  });

  it("keeps a narrow admin's change within its globs", async () => {
    const own = await created({ models: ["team-a-*"] }, teamA);
    for (const models of [[], ["team-b-*"], ["team-a-*", "*"]]) {
      const res = await json("PATCH", `/v1/webhooks/${own.id}`, { token: teamA, body: { models } });
      expect(res.status, JSON.stringify(models)).toBe(403);
    }
    expect((await json("GET", `/v1/webhooks/${own.id}`, { token: teamA })).body.models).toEqual(["team-a-*"]);
    const narrowed = await json("PATCH", `/v1/webhooks/${own.id}`, {
      token: teamA,
      body: { models: ["team-a-fraud"], url: "https://hooks.test/t2" },
    });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body).toMatchObject({ models: ["team-a-fraud"], url: "https://hooks.test/t2" });
    expect((await json("DELETE", `/v1/webhooks/${own.id}`, { token: teamA })).status).toBe(204);
  });

  it("lists only the webhooks a token may see, and pages through them when most are hidden", async () => {
    const root = await admin();
    const teamC = await hsToken({ sub: "team-c-bot", scope: "admin", models: ["team-c-*", "shared-c"] });
    const visible: string[] = [];
    for (let i = 0; i < 7; i++) {
      for (let j = 0; j < 3; j++) await created({ models: [`team-z${j}-*`] }, root);
      await created({}, root);
      visible.push(
        (await created({ models: i % 2 ? ["shared-c"] : [`team-c-${i}-*`, "shared-c"] }, i % 3 ? root : teamC)).id,
      );
    }
    const newestFirst = [...visible].reverse();
    for (const limit of [1, 2, 3, 50]) expect(await listAll(teamC, limit)).toEqual(newestFirst);
    // The unrestricted admin sees them all, hidden ones included.
    const all = await listAll(root, 200);
    expect(all.length).toBeGreaterThanOrEqual(35);
    expect(all).toEqual(expect.arrayContaining(visible));
    // A token limited to nothing sees nothing.
    expect(await listAll(await hsToken({ scope: "admin", models: [] }), 10)).toEqual([]);
  });

  it("filters lists in SQL by the same rule as globWithin: the SQL glob test agrees with globMatch, `*` in the name and runs past D1's 50-byte pattern limit included (property)", async () => {
    const unit = fc.oneof(
      { weight: 9, arbitrary: fc.constantFrom("a", "b", "-", "*", "?", "[", "]", "é") },
      { weight: 1, arbitrary: fc.constant("ab".repeat(30)) },
    );
    const text = fc.array(unit, { maxLength: 8 }).map((units) => units.join(""));
    await fc.assert(
      // (Globs whose span between `*`s D1 cannot test never get into a token: src/auth/verify.ts.)
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            text.filter((g) => g.length > 0 && globTooComplex(g) === null),
            text,
          ),
          { minLength: 1, maxLength: 100 },
        ),
        async (pairs) => {
          const statements = pairs.map(([glob, name]) =>
            env.DB.prepare(`SELECT ${matchesAnySql("?1", "?2")} AS hit`).bind(name, globsParam([glob])),
          );
          const results = await env.DB.batch<{ hit: number }>(statements);
          pairs.forEach(([glob, name], i) =>
            expect(results[i]!.results[0]!.hit === 1, `${name} GLOB ${glob}`).toBe(globMatch(glob, name)),
          );
        },
      ),
      { numRuns: 30 },
    );
  });
});
