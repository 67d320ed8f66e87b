/**
 * API.md "Auth", tokens a team can manage: `POST/GET /v1/tokens`, `DELETE /v1/tokens/{id}`.
 * Minting never grants more than the minter holds; listing and revoking stay within the
 * minter's own globs; a revoked token is refused on HTTP at once in the isolate that revoked
 * it and within 10 s everywhere (the resolve hot path included, without a D1 read per
 * request); an open watch socket of a revoked token is closed with 4001.
 */
import {
  createExecutionContext,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { grantExcess, type Principal } from "../src/auth/principal";
import { MAX_AGE_MS, REFRESH_AFTER_MS, viewFreshness } from "../src/auth/revocation";
import worker from "../src/index";
import type { Env } from "../src/env";
import { REVOCATION_CHECK_MS } from "../src/state/socket-upkeep";
import { pruneExpiredTokens } from "../src/tokens/store";
import { asymToken, createModel, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

interface Minted {
  id: string;
  token: string;
  sub: string;
  scope: string;
  models: string[] | null;
  aliases: string[] | null;
  expires_at: string;
  description: string | null;
}

async function mint(body: Record<string, unknown>, token?: string): Promise<Minted> {
  const res = await json("POST", "/v1/tokens", { body, ...(token ? { token } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as Minted;
}

/** The Worker with some settings changed, under one env object (so its per-isolate state persists across calls). */
function withSettings(overrides: Partial<Env>) {
  const testEnv = { ...env, ...overrides } as Env;
  return async (method: string, path: string, token: string | null, body?: unknown) => {
    const headers = new Headers();
    if (token) headers.set("authorization", `Bearer ${token}`);
    if (body !== undefined) headers.set("content-type", "application/json");
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`http://mreg.test${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
      testEnv,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as Record<string, any> }; // reason: tests read arbitrary shapes
  };
}

/** A D1 binding that counts the statements prepared through it (its sessions included). */
function countingDb(db: D1Database) {
  let statements = 0;
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, property) {
        const value = Reflect.get(t, property, t) as unknown;
        if (typeof value !== "function") return value;
        if (property === "prepare") {
          return (...args: unknown[]) => {
            statements++;
            return (value as (...a: unknown[]) => unknown).apply(t, args);
          };
        }
        if (property === "withSession")
          return (...args: unknown[]) => wrap((value as (...a: unknown[]) => object).apply(t, args));
        return (value as (...a: unknown[]) => unknown).bind(t);
      },
    });
  return { db: wrap(db), statements: () => statements };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("minting", () => {
  it("answers 201 with the token once, which works and carries exactly its claims", async () => {
    await createModel("tk-fraud-a");
    await createModel("tk-churn");
    const before = Math.floor(Date.now() / 1000);
    const created = await mint(
      {
        sub: "ci-fraud",
        scope: "write read",
        models: ["tk-fraud-*"],
        aliases: ["staging"],
        ttl_s: 3600,
        description: "CI of the fraud team",
      },
      await hsToken({ expiresIn: 7200 }),
    );
    expect(created).toMatchObject({
      sub: "ci-fraud",
      scope: "read write",
      models: ["tk-fraud-*"],
      aliases: ["staging"],
      description: "CI of the fraud team",
    });
    expect(created.id).toMatch(/^tok_[0-9A-Z]{26}$/);
    const claims = decodeJwt(created.token);
    expect(claims).toMatchObject({
      sub: "ci-fraud",
      scope: "read write",
      models: ["tk-fraud-*"],
      aliases: ["staging"],
      jti: created.id,
    });
    expect(Object.keys(claims).sort()).toEqual(["aliases", "exp", "iat", "jti", "models", "scope", "sub"]);
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(claims.iat!).toBeGreaterThanOrEqual(before);
    expect(created.expires_at).toBe(new Date(claims.exp! * 1000).toISOString());

    expect((await json("GET", "/v1/models/tk-fraud-a", { token: created.token })).status).toBe(200);
    expect((await json("GET", "/v1/models/tk-churn", { token: created.token })).status).toBe(403);
    expect((await json("POST", "/v1/models", { token: created.token, body: { name: "tk-fraud-b" } })).status).toBe(201);
    // It has no `admin`: it cannot mint.
    expect((await json("POST", "/v1/tokens", { token: created.token, body: { sub: "x", scope: "read" } })).status).toBe(
      403,
    );

    // The default lifetime is a day (from a minter that lives longer: a token never outlives
    // its minter); an unrestricted token carries no models/aliases claims.
    const plain = await mint({ sub: "reader", scope: "read" }, await hsToken({ expiresIn: 2 * 86400 }));
    const plainClaims = decodeJwt(plain.token);
    expect(plainClaims.exp! - plainClaims.iat!).toBe(86400);
    expect(plainClaims.models).toBeUndefined();
    expect(plain).toMatchObject({ models: null, aliases: null, description: null });
  });

  it("sets iss and aud when the registry checks them, so it accepts its own tokens", async () => {
    const call = withSettings({ JWT_ISSUER: "https://mreg.example.com", JWT_AUDIENCE: "mreg" });
    const admin = await hsToken({ iss: "https://mreg.example.com", aud: "mreg" });
    const res = await call("POST", "/v1/tokens", admin, { sub: "svc", scope: "read" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(decodeJwt(res.body.token)).toMatchObject({ iss: "https://mreg.example.com", aud: "mreg" });
    expect((await call("GET", "/v1/models", res.body.token)).status).toBe(200);
  });

  it("answers 503 with Retry-After when no JWT_SECRET is configured", async () => {
    const call = withSettings({ JWT_SECRET: undefined });
    const res = await call("POST", "/v1/tokens", await asymToken("ES256"), { sub: "svc", scope: "read" });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("unavailable");
    expect(res.body.detail).toContain("JWT_SECRET");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("never grants more than the minter holds: scopes, models, aliases (403)", async () => {
    // Scope: only `admin` mints; a token without it cannot give what it lacks.
    const writer = await hsToken({ sub: "w", scope: "read write" });
    const noAdmin = await json("POST", "/v1/tokens", { token: writer, body: { sub: "x", scope: "read" } });
    expect(noAdmin.status).toBe(403);

    const teamA = await hsToken({
      sub: "lead-a",
      scope: "admin",
      models: ["team-a-*"],
      aliases: ["staging", "canary-*"],
    });
    const attempt = (body: Record<string, unknown>) =>
      json("POST", "/v1/tokens", { token: teamA, body: { sub: "job", scope: "read", ...body } });
    // models: omitted means every model; wider or other globs are more than it holds.
    for (const models of [undefined, ["team-*"], ["*"], ["team-b-x"], ["team-a-x", "team-b-x"]]) {
      const res = await attempt({ models, aliases: ["staging"] });
      expect(res.status, JSON.stringify(models)).toBe(403);
      expect(res.body.code).toBe("forbidden");
      expect(res.body.detail).toMatch(/models/);
    }
    // aliases: likewise.
    for (const aliases of [undefined, ["production"], ["canary*"], ["*"]]) {
      const res = await attempt({ models: ["team-a-x"], aliases });
      expect(res.status, JSON.stringify(aliases)).toBe(403);
      expect(res.body.detail).toMatch(/aliases/);
    }
    // Within both: minted, and every scope comes with `admin`.
    const ok = await attempt({
      scope: "read write promote admin",
      models: ["team-a-fraud", "team-a-churn-*"],
      aliases: ["canary-eu", "staging"],
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.scope).toBe("read write promote admin");
  });

  it("validates the body: scope names, ttl_s bounds, unknown fields, globs", async () => {
    const bad = async (body: unknown, path: string) => {
      const res = await json("POST", "/v1/tokens", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    };
    await bad({ sub: "x", scope: "read superuser" }, "scope");
    await bad({ sub: "x", scope: "" }, "scope");
    await bad({ sub: "x", scope: "Read" }, "scope");
    await bad({ sub: "x", scope: "read", ttl_s: 0 }, "ttl_s");
    await bad({ sub: "x", scope: "read", ttl_s: 31536001 }, "ttl_s");
    await bad({ sub: "x", scope: "read", ttl_s: 1.5 }, "ttl_s");
    await bad({ sub: "x", scope: "read", extra: true }, "");
    await bad({ sub: "", scope: "read" }, "sub");
    await bad({ scope: "read" }, "sub");
    await bad({ sub: "x", scope: "read", models: [] }, "models");
    await bad({ sub: "x", scope: "read", aliases: [""] }, "aliases.0");
    await bad({ sub: "x", scope: "read", models: Array.from({ length: 65 }, (_, i) => `m-${i}`) }, "models");
    // A year is the longest lifetime (from a minter that lives longer).
    const year = await mint({ sub: "x", scope: "read", ttl_s: 31536000 }, await hsToken({ expiresIn: 2 * 31536000 }));
    const claims = decodeJwt(year.token);
    expect(claims.exp! - claims.iat!).toBe(31536000);
  });
});

describe("listing", () => {
  it("pages newest first, never shows a token, and hides revoked ones", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await mint({ sub: `lp-${i}`, scope: "read", models: ["lp-*"] })).id);
    const lister = await hsToken({ sub: "lp-admin", scope: "admin", models: ["lp-*"] });
    const seen: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: Record<string, any> } = await json(
        "GET",
        `/v1/tokens?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        { token: lister },
      ); // reason: test reads the page
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.map((t) => t.id)).toEqual([...ids].reverse());
    expect(seen[0]).toMatchObject({ sub: "lp-4", scope: "read", models: ["lp-*"], aliases: null, description: null });
    expect(Object.keys(seen[0]!).sort()).toEqual([
      "aliases",
      "created_at",
      "created_by",
      "description",
      "expires_at",
      "id",
      "models",
      "parent",
      "scope",
      "sub",
    ]);
    expect(seen.every((t) => !("token" in t))).toBe(true);

    expect((await json("DELETE", `/v1/tokens/${ids[2]}`)).status).toBe(204);
    const after = await json("GET", "/v1/tokens?limit=200", { token: lister });
    expect(after.body.items.map((t: { id: string }) => t.id)).toEqual([ids[4], ids[3], ids[1], ids[0]]);

    expect((await json("GET", "/v1/tokens?limit=0")).status).toBe(400);
    expect((await json("GET", "/v1/tokens?cursor=garbage")).status).toBe(400);
    expect(
      (await json("GET", "/v1/tokens", { token: await hsToken({ scope: "read write promote approve report" }) }))
        .status,
    ).toBe(403);
  });

  it("keeps teams apart: a minter limited by globs sees and revokes only tokens within them", async () => {
    const a1 = await mint({ sub: "ten-a1", scope: "read", models: ["ten-a-*"] });
    const a2 = await mint({ sub: "ten-a2", scope: "read", models: ["ten-a-fraud"], aliases: ["staging"] });
    const b = await mint({ sub: "ten-b", scope: "read", models: ["ten-b-*"] });
    const wide = await mint({ sub: "ten-wide", scope: "read", models: ["ten-*"] });
    const everything = await mint({ sub: "ten-all", scope: "read" });
    const leadA = await hsToken({ sub: "lead-a", scope: "admin", models: ["ten-a-*"] });
    const list = await json("GET", "/v1/tokens?limit=200", { token: leadA });
    const visible = list.body.items.map((t: { id: string }) => t.id);
    expect(visible).toContain(a1.id);
    expect(visible).toContain(a2.id);
    for (const hidden of [b, wide, everything]) expect(visible).not.toContain(hidden.id);

    // Others' tokens are not found (not "forbidden": their existence is not told).
    for (const other of [b, wide, everything]) {
      const res = await json("DELETE", `/v1/tokens/${other.id}`, { token: leadA });
      expect(res.status).toBe(404);
      expect((await json("GET", "/v1/models", { token: other.token })).status).toBe(200);
    }
    // A minter limited by aliases too manages only tokens within those.
    const leadAStaging = await hsToken({
      sub: "lead-a-staging",
      scope: "admin",
      models: ["ten-a-*"],
      aliases: ["staging"],
    });
    expect((await json("DELETE", `/v1/tokens/${a1.id}`, { token: leadAStaging })).status).toBe(404);
    expect((await json("DELETE", `/v1/tokens/${a2.id}`, { token: leadAStaging })).status).toBe(204);
    expect((await json("DELETE", `/v1/tokens/${a1.id}`, { token: leadA })).status).toBe(204);
    // An unrestricted admin manages all of them.
    const all = await json("GET", "/v1/tokens?limit=200");
    const allIds = all.body.items.map((t: { id: string }) => t.id);
    for (const t of [b, wide, everything]) expect(allIds).toContain(t.id);
  });
});

describe("revoking", () => {
  it("refuses the token on the very next request in this isolate, audits both changes, never with the token", async () => {
    const created = await mint({ sub: "rv-job", scope: "read" });
    // Verified once, so the verified-token memo holds it.
    expect((await json("GET", "/v1/models", { token: created.token })).status).toBe(200);
    expect((await json("DELETE", `/v1/tokens/${created.id}`)).status).toBe(204);
    const refused = await json("GET", "/v1/models", { token: created.token });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("unauthenticated");
    expect(refused.body.detail).toMatch(/revoked/);
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
    // Gone: a second revoke is a 404; an id that is no token's id is a 400.
    expect((await json("DELETE", `/v1/tokens/${created.id}`)).status).toBe(404);
    expect((await json("DELETE", "/v1/tokens/not-an-id")).status).toBe(400);

    const audit = await env.DB.prepare(
      "SELECT actor, action, model, from_value, to_value, detail FROM audit_events WHERE action LIKE 'token.%' ORDER BY id",
    ).all<Record<string, string | null>>();
    const mine = audit.results.filter((r) => (r.to_value ?? r.from_value ?? "").includes(created.id));
    expect(mine.map((r) => r.action)).toEqual(["token.create", "token.revoke"]);
    expect(mine.every((r) => r.model === "" && r.actor === "alice")).toBe(true);
    expect(JSON.parse(mine[0]!.to_value!)).toMatchObject({
      id: created.id,
      sub: "rv-job",
      scope: "read",
      expires_at: created.expires_at,
    });
    const signature = created.token.split(".")[2]!;
    expect(JSON.stringify(audit.results)).not.toContain(signature);
    expect(JSON.stringify(audit.results)).not.toContain(created.token.split(".")[1]!);
    // Readable through the audit route too, as registry-level events.
    const listed = await json("GET", "/v1/audit?action=token.revoke");
    expect(listed.body.items.some((e: { to?: unknown; from?: { id?: string } }) => e.from?.id === created.id)).toBe(
      true,
    );
  });

  it("cannot revoke tokens without a jti (development and IdP tokens): they are not affected", async () => {
    const dev = await hsToken({ sub: "dev", scope: "read" });
    expect((await json("GET", "/v1/models", { token: dev })).status).toBe(200);
  });

  it("is seen by the cached resolve path of another isolate within 10 s, without a D1 read per request", async () => {
    await createModel("rv-serve");
    await readyVersion("rv-serve", { "w.bin": new TextEncoder().encode("w") });
    expect((await json("PUT", "/v1/models/rv-serve/aliases/production", { body: { version: 1 } })).status).toBe(200);
    const node = await mint({ sub: "node-1", scope: "read", models: ["rv-serve"] });
    const counting = countingDb(env.DB);
    const call = withSettings({ RESOLVE_TTL_S: "5", DB: counting.db });
    // The view is loaded once, then refreshed at most once per REFRESH_AFTER_MS of wall time
    // (however slow the machine makes the requests), never once per request.
    const refreshesSince = (startedAt: number) => Math.ceil((Date.now() - startedAt) / REFRESH_AFTER_MS);

    // The hot path: 200 resolutions by a revocable token cost a handful of D1 statements, not 200.
    const hotFrom = Date.now();
    for (let i = 0; i < 200; i++) {
      const res = await call("GET", "/v1/models/rv-serve/aliases/production", node.token);
      expect(res.status).toBe(200);
      if (i % 100 === 0)
        expect(await call("GET", `/v1/resolve?uri=registry://rv-serve@production`, node.token)).toMatchObject({
          status: 200,
        });
    }
    expect(counting.statements()).toBeLessThanOrEqual(3 + refreshesSince(hotFrom));

    // Revoked by another isolate: straight in D1, so this isolate learns it only from D1. The
    // bound is the mechanism's, not a stopwatch's: no view older than MAX_AGE_MS is used, so
    // every request that starts MAX_AGE_MS after the revocation committed is refused (and
    // MAX_AGE_MS plus a refresh is within the contract's 10 s: "rules" below).
    await env.DB.prepare("UPDATE tokens SET revoked_at = ?, revoked_by = 'elsewhere' WHERE id = ?")
      .bind(new Date().toISOString(), node.id)
      .run();
    const revokedBy = Date.now();
    const statementsBefore = counting.statements();
    const answers: { startedAt: number; status: number }[] = [];
    while (!answers.some((a) => a.startedAt >= revokedBy + MAX_AGE_MS)) {
      const path =
        answers.length % 2
          ? "/v1/resolve?uri=registry://rv-serve@production"
          : "/v1/models/rv-serve/aliases/production";
      const startedAt = Date.now();
      const res = await call("GET", path, node.token);
      answers.push({ startedAt, status: res.status });
      if (res.status === 401) expect(res.body.detail).toMatch(/revoked/);
      else expect(res.status).toBe(200);
      await sleep(100);
    }
    // Refused by the bound at the latest (the last answer started past it), and from then on.
    const refusedFrom = answers.findIndex((a) => a.status === 401);
    expect(refusedFrom, JSON.stringify(answers)).toBeGreaterThanOrEqual(0);
    expect(answers.slice(refusedFrom).map((a) => a.status)).toEqual(answers.slice(refusedFrom).map(() => 401));
    expect(counting.statements() - statementsBefore).toBeLessThanOrEqual(1 + refreshesSince(revokedBy));
  });

  it("fails closed when D1 cannot say: 503 with Retry-After for minted tokens, others unaffected", async () => {
    await createModel("rv-down");
    await readyVersion("rv-down", { "w.bin": new TextEncoder().encode("w") });
    expect((await json("PUT", "/v1/models/rv-down/aliases/production", { body: { version: 1 } })).status).toBe(200);
    const node = await mint({ sub: "node-down", scope: "read" });
    const down = new Proxy(env.DB, {
      get(t, property) {
        if (property === "prepare")
          return () => {
            throw new Error("D1 is down (injected by the test)");
          };
        const value = Reflect.get(t, property, t) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value;
      },
    });
    const call = withSettings({ DB: down });
    const refused = await call("GET", "/v1/models/rv-down/aliases/production", node.token);
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("unavailable");
    expect(refused.body.detail).toMatch(/revoked/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // A token without a registry jti is not checked, so D1's trouble does not reach it.
    expect((await call("GET", "/v1/models/rv-down/aliases/production", await hsToken({ scope: "read" }))).status).toBe(
      200,
    );
  });

  it("closes an open watch socket of a revoked token with 4001 within 10 s, across hibernation, and leaves others open", async () => {
    await createModel("rv-watch");
    await readyVersion("rv-watch", { "w.bin": new TextEncoder().encode("w") });
    expect((await json("PUT", "/v1/models/rv-watch/aliases/production", { body: { version: 1 } })).status).toBe(200);
    const doomed = await mint({ sub: "node-d", scope: "read" });
    const kept = await mint({ sub: "node-k", scope: "read" });
    const open = async (token: string) => {
      const res = await exports.default.fetch(
        new Request("http://mreg.test/v1/models/rv-watch/aliases/production/watch", {
          headers: { upgrade: "websocket", authorization: `Bearer ${token}` },
        }),
      );
      expect(res.status).toBe(101);
      const ws = res.webSocket!;
      const state: { closed?: { code: number; reason: string }; messages: unknown[] } = { messages: [] };
      ws.addEventListener("close", (e) => (state.closed = { code: e.code, reason: e.reason }));
      ws.addEventListener("message", (e) => state.messages.push(JSON.parse(e.data as string)));
      ws.accept();
      return { ws, state };
    };
    const a = await open(doomed.token);
    const b = await open(kept.token);
    while (a.state.messages.length === 0 || b.state.messages.length === 0) await sleep(20);
    // The sockets' token ids survive hibernation (they live in the socket attachments).
    await evictDurableObject(modelStub("rv-watch"), { webSockets: "hibernate" });

    expect((await json("DELETE", `/v1/tokens/${doomed.id}`)).status).toBe(204);
    // Within 10 s, by the mechanism rather than a stopwatch: while sockets of minted tokens
    // are open, the object's alarm is never more than REVOCATION_CHECK_MS away, and the alarm
    // asks D1 which of them were revoked. (Read while the alarm is not running: a running
    // alarm has none set until its D1 query returns.)
    expect(REVOCATION_CHECK_MS + 2000).toBeLessThanOrEqual(10_000);
    const stub = modelStub("rv-watch");
    const alarm = await until(
      () => runInDurableObject(stub, (_instance, state) => state.storage.getAlarm()),
      "the object's alarm",
    );
    expect(alarm - Date.now()).toBeLessThanOrEqual(REVOCATION_CHECK_MS);
    // That next check, now (if it is running already, it closes the socket itself).
    await runDurableObjectAlarm(stub);
    const closed = await until(() => a.state.closed, "the revoked token's socket to close");
    expect(closed).toMatchObject({ code: 4001, reason: "token revoked" });
    // The other socket stays open and still hears changes.
    expect(b.state.closed).toBeUndefined();
    await readyVersion("rv-watch", { "w.bin": new TextEncoder().encode("w2") });
    expect((await json("PUT", "/v1/models/rv-watch/aliases/production", { body: { version: 2 } })).status).toBe(200);
    while (b.state.messages.length < 2) await sleep(20);
    expect(b.state.messages.at(-1)).toMatchObject({ event: "set", version: 2 });
    // And a new socket with the revoked token is refused at the door.
    const again = await exports.default.fetch(
      new Request("http://mreg.test/v1/models/rv-watch/aliases/production/watch", {
        headers: { upgrade: "websocket", authorization: `Bearer ${doomed.token}` },
      }),
    );
    expect(again.status).toBe(401);
    b.ws.close(1000, "done");
  });
});

describe("tokens minted with minted tokens", () => {
  /** A WebSocket watch of `model`'s production alias with `token`, and what it heard. */
  async function watch(model: string, token: string) {
    const res = await exports.default.fetch(
      new Request(`http://mreg.test/v1/models/${model}/aliases/production/watch`, {
        headers: { upgrade: "websocket", authorization: `Bearer ${token}` },
      }),
    );
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const state: { closed?: { code: number; reason: string }; messages: unknown[] } = { messages: [] };
    ws.addEventListener("close", (e) => (state.closed = { code: e.code, reason: e.reason }));
    ws.addEventListener("message", (e) => state.messages.push(JSON.parse(e.data as string)));
    ws.accept();
    return { ws, state };
  }

  it("never outlive their minter: a longer ttl_s is cut to the minter's exp, and the answer says so", async () => {
    const parent = await mint({ sub: "short-lead", scope: "admin", ttl_s: 120 }, await hsToken({ expiresIn: 7200 }));
    const parentExp = decodeJwt(parent.token).exp!;
    const child = await mint({ sub: "root", scope: "admin", ttl_s: 31536000 }, parent.token);
    expect(decodeJwt(child.token).exp).toBe(parentExp);
    expect(child).toMatchObject({ expires_at: parent.expires_at, ttl_capped: true, parent: parent.id });
    expect((child as unknown as { ttl_s: number }).ttl_s).toBeLessThanOrEqual(120);
    // A shorter one is kept as asked.
    const brief = await mint({ sub: "brief", scope: "read", ttl_s: 30 }, parent.token);
    expect(brief).toMatchObject({ ttl_s: 30, ttl_capped: false });
    expect(decodeJwt(brief.token).exp! - decodeJwt(brief.token).iat!).toBe(30);
    // A token without a registry jti (development, identity provider) has no parent, but still caps.
    const dev = await hsToken({ sub: "dev-lead", expiresIn: 300 });
    const fromDev = await mint({ sub: "ci", scope: "read", ttl_s: 86400 }, dev);
    expect(fromDev).toMatchObject({
      ttl_capped: true,
      parent: null,
      expires_at: new Date(decodeJwt(dev).exp! * 1000).toISOString(),
    });
    // The list shows each token's parent.
    const listed = await json("GET", "/v1/tokens?limit=200");
    expect(listed.body.items.find((t: { id: string }) => t.id === child.id)).toMatchObject({
      parent: parent.id,
      created_by: "short-lead",
    });
  }, 60_000);

  it("are revoked with their minter, and theirs in turn: HTTP at once here, D1 for every isolate, open sockets closed with 4001", async () => {
    await createModel("casc-m");
    await readyVersion("casc-m", { "w.bin": new TextEncoder().encode("w") });
    expect((await json("PUT", "/v1/models/casc-m/aliases/production", { body: { version: 1 } })).status).toBe(200);
    const lead = await mint({ sub: "lead", scope: "admin", ttl_s: 3000 });
    const child = await mint({ sub: "root", scope: "admin", ttl_s: 3000 }, lead.token);
    const grandchild = await mint({ sub: "node", scope: "read", ttl_s: 3000 }, child.token);
    const sibling = await mint({ sub: "other-lead", scope: "admin", ttl_s: 3000 });
    for (const t of [lead, child, grandchild, sibling])
      expect((await json("GET", "/v1/models", { token: t.token })).status).toBe(200);
    const socket = await watch("casc-m", grandchild.token);
    while (socket.state.messages.length === 0) await sleep(20);

    expect((await json("DELETE", `/v1/tokens/${lead.id}`)).status).toBe(204);
    for (const t of [lead, child, grandchild]) {
      const res = await json("GET", "/v1/models", { token: t.token });
      expect([t.sub, res.status, res.body.detail]).toEqual([t.sub, 401, "token has been revoked"]);
    }
    expect((await json("GET", "/v1/models", { token: sibling.token })).status).toBe(200);
    // In D1, which every other isolate's view and every model's socket upkeep read.
    const rows = await env.DB.prepare(
      "SELECT id, revoked_by FROM tokens WHERE id IN (?, ?, ?, ?) AND revoked_at IS NOT NULL ORDER BY id",
    )
      .bind(lead.id, child.id, grandchild.id, sibling.id)
      .all();
    expect(rows.results.map((r) => r.id)).toEqual([lead.id, child.id, grandchild.id]);
    // One audit event, naming the tokens revoked with it.
    const events = (await json("GET", "/v1/audit?action=token.revoke&limit=200")).body.items as {
      from: { id: string };
      detail?: { cascade?: string[] };
    }[];
    expect(events.find((e) => e.from.id === lead.id)?.detail).toEqual({ cascade: [child.id, grandchild.id] });
    // The grandchild's open socket closes as its own revocation would close it.
    const started = Date.now();
    while (!socket.state.closed && Date.now() - started < 30_000) await sleep(50);
    expect(socket.state.closed).toMatchObject({ code: 4001, reason: "token revoked" });
    // A revoked token mints nothing, and its descendants' rows stay revoked.
    expect((await json("POST", "/v1/tokens", { token: child.token, body: { sub: "x", scope: "read" } })).status).toBe(
      401,
    );
  }, 40_000);

  it("is refused when its minter was revoked while this isolate's view still let the minter in", async () => {
    const lead = await mint({ sub: "race-lead", scope: "admin", ttl_s: 3000 });
    expect((await json("GET", "/v1/models", { token: lead.token })).status).toBe(200);
    // Revoked by another isolate: straight in D1, so this isolate's view does not know yet.
    await env.DB.prepare("UPDATE tokens SET revoked_at = ?, revoked_by = 'elsewhere' WHERE id = ?")
      .bind(new Date().toISOString(), lead.id)
      .run();
    const res = await json("POST", "/v1/tokens", { token: lead.token, body: { sub: "late", scope: "read" } });
    expect([res.status, res.body.code]).toEqual([401, "unauthenticated"]);
    const children = await env.DB.prepare("SELECT count(*) AS n FROM tokens WHERE parent_id = ?")
      .bind(lead.id)
      .first<{ n: number }>();
    expect(children!.n).toBe(0);
  });

  it("put the token's id beside the actor in the audit events of its writes, ModelState's and the registry's", async () => {
    const lead = await mint({ sub: "team-lead", scope: "admin", models: ["aud-tok-*"], ttl_s: 3000 });
    // A team admin names its token `root`: the events say `root`, and which token it was.
    const fake = await mint({ sub: "root", scope: "admin", models: ["aud-tok-*"], ttl_s: 3000 }, lead.token);
    expect((await json("POST", "/v1/models", { token: fake.token, body: { name: "aud-tok-m" } })).status).toBe(201);
    const v = await json("POST", "/v1/models/aud-tok-m/versions", { token: fake.token, body: {} });
    expect(
      (
        await json("PUT", `/v1/models/aud-tok-m/versions/${v.body.version}/files/w.bin`, {
          token: fake.token,
          rawBody: new TextEncoder().encode("w"),
        })
      ).status,
    ).toBe(201);
    expect(
      (await json("POST", `/v1/models/aud-tok-m/versions/${v.body.version}/finalize`, { token: fake.token })).status,
    ).toBe(200);
    expect(
      (
        await json("PUT", "/v1/models/aud-tok-m/aliases/production", {
          token: fake.token,
          body: { version: v.body.version },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await json("POST", "/v1/webhooks", {
          token: fake.token,
          body: { url: "https://hooks.example.com/x", models: ["aud-tok-*"] },
        })
      ).status,
    ).toBe(201);
    const grandchild = await mint({ sub: "ci", scope: "read", models: ["aud-tok-m"], ttl_s: 60 }, fake.token);
    // A development token's writes carry no token id.
    expect(
      (
        await json("PATCH", "/v1/models/aud-tok-m", {
          token: await hsToken({ sub: "dev" }),
          body: { description: "d" },
        })
      ).status,
    ).toBe(200);

    const events = (await json("GET", "/v1/audit?limit=200")).body.items as {
      action: string;
      actor: string;
      token?: string;
      model: string;
      to?: { id?: string };
    }[];
    const mine = events.filter(
      (e) =>
        e.model === "aud-tok-m" || e.to?.id === grandchild.id || (e.action === "webhook.create" && e.actor === "root"),
    );
    const byAction = (action: string) => mine.filter((e) => e.action === action).map((e) => [e.actor, e.token]);
    for (const action of [
      "model.create",
      "version.create",
      "file.add",
      "version.finalize",
      "alias.set",
      "webhook.create",
      "token.create",
    ]) {
      expect([action, byAction(action)]).toEqual([action, [["root", fake.id]]]);
    }
    expect(byAction("model.update")).toEqual([["dev", undefined]]);
    // The audit filter by actor still finds `root`; the token tells the two apart.
    const asRoot = (await json("GET", "/v1/audit?actor=root&model=aud-tok-m")).body.items as { token?: string }[];
    expect(asRoot.length).toBeGreaterThan(0);
    expect(asRoot.every((e) => e.token === fake.id)).toBe(true);
  }, 60_000);
});

describe("rules", () => {
  const holder = (p: Partial<Principal>): Principal => ({ sub: "h", scopes: new Set(["admin"]), ...p });

  it("grants only within the holder's scopes and globs", () => {
    expect(grantExcess(holder({ scopes: new Set(["read", "write"]) }), { scopes: ["read"] })).toBeNull();
    expect(grantExcess(holder({ scopes: new Set(["read", "write"]) }), { scopes: ["read", "promote"] })).toMatch(
      /promote/,
    );
    expect(grantExcess(holder({}), { scopes: ["read", "write", "promote", "approve", "report", "admin"] })).toBeNull();
    const limited = holder({ models: ["fraud-*", "churn"], aliases: ["staging"] });
    expect(
      grantExcess(limited, { scopes: ["read"], models: ["fraud-eu-*", "churn"], aliases: ["staging"] }),
    ).toBeNull();
    expect(grantExcess(limited, { scopes: ["read"], aliases: ["staging"] })).toMatch(/models/);
    expect(grantExcess(limited, { scopes: ["read"], models: ["churn-*"], aliases: ["staging"] })).toMatch(/churn-\*/);
    expect(grantExcess(limited, { scopes: ["read"], models: ["churn"], aliases: ["staging-*"] })).toMatch(/aliases/);
    expect(grantExcess(limited, { scopes: ["read"], models: ["churn"] })).toMatch(/aliases/);
  });

  it("uses a view as it is while fresh, refreshes it in the background, and awaits a refresh past the bound", () => {
    expect(viewFreshness(undefined, 0)).toBe("stale");
    expect(viewFreshness(1000, 1000 + REFRESH_AFTER_MS - 1)).toBe("fresh");
    expect(viewFreshness(1000, 1000 + REFRESH_AFTER_MS)).toBe("refresh");
    expect(viewFreshness(1000, 1000 + MAX_AGE_MS - 1)).toBe("refresh");
    expect(viewFreshness(1000, 1000 + MAX_AGE_MS)).toBe("stale");
    // The bound, with the time a refresh query may take, is within the contract's 10 s.
    expect(MAX_AGE_MS + 2000).toBeLessThanOrEqual(10_000);
  });

  it("lists exactly the tokens the minting rule would let the lister mint, glob metacharacters included", async () => {
    const claims: { models?: string[]; aliases?: string[] }[] = [
      { models: ["gm-a-x"] },
      { models: ["gm-a-*"] },
      { models: ["gm-a-*-eu"] },
      { models: ["gm-*"] },
      { models: ["gm-a-[x]"] },
      { models: ["gm-a-?"] },
      { models: ["gm-a-x", "gm-b-x"] },
      { models: ["gm-b-*"] },
      { models: ["gm-a-x"], aliases: ["canary-*"] },
      { models: ["gm-a-x"], aliases: ["staging"] },
      { aliases: ["staging"] },
      {},
    ];
    const minted = [];
    for (const [i, c] of claims.entries())
      minted.push({ claims: c, created: await mint({ sub: `gm-${i}`, scope: "read", ...c }) });
    const listers: Partial<Principal>[] = [
      { models: ["gm-a-*"] },
      { models: ["gm-a-[*"] },
      { models: ["gm-a-?", "gm-b-*"] },
      { models: ["gm-*"], aliases: ["canary-*", "staging"] },
      { models: ["gm-a-x"], aliases: ["staging"] },
      { aliases: ["staging"] },
    ];
    for (const lister of listers) {
      const token = await hsToken({ sub: "gm-lister", scope: "admin", ...lister });
      const listed = await json("GET", "/v1/tokens?limit=200", { token });
      const visible = new Set(listed.body.items.map((t: { id: string }) => t.id));
      for (const m of minted) {
        const expected = grantExcess(holder({ ...lister }), { scopes: ["read"], ...m.claims }) === null;
        expect(visible.has(m.created.id), `${JSON.stringify(lister)} lists ${JSON.stringify(m.claims)}`).toBe(expected);
      }
    }
  });
});

describe("sessions and cleanup", () => {
  it("ends a web UI session whose token is revoked", async () => {
    const created = await mint({ sub: "ui-rv", scope: "read" });
    const signIn = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/sign-in", {
        method: "POST",
        body: new URLSearchParams({ token: created.token, next: "/" }),
        redirect: "manual",
      }),
    );
    expect(signIn.status).toBe(303);
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const home = () =>
      exports.default.fetch(new Request("http://127.0.0.1:8787/", { headers: { cookie }, redirect: "manual" }));
    expect((await home()).status).toBe(200);
    expect((await json("DELETE", `/v1/tokens/${created.id}`)).status).toBe(204);
    const after = await home();
    expect(after.status).toBe(303);
    expect(after.headers.get("location")).toMatch(/^\/sign-in/);
    const again = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/sign-in", {
        method: "POST",
        body: new URLSearchParams({ token: created.token }),
        redirect: "manual",
      }),
    );
    expect(again.status).toBe(401);
  });

  it("prunes the rows of tokens expired an hour ago, and no others", async () => {
    const live = await mint({ sub: "pr-live", scope: "read", ttl_s: 60 });
    await env.DB.prepare(
      "INSERT INTO tokens (id, sub, scope, created_at, created_by, expires_at) VALUES ('tok_00000000000000000000000000', 'old', 'read', '2020-01-01T00:00:00.000Z', 'x', '2020-01-02T00:00:00.000Z')",
    ).run();
    expect(await pruneExpiredTokens(env.DB, new Date(Date.now() - 3600_000).toISOString())).toBe(1);
    const left = await env.DB.prepare("SELECT id FROM tokens WHERE id IN (?, 'tok_00000000000000000000000000')")
      .bind(live.id)
      .all();
    expect(left.results.map((r) => r.id)).toEqual([live.id]);
  });
});
