/**
 * The confirmation at the top of a page after a form's post ("Done: Rolled back production:
 * v3 → v1"), built only from a record the post itself left, never from the address: a link
 * someone crafted cannot make a page claim a change.
 *
 * The post seals what it did (from the API's answers) into a cookie of its own,
 * `mreg_flash_<id>` (scoped to the page it redirects to, a minute long), and redirects to
 * `<page>?flash=<id>`. The page shows the record once and clears it. A record counts only when
 * - its MAC verifies under a key derived from this session's secret (the token in the session
 *   cookie, or the Access assertion: no new secret), so a record from another session, or an
 *   altered one, says nothing;
 * - it names this page (the model, and the version on a version page) and the id asked for;
 * - it is at most a minute old.
 * One cookie per post, so two tabs that post at once each find their own record.
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { z } from "zod";
import type { Alias, HistoryEntry, Page } from "../client/types";
import type { AppEnv } from "../http/app-env";
import { modelHref, versionHref, type PageNotice } from "./components";
import { base64url, sameText, uiCookie, type Session } from "./session";
import { aliasValueText, withReason } from "./words";

/** How long a record waits for its page: one redirect, on a slow connection. */
export const FLASH_TTL_MS = 60_000;
/** A record stamped this far ahead of the reading isolate's clock still counts (clocks differ a little). */
const CLOCK_SKEW_MS = 5_000;
/** Reasons and alias values are cut to this many characters, so a record always fits a cookie (4 KiB). */
const MAX_TEXT = 200;

const FLASH_ID = /^[0-9a-f]{32}$/;
const COOKIE_PREFIX = "mreg_flash_";

/** What a post did, in the terms its banner states. */
export const Done = z.discriminatedUnion("what", [
  z.strictObject({
    what: z.literal("alias"),
    action: z.enum(["set", "rollback"]),
    alias: z.string(),
    generation: z.number().int(),
    /** The value before, as text; null when it could not be told. */
    from: z.string().nullable(),
    to: z.string(),
    reason: z.string().nullable(),
  }),
  z.strictObject({ what: z.literal("alias-deleted"), alias: z.string() }),
  /** The edit form: `changed` false when the form matched what was stored (nothing written). */
  z.strictObject({ what: z.literal("saved"), changed: z.boolean() }),
  z.strictObject({ what: z.literal("approved"), target: z.string() }),
  /** A rollout's button: where the rollout stood after it. */
  z.strictObject({
    what: z.literal("rollout"),
    action: z.enum(["pause", "resume", "abort"]),
    alias: z.string(),
    step: z.number().int(),
    of: z.number().int(),
    from: z.number().int(),
    to: z.number().int(),
  }),
]);
export type Done = z.infer<typeof Done>;

/** The page a record belongs to: a model's page (version null) or a version's. */
export interface FlashPage {
  model: string;
  version: number | null;
}

const Flash = z.strictObject({
  id: z.string().regex(FLASH_ID),
  /** When the post sealed it (ms since the epoch). */
  at: z.number().int(),
  model: z.string(),
  version: z.number().int().positive().nullable(),
  done: Done,
});
export type Flash = z.infer<typeof Flash>;

const encoder = new TextEncoder();

