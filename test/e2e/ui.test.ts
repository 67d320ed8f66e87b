/**
 * The web UI in a real browser: Debian's Chromium driven by playwright-core against a real
 * `npm start`. An on-call engineer signs in with a token, finds a model, reads a version's
 * lineage and model card, is refused by a gate, approves, promotes and rolls back, while a
 * second, read-only browser follows the alias live and cannot act. With JavaScript off, the
 * pages read the same and the forms still act.
 *
 * `UPDATE_SCREENSHOTS=1` also writes the README's screenshots to docs/.
 */
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM } from "./debian";
import { root, startServer, token, type Server } from "./server";
const MODEL = "fraud-detector";
const CARD = `---
license: apache-2.0
tags: [fraud, payments]
---
# Fraud detector

Scores card transactions for fraud. Trained on **90 days** of labelled transactions.

## Intended use
- Real-time scoring in the payments path
- Not for credit decisions

## Evaluation
AUC 0.962 on the holdout set; see [the run](https://ci.example.com/runs/8812).

| metric | holdout |
|---|--:|
| AUC | 0.962 |
`;

let server: Server;
let browser: Browser;
let admin: string;

async function api(method: string, path: string, body?: unknown, bearer = admin): Promise<Response> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined && typeof body !== "string" && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

async function version(model: string, body: unknown, files: Record<string, string>, bearer = admin): Promise<number> {
  const v = (await (await api("POST", `/v1/models/${model}/versions`, body, bearer)).json()) as { version: number };
  for (const [path, content] of Object.entries(files)) await api("PUT", `/v1/models/${model}/versions/${v.version}/files/${path}`, content, bearer);
  await api("POST", `/v1/models/${model}/versions/${v.version}/finalize`, undefined, bearer);
  return v.version;
}

/** A fresh browser context signed in with `bearer` through the sign-in form. */
async function signedIn(bearer: string, javaScriptEnabled = true): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "Europe/Berlin", javaScriptEnabled });
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  await page.waitForURL(/\/sign-in/);
  await page.getByLabel("Token").fill(bearer);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${server.base}/`);
  return page;
}

const productionCell = (page: Page) => page.locator('tr[data-watch-alias="production"] [data-alias-value]');

beforeAll(async () => {
  server = await startServer();
  admin = token("admin", "read write promote approve admin");
  const trainer = token("trainer", "read write");
  await api("POST", "/v1/models", { name: "txn-features", kind: "model", description: "Feature encoder" });
  const features = await version("txn-features", { lineage: { git_sha: "9f2c41d07be3a5c1e2f0d9b8a7c6e5f4d3c2b1a0", run_id: "feat-41" } }, { "encoder.bin": "enc" }, trainer);
  await api("POST", "/v1/models", { name: MODEL, kind: "model", description: "Card fraud scoring", tags: { team: "payments" } });
  await api("POST", "/v1/models", { name: "churn-predictor", kind: "model", tags: { team: "growth" } });
  const lineage = (run: string) => ({
    git_repo: "github.com/acme/fraud",
    git_sha: "3b5e0c9a1f7d2e4b6c8a0f1e3d5c7b9a2e4f6a8c",
    run_id: run,
    run_url: `https://ci.example.com/runs/${run}`,
    datasets: [{ uri: "s3://acme-data/txns", snapshot: "2026-11-01" }],
    params: { learning_rate: 0.05, max_depth: 8 },
    parents: [{ model: "txn-features", version: features }],
    framework: { name: "xgboost", version: "2.1.0" },
  });
  const v1 = await version(MODEL, { metrics: { auc: 0.951, latency_p99_ms: 31 }, lineage: lineage("8790") }, { "model.bin": "v1 weights", "README.md": CARD }, trainer);
  await version(MODEL, { metrics: { auc: 0.962, latency_p99_ms: 29 }, tags: { validation: "passed" }, lineage: lineage("8812") }, { "model.bin": "v2 weights", "README.md": CARD }, trainer);
  await api("PUT", `/v1/models/${MODEL}/gates/production`, { metrics: [{ name: "auc", min: 0.95 }], approvals: 1 });
  await api("POST", `/v1/models/${MODEL}/versions/${v1}/approvals`, { target: "production", comment: "baseline" });
  await api("PUT", `/v1/models/${MODEL}/aliases/production`, { version: v1, reason: "initial release" });
  await api("PUT", `/v1/models/${MODEL}/aliases/staging`, { version: v1 });
  await api("PUT", `/v1/models/${MODEL}/aliases/production/guard`, { metric: "error_rate", max: 0.05, window_s: 300, min_samples: 50 });
  browser = await chromium.launch({ executablePath: CHROMIUM.binary, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
});

