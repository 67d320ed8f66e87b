/**
 * A running rollout on the model page (issue 30, item 5; docs/rollouts.md): the step in force,
 * when the next comes, every step, and the pause, resume and abort buttons going through the
 * UI's form flow (CSRF, scope and alias grant, confirmation from the post's own record); an
 * ended rollout as one line; rollout audit events in words.
 */
import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../src/client/types";
import { changeText } from "../src/ui/words";
import { createModel, json, readyVersion } from "./helpers";
import { csrfOf, follow, notice, page, signIn } from "./ui-helpers";

const STEPS = [
  { weight: 10, hold_s: 3600 },
  { weight: 50, hold_s: 1800 },
  { weight: 100, hold_s: 0 },
];

async function rolloutOfTwo(model: string) {
  await createModel(model);
  await readyVersion(model, { "w.bin": new TextEncoder().encode(`${model} one`) });
  await readyVersion(model, { "w.bin": new TextEncoder().encode(`${model} two`) });
  expect((await json("PUT", `/v1/models/${model}/aliases/prod`, { body: { version: 1 } })).status).toBe(200);
  const started = await json("PUT", `/v1/models/${model}/aliases/prod/rollout`, {
    body: { version: 2, steps: STEPS, reason: "canary of v2" },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  return started.body as { next_at: string };
}

/** The page's section of the alias's running or paused rollout, or null. */
const activeSection = (html: string) => /<section aria-label="Rollout of prod".*?<\/section>/s.exec(html)?.[0] ?? null;
const text = (html: string) => html.replace(/<[^>]+>/g, "").replace(/&#39;/g, "'");

describe("a rollout on the model page", () => {
  it("shows the step in force, the next step's time and every step; pause, resume and abort go through the forms", async () => {
    const m = "uir-flow";
    const started = await rolloutOfTwo(m);
    const cookie = await signIn({ scope: "read promote", sub: "oncall" });
    const shown = await page("GET", `/m/${m}`, { cookie });
    const section = activeSection(shown.text)!;
    expect(section).not.toBeNull();
    expect(section).toContain('data-state="running"');
    expect(text(section)).toContain("prod: v1 → v2, step 1 of 3 (v2 at 10%)");
    expect(text(section)).toContain("Next: step 2 at");
    expect(section).toContain(started.next_at);
    expect(text(section)).toContain("“canary of v2”");
    // Every step, the one in force marked; no node reports, so its hold runs.
    expect(section).toMatch(/<li class="current" data-step="1">v2 at 10%, 1 h — holding<\/li>/);
    expect(section).toContain('<li data-step="2">v2 at 50%, 30 min</li>');
    expect(section).toContain('<li data-step="3">v2 at 100%, no hold</li>');
    expect(section).toContain(`action="/m/${m}/aliases/prod/rollout/pause"`);
    expect(section).toContain(`action="/m/${m}/aliases/prod/rollout/abort"`);
    expect(section).not.toContain("/rollout/resume");

    const csrf = csrfOf(shown.text);
    const paused = await page("POST", `/m/${m}/aliases/prod/rollout/pause`, {
      cookie,
      form: { csrf, reason: "latency up" },
    });
    expect(paused.status).toBe(303);
    expect((await json("GET", `/v1/models/${m}/aliases/prod/rollout`)).body).toMatchObject({
      state: "paused",
      step: 1,
    });
    const afterPause = await follow(paused, cookie);
    expect(notice(afterPause.text)).toBe("Done: Paused the rollout of prod (v1 → v2) at step 1 of 3.");
    const pausedSection = activeSection(afterPause.text)!;
    expect(pausedSection).toContain('data-state="paused"');
    expect(text(pausedSection)).toContain("Next: paused: the step's hold stopped");
    expect(pausedSection).toContain(`action="/m/${m}/aliases/prod/rollout/resume"`);
    expect(pausedSection).not.toContain("/rollout/pause");

    const resumed = await page("POST", `/m/${m}/aliases/prod/rollout/resume`, { cookie, form: { csrf } });
    expect(resumed.status).toBe(303);
    expect(notice((await follow(resumed, cookie)).text)).toBe(
      "Done: Resumed the rollout of prod (v1 → v2) at step 1 of 3.",
    );
    expect((await json("GET", `/v1/models/${m}/aliases/prod/rollout`)).body.state).toBe("running");

    // Abort asks for the tick; without it nothing changes.
    const unconfirmed = await page("POST", `/m/${m}/aliases/prod/rollout/abort`, {
      cookie,
      form: { csrf, reason: "errors" },
    });
    expect([unconfirmed.status, notice(unconfirmed.text)]).toEqual([
      400,
      "Refused: Tick 'confirm' to abort the rollout of prod.Correct the form and send it again.",
    ]);
    expect((await json("GET", `/v1/models/${m}/aliases/prod/rollout`)).body.state).toBe("running");

    const aborted = await page("POST", `/m/${m}/aliases/prod/rollout/abort`, {
      cookie,
      form: { csrf, reason: "errors up", confirm: "yes" },
    });
    expect(aborted.status).toBe(303);
    expect((await json("GET", `/v1/models/${m}/aliases/prod`)).body).toMatchObject({ version: 1, split: null });
    const afterAbort = await follow(aborted, cookie);
    expect(notice(afterAbort.text)).toBe(
      "Done: Aborted the rollout of prod (v1 → v2) at step 1 of 3: prod serves v1 again.",
    );
    // Ended: one line, no buttons.
    expect(activeSection(afterAbort.text)).toBeNull();
    const line = /<li data-rollout="prod" data-state="aborted">.*?<\/li>/s.exec(afterAbort.text)![0];
    expect(text(line)).toContain("prod: the rollout v1 → v2 aborted at step 1 of 3 (errors up)");

    // Once ended, another press is the API's refusal, on the same page.
    const again = await page("POST", `/m/${m}/aliases/prod/rollout/pause`, { cookie, form: { csrf } });
    expect(again.status).toBe(409);
    expect(notice(again.text)).toMatch(/^Refused: /);
  });

  it("shows no buttons without promote, and the alias grant holds for the forms as for the API", async () => {
    const m = "uir-grant";
    await rolloutOfTwo(m);
    const reader = await signIn({ scope: "read", sub: "reader" });
    const readOnly = activeSection((await page("GET", `/m/${m}`, { cookie: reader })).text)!;
    expect(text(readOnly)).toContain("step 1 of 3");
    expect(readOnly).not.toContain("<form");

    // May promote, but only staging: the page shows the buttons, the post is refused, nothing moves.
    const junior = await signIn({ scope: "read promote", sub: "junior", aliases: ["staging"] });
    const csrf = csrfOf((await page("GET", `/m/${m}`, { cookie: junior })).text);
    const refused = await page("POST", `/m/${m}/aliases/prod/rollout/abort`, {
      cookie: junior,
      form: { csrf, reason: "x", confirm: "yes" },
    });
    expect(refused.status).toBe(403);
    expect(notice(refused.text)).toMatch(/^Refused: .*prod/s);
    expect((await json("GET", `/v1/models/${m}/aliases/prod/rollout`)).body.state).toBe("running");

    // A post without the page's CSRF token is refused before it reaches the API.
    const forged = await page("POST", `/m/${m}/aliases/prod/rollout/pause`, {
      cookie: await signIn({ scope: "read promote", sub: "oncall" }),
      form: { csrf: "forged" },
    });
    expect(forged.status).toBe(403);
    expect((await json("GET", `/v1/models/${m}/aliases/prod/rollout`)).body.state).toBe("running");
  });

  it("renders rollout audit events as words", () => {
    const at = "2026-12-07T10:00:00.000Z";
    const event = (e: Partial<AuditEvent>): AuditEvent =>
      ({ id: "1", at, actor: "alice", model: "m", alias: "prod", reason: null, ...e }) as AuditEvent;
    expect(
      changeText(
        event({
          action: "rollout.start",
          from: { version: 1, split: null },
          to: { version: 2, split: null },
          detail: { steps: STEPS },
          reason: "canary",
        }),
      ),
    ).toBe("prod: rollout v1 → v2 in steps 10%, 50%, 100%, reason “canary”");
    expect(
      changeText(
        event({
          action: "rollout.step",
          from: { version: 1, split: null },
          to: {
            version: null,
            split: [
              { version: 1, weight: 90 },
              { version: 2, weight: 10 },
            ],
          },
          detail: { step: 1, of: 3 },
        }),
      ),
    ).toBe("prod: v1 → v1 90% / v2 10% (rollout step 1 of 3)");
    expect(changeText(event({ action: "rollout.pause", detail: { step: 2 }, reason: "look" }))).toBe(
      "prod: rollout paused at step 2, reason “look”",
    );
    expect(changeText(event({ action: "rollout.complete", detail: { step: 3 } }))).toBe(
      "prod: rollout completed at step 3",
    );
    expect(
      changeText(event({ action: "rollout.abort", detail: { step: 2 }, to: { version: 1, split: null }, reason: "x" })),
    ).toBe("prod: rollout aborted at step 2, back to v1, reason “x”");
  });
});
