/**
 * Issue 33, item 2: the model page on a phone (390 px) and at desktop width, in Chromium.
 * Every action is reachable without the page scrolling sideways; deleting an alias sits apart,
 * in a danger zone; after a rollback the button that would redeploy the version just rolled
 * away from says "Undo the rollback", with that version's recent history beside it; times
 * read to the second with their zone; the metric chart's labels stay inside it.
 *
 * `UPDATE_SCREENSHOTS=1` writes docs/img/model-page-phone-after.png (or the path in
 * `PHONE_SCREENSHOT`).
 */
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM } from "./debian";
import { publishVersion, root, startServer, token, type Server } from "./server";

const MODEL = "phone-fraud";
let server: Server;
let browser: Browser;
let admin: string;

async function api(method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

async function signedIn(width: number): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width, height: width < 600 ? 844 : 900 },
    timezoneId: "America/New_York",
    locale: "en-US",
  });
  context.setDefaultTimeout(120_000);
  const page = await context.newPage();
  await page.goto(`${server.base}/sign-in`);
  await page.getByLabel("Token").fill(token("oncall", "read write promote admin"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${server.base}/`);
  await page.goto(`${server.base}/m/${MODEL}`);
  return page;
}

beforeAll(async () => {
  server = await startServer();
  admin = token("admin", "read write promote approve admin");
  await api("POST", "/v1/models", { name: MODEL, kind: "model", tags: { team: "payments" } });
  for (const auc of [0.91, 0.94, 0.93]) {
    await publishVersion(server.base, admin, MODEL, { "model.bin": `w${auc}` }, { metrics: { auc } });
  }
  await api("PUT", `/v1/models/${MODEL}/aliases/production`, { version: 1, reason: "first deploy" });
  await api("PUT", `/v1/models/${MODEL}/aliases/production`, { version: 2, reason: "auc up" });
  await api("POST", `/v1/models/${MODEL}/aliases/production/rollback`, { reason: "p99 latency regression" });
  await api("PUT", `/v1/models/${MODEL}/aliases/staging`, { version: 3, reason: "candidate" });
  await api("PUT", `/v1/models/${MODEL}/aliases/canary`, {
    split: [
      { version: 2, weight: 90 },
      { version: 3, weight: 10 },
    ],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM.binary,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.stop();
});

// Desktop first: the phone's run ends by rolling back.
describe.each([1280, 390])("the model page at %i px", (width) => {
  it("keeps every action within the screen, deleting apart in a danger zone", async () => {
    const page = await signedIn(width);
    if (width === 390 && (process.env.UPDATE_SCREENSHOTS || process.env.PHONE_SCREENSHOT))
      await page.screenshot({
        path: process.env.PHONE_SCREENSHOT ?? join(root, "docs", "img", "model-page-phone-after.png"),
        fullPage: true,
      });
    // The page itself never scrolls sideways (a wide table scrolls inside itself).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const actions = page.locator("main button, main input, main select, main summary");
    const count = await actions.count();
    expect(count).toBeGreaterThan(5);
    for (let i = 0; i < count; i++) {
      const action = actions.nth(i);
      if (!(await action.isVisible())) continue;
      const box = (await action.boundingBox())!;
      const what = (await action.evaluate((e) => e.outerHTML)).slice(0, 120);
      expect(box.x, what).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, what).toBeLessThanOrEqual(width);
    }
    // Deleting is only in the danger zone, never beside a rollback.
    const zone = page.getByRole("region", { name: "Danger zone" });
    expect(await zone.getByRole("button", { name: /^Delete alias / }).count()).toBe(3);
    expect(await page.getByRole("button", { name: /Delete alias/ }).count()).toBe(3);
    expect(
      await page
        .locator("table.aliases")
        .getByRole("button", { name: /Delete/ })
        .count(),
    ).toBe(0);
    const zoneTop = (await zone.boundingBox())!.y;
    const tableBottom = await page.locator("table.aliases").evaluate((t) => t.getBoundingClientRect().bottom);
    expect(zoneTop).toBeGreaterThan(tableBottom);
  });

  it("words the button after a rollback as undoing it, beside the version's recent history, and rolls back from the phone", async () => {
    const page = await signedIn(width);
    const form = page.getByRole("form", { name: "Roll back production" });
    const undo = form.getByRole("button", { name: "Undo the rollback: production serves v2 again instead of v1" });
    expect(await undo.isVisible()).toBe(true);
    expect(await form.getByRole("button", { name: /^Roll back to/ }).count()).toBe(0);
    const stays = form.getByRole("list", { name: "Recent history of v2" });
    const stayText = await stays.textContent();
    expect(stayText).toContain("set by admin (“auc up”)");
    expect(stayText).toContain("when admin rolled back (“p99 latency regression”)");

    // Times to the second, in the reader's zone (New York here), UTC and local on hover.
    const time = stays.locator("time").first();
    expect(await time.textContent()).toMatch(/\d\d:\d\d:\d\d [AP]M (EST|EDT)$/);
    expect(await time.getAttribute("title")).toMatch(/ (EST|EDT) — \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

    // Every plot label inside its chart.
    for (const svg of await page.locator("svg.plot").all()) {
      const frame = (await svg.boundingBox())!;
      for (const label of await svg.locator("text").all()) {
        const box = (await label.boundingBox())!;
        const text = await label.textContent();
        expect(box.x, text!).toBeGreaterThanOrEqual(frame.x - 0.5);
        expect(box.x + box.width, text!).toBeLessThanOrEqual(frame.x + frame.width + 0.5);
      }
    }

    if (width === 390) {
      await form.getByLabel("Reason").fill("v2 fixed after all");
      await form.getByLabel("confirm").check();
      await undo.click();
      await page.waitForURL(/\?flash=[0-9a-f]{32}$/);
      expect(await page.getByRole("status").textContent()).toBe(
        "Done: Rolled back production: v1 → v2, reason “v2 fixed after all”.",
      );
    }
  });
});
