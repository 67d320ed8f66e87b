/**
 * The web UI as a browser drives it, through the Worker's real fetch handler: requests with the
 * session cookie and form posts, signing in, the CSRF token a page carries, and following a
 * form's redirect with the record (flash cookie) the post left.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { hsToken } from "./helpers";

export async function page(
  method: string,
  path: string,
  opts: { cookie?: string; form?: Record<string, string> } = {},
) {
  const headers = new Headers();
  if (opts.cookie) headers.set("cookie", opts.cookie);
  const body = opts.form ? new URLSearchParams(opts.form) : undefined;
  if (body) headers.set("content-type", "application/x-www-form-urlencoded");
  const res = await exports.default.fetch(
    new Request(`http://127.0.0.1:8787${path}`, { method, headers, body, redirect: "manual" }),
  );
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export async function signIn(claims: {
  scope: string;
  sub?: string;
  aliases?: string[];
  expiresIn?: number;
}): Promise<string> {
  const res = await page("POST", "/sign-in", { form: { token: await hsToken(claims), next: "/" } });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

export const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

/** The flash cookies a response set, as a browser would send them back (`name=value`). */
export const flashCookies = (res: { headers: Headers }) =>
  res.headers
    .getSetCookie()
    .filter((c) => c.startsWith("mreg_flash_") && !/Max-Age=0/.test(c))
    .map((c) => c.split(";")[0]!);

/** Where a form's redirect leads, fetched as the browser does: with the cookies the post set. */
export const follow = (res: { headers: Headers }, cookie: string) =>
  page("GET", res.headers.get("location")!, { cookie: [cookie, ...flashCookies(res)].join("; ") });
export const notice = (html: string) =>
  /<div class="notice (?:ok|bad)"[^>]*>(.*?)<\/div>/s
    .exec(html)?.[1]
    ?.replace(/<[^>]+>/g, "")
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"') ?? null;
