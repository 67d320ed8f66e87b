/**
 * Issue 20, web UI items 8–11 through the Worker's real fetch handler (the Chromium test,
 * test/e2e/ui.test.ts, clicks the same forms): the alias table and its rollback choices,
 * confirmations and refusals on the page acted on, audit changes and gate policies in words,
 * compact times, the edit forms (CSRF, scope, audit), the metric panels and stages only where
 * used. Issue 27 item 12: confirmations only from the record this session's own post left.
 */
import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../src/client/types";
import { changeText, guardText, guardWindowText, policyRules } from "../src/ui/words";
import { mergePatch, parseMetrics, parsePairs } from "../src/ui/forms";
import { createModel, hsToken, json, readyVersion } from "./helpers";
import { csrfOf, flashCookies, follow, notice, page, signIn } from "./ui-helpers";
import { costAgainstScan, LINEAR_BOUND } from "./linear-cost";

async function ready(model: string, body: Record<string, unknown> = {}): Promise<number> {
  return (await readyVersion(model, (version) => ({ "w.bin": `w${version}` }), { body })).version as number;
}

describe("the on-call path (item 8)", () => {
  it("links each version, shows the last change's reason, names the rollback target with earlier holders, confirms at the top", async () => {
    await createModel("oc-roll");
    const [v1, v2, v3] = [await ready("oc-roll"), await ready("oc-roll"), await ready("oc-roll")];
    for (const [v, reason] of [
      [v1, "first"],
      [v2, "second"],
      [v3, "auc up 2 points"],
    ] as const) {
      await json("PUT", "/v1/models/oc-roll/aliases/production", { body: { version: v, reason } });
    }
    await json("PUT", "/v1/models/oc-roll/aliases/canary", {
      body: {
        split: [
          { version: v2, weight: 90 },
          { version: v3, weight: 10 },
        ],
      },
    });
    const cookie = await signIn({ scope: "read promote", sub: "oncall" });
    const model = await page("GET", "/m/oc-roll", { cookie });
    const row = /<tr data-watch-alias="production".*?<\/tr>/s.exec(model.text)![0];
    expect(row).toContain(`<a href="/m/oc-roll/v/${v3}">v${v3}</a>`);
    expect(row).toContain("“auc up 2 points”");
    // The button says what it does to the alias; the earlier holder is a further choice.
    expect(row).toContain(
      `name="to_version" value="${v2}">Roll back: production serves v${v2} instead of v${v3}</button>`,
    );
    expect(row).toContain(
      `name="to_version" value="${v1}">Roll back: production serves v${v1} instead of v${v3}</button>`,
    );
    const canary = /<tr data-watch-alias="canary".*?<\/tr>/s.exec(model.text)![0];
    expect(canary).toContain(`<a href="/m/oc-roll/v/${v2}">v${v2} 90%</a>`);
    expect(canary).toContain("Nothing earlier to roll back to");

    // Roll back past the previous value, straight to v1.
    const csrf = csrfOf(model.text);
    const back = await page("POST", "/m/oc-roll/aliases/production/rollback", {
      cookie,
      form: { csrf, reason: "p99 regression", confirm: "yes", to_version: String(v1) },
    });
    expect(back.status).toBe(303);
    expect((await json("GET", "/v1/models/oc-roll/aliases/production")).body.version).toBe(v1);
    const after = await follow(back, cookie);
    expect(notice(after.text)).toBe(`Done: Rolled back production: v${v3} → v${v1}, reason “p99 regression”.`);
    // A crafted link names no change that happened: nothing is claimed.
    expect(notice((await page("GET", "/m/oc-roll?done=production&generation=999", { cookie })).text)).toBeNull();
  });

  it("answers a refusal on the same page, with why and what to do", async () => {
    await createModel("oc-refuse");
    const [v1, v2] = [await ready("oc-refuse"), await ready("oc-refuse")];
    await json("PUT", "/v1/models/oc-refuse/aliases/production", { body: { version: v1 } });
    await json("PUT", "/v1/models/oc-refuse/aliases/production", { body: { version: v2 } });
    // May promote, but only the staging alias: the API refuses production.
    const cookie = await signIn({ scope: "read promote", sub: "junior", aliases: ["staging"] });
    const csrf = csrfOf((await page("GET", "/m/oc-refuse", { cookie })).text);
    const refused = await page("POST", "/m/oc-refuse/aliases/production/rollback", {
      cookie,
      form: { csrf, reason: "bad", confirm: "yes", to_version: String(v1) },
    });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('data-watch-alias="production"');
    expect(notice(refused.text)).toMatch(/^Refused: .*production.*Sign in with a token that may/s);
    expect((await json("GET", "/v1/models/oc-refuse/aliases/production")).body.version).toBe(v2);
    // Missing scope: the same page says which scope, and how to get it.
    const reader = await signIn({ scope: "read write", sub: "reader" });
    const readerCsrf = csrfOf((await page("GET", "/m/oc-refuse", { cookie: reader })).text);
    const noScope = await page("POST", "/m/oc-refuse/aliases/production/rollback", {
      cookie: reader,
      form: { csrf: readerCsrf, reason: "x", confirm: "yes" },
    });
    expect(noScope.status).toBe(403);
    expect(notice(noScope.text)).toContain("This needs the 'promote' scope; your session has read, write.");
    // Not ticking confirm is a form refusal, on the page too.
    const onCall = await signIn({ scope: "read promote", sub: "oncall" });
    const unconfirmed = await page("POST", "/m/oc-refuse/aliases/production/rollback", {
      cookie: onCall,
      form: { csrf: csrfOf((await page("GET", "/m/oc-refuse", { cookie: onCall })).text), reason: "x" },
    });
    expect([unconfirmed.status, notice(unconfirmed.text)]).toEqual([
      400,
      "Refused: Tick 'confirm' to roll back production.Correct the form and send it again.",
    ]);
  });
});

