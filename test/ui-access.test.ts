/**
 * Signing in through Cloudflare Access: the `Cf-Access-Jwt-Assertion` is verified against
 * the team's keys (issuer and audience from configuration), and the user's scopes come from
 * ACCESS_DEFAULT_SCOPES plus ACCESS_GRANTS by email glob or group (vitest.config.ts).
 */
import { env, exports } from "cloudflare:workers";
import { importJWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { accessScopes } from "../src/auth/access";
import { createModel, json, readyVersion } from "./helpers";

interface AssertionOptions {
  email?: string;
  groups?: string[];
  issuer?: string;
  audience?: string;
  expiresIn?: number;
}

async function assertion(opts: AssertionOptions = {}): Promise<string> {
  const jwk = JSON.parse(env.TEST_ACCESS_PRIVATE_JWK) as { kid: string };
  const key = await importJWK(jwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: opts.email ?? "dana@example.com", ...(opts.groups && { groups: opts.groups }) })
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid })
    .setIssuer(opts.issuer ?? "https://acme.cloudflareaccess.com")
    .setAudience(opts.audience ?? "test-access-aud")
    .setSubject("access-user-id")
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expiresIn ?? 600))
    .sign(key);
}

const get = (path: string, jwt: string) =>
  exports.default.fetch(
    new Request(`https://mreg.example.com${path}`, { headers: { "cf-access-jwt-assertion": jwt }, redirect: "manual" }),
  );

describe("Cloudflare Access", () => {
  it("authenticates the model page's watch socket", async () => {
    await createModel("ui-access-watch");
    const path = "https://mreg.example.com/v1/models/ui-access-watch/aliases/production/watch";
    const headers = {
      upgrade: "websocket",
      "cf-access-jwt-assertion": await assertion(),
      origin: "https://mreg.example.com",
    };
    const res = await exports.default.fetch(new Request(path, { headers }));
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close();
    const forged = await exports.default.fetch(
      new Request(path, { headers: { ...headers, "cf-access-jwt-assertion": await assertion({ audience: "other" }) } }),
    );
    expect(forged.status).toBe(401);
  });

  it("maps the user to the default scopes plus grants by email glob and group", () => {
    const grants = [
      { email: "*@oncall.example.com", scopes: "promote" },
      { group: "ml-approvers", scopes: "approve" },
    ];
    expect([...accessScopes("read", grants, "dana@example.com", [])]).toEqual(["read"]);
    expect([...accessScopes("read", grants, "Sam@OnCall.example.com", [])].sort()).toEqual(["promote", "read"]);
    expect([...accessScopes("read", grants, "kim@example.com", ["ml-approvers"])].sort()).toEqual(["approve", "read"]);
  });

  it("signs the user in without a token; actions follow the configured scopes", async () => {
    await createModel("ui-access");
    const reader = await get("/m/ui-access", await assertion());
    expect(reader.status).toBe(200);
    const html = await reader.text();
    expect(html).toContain("dana@example.com");
    expect(html).not.toContain("Promote…");
    // No sign-out button: Access owns the session.
    expect(html).not.toContain("Sign out");
    const oncall = await (await get("/m/ui-access", await assertion({ email: "sam@oncall.example.com" }))).text();
    expect(oncall).toContain("Promote…");
  });

  it("confirms an action from the record it left, under the same assertion only", async () => {
    await createModel("ui-access-flash");
    const v1 = (await readyVersion("ui-access-flash", { "w.bin": new Uint8Array([1]) })).version as number;
    const v2 = (await readyVersion("ui-access-flash", { "w.bin": new Uint8Array([2]) })).version as number;
    for (const version of [v1, v2])
      await json("PUT", "/v1/models/ui-access-flash/aliases/production", { body: { version } });
    const sam = await assertion({ email: "sam@oncall.example.com" });
    const csrf = /name="csrf" value="([^"]+)"/.exec(await (await get("/m/ui-access-flash", sam)).text())![1]!;
    const back = await exports.default.fetch(
      new Request("https://mreg.example.com/m/ui-access-flash/aliases/production/rollback", {
        method: "POST",
        headers: { "cf-access-jwt-assertion": sam, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, confirm: "yes", reason: "paged" }),
        redirect: "manual",
      }),
    );
    expect(back.status).toBe(303);
    const flash = back.headers.getSetCookie().find((c) => c.startsWith("mreg_flash_"))!;
    // Served over https: Secure.
    expect(flash).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=60; Secure$/);
    const shown = async (jwt: string) => {
      const headers = { "cf-access-jwt-assertion": jwt, cookie: flash.split(";")[0]! };
      const html = await (
        await exports.default.fetch(
          new Request(`https://mreg.example.com${back.headers.get("location")!}`, { headers }),
        )
      ).text();
      return /<div class="notice ok"[^>]*>(.*?)<\/div>/s.exec(html)?.[1]?.replace(/<[^>]+>/g, "") ?? null;
    };
    // Another user's browser, holding sam's record, is told nothing.
    expect(await shown(await assertion({ email: "kim@oncall.example.com" }))).toBeNull();
    expect(await shown(sam)).toBe(`Done: Rolled back production: v${v2} → v${v1}, reason “paged”.`);
  });

  it("ignores assertions with the wrong audience or issuer, expired, or signed by another key", async () => {
    for (const jwt of [
      await assertion({ audience: "other-app" }),
      await assertion({ issuer: "https://evil.cloudflareaccess.com" }),
      await assertion({ expiresIn: -120 }),
      (await assertion()).replace(/\.[^.]+$/, ".AAAA"),
    ]) {
      const res = await get("/", jwt);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toMatch(/^\/sign-in/);
    }
    // The JSON API stays bearer-only: the Access header is no credential there.
    expect(
      (await json("GET", "/v1/models", { token: null, headers: { "cf-access-jwt-assertion": await assertion() } }))
        .status,
    ).toBe(401);
  });
});
