/**
 * The authorization seam (src/auth/authorize.ts), the credential extractors
 * (src/auth/credentials.ts) and what a route declares on its spec (subject, access).
 */
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { authorize, forbidden } from "../src/auth/authorize";
import { credentialOf } from "../src/auth/credentials";
import type { Principal } from "../src/auth/principal";
import { defineRoute, MODEL_PARAM, register } from "../src/http/api";
import type { AppEnv } from "../src/http/app-env";
import { d1Session } from "../src/http/d1-session";
import { ProblemError } from "../src/domain/problem";
import { problemResponse } from "../src/http/problem";
import { createModel, hsToken, json } from "./helpers";

const principal = (over: Partial<Principal> = {}): Principal => ({
  sub: "p",
  scopes: new Set(["read", "promote"]),
  ...over,
});

describe("authorize", () => {
  it.each([
    ["scope held", principal(), { scope: "read" as const }, null],
    ["admin implies every scope", principal({ scopes: new Set(["admin"]) }), { scope: "approve" as const }, null],
    ["scope missing", principal(), { scope: "write" as const }, { reason: "scope", scope: "write" }],
    ["public needs nothing", principal({ scopes: new Set() }), { scope: "public" as const }, null],
    ["model within globs", principal({ models: ["fraud-*"] }), { model: "fraud-1" }, null],
    [
      "model outside globs",
      principal({ models: ["fraud-*"] }),
      { model: "churn" },
      { reason: "model", model: "churn" },
    ],
    ["alias granted", principal({ aliases: ["staging", "canary-*"] }), { aliases: ["canary-eu"] }, null],
    [
      "an alias of several not granted",
      principal({ aliases: ["staging"] }),
      { aliases: ["staging", "production"] },
      { reason: "alias", alias: "production" },
    ],
    ["no aliases claim: every alias", principal(), { aliases: ["production"] }, null],
    [
      "scope before model before alias",
      principal({ models: ["a"], aliases: ["s"] }),
      { scope: "write" as const, model: "b", aliases: ["p"] },
      { reason: "scope", scope: "write" },
    ],
    [
      "model before alias",
      principal({ models: ["a"], aliases: ["s"] }),
      { scope: "read" as const, model: "b", aliases: ["p"] },
      { reason: "model", model: "b" },
    ],
  ])("%s", (_name, who, request, expected) => {
    expect(authorize(who, request)).toEqual(expected);
  });

  it("answers /v1's 403 for each denial, naming what is missing", () => {
    expect(forbidden({ reason: "model", model: "churn" })).toMatchObject({
      code: "forbidden",
      detail: "This token may not act on model 'churn'",
    });
    expect(forbidden({ reason: "alias", alias: "production" }).detail).toBe("This token may not move 'production'");
    expect(forbidden({ reason: "scope", scope: "admin" }).detail).toBe("This route needs the 'admin' scope");
  });
});

describe("credentials", () => {
  const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
  it.each([
    [null, { kind: "none" }],
    ["", { kind: "none" }],
    ["Bearer a.b.c", { kind: "token", token: "a.b.c" }],
    ["bearer   a.b.c  ", { kind: "token", token: "a.b.c" }],
    ["Bearer hf_a.b.c", { kind: "token", token: "a.b.c" }],
    [basic("x", "a.b.c"), { kind: "token", token: "a.b.c" }],
    [basic("", "a.b.c"), { kind: "token", token: "a.b.c" }],
  ])("%s", (header, expected) => {
    expect(credentialOf(header)).toEqual(expected);
  });

  // The last: a user name ends at the first colon (RFC 7617), so the password is "with:a.b.c", not a JWT.
  it.each([
    "Bearer",
    "Bearer a b",
    "Token a.b.c",
    "Basic !!!",
    `Basic ${btoa("no-colon")}`,
    "Bearer a.b.c<script>",
    basic("user:with", "a.b.c"),
  ])("refuses %s", (header) => {
    expect(credentialOf(header).kind).toBe("malformed");
  });

  it("lets /v1 take the token as Bearer hf_<JWT> and as Basic with the token as password", async () => {
    await createModel("cred-m");
    const token = await hsToken({ scope: "read" });
    for (const authorization of [`Bearer hf_${token}`, `Basic ${btoa(`anyone:${token}`)}`]) {
      const res = await json("GET", "/v1/models/cred-m", { headers: { authorization }, token: null });
      expect(res.status, authorization.slice(0, 12)).toBe(200);
    }
    const bad = await json("GET", "/v1/models/cred-m", {
      headers: { authorization: `Basic ${btoa("anyone:not-a-token")}` },
      token: null,
    });
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe("unauthenticated");
  });
});

describe("what a route declares", () => {
  const app = (publicRead: boolean) => {
    const hono = new Hono<AppEnv>();
    hono.use(d1Session());
    hono.onError((err) =>
      err instanceof ProblemError ? problemResponse(err.code, err.detail) : problemResponse("internal", String(err)),
    );
    register(
      hono,
      defineRoute({
        method: "post",
        path: "/t/{model}/lookup",
        operationId: "lookup",
        summary: "A read-only POST",
        tag: "Test",
        scope: "read",
        access: "read",
        subject: { model: MODEL_PARAM },
        params: z.object({ model: z.string() }),
        responses: { 200: { description: "ok" } },
        errors: [],
        handler: (c) => c.json({ access: c.var.session.access, who: "ok" }),
      }),
    );
    return (path: string, token?: string) =>
      hono.request(
        path,
        { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} },
        { ...env, PUBLIC_READ: publicRead ? "true" : "false" },
      );
  };

  it("a read-only POST reads: its D1 session may take a replica, and PUBLIC_READ lets it through without a token", async () => {
    const open = app(true);
    const res = await open("/t/m1/lookup");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ access: "read", who: "ok" });
    expect((await app(false)("/t/m1/lookup")).status).toBe(401);
  });

  it("checks the declared model subject", async () => {
    const call = app(false);
    expect((await call("/t/fraud-1/lookup", await hsToken({ scope: "read", models: ["fraud-*"] }))).status).toBe(200);
    expect((await call("/t/churn/lookup", await hsToken({ scope: "read", models: ["fraud-*"] }))).status).toBe(403);
  });

  it("refuses at startup a route that names {model} without declaring it", () => {
    const route = defineRoute({
      method: "get",
      path: "/t/{model}",
      operationId: "undeclared",
      summary: "Forgot its subject",
      tag: "Test",
      scope: "read",
      responses: { 200: { description: "ok" } },
      errors: [],
      handler: (c) => c.body(null, 204),
    });
    expect(() => register(new Hono<AppEnv>(), route)).toThrow(
      "GET /t/{model} names {model} but declares no subject.model",
    );
  });
});
