/**
 * Issue 33, item 3: the sign-in page says where a token comes from; a session that ended
 * (expired, revoked) is told why on the page it is sent back to, from the cookie itself, never
 * from the address; an `hf_`-prefixed token, which `/v1` accepts, signs in too.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hsToken } from "./helpers";

async function page(method: string, path: string, opts: { cookie?: string; form?: Record<string, string> } = {}) {
  const headers = new Headers();
  if (opts.cookie) headers.set("cookie", opts.cookie);
  const body = opts.form ? new URLSearchParams(opts.form) : undefined;
  if (body) headers.set("content-type", "application/x-www-form-urlencoded");
  const res = await exports.default.fetch(
    new Request(`http://127.0.0.1:8787${path}`, { method, headers, body, redirect: "manual" }),
  );
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("the sign-in page", () => {
  it("says where a token comes from: an admin's mreg token create, or the development helper", async () => {
    const res = await page("GET", "/sign-in");
    expect(res.text).toContain("Where do I get a token?");
    expect(res.text).toContain("mreg token create --sub you");
    expect(res.text).toContain("npx mreg token --sub you --scope admin");
    expect(res.text).not.toContain("Your session ended");
  });

  it("signs in with an hf_-prefixed token or a pasted 'Bearer …', keeping the bare token in the cookie", async () => {
    const token = await hsToken({ sub: "hf-user", scope: "read" });
    for (const pasted of [`hf_${token}`, `Bearer ${token}`, `  hf_${token}\n`]) {
      const res = await page("POST", "/sign-in", { form: { token: pasted, next: "/" } });
      expect(res.status, pasted).toBe(303);
      const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
      expect(cookie).toBe(`mreg_session=${token}`);
      expect((await page("GET", "/", { cookie })).status).toBe(200);
    }
    const bad = await page("POST", "/sign-in", { form: { token: "hf_not a token", next: "/" } });
    expect(bad.status).toBe(401);
    expect(bad.text).toContain("not a token");
  });

  it("tells a session that expired why it is back at sign-in, and drops the dead cookie", async () => {
    const expired = await hsToken({ sub: "late", scope: "read", expiresIn: -120 });
    const cookie = `mreg_session=${expired}`;
    const sent = await page("GET", "/m/anything", { cookie });
    expect(sent.status).toBe(303);
    expect(sent.headers.get("location")).toMatch(/^\/sign-in\?next=/);
    const res = await page("GET", sent.headers.get("location")!, { cookie });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/Your session ended: [^<]*expired[^<]*\. Sign in again with a new token\./);
    expect(res.headers.get("set-cookie")).toMatch(/^mreg_session=;.*Max-Age=0/);
    // Nothing in the address makes the page claim a session ended.
    const crafted = await page("GET", "/sign-in?ended=token%20stolen&expired=1");
    expect(crafted.text).not.toContain("Your session ended");
  });
});
