import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { exportSPKI, generateKeyPair, importJWK, SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import type { Env } from "../src/env";
import { asymToken, call, createModel, hsToken, json } from "./helpers";

/** Calls the Worker with some settings changed (issuer, audience, public reads). */
async function callWith(overrides: Partial<Env>, path: string, token: string | null, method = "GET") {
  const headers = new Headers();
  if (token) headers.set("authorization", `Bearer ${token}`);
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`http://mreg.test${path}`, { method, headers }),
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

describe("authentication", () => {
  it("accepts a valid HS256 token", async () => {
    expect((await json("GET", "/v1/models", { token: await hsToken({ scope: "read" }) })).status).toBe(200);
  });

  it.each(["RS256", "ES256", "EdDSA"] as const)("accepts a valid %s token from the inline JWKS", async (alg) => {
    expect((await json("GET", "/v1/models", { token: await asymToken(alg, { scope: "read" }) })).status).toBe(200);
  });

  it("401s without a token, with WWW-Authenticate: Bearer", async () => {
    const res = await json("GET", "/v1/models", { token: null });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("unauthenticated");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("401s a malformed Authorization header", async () => {
    const res = await call("GET", "/v1/models", { token: null, headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(res.status).toBe(401);
  });

  it("401s an expired token, and accepts one expired within the 30 s tolerance", async () => {
    const expired = await json("GET", "/v1/models", { token: await hsToken({ expiresIn: -120 }) });
    expect(expired.status).toBe(401);
    expect(expired.body.detail).toMatch(/expired/);
    expect((await json("GET", "/v1/models", { token: await hsToken({ expiresIn: -10 }) })).status).toBe(200);
  });

  it("401s a token that is not yet valid (nbf)", async () => {
    const nbf = Math.floor(Date.now() / 1000) + 600;
    expect((await json("GET", "/v1/models", { token: await hsToken({ nbf }) })).status).toBe(401);
  });

  it("401s a token without exp", async () => {
    const token = await new SignJWT({ scope: "read" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .sign(new TextEncoder().encode(env.JWT_SECRET!));
    expect((await json("GET", "/v1/models", { token })).status).toBe(401);
  });

  it("401s alg: none", async () => {
    const token = new UnsecuredJWT({ scope: "read admin" }).setSubject("mallory").setExpirationTime("1h").encode();
    expect((await json("GET", "/v1/models", { token })).status).toBe(401);
  });

  it("401s an HS256 token signed with the wrong secret", async () => {
    const token = await hsToken({}, "not-the-secret-0123456789abcdef0123");
    const res = await json("GET", "/v1/models", { token });
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/signature/);
  });

  it("401s an RS256 public key presented as an HS256 secret (algorithm confusion)", async () => {
    const jwks = JSON.parse(env.JWT_JWKS!) as { keys: { kid: string }[] };
    const rsaPublic = jwks.keys.find((k) => k.kid === "test-rs")!;
    const pem = await exportSPKI((await importJWK(rsaPublic, "RS256")) as CryptoKey);
    // An attacker's two likely HMAC secrets: the published JWK, and the key as PEM.
    for (const secret of [JSON.stringify(rsaPublic), pem]) {
      const token = await new SignJWT({ scope: "read admin" })
        .setProtectedHeader({ alg: "HS256", kid: "test-rs" })
        .setSubject("mallory")
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode(secret));
      expect((await json("GET", "/v1/models", { token })).status).toBe(401);
    }
  });

  it("401s an algorithm outside the allowlist", async () => {
    const token = await new SignJWT({ scope: "read" })
      .setProtectedHeader({ alg: "HS512" })
      .setSubject("alice")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(env.JWT_SECRET!.padEnd(64, "x")));
    expect((await json("GET", "/v1/models", { token })).status).toBe(401);
  });

  it("checks iss and aud when they are configured", async () => {
    const settings = { JWT_ISSUER: "https://issuer.example", JWT_AUDIENCE: "mreg" };
    const good = await hsToken({ scope: "read", iss: "https://issuer.example", aud: "mreg" });
    expect((await callWith(settings, "/v1/models", good)).status).toBe(200);
    const wrongIss = await hsToken({ scope: "read", iss: "https://evil.example", aud: "mreg" });
    expect((await callWith(settings, "/v1/models", wrongIss)).status).toBe(401);
    const wrongAud = await hsToken({ scope: "read", iss: "https://issuer.example", aud: "other" });
    expect((await callWith(settings, "/v1/models", wrongAud)).status).toBe(401);
    const noIss = await hsToken({ scope: "read", aud: "mreg" });
    expect((await callWith(settings, "/v1/models", noIss)).status).toBe(401);
  });

  it("fetches keys from JWT_JWKS_URL (and refuses a token no key there signed)", async () => {
    const jwksUrl = "https://issuer.example/.well-known/jwks.json";
    // The tests share the Worker's isolate, so a stub of fetch stands in for the issuer.
    const realFetch = globalThis.fetch;
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url === jwksUrl) return new Response(env.JWT_JWKS!, { headers: { "content-type": "application/json" } });
      return realFetch(input, init);
    });
    try {
      const settings = { JWT_JWKS: "", JWT_JWKS_URL: jwksUrl };
      expect((await callWith(settings, "/v1/models", await asymToken("ES256", { scope: "read" }))).status).toBe(200);
      expect(fetchSpy).toHaveBeenCalled();
      const forged = await new SignJWT({ scope: "read" })
        .setProtectedHeader({ alg: "RS256", kid: "unknown-kid" })
        .setSubject("mallory")
        .setExpirationTime("1h")
        .sign((await generateKeyPair("RS256")).privateKey);
      expect((await callWith(settings, "/v1/models", forged)).status).toBe(401);
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it("serves GETs without a token when PUBLIC_READ=true, and nothing else", async () => {
    expect((await callWith({ PUBLIC_READ: "true" }, "/v1/models", null)).status).toBe(200);
    expect((await callWith({ PUBLIC_READ: "true" }, "/v1/models/x", null, "DELETE")).status).toBe(401);
    // An invalid token is still refused, public or not.
    expect((await callWith({ PUBLIC_READ: "true" }, "/v1/models", "garbage.token.here")).status).toBe(401);
  });

  it("needs no token for /healthz, /openapi.json and /docs", async () => {
    for (const path of ["/healthz", "/openapi.json", "/docs"]) {
      expect((await call("GET", path, { token: null })).status, path).toBe(200);
    }
  });
});

describe("authorization", () => {
  it("403s a token without the route's scope", async () => {
    const readOnly = await hsToken({ scope: "read" });
    const res = await json("POST", "/v1/models", { token: readOnly, body: { name: "nope" } });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("forbidden");
    const writeOnly = await hsToken({ scope: "write" });
    expect((await json("GET", "/v1/models", { token: writeOnly })).status).toBe(403);
  });

  it("reads scopes from scp as well as scope", async () => {
    const token = await hsToken({ scope: undefined, scp: ["read", "write"] });
    expect((await json("POST", "/v1/models", { token, body: { name: "scp-model" } })).status).toBe(201);
  });

  it("treats admin as every scope", async () => {
    const token = await hsToken({ scope: "admin" });
    expect((await json("POST", "/v1/models", { token, body: { name: "admin-made" } })).status).toBe(201);
    expect((await json("GET", "/v1/models/admin-made", { token })).status).toBe(200);
  });

  it("403s a model outside the token's models globs", async () => {
    await createModel("churn-1");
    const token = await hsToken({ scope: "read write", models: ["fraud-*"] });
    expect((await json("GET", "/v1/models/churn-1", { token })).status).toBe(403);
    expect((await json("POST", "/v1/models", { token, body: { name: "churn-2" } })).status).toBe(403);
    expect((await json("POST", "/v1/models/churn-1/versions", { token, body: {} })).status).toBe(403);
    expect((await json("POST", "/v1/models", { token, body: { name: "fraud-1" } })).status).toBe(201);
  });

  it("records the token's sub as the actor", async () => {
    const token = await hsToken({ sub: "ci-bot", scope: "read write" });
    const res = await json("POST", "/v1/models", { token, body: { name: "by-bot" } });
    expect(res.body.created_by).toBe("ci-bot");
  });
});
