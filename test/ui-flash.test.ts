/**
 * The record a form's post leaves for the page it redirects to (src/ui/flash.ts): it opens only
 * under the session that sealed it, on its own page, unaltered and fresh; and it always fits in
 * a cookie. The flows through the pages are in test/ui-oncall.test.ts.
 */
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { aliasDone, doneText, FLASH_TTL_MS, openFlash, sealFlash, type Done, type Flash } from "../src/ui/flash";
import { createModel, hsToken } from "./helpers";

const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
const secret = fc.string({ minLength: 1, maxLength: 300 });
const text = (maxLength: number) => fc.string({ unit: "grapheme", maxLength });
const done: fc.Arbitrary<Done> = fc.oneof(
  fc.record({
    what: fc.constant("alias" as const),
    action: fc.constantFrom("set" as const, "rollback" as const),
    alias: fc.stringMatching(/^[a-z][a-z0-9_-]{0,63}$/),
    generation: fc.nat(),
    from: fc.option(text(200)),
    to: text(200),
    reason: fc.option(text(200)),
  }),
  fc.record({ what: fc.constant("alias-deleted" as const), alias: fc.stringMatching(/^[a-z][a-z0-9_-]{0,63}$/) }),
  fc.record({ what: fc.constant("saved" as const), changed: fc.boolean() }),
  fc.record({ what: fc.constant("approved" as const), target: fc.stringMatching(/^[a-z][a-z0-9_-]{0,63}$/) }),
);
const flash: fc.Arbitrary<Flash> = fc.record({
  id: hex32,
  at: fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
  model: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,127}$/),
  version: fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  done,
});
const pageOf = (f: Flash) => ({ id: f.id, model: f.model, version: f.version });

describe("a flash record", () => {
  it("opens under its session's secret, on its page, within a minute", async () => {
    await fc.assert(
      fc.asyncProperty(flash, secret, fc.integer({ min: 0, max: FLASH_TTL_MS }), async (f, key, age) => {
        expect(await openFlash(key, await sealFlash(key, f), pageOf(f), f.at + age)).toEqual(f);
      }),
      { numRuns: 200 },
    );
  });

  it("opens to nothing under another secret, on another page or id, when stale, or with any character changed", async () => {
    await fc.assert(
      fc.asyncProperty(
        flash,
        secret,
        secret,
        fc.nat(),
        fc.constantFrom(..."ABab01-_.=x"),
        async (f, key, otherKey, position, replacement) => {
          const sealed = await sealFlash(key, f);
          const page = pageOf(f);
          if (otherKey !== key) expect(await openFlash(otherKey, sealed, page, f.at)).toBeNull();
          expect(await openFlash(key, sealed, { ...page, model: `${f.model}x` }, f.at)).toBeNull();
          expect(await openFlash(key, sealed, { ...page, version: f.version === null ? 1 : null }, f.at)).toBeNull();
          expect(
            await openFlash(key, sealed, { ...page, id: f.id.replace(/^./, (c) => (c === "0" ? "1" : "0")) }, f.at),
          ).toBeNull();
          expect(await openFlash(key, sealed, page, f.at + FLASH_TTL_MS + 1)).toBeNull();
          expect(await openFlash(key, sealed, page, f.at - 60_000)).toBeNull();
          const at = position % sealed.length;
          if (sealed[at] !== replacement) {
            expect(
              await openFlash(key, `${sealed.slice(0, at)}${replacement}${sealed.slice(at + 1)}`, page, f.at),
            ).toBeNull();
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("fits in a cookie at every limit: model and alias names, 20-way splits, a 1024-character reason of 4-byte characters", async () => {
    const split = Array.from({ length: 20 }, (_, i) => ({ version: Number.MAX_SAFE_INTEGER - i, weight: 1 / 3 }));
    const history = {
      items: [
        {
          generation: 9,
          version: null,
          split,
          action: "set" as const,
          actor: "a",
          reason: "🦄".repeat(1024),
          at: "2026-01-01T00:00:00Z",
        },
        {
          generation: 8,
          version: null,
          split,
          action: "set" as const,
          actor: "a",
          reason: null,
          at: "2026-01-01T00:00:00Z",
        },
      ],
      next_cursor: null,
    };
    const alias = "a".repeat(64);
    const answer = {
      model: "m".repeat(128),
      alias,
      version: null,
      split,
      generation: 9,
      updated_at: "",
      updated_by: "a",
    };
    const record = aliasDone("set", answer, history, undefined);
    const f: Flash = { id: "f".repeat(32), at: Date.now(), model: "m".repeat(128), version: null, done: record };
    const cookie = `mreg_flash_${f.id}=${await sealFlash("k".repeat(4096), f)}`;
    expect(new TextEncoder().encode(cookie).length).toBeLessThanOrEqual(4096);
    // Cut, and said so.
    expect(doneText(f)).toMatch(
      /^Set a{64}: v9007199254740991 [^→]*… → v9007199254740991 [^→]*…, reason “🦄{199}…”\.$/u,
    );
  });

  it("says 'before' only when the history shows it", () => {
    const entry = (generation: number, version: number | null) => ({
      generation,
      version,
      split: null,
      action: "set" as const,
      actor: "a",
      reason: null,
      at: "",
    });
    const answer = { model: "m", alias: "p", version: 3, split: null, generation: 7, updated_at: "", updated_by: "a" };
    const from = (items: ReturnType<typeof entry>[], next_cursor: string | null) =>
      (aliasDone("set", answer, { items, next_cursor }, undefined) as { from: string | null }).from;
    expect(from([entry(7, 3), entry(5, 2)], "c")).toBe("v2");
    // The oldest entry of the whole history: nothing before it.
    expect(from([entry(7, 3)], null)).toBe("(unset)");
    // The last of a page with more behind it, or not found at all (buried by later changes): not told.
    expect(from([entry(9, 1), entry(8, 2), entry(7, 3)], "c")).toBeNull();
    expect(from([entry(9, 1), entry(8, 2)], "c")).toBeNull();
    expect(aliasDone("rollback", answer, null, "why")).toEqual({
      what: "alias",
      action: "rollback",
      alias: "p",
      generation: 7,
      from: null,
      to: "v3",
      reason: "why",
    });
    expect(
      doneText({ id: "", at: 0, model: "m", version: null, done: aliasDone("rollback", answer, null, "why") }),
    ).toBe("Rolled back p to v3, reason “why”.");
  });

  it("is not shown by a page once stale, though sealed under the session's own secret", async () => {
    await createModel("flash-stale");
    const token = await hsToken({ sub: "stale", scope: "read" });
    const signIn = await exports.default.fetch(
      new Request("http://127.0.0.1:8787/sign-in", {
        method: "POST",
        body: new URLSearchParams({ token, next: "/" }),
        redirect: "manual",
      }),
    );
    const session = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const shown = async (at: number) => {
      const f: Flash = {
        id: "a".repeat(32),
        at,
        model: "flash-stale",
        version: null,
        done: { what: "alias-deleted", alias: "canary" },
      };
      const cookie = `${session}; mreg_flash_${f.id}=${await sealFlash(token, f)}`;
      const res = await exports.default.fetch(
        new Request(`http://127.0.0.1:8787/m/flash-stale?flash=${f.id}`, { headers: { cookie } }),
      );
      return (await res.text()).includes("Deleted the alias canary.");
    };
    expect(await shown(Date.now())).toBe(true);
    expect(await shown(Date.now() - FLASH_TTL_MS - 1_000)).toBe(false);
  });
});