describe("readable, not raw (item 9)", () => {
  it("renders audit changes as words", () => {
    const base = { id: "x", at: "2026-12-01T05:00:00.000Z", actor: "oncall", model: "m" };
    const e = (fields: Partial<AuditEvent>): AuditEvent => ({ ...base, action: "alias.set", ...fields });
    expect(
      changeText(
        e({
          action: "rollback",
          alias: "production",
          from: { version: 2, split: null },
          to: { version: 1, split: null },
          reason: "latency",
          detail: { gates: "skipped" },
        }),
      ),
    ).toBe("production: v2 → v1 (rollback); gates skipped, reason “latency”");
    expect(
      changeText(
        e({
          alias: "canary",
          from: null,
          to: {
            version: null,
            split: [
              { version: 1, weight: 90 },
              { version: 2, weight: 10 },
            ],
          },
        }),
      ),
    ).toBe("canary: (unset) → v1 90% / v2 10%");
    expect(
      changeText(
        e({
          action: "alias.swap",
          from: { blue: { version: 1, split: null }, green: { version: 2, split: null } },
          to: { blue: { version: 2, split: null }, green: { version: 1, split: null } },
        }),
      ),
    ).toBe("swapped blue: v1 → v2; green: v2 → v1");
    expect(changeText(e({ action: "version.stage", version: 3, from: "staging", to: "production" }))).toBe(
      "v3 stage: staging → production",
    );
    expect(
      changeText(
        e({
          action: "gate.set",
          to: { metrics: [{ name: "auc", min: 0.9 }], approvals: 1 },
          detail: { target: "production" },
        }),
      ),
    ).toBe("gate of production: auc ≥ 0.9; 1 approval by someone other than its creator");
    expect(
      changeText(
        e({
          action: "promotion_denied",
          alias: "production",
          version: 4,
          detail: {
            target: "production",
            versions: [4],
            checks: [
              { check: "approvals", passed: false },
              { check: "metrics.auc", passed: true },
            ],
          },
        }),
      ),
    ).toBe("production refused v4: failed approvals");
    expect(changeText(e({ action: "version.update", version: 2, detail: { fields: ["metrics", "tags"] } }))).toBe(
      "v2 changed metrics, tags",
    );
    // A shape it does not know still reads, briefly.
    expect(changeText(e({ action: "webhook.create" as AuditEvent["action"], to: { url: "https://x" } }))).toBe(
      'null → {"url":"https://x"}',
    );
  });

  it("renders a guard as its rule and its live window, with the nodes it waits for", () => {
    expect(guardText({ metric: "error_rate", max: 0.05, window_s: 300, min_samples: 20, min_nodes: 3 })).toBe(
      "error_rate ≤ 0.05 over 300 s, at least 20 samples from 3 nodes",
    );
    expect(guardText({ metric: "error_rate", max: 0.05, window_s: 300, min_samples: 20, min_nodes: 1 })).toBe(
      "error_rate ≤ 0.05 over 300 s, at least 20 samples",
    );
    const window = { version: 4, samples: 120, mean: 0.5, batches: 3, nodes: 2 };
    expect(guardWindowText({ min_nodes: 3, window, windows: [window] })).toBe(
      "v4: 120 samples, 2 of 3 nodes, mean 0.5",
    );
    expect(guardWindowText({ min_nodes: 1, window: { ...window, nodes: 1 }, windows: [{ ...window, nodes: 1 }] })).toBe(
      "v4: 120 samples, mean 0.5",
    );
  });

  it("renders gate policies as rules", () => {
    expect(
      policyRules({
        metrics: [
          { name: "auc", min: 0.9 },
          { name: "latency_p99_ms", max: 40 },
        ],
        no_regression: [{ metric: "auc", higher_is_better: true, tolerance: 0.01 }],
        required_tags: { validation: "passed" },
        required_lineage: ["git_sha", "datasets"],
        approvals: 2,
        from: "staging",
      }),
    ).toEqual([
      "auc ≥ 0.9",
      "latency_p99_ms ≤ 40",
      "auc no worse than the current holder's (higher is better, tolerance 0.01)",
      "tag validation = passed",
      "lineage records a git sha, datasets",
      "2 approvals by someone other than its creator",
      "held staging first",
    ]);
  });

  it("shows the audit log in words with compact times that do not wrap, the full time in the title", async () => {
    await createModel("oc-audit");
    const v1 = await ready("oc-audit");
    const v2 = await ready("oc-audit");
    await json("PUT", "/v1/models/oc-audit/aliases/production", { body: { version: v1 } });
    await json("PUT", "/v1/models/oc-audit/aliases/production", { body: { version: v2, reason: "better" } });
    const cookie = await signIn({ scope: "read" });
    const audit = await page("GET", "/audit?model=oc-audit&action=alias.set", { cookie });
    expect(audit.text).toContain(`<td data-change="">production: v${v1} → v${v2}, reason “better”</td>`);
    expect(audit.text).not.toContain("&quot;version&quot;");
    const time = /<time datetime="([^"]+)" title="([^"]+)">([^<]+)<\/time>/.exec(audit.text)!;
    expect(time[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(time[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(audit.text).toContain("time,.nowrap{white-space:nowrap}");
  });
});

describe("editing (item 10)", () => {
  it("parses key=value lines linearly and turns them into merge patches", () => {
    expect([...parsePairs("a=1\n\n b = x=y \n", "Tags")]).toEqual([
      ["a", "1"],
      ["b", "x=y"],
    ]);
    expect(() => parsePairs("novalue", "Tags")).toThrow("Tags, line 1: write it as key=value");
    expect(() => parseMetrics("auc=high")).toThrow("Metrics: 'auc' must be a number");
    expect(
      mergePatch(
        { a: "1", b: "2" },
        new Map([
          ["a", "1"],
          ["c", "3"],
        ]),
      ),
    ).toEqual({ b: null, c: "3" });
    // 100 KB of near-matches is one pass (test/linear-cost.ts).
    const nearMatch = `${Array.from({ length: 25_000 }, (_, i) => `k${i}=v`).join("\n")}\n=`;
    expect(() => parsePairs(nearMatch, "Tags")).toThrow("line 25001");
    const ratio = costAgainstScan(() => expect(() => parsePairs(nearMatch, "Tags")).toThrow(), [nearMatch]);
    expect(ratio).toBeLessThan(LINEAR_BOUND);
  });

  it("edits model and version description, tags and metrics with the write scope, CSRF and audit of the API", async () => {
    await createModel("oc-edit", { description: "old", tags: { team: "x", drop: "me" } });
    const v = await json("POST", "/v1/models/oc-edit/versions", {
      body: { metrics: { auc: 0.9, loss: 0.3 }, tags: { a: "1" } },
    });
    const version = v.body.version as number;
    const cookie = await signIn({ scope: "read write", sub: "editor" });
    const model = await page("GET", "/m/oc-edit", { cookie });
    expect(model.text).toContain('aria-label="Edit model"');
    const csrf = csrfOf(model.text);
    // Without the session's CSRF token nothing changes.
    expect(
      (await page("POST", "/m/oc-edit/edit", { cookie, form: { csrf: "forged", description: "pwned", tags: "" } }))
        .status,
    ).toBe(403);
    const saved = await page("POST", "/m/oc-edit/edit", {
      cookie,
      form: { csrf, description: "Card fraud scoring", tags: "team=payments\nowner=ml" },
    });
    expect(saved.status).toBe(303);
    const after = (await json("GET", "/v1/models/oc-edit")).body;
    expect([after.description, after.tags]).toEqual(["Card fraud scoring", { team: "payments", owner: "ml" }]);
    expect(notice((await follow(saved, cookie)).text)).toBe("Done: Saved the description and tags.");

    const vpage = await page("GET", `/m/oc-edit/v/${version}`, { cookie });
    expect(vpage.text).toContain('aria-label="Edit version"');
    expect(vpage.text).toContain("auc=0.9\nloss=0.3");
    // A bad metric is refused on the same page, with what was typed kept.
    const bad = await page("POST", `/m/oc-edit/v/${version}/edit`, {
      cookie,
      form: { csrf, description: "", tags: "a=1", metrics: "auc=0.95\nloss=low" },
    });
    expect(bad.status).toBe(400);
    expect(notice(bad.text)).toContain("Metrics: 'loss' must be a number (got 'low').");
    expect(bad.text).toContain("auc=0.95\nloss=low</textarea>");
    const ok = await page("POST", `/m/oc-edit/v/${version}/edit`, {
      cookie,
      form: { csrf, description: "retrained", tags: "a=2", metrics: "auc=0.95" },
    });
    expect(ok.status).toBe(303);
    const edited = (await json("GET", `/v1/models/oc-edit/versions/${version}`)).body;
    expect([edited.description, edited.tags, edited.metrics]).toEqual(["retrained", { a: "2" }, { auc: 0.95 }]);
    // Saving the form unchanged writes nothing (no audit event).
    expect(
      (
        await page("POST", `/m/oc-edit/v/${version}/edit`, {
          cookie,
          form: { csrf, description: "retrained", tags: "a=2", metrics: "auc=0.95" },
        })
      ).status,
    ).toBe(303);
    const events = (await json("GET", "/v1/audit?model=oc-edit&actor=editor")).body.items as AuditEvent[];
    expect(events.map((e) => changeText(e))).toEqual([
      `v${version} changed description, tags, metrics`,
      "changed description, tags",
    ]);

    // A reader is not offered the forms, and a post is refused on the page with the scope it needs.
    const reader = await signIn({ scope: "read promote", sub: "reader" });
    const readerPage = await page("GET", "/m/oc-edit", { cookie: reader });
    expect(readerPage.text).not.toContain('aria-label="Edit model"');
    const refused = await page("POST", "/m/oc-edit/edit", {
      cookie: reader,
      form: { csrf: csrfOf(readerPage.text), description: "x", tags: "" },
    });
    expect(refused.status).toBe(403);
    expect(notice(refused.text)).toContain("This needs the 'write' scope");
    expect((await json("GET", "/v1/models/oc-edit")).body.description).toBe("Card fraud scoring");
  });
});

describe("plots, lineage and stages (item 11)", () => {
  it("plots each metric full width with axis titles and values on the points; shows stages only where used", async () => {
    await createModel("oc-plot");
    for (const [auc, latency] of [
      [0.91, 31],
      [0.95, 29],
      [0.962, 35],
    ])
      await ready("oc-plot", { metrics: { auc, latency_ms: latency } });
    const cookie = await signIn({ scope: "read" });
    const model = await page("GET", "/m/oc-plot", { cookie });
    const panels = [...model.text.matchAll(/<svg class="plot"[^>]*data-metric="([^"]+)"/g)].map((m) => m[1]);
    expect(panels).toEqual(["auc", "latency_ms"]);
    expect(model.text).toContain('<text class="axis-title"');
    expect(model.text).toContain(">version</text>");
    for (const value of ["0.91", "0.95", "0.962", "31", "29", "35"])
      expect(model.text).toContain(`font-weight="600" fill="#1b1f24">${value}</text>`);
    // One metric asked for: one panel.
    const one = await page("GET", "/m/oc-plot?metric=latency_ms", { cookie });
    expect([...one.text.matchAll(/<svg class="plot"[^>]*data-metric="([^"]+)"/g)].map((m) => m[1])).toEqual([
      "latency_ms",
    ]);
    // No version uses stages: no Stage column, no stage badge.
    expect(model.text).not.toContain("<th>Stage</th>");
    expect((await page("GET", "/m/oc-plot/v/1", { cookie })).text).not.toContain("stage: ");
    await json("POST", "/v1/models/oc-plot/versions/2/stage", { body: { stage: "staging" } });
    expect((await page("GET", "/m/oc-plot", { cookie })).text).toContain("<th>Stage</th>");
    expect((await page("GET", "/m/oc-plot/v/2", { cookie })).text).toContain("stage: staging");
  });
});

describe("confirmations only from what this session just did (issue 27, item 12)", () => {
  it("shows no confirmation for a crafted link: a deletion that never happened, a save, an old change, an old approval", async () => {
    await createModel("oc-craft");
    const [v1, v2] = [await ready("oc-craft"), await ready("oc-craft")];
    // canary changed 22 times: its early generations fall outside the history the page reads.
    for (let i = 0; i < 22; i++)
      expect(
        (await json("PUT", "/v1/models/oc-craft/aliases/canary", { body: { version: i % 2 === 0 ? v1 : v2 } })).status,
      ).toBe(200);
    // An approval this user really gave, but not in this session's last post.
    expect(
      (
        await json("POST", `/v1/models/oc-craft/versions/${v2}/approvals`, {
          body: { target: "production" },
          token: await hsToken({ sub: "approver", scope: "read approve" }),
        })
      ).status,
    ).toBe(201);
    const cookie = await signIn({ scope: "read write promote approve", sub: "approver" });
    const crafted = [
      "/m/oc-craft?deleted=production-eu",
      "/m/oc-craft?saved=1",
      "/m/oc-craft?done=canary&generation=5",
      ...Array.from({ length: 22 }, (_, i) => `/m/oc-craft?done=canary&generation=${i + 1}`),
      `/m/oc-craft/v/${v1}?saved=1`,
      `/m/oc-craft/v/${v2}?approved=production`,
      // A flash id with no record behind it.
      `/m/oc-craft?flash=${"0".repeat(32)}`,
    ];
    const shown = [];
    for (const path of crafted) {
      const res = await page("GET", path, { cookie });
      shown.push([path, res.status, notice(res.text)]);
    }
    expect(shown).toEqual(crafted.map((path) => [path, 200, null]));
  });

  it("confirms each real action from the record its post left, on its own page, once", async () => {
    await createModel("oc-flash", { description: "d", tags: { team: "x" } });
    const [v1, v2] = [await ready("oc-flash"), await ready("oc-flash")];
    await json("PUT", "/v1/models/oc-flash/aliases/production", { body: { version: v1 } });
    await json("PUT", "/v1/models/oc-flash/aliases/canary", { body: { version: v2 } });
    const cookie = await signIn({ scope: "read write promote approve admin", sub: "oncall" });
    const csrf = csrfOf((await page("GET", "/m/oc-flash", { cookie })).text);
    const act = async (path: string, form: Record<string, string>) => {
      const res = await page("POST", path, { cookie, form: { csrf, ...form } });
      expect([path, res.status]).toEqual([path, 303]);
      // The address names a record, never the change itself.
      expect(res.headers.get("location")).toMatch(/^\/m\/oc-flash(\/v\/\d+)?\?flash=[0-9a-f]{32}$/);
      const set = res.headers.getSetCookie().find((c) => c.startsWith("mreg_flash_"))!;
      expect(set).toMatch(/; Path=\/m\/oc-flash(\/v\/\d+)?; HttpOnly; SameSite=Strict; Max-Age=60$/);
      const shown = await follow(res, cookie);
      // Shown once: the page clears the record it showed.
      const name = set.slice(0, set.indexOf("="));
      expect(shown.headers.getSetCookie().some((c) => c.startsWith(`${name}=;`) && c.includes("Max-Age=0"))).toBe(true);
      expect(notice((await page("GET", res.headers.get("location")!, { cookie })).text)).toBeNull();
      return notice(shown.text);
    };
    expect(await act("/m/oc-flash/promote", { alias: "production", version: String(v2), reason: "ship it" })).toBe(
      `Done: Set production: v${v1} → v${v2}, reason “ship it”.`,
    );
    expect(await act("/m/oc-flash/promote", { alias: "staging", version: String(v1) })).toBe(
      `Done: Set staging: (unset) → v${v1}.`,
    );
    expect(await act("/m/oc-flash/aliases/production/rollback", { confirm: "yes", reason: "paged" })).toBe(
      `Done: Rolled back production: v${v2} → v${v1}, reason “paged”.`,
    );
    expect(await act("/m/oc-flash/aliases/canary/delete", { confirm: "yes" })).toBe("Done: Deleted the alias canary.");
    expect(await act("/m/oc-flash/edit", { description: "new", tags: "team=x" })).toBe(
      "Done: Saved the description and tags.",
    );
    expect(await act("/m/oc-flash/edit", { description: "new", tags: "team=x" })).toBe(
      "Done: Nothing to save: the description and tags were already so.",
    );
    expect(await act(`/m/oc-flash/v/${v2}/edit`, { description: "", tags: "", metrics: "auc=0.9" })).toBe(
      `Done: Saved the description, tags and metrics of v${v2}.`,
    );
    expect(await act(`/m/oc-flash/v/${v2}/edit`, { description: "", tags: "", metrics: "auc=0.9" })).toBe(
      `Done: Nothing to save: v${v2}'s description, tags and metrics were already so.`,
    );
    expect(await act(`/m/oc-flash/v/${v2}/approve`, { target: "production", comment: "ok" })).toBe(
      `Done: You approved v${v2} for production.`,
    );
  });

  it("shows nothing for a record from another session, for another page, or altered", async () => {
    await createModel("oc-replay");
    await createModel("oc-replay-other");
    const [v1, v2] = [await ready("oc-replay"), await ready("oc-replay")];
    await ready("oc-replay-other");
    await json("PUT", "/v1/models/oc-replay/aliases/production", { body: { version: v1 } });
    await json("PUT", "/v1/models/oc-replay/aliases/production", { body: { version: v2 } });
    const alice = await signIn({ scope: "read promote", sub: "alice-oncall" });
    const back = await page("POST", "/m/oc-replay/aliases/production/rollback", {
      cookie: alice,
      form: { csrf: csrfOf((await page("GET", "/m/oc-replay", { cookie: alice })).text), confirm: "yes", reason: "r" },
    });
    expect(back.status).toBe(303);
    const location = back.headers.get("location")!;
    const query = location.slice(location.indexOf("?"));
    const flash = flashCookies(back);
    // Another session (another user, or the same user signed in with another token) with alice's record and address.
    for (const other of [
      await signIn({ scope: "read promote", sub: "mallory" }),
      await signIn({ scope: "read promote", sub: "alice-oncall", expiresIn: 1800 }),
    ]) {
      expect(notice((await page("GET", location, { cookie: [other, ...flash].join("; ") })).text)).toBeNull();
    }
    // Alice's own record, on another model's page or on a version page.
    for (const path of [`/m/oc-replay-other${query}`, `/m/oc-replay/v/${v1}${query}`]) {
      expect(notice((await page("GET", path, { cookie: [alice, ...flash].join("; ") })).text)).toBeNull();
    }
    // Altered: any one character of the value changed.
    const [name, value] = [flash[0]!.slice(0, flash[0]!.indexOf("=")), flash[0]!.slice(flash[0]!.indexOf("=") + 1)];
    for (const at of [0, Math.floor(value.length / 2), value.length - 1]) {
      const altered = `${value.slice(0, at)}${value[at] === "A" ? "B" : "A"}${value.slice(at + 1)}`;
      expect(notice((await page("GET", location, { cookie: `${alice}; ${name}=${altered}` })).text)).toBeNull();
    }
    // Under another record's name, or with the address of another record.
    expect(
      notice((await page("GET", location, { cookie: `${alice}; mreg_flash_${"1".repeat(32)}=${value}` })).text),
    ).toBeNull();
    expect(
      notice(
        (await page("GET", `/m/oc-replay?flash=${"1".repeat(32)}`, { cookie: [alice, ...flash].join("; ") })).text,
      ),
    ).toBeNull();
    // The genuine one, as sent, is shown.
    expect(notice((await page("GET", location, { cookie: [alice, ...flash].join("; ") })).text)).toBe(
      `Done: Rolled back production: v${v2} → v${v1}, reason “r”.`,
    );
  });

  it("gives each of two tabs the confirmation of its own post, the same action twice", async () => {
    await createModel("oc-tabs");
    const [v1, v2] = [await ready("oc-tabs"), await ready("oc-tabs")];
    await json("PUT", "/v1/models/oc-tabs/aliases/production", { body: { version: v1 } });
    const cookie = await signIn({ scope: "read promote", sub: "two-tabs" });
    const csrf = csrfOf((await page("GET", "/m/oc-tabs", { cookie })).text);
    const form = { csrf, alias: "production", version: String(v2), reason: "tab" };
    // Both posts land before either tab follows its redirect; the browser then holds both records.
    const first = await page("POST", "/m/oc-tabs/promote", { cookie, form });
    const second = await page("POST", "/m/oc-tabs/promote", { cookie, form });
    const jar = [cookie, ...flashCookies(first), ...flashCookies(second)].join("; ");
    expect(notice((await page("GET", second.headers.get("location")!, { cookie: jar })).text)).toBe(
      `Done: Set production: v${v2} → v${v2}, reason “tab”.`,
    );
    expect(notice((await page("GET", first.headers.get("location")!, { cookie: jar })).text)).toBe(
      `Done: Set production: v${v1} → v${v2}, reason “tab”.`,
    );
  });
});
