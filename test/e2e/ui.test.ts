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
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM } from "./debian";
import { publishVersion, root, startServer, token, type Server } from "./server";
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
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body !== undefined && typeof body !== "string" && { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

const version = (model: string, body: unknown, files: Record<string, string>, bearer = admin): Promise<number> =>
  publishVersion(server.base, bearer, model, files, body);

/** A fresh browser context signed in with `bearer` through the sign-in form. */
async function signedIn(bearer: string, javaScriptEnabled = true): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    timezoneId: "Europe/Berlin",
    javaScriptEnabled,
  });
  // Playwright waits 30 s for an element or a navigation by default; Chromium on a busy machine may need longer.
  context.setDefaultTimeout(120_000);
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  await page.waitForURL(/\/sign-in/);
  await page.getByLabel("Token").fill(bearer);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${server.base}/`);
  return page;
}

/**
 * Clicks a form's button and waits for the page its post redirected to: an address naming the
 * record the post left (a new one each time), which that page then confirms.
 */
async function submit(page: Page, button: Locator, model = MODEL, version?: number): Promise<void> {
  const from = page.url();
  const done = new RegExp(`/m/${model}${version === undefined ? "" : `/v/${version}`}\\?flash=[0-9a-f]{32}$`);
  await button.click();
  await page.waitForURL((url) => done.test(url.href) && url.href !== from);
}

const productionCell = (page: Page) => page.locator('tr[data-watch-alias="production"] [data-alias-value]');

beforeAll(async () => {
  server = await startServer();
  admin = token("admin", "read write promote approve admin");
  const trainer = token("trainer", "read write");
  await api("POST", "/v1/models", { name: "txn-features", kind: "model", description: "Feature encoder" });
  const features = await version(
    "txn-features",
    { lineage: { git_sha: "9f2c41d07be3a5c1e2f0d9b8a7c6e5f4d3c2b1a0", run_id: "feat-41" } },
    { "encoder.bin": "enc" },
    trainer,
  );
  await api("POST", "/v1/models", {
    name: MODEL,
    kind: "model",
    description: "Card fraud scoring",
    tags: { team: "payments" },
  });
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
  const v1 = await version(
    MODEL,
    { metrics: { auc: 0.951, latency_p99_ms: 31 }, lineage: lineage("8790") },
    { "model.bin": "v1 weights", "README.md": CARD },
    trainer,
  );
  await version(
    MODEL,
    { metrics: { auc: 0.962, latency_p99_ms: 29 }, tags: { validation: "passed" }, lineage: lineage("8812") },
    { "model.bin": "v2 weights", "README.md": CARD },
    trainer,
  );
  await api("PUT", `/v1/models/${MODEL}/gates/production`, { metrics: [{ name: "auc", min: 0.95 }], approvals: 1 });
  await api("POST", `/v1/models/${MODEL}/versions/${v1}/approvals`, { target: "production", comment: "baseline" });
  await api("PUT", `/v1/models/${MODEL}/aliases/production`, { version: v1, reason: "initial release" });
  await api("PUT", `/v1/models/${MODEL}/aliases/staging`, { version: v1 });
  await api("PUT", `/v1/models/${MODEL}/aliases/production/guard`, {
    metric: "error_rate",
    max: 0.05,
    window_s: 300,
    min_samples: 50,
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
    if (process.env.UPDATE_SCREENSHOTS)
      await oncall.screenshot({ path: join(root, "docs", "ui-version.png"), fullPage: true });

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
    await submit(oncall, approve.getByRole("button", { name: "Approve" }), MODEL, 2);
    expect(await oncall.getByRole("status").textContent()).toBe("Done: You approved v2 for production.");
    expect(await oncall.getByText("canary looked good").isVisible()).toBe(true);
    const viewerUrl = viewer.url();
    await oncall.goto(`${server.base}/m/${MODEL}/promote?alias=production&version=2`);
    expect(await oncall.getByText("The gate passes.").isVisible()).toBe(true);
    await oncall.getByRole("form", { name: "Confirm promotion" }).getByLabel("Reason").fill("better auc");
    const promotedAt = Date.now();
    await submit(oncall, oncall.getByRole("button", { name: "Set production → v2" }));
    expect(await productionCell(oncall).textContent()).toBe("v2");
    expect(await oncall.getByRole("status").textContent()).toBe("Done: Set production: v1 → v2, reason “better auc”.");
    await expect.poll(() => productionCell(viewer).textContent(), { interval: 50 }).toBe("v2");
    const liveMs = Date.now() - promotedAt;
    console.log(`viewer saw the promotion ${liveMs} ms after the click`);
    expect(viewer.url()).toBe(viewerUrl);

    // Roll back with a reason and confirmation; the viewer follows again; the timeline marks it.
    const row = oncall.getByRole("form", { name: "Roll back production" });
    await row.getByLabel("Reason").fill("p99 latency regression");
    await row.getByLabel("confirm").check();
    await submit(oncall, row.getByRole("button", { name: "Roll back: production serves v1 instead of v2" }));
    expect(await productionCell(oncall).textContent()).toBe("v1");
    expect(await oncall.getByRole("status").textContent()).toBe(
      "Done: Rolled back production: v2 → v1, reason “p99 latency regression”.",
    );
    await expect.poll(() => productionCell(viewer).textContent(), { interval: 50 }).toBe("v1");
    const timeline = oncall.getByRole("region", { name: "History of production" });
    expect(await timeline.locator("li.rollback").first().textContent()).toContain("p99 latency regression");
    // Times are shown in the reader's zone, UTC on hover.
    expect(await oncall.locator("time").first().getAttribute("title")).toMatch(/UTC$/);
    if (process.env.UPDATE_SCREENSHOTS)
      await oncall.screenshot({ path: join(root, "docs", "ui-model.png"), fullPage: true });

    // A forged post from the read-only session is refused: a made-up CSRF token, then its own.
    const forged = await viewer.evaluate(async (model) => {
      const post = async (csrf: string) => {
        const body = new URLSearchParams({ csrf, reason: "forged", confirm: "yes" });
        return (await fetch(`/m/${model}/aliases/production/rollback`, { method: "POST", body, redirect: "manual" }))
          .status;
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
    await submit(page, page.getByRole("button", { name: "Set staging → v2" }));
    expect(await page.locator('tr[data-watch-alias="staging"] [data-alias-value]').textContent()).toBe("v2");
    await rollback.getByLabel("Reason").fill("no-js rollback");
    await rollback.getByLabel("confirm").check();
    await submit(page, rollback.getByRole("button", { name: "Roll back: staging serves v1 instead of v2" }));
    expect(await page.locator('tr[data-watch-alias="staging"] [data-alias-value]').textContent()).toBe("v1");
  });
  it("on call: rolls back to a chosen earlier version, is refused on the same page, edits metadata, reads audit, plots and lineage", async () => {
    const demo = "oncall-demo";
    await api("POST", "/v1/models", { name: demo, kind: "model" });
    const dataset = { uri: "s3://acme-data/clicks", snapshot: "2026-11-20" };
    for (const [auc, p99] of [
      [0.91, 33],
      [0.94, 30],
      [0.93, 41],
    ])
      await version(
        demo,
        { metrics: { auc, latency_p99_ms: p99 }, lineage: { datasets: [dataset] } },
        { "model.bin": `w${auc}` },
      );
    for (const [v, reason] of [
      [1, "first"],
      [2, "auc up"],
      [3, "new features"],
    ] as const)
      await api("PUT", `/v1/models/${demo}/aliases/production`, { version: v, reason });

    // A token that may promote, but only the staging alias: refused on the page it acted from, with why and what to do.
    const junior = await signedIn(token("junior", "read promote", undefined, "staging"));
    await junior.goto(`${server.base}/m/${demo}`);
    const juniorRow = junior.getByRole("form", { name: "Roll back production" });
    await juniorRow.getByLabel("Reason").fill("p99 up");
    await juniorRow.getByLabel("confirm").check();
    await juniorRow.getByRole("button", { name: "Roll back: production serves v2 instead of v3" }).click();
    await junior.waitForLoadState();
    const alert = junior.getByRole("alert");
    expect(await alert.textContent()).toMatch(/^Refused: .*production.*Sign in with a token that may/);
    expect(await junior.locator('tr[data-watch-alias="production"] [data-alias-value]').textContent()).toBe("v3");
    expect(await junior.getByRole("heading", { name: "Aliases" }).isVisible()).toBe(true);

    // On call: the table says what production serves and why; the rollback goes past v2 to v1, chosen by name.
    const oncall = await signedIn(token("sre", "read write promote"));
    await oncall.goto(`${server.base}/m/${demo}`);
    const row = oncall.locator('tr[data-watch-alias="production"]');
    expect(await row.locator("[data-last-change]").textContent()).toContain("“new features”");
    expect(await row.getByRole("link", { name: "v3" }).getAttribute("href")).toBe(`/m/${demo}/v/3`);
    const form = oncall.getByRole("form", { name: "Roll back production" });
    expect(await form.getByRole("button", { name: "Roll back: production serves v2 instead of v3" }).isVisible()).toBe(
      true,
    );
    await form.getByLabel("Reason").fill("v2 and v3 both regress p99");
    await form.getByLabel("confirm").check();
    await form.getByText("an earlier version…").click();
    await submit(oncall, form.getByRole("button", { name: "Roll back: production serves v1 instead of v3" }), demo);
    expect(await oncall.getByRole("status").textContent()).toBe(
      "Done: Rolled back production: v3 → v1, reason “v2 and v3 both regress p99”.",
    );
    // The confirmation is at the top of the page.
    expect(await oncall.locator("main > :first-child").getAttribute("role")).toBe("status");
    expect(await row.locator("[data-alias-value]").textContent()).toBe("v1");
    // Said once, to this session: the same address reloaded, or opened in another session, confirms nothing.
    await junior.goto(oncall.url());
    expect(await junior.locator(".notice.ok").count()).toBe(0);
    await oncall.reload();
    expect(await oncall.locator(".notice.ok").count()).toBe(0);

    // Editing the model's description and tags.
    await oncall.getByText("Edit description and tags").click();
    const edit = oncall.getByRole("form", { name: "Edit model" });
    await edit.getByLabel("Description").fill("Click-through ranking");
    await edit.getByLabel(/^Model tags/).fill("team=ranking\nowner=sre");
    await submit(oncall, edit.getByRole("button", { name: "Save" }), demo);
    expect(await oncall.getByRole("status").textContent()).toBe("Done: Saved the description and tags.");
    expect(await oncall.locator("main > p", { hasText: "Click-through ranking" }).isVisible()).toBe(true);
    expect(await oncall.locator(".badge", { hasText: "owner=sre" }).isVisible()).toBe(true);

    // Two metrics, two full-width panels with axis titles and values on the points.
    const plots = oncall.locator("svg.plot");
    expect(await plots.count()).toBe(2);
    const mainWidth = (await oncall.locator("main").boundingBox())!.width;
    expect((await plots.first().boundingBox())!.width).toBeGreaterThan(mainWidth * 0.9);
    expect(await plots.nth(1).locator("text.value").allTextContents()).toEqual(["33", "30", "41"]);
    expect(await plots.first().locator("text.axis-title").allTextContents()).toEqual(["auc", "version"]);
    // No version is in a stage: no Stage column.
    expect(await oncall.getByRole("columnheader", { name: "Stage" }).count()).toBe(0);

    // A version's metrics edited; a bad value is refused on the same page with the text kept.
    await oncall.goto(`${server.base}/m/${demo}/v/3`);
    await oncall.getByText("Edit description, tags and metrics").click();
    const vedit = oncall.getByRole("form", { name: "Edit version" });
    await vedit.getByLabel(/^Metrics/).fill("auc=0.93\nlatency_p99_ms=forty");
    await vedit.getByRole("button", { name: "Save" }).click();
    await oncall.waitForLoadState();
    expect(await oncall.getByRole("alert").textContent()).toContain(
      "Metrics: 'latency_p99_ms' must be a number (got 'forty').",
    );
    const kept = oncall.getByRole("form", { name: "Edit version" }).getByLabel(/^Metrics/);
    expect(await kept.inputValue()).toBe("auc=0.93\nlatency_p99_ms=forty");
    await kept.fill("auc=0.93\nlatency_p99_ms=41\nrecall=0.8");
    await submit(
      oncall,
      oncall.getByRole("form", { name: "Edit version" }).getByRole("button", { name: "Save" }),
      demo,
      3,
    );
    expect(await oncall.getByRole("status").textContent()).toBe("Done: Saved the description, tags and metrics of v3.");
    expect(await oncall.getByRole("row", { name: /recall/ }).textContent()).toContain("0.8");

    // The lineage graph draws the dataset as a node, with an arrow to the version.
    const graph = oncall.locator("svg.lineage-graph");
    expect(await graph.locator("g.dataset title").textContent()).toBe("dataset s3://acme-data/clicks @ 2026-11-20");
    expect(await graph.locator('line.edge.dataset[marker-end="url(#lineage-arrow)"]').count()).toBe(1);

    // The audit log in words, times on one line with the full time on hover.
    await oncall.goto(`${server.base}/audit?model=${demo}`);
    expect(await oncall.locator("td[data-change]").allTextContents()).toEqual(
      expect.arrayContaining([
        "production: v3 → v1 (rollback); gates skipped, reason “v2 and v3 both regress p99”",
        "v3 changed metrics",
        "changed description, tags",
      ]),
    );
    const time = oncall.locator("tbody time").first();
    expect(await time.evaluate((t) => getComputedStyle(t).whiteSpace)).toBe("nowrap");
    const height = (await time.boundingBox())!.height;
    expect(height).toBeLessThan(24);
    expect(await time.getAttribute("title")).toMatch(/\d\d:\d\d:\d\d.*UTC$/);
    if (process.env.UPDATE_SCREENSHOTS)
      await oncall.screenshot({ path: join(root, "docs", "ui-audit.png"), fullPage: true });
  });
});