/** The session's MAC key: its own label, so no record is ever a CSRF token or the reverse. */
async function mac(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(`mreg-ui-flash\n${secret}`),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return base64url(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
}

/** `<base64url of the JSON>.<base64url of its HMAC-SHA256>`: a cookie value. */
export async function sealFlash(secret: string, flash: Flash): Promise<string> {
  const body = base64url(encoder.encode(JSON.stringify(flash)));
  return `${body}.${await mac(secret, body)}`;
}

/** The record sealed in `sealed`, if it verifies under `secret`, is the one asked for on this page, and is fresh; else null. */
export async function openFlash(
  secret: string,
  sealed: string,
  expected: FlashPage & { id: string },
  now: number,
): Promise<Flash | null> {
  const dot = sealed.indexOf(".");
  if (dot < 0) return null;
  const body = sealed.slice(0, dot);
  // The MAC's text is compared, not its decoded bytes: base64 has several spellings of the same bytes.
  if (!sameText(sealed.slice(dot + 1), await mac(secret, body))) return null;
  let value: unknown;
  try {
    const bytes = Uint8Array.from(atob(body.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return null;
  }
  const parsed = Flash.safeParse(value);
  if (!parsed.success) return null;
  const flash = parsed.data;
  if (flash.id !== expected.id || flash.model !== expected.model || flash.version !== expected.version) return null;
  if (now - flash.at > FLASH_TTL_MS || flash.at - now > CLOCK_SKEW_MS) return null;
  return flash;
}

/** The banner's sentence. */
export function doneText({ done, version }: Flash): string {
  switch (done.what) {
    case "alias": {
      const verb = done.action === "rollback" ? "Rolled back" : "Set";
      const change =
        done.from === null ? `${verb} ${done.alias} to ${done.to}` : `${verb} ${done.alias}: ${done.from} → ${done.to}`;
      return `${withReason(change, done.reason)}.`;
    }
    case "alias-deleted":
      return `Deleted the alias ${done.alias}.`;
    case "saved":
      if (version === null)
        return done.changed
          ? "Saved the description and tags."
          : "Nothing to save: the description and tags were already so.";
      return done.changed
        ? `Saved the description, tags and metrics of v${version}.`
        : `Nothing to save: v${version}'s description, tags and metrics were already so.`;
    case "approved":
      return `You approved v${version ?? "?"} for ${done.target}.`;
    case "rollout": {
      const which = `the rollout of ${done.alias} (v${done.from} → v${done.to})`;
      if (done.action === "abort")
        return `Aborted ${which} at step ${done.step} of ${done.of}: ${done.alias} serves v${done.from} again.`;
      return `${done.action === "pause" ? "Paused" : "Resumed"} ${which} at step ${done.step} of ${done.of}.`;
    }
  }
}

/** How many history entries a set or rollback reads back to find its own entry and the one before. */
export const HISTORY_LOOKUP = 20;

/**
 * What a set or rollback did: the new value from the API's answer, and the value before from
 * the alias's history read right after the write (the entry just older than the answer's
 * generation). If other changes buried the entry meanwhile, the banner leaves "before" out
 * rather than guess.
 */
export function aliasDone(
  action: "set" | "rollback",
  answer: Alias,
  history: Page<HistoryEntry> | null,
  sentReason: string | undefined,
): Done {
  const items = history?.items ?? [];
  const at = items.findIndex((h) => h.generation === answer.generation);
  const entry = at < 0 ? undefined : items[at];
  // Oldest entry of a complete history: the alias held nothing before it.
  const before =
    entry === undefined ? undefined : (items[at + 1] ?? (history?.next_cursor === null ? null : undefined));
  const reason = entry ? entry.reason : sentReason || null;
  return {
    what: "alias",
    action,
    alias: answer.alias,
    generation: answer.generation,
    from: before === undefined ? null : clip(aliasValueText(before)),
    to: clip(aliasValueText(entry ?? answer)),
    reason: reason === null ? null : clip(reason),
  };
}

/** At most MAX_TEXT characters (whole code points), with an ellipsis when cut. */
function clip(text: string): string {
  const points = Array.from(text);
  return points.length <= MAX_TEXT ? text : `${points.slice(0, MAX_TEXT - 1).join("")}…`;
}

const pageHref = (page: FlashPage) =>
  page.version === null ? modelHref(page.model) : versionHref(page.model, page.version);
const cookieName = (id: string) => `${COOKIE_PREFIX}${id}`;

type Ctx = Context<AppEnv>;

/** Leaves the record of what this session's post did for `page`; returns the address to redirect to. */
export async function leaveFlash(c: Ctx, session: Session, page: FlashPage, done: Done): Promise<string> {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const sealed = await sealFlash(session.secret, {
    id,
    at: Date.now(),
    model: page.model,
    version: page.version,
    done,
  });
  const href = pageHref(page);
  c.header("set-cookie", uiCookie(c, cookieName(id), sealed, { maxAge: FLASH_TTL_MS / 1000, path: href }), {
    append: true,
  });
  return `${href}?flash=${id}`;
}

/** The confirmation this page shows: the record `?flash=` names, when it counts; cleared once shown. */
export async function takeFlash(c: Ctx, session: Session | null, page: FlashPage): Promise<PageNotice | null> {
  const id = c.req.query("flash");
  if (session === null || id === undefined || !FLASH_ID.test(id)) return null;
  const sealed = getCookie(c, cookieName(id));
  if (sealed === undefined) return null;
  const flash = await openFlash(session.secret, sealed, { id, ...page }, Date.now());
  if (flash === null) return null;
  c.header("set-cookie", uiCookie(c, cookieName(id), "", { maxAge: 0, path: pageHref(page) }), { append: true });
  return { kind: "ok", text: doneText(flash) };
}
