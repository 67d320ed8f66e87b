/**
 * The audit log archived to R2 by age (docs/operations.md "9. Limits: what a deployment meets"; src/audit/archive.ts): the
 * scheduled job moves events older than AUDIT_ARCHIVE_DAYS a bounded number of batches a run,
 * and GET /v1/audit reads D1 and then the archive, so a reader sees every event, once, in order.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ARCHIVE_TUNING, AUDIT_ARCHIVE_PREFIX, archiveAudit, readAuditSpanning } from "../src/audit/archive";
import { readAudit } from "../src/audit/store";
import { orm } from "../src/db/session";
import { Visibility } from "../src/db/visibility";
import type { Env } from "../src/env";
import { hsToken, json } from "./helpers";

const DAY = 24 * 3600 * 1000;
const now = Date.now();
/** Ids of one length that sort as their number: what the archive assumes of ULIDs. */
const idOf = (n: number) => `0${String(n).padStart(25, "0")}`;
const MODELS = ["aa-1", "aa-2", ""];

async function insertEvents(from: number, count: number, atMs: number) {
  const statements = [];
  for (let n = from; n < from + count; n++) {
    statements.push(
      env.DB.prepare(
        "INSERT INTO audit_events (id, at, actor, action, model, version, alias, from_value, to_value, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ).bind(
        idOf(n),
        new Date(atMs + n).toISOString(),
        n % 2 ? "ci" : "alice",
        n % 3 ? "version.create" : "alias.set",
        MODELS[n % 3]!,
        n,
        n % 3 ? null : "production",
        null,
        JSON.stringify({ version: n }),
        "because",
        JSON.stringify({ n }),
      ),
    );
  }
  for (let i = 0; i < statements.length; i += 100) await env.DB.batch(statements.slice(i, i + 100));
}

async function everyPage(query: string, token?: string): Promise<{ id: string; model: string }[]> {
  const items: { id: string; model: string }[] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: Record<string, any> } = await json(
      "GET",
      `/v1/audit?limit=200${query}${cursor ? `&cursor=${cursor}` : ""}`,
      token ? { token } : {},
    );
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return items;
}

describe("the audit log archived to R2", () => {
  it("moves old events in bounded runs; reads span D1 and the archive, every event once, newest first", async () => {
    await insertEvents(0, 2500, now - 400 * DAY);
    await insertEvents(2500, 20, now);
    // A run that died after writing its first batch but before removing its rows: a shorter object of the same first id.
    const head = await env.DB.prepare("SELECT * FROM audit_events ORDER BY id LIMIT 10").all();
    await env.ARTIFACTS.put(`${AUDIT_ARCHIVE_PREFIX}${idOf(0)}_${idOf(9)}.json`, JSON.stringify(head.results));

    const archiving = { ...env, AUDIT_ARCHIVE_DAYS: "30" } as Env;
    const tuning = { ...ARCHIVE_TUNING, batch: 1000, maxBatches: 2 };
    expect(await archiveAudit(archiving, new Date(now), tuning)).toEqual({
      archived: 2000,
      objects: 2,
      stopped: "budget",
    });
    expect(await archiveAudit(archiving, new Date(now), tuning)).toEqual({
      archived: 500,
      objects: 1,
      stopped: "done",
    });
    expect(await archiveAudit(archiving, new Date(now), tuning)).toEqual({ archived: 0, objects: 0, stopped: "done" });
    // Off by default: nothing moves.
    expect((await archiveAudit(env, new Date(now), tuning)).stopped).toBe("off");
    const left = await env.DB.prepare("SELECT count(*) AS n FROM audit_events").first<{ n: number }>();
    expect(left?.n).toBe(20);
    const keys = (await env.ARTIFACTS.list({ prefix: AUDIT_ARCHIVE_PREFIX })).objects.map((o) => o.key);
    expect(keys).toEqual([
      `${AUDIT_ARCHIVE_PREFIX}${idOf(0)}_${idOf(999)}.json`,
      `${AUDIT_ARCHIVE_PREFIX}${idOf(1000)}_${idOf(1999)}.json`,
      `${AUDIT_ARCHIVE_PREFIX}${idOf(2000)}_${idOf(2499)}.json`,
    ]);

    const all = await everyPage("");
    expect(all.map((e) => e.id)).toEqual(Array.from({ length: 2520 }, (_, i) => idOf(2519 - i)));
    // Filters and visibility apply to archived events as to D1's.
    const mine = await everyPage("&model=aa-2&actor=ci");
    expect(mine.map((e) => e.id)).toEqual(
      Array.from({ length: 2520 }, (_, i) => 2519 - i)
        .filter((n) => n % 3 === 1 && n % 2 === 1)
        .map(idOf),
    );
    const limited = await everyPage("", await hsToken({ scope: "read", models: ["aa-1"] }));
    expect(limited.length).toBe(840);
    expect(limited.every((e) => e.model === "aa-1")).toBe(true);
    const oldest = await json(
      "GET",
      `/v1/audit?limit=1&until=${new Date(now - 399 * DAY).toISOString()}&since=${new Date(now - 401 * DAY).toISOString()}`,
    );
    expect(oldest.body.items[0].id).toBe(idOf(2499));
    expect(oldest.body.items[0].to).toEqual({ version: 2499 });
  });

  it("a read that opens its most archive objects without filling the page answers a cursor that goes on below", async () => {
    // The archive the test above left (storage is shared within a file): alias.set events 0 and 3 are in the oldest object only.
    const db = orm(env.DB);
    const filters = {
      visibility: Visibility.EVERY,
      limit: 2,
      action: "alias.set",
      until: new Date(now - 400 * DAY + 4).toISOString(),
    };
    const tuning = { ...ARCHIVE_TUNING, maxReads: 1 };
    const first = await readAuditSpanning(env.ARTIFACTS, (f) => readAudit(db, f), filters, tuning);
    expect(first.events).toEqual([]);
    expect(first.cutAt).toBeDefined();
    const second = await readAuditSpanning(
      env.ARTIFACTS,
      (f) => readAudit(db, f),
      { ...filters, before: first.cutAt },
      tuning,
    );
    expect(second.events).toEqual([]);
    const third = await readAuditSpanning(
      env.ARTIFACTS,
      (f) => readAudit(db, f),
      { ...filters, before: second.cutAt },
      tuning,
    );
    expect(third.events.map((e) => e.id)).toEqual([idOf(3), idOf(0)]);
  });
});