afterAll(async () => {
  await browser?.close();
  server?.stop();
});

describe("the web UI in Chromium", () => {
  it("signs in, finds a model, reads a version, is refused by a gate, approves, promotes and rolls back while a read-only browser follows live", async () => {
    const oncall = await signedIn(token("oncall", "read promote approve"));
    const viewer = await signedIn(token("viewer", "read"));

    // Find the model by name prefix.
    await oncall.getByLabel("Name prefix").fill("fraud");
    await oncall.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => oncall.locator("tbody tr").count()).toBe(1);
    await oncall.getByRole("link", { name: MODEL, exact: true }).click();
    await oncall.waitForURL(`${server.base}/m/${MODEL}`);
    expect(await productionCell(oncall).textContent()).toBe("v1");

    // The version page: lineage graph (the upstream model, dataset, git sha, run) and model card.
    await oncall.getByRole("link", { name: "v2", exact: true }).first().click();
    await oncall.waitForURL(`${server.base}/m/${MODEL}/v/2`);
    const graph = oncall.getByRole("region", { name: "Lineage graph" });
    await expect.poll(() => graph.textContent()).toContain("txn-features v1");
    expect(await graph.textContent()).toContain("s3://acme-data/txns@2026-11-01");
    expect(await graph.textContent()).toContain("3b5e0c9a1f7d");
    expect(await oncall.getByRole("heading", { name: "Intended use" }).isVisible()).toBe(true);
    expect(await oncall.locator(".markdown strong").first().textContent()).toBe("90 days");
    // The front matter reads as metadata, the table as a table.
    const metadata = oncall.getByRole("region", { name: "Card metadata" });
    expect(await metadata.getByRole("row", { name: /License/ }).textContent()).toContain("apache-2.0");
    expect(await oncall.locator(".markdown").textContent()).not.toContain("license:");
    expect(await oncall.locator(".markdown table td").last().textContent()).toBe("0.962");
    if (process.env.UPDATE_SCREENSHOTS) await oncall.screenshot({ path: join(root, "docs", "ui-version.png"), fullPage: true });

    // The read-only viewer watches the model page: no action buttons.
    await viewer.goto(`${server.base}/m/${MODEL}`);
    await expect.poll(() => viewer.locator("#live").textContent()).toBe("live");
    expect(await viewer.getByRole("button", { name: /Roll back|Promote|Delete alias|Approve/ }).count()).toBe(0);

    // Promote v2: the gate's dry run shows the missing approval, and the refusal shows its check.
    await oncall.goto(`${server.base}/m/${MODEL}`);
    const promote = oncall.getByRole("form", { name: "Promote" });
    await promote.getByLabel("Alias").fill("production");
    await promote.getByLabel("Version").selectOption("2");
    await promote.getByRole("button", { name: /Promote/ }).click();
    await oncall.waitForURL(/\/promote\?/);
    expect(await oncall.getByText("The gate would refuse this promotion.").isVisible()).toBe(true);
    await oncall.getByRole("button", { name: "Set production → v2" }).click();
    expect(await oncall.getByRole("alert").textContent()).toContain("Promotion refused");
    const failing = oncall.locator('tr[data-check="approvals"][data-passed="false"]').first();
    expect(await failing.textContent()).toContain("FAIL");

    // Approve v2 for production, then promote: the viewer's page follows without reloading.
    await oncall.goto(`${server.base}/m/${MODEL}/v/2`);
    const approve = oncall.getByRole("form", { name: "Approve" });
    await approve.getByLabel("Target").fill("production");
    await approve.getByLabel("Comment").fill("canary looked good");
    await approve.getByRole("button", { name: "Approve" }).click();
    await oncall.waitForURL(`${server.base}/m/${MODEL}/v/2`);
    expect(await oncall.getByText("canary looked good").isVisible()).toBe(true);
    const viewerUrl = viewer.url();
    await oncall.goto(`${server.base}/m/${MODEL}/promote?alias=production&version=2`);
    expect(await oncall.getByText("The gate passes.").isVisible()).toBe(true);
    await oncall.getByRole("form", { name: "Confirm promotion" }).getByLabel("Reason").fill("better auc");
    const promotedAt = Date.now();
    await oncall.getByRole("button", { name: "Set production → v2" }).click();
    await oncall.waitForURL(`${server.base}/m/${MODEL}`);
    expect(await productionCell(oncall).textContent()).toBe("v2");
    await expect.poll(() => productionCell(viewer).textContent(), { timeout: 5_000, interval: 50 }).toBe("v2");
    const liveMs = Date.now() - promotedAt;
    console.log(`viewer saw the promotion ${liveMs} ms after the click`);
    expect(viewer.url()).toBe(viewerUrl);

    // Roll back with a reason and confirmation; the viewer follows again; the timeline marks it.
    const row = oncall.getByRole("form", { name: "Roll back production" });
    await row.getByLabel("Reason").fill("p99 latency regression");
    await row.getByLabel("confirm").check();
    await row.getByRole("button", { name: "Roll back" }).click();
    await oncall.waitForURL(`${server.base}/m/${MODEL}`);
    expect(await productionCell(oncall).textContent()).toBe("v1");
    await expect.poll(() => productionCell(viewer).textContent(), { timeout: 5_000, interval: 50 }).toBe("v1");
    const timeline = oncall.getByRole("region", { name: "History of production" });
    expect(await timeline.locator("li.rollback").first().textContent()).toContain("p99 latency regression");
    // Times are shown in the reader's zone, UTC on hover.
    expect(await oncall.locator("time").first().getAttribute("title")).toMatch(/UTC$/);
    if (process.env.UPDATE_SCREENSHOTS) await oncall.screenshot({ path: join(root, "docs", "ui-model.png"), fullPage: true });

    // A forged post from the read-only session is refused: a made-up CSRF token, then its own.
    const forged = await viewer.evaluate(async (model) => {
      const post = async (csrf: string) => {
        const body = new URLSearchParams({ csrf, reason: "forged", confirm: "yes" });
        return (await fetch(`/m/${model}/aliases/production/rollback`, { method: "POST", body, redirect: "manual" })).status;
      };
      const own = document.querySelector<HTMLInputElement>('input[name="csrf"]')?.value ?? "";
      return [await post("forged"), await post(own)];
    }, MODEL);
    expect(forged).toEqual([403, 403]);
    expect(await productionCell(viewer).textContent()).toBe("v1");
  });

  it("works with JavaScript off: sign in, read the pages, act through plain forms", async () => {
    const page = await signedIn(token("nojs", "read promote"), false);
    await page.goto(`${server.base}/m/${MODEL}`);
    expect(await page.locator('tr[data-watch-alias="staging"] [data-alias-value]').textContent()).toBe("v1");
    // Without the script, times stay in UTC.
    expect(await page.locator("time").first().textContent()).toMatch(/UTC$/);
    const rollback = page.getByRole("form", { name: "Roll back staging" });
    await page.getByRole("form", { name: "Promote" }).getByLabel("Alias").fill("staging");
    await page.getByRole("form", { name: "Promote" }).getByLabel("Version").selectOption("2");
    await page.getByRole("form", { name: "Promote" }).getByRole("button").click();
    await page.getByRole("button", { name: "Set staging → v2" }).click();
    await page.waitForURL(`${server.base}/m/${MODEL}`);
    expect(await page.locator('tr[data-watch-alias="staging"] [data-alias-value]').textContent()).toBe("v2");
    await rollback.getByLabel("Reason").fill("no-js rollback");
    await rollback.getByLabel("confirm").check();
    await rollback.getByRole("button", { name: "Roll back" }).click();
    await page.waitForURL(`${server.base}/m/${MODEL}`);
    expect(await page.locator('tr[data-watch-alias="staging"] [data-alias-value]').textContent()).toBe("v1");
  });
});
