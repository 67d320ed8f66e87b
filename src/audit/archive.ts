/**
 * The audit log's archive in R2 (docs/operations.md "9. Limits: what a deployment meets"): D1 holds 10 GB, and the audit log
 * is the one table that only grows. With AUDIT_ARCHIVE_DAYS set, the scheduled job moves events
 * older than that from D1 to R2 (`audit/<first id>_<last id>.json`, the rows as D1 held them,
 * oldest first), a batch at a time within the run's budget; GET /v1/audit reads D1 and then the
 * archive, so to a reader nothing was deleted.
 *
 * Crashes: a batch is written to R2 before its rows leave D1, and named by its first id, so a run
 * that died between the two writes the same batch again (the object of that first id replaced,
 * never doubled) and then removes the rows: every event is in D1 or in exactly one object.
 *
 * The archive takes events oldest first by id; an event whose row reaches D1 later than
 * AUDIT_ARCHIVE_DAYS after its time (the outbox drains within minutes) would sort among archived
 * ones out of order, which is why the setting is in days.
 */
import { sql } from "drizzle-orm";
import { orm } from "../db/session";
import { auditEvents } from "../db/schema";
import type { AuditEvent } from "../domain/audit";
import { config, type Env } from "../env";
import { eventOfRow, type AuditFilters, type AuditRow } from "./store";

/** Written by `archiveAudit` only; read by `readArchived`. */
export const AUDIT_ARCHIVE_PREFIX = "audit/";

const DAY_MS = 24 * 3600 * 1000;

export interface ArchiveTuning {
  /** Events per object (and per D1 read and delete). */
  batch: number;
  /** Batches one run moves at most: 4 calls each. */
  maxBatches: number;
  /** Archive objects one read of GET /v1/audit opens at most before it answers with a cursor. */
  maxReads: number;
}

export const ARCHIVE_TUNING: ArchiveTuning = { batch: 1000, maxBatches: 20, maxReads: 50 };

export interface ArchiveReport {
  archived: number;
  objects: number;
  stopped: "done" | "budget" | "off";
}

/** Moves events older than AUDIT_ARCHIVE_DAYS from D1 to R2, at most `maxBatches` batches. */
export async function archiveAudit(
  env: Env,
  now: Date = new Date(),
  tuning: ArchiveTuning = ARCHIVE_TUNING,
): Promise<ArchiveReport> {
  const days = config(env).AUDIT_ARCHIVE_DAYS;
  const report: ArchiveReport = { archived: 0, objects: 0, stopped: "off" };
  if (days === 0) return report;
  const cutoff = new Date(now.getTime() - days * DAY_MS).toISOString();
  const db = orm(env.DB.withSession("first-primary"));
  for (let b = 0; b < tuning.maxBatches; b++) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(sql`${auditEvents.at} < ${cutoff}`)
      .orderBy(auditEvents.id)
      .limit(tuning.batch)
      .all();
    if (rows.length === 0) return { ...report, stopped: "done" };
    const first = rows[0]!.id;
    const key = `${AUDIT_ARCHIVE_PREFIX}${first}_${rows[rows.length - 1]!.id}.json`;
    await env.ARTIFACTS.put(key, JSON.stringify(rows));
    // A run that died after writing this batch left an object of the same first id, perhaps of fewer rows.
    const earlier = await env.ARTIFACTS.list({ prefix: `${AUDIT_ARCHIVE_PREFIX}${first}_` });
    const stale = earlier.objects.map((o) => o.key).filter((k) => k !== key);
    if (stale.length > 0) await env.ARTIFACTS.delete(stale);
    await db
      .delete(auditEvents)
      .where(sql`${auditEvents.id} IN (SELECT value FROM json_each(${JSON.stringify(rows.map((r) => r.id))}))`);
    report.archived += rows.length;
    report.objects += 1;
    if (rows.length < tuning.batch) return { ...report, stopped: "done" };
  }
  return { ...report, stopped: "budget" };
}

/**
 * Events in the archive older than `f.before`, newest first, filtered as D1's read filters them,
 * up to `need`. `cutAt`: the read opened `maxReads` objects without finding `need`, and the next
 * page goes on below this id.
 */
export async function readArchived(
  bucket: R2Bucket,
  f: AuditFilters,
  need: number,
  tuning: ArchiveTuning = ARCHIVE_TUNING,
): Promise<{ events: AuditEvent[]; cutAt?: string }> {
  const objects: { key: string; first: string; last: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: AUDIT_ARCHIVE_PREFIX, ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) {
      const [first, last] = o.key.slice(AUDIT_ARCHIVE_PREFIX.length, -".json".length).split("_") as [string, string];
      if (f.before === undefined || first < f.before) objects.push({ key: o.key, first, last });
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  objects.sort((a, b) => (a.first < b.first ? 1 : -1));

  const events: AuditEvent[] = [];
  let reads = 0;
  for (const o of objects) {
    // Ids are of one length: this sorts after every id of the object and before any later one.
    if (reads >= tuning.maxReads) return { events, cutAt: `${o.last}~` };
    reads += 1;
    const body = await bucket.get(o.key);
    if (!body) continue;
    const rows = (await body.json()) as AuditRow[];
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = rows[i]!;
      if (f.before !== undefined && r.id >= f.before) continue;
      if (!matches(r, f)) continue;
      events.push(eventOfRow(r));
      if (events.length >= need) return { events };
    }
  }
  return { events };
}

/** D1's filters (src/audit/store.ts `readAudit`), on an archived row. */
function matches(r: AuditRow, f: AuditFilters): boolean {
  if (f.model && r.model !== f.model) return false;
  if (f.alias && (f.alias.includes(",") || !`,${r.alias ?? ""},`.includes(`,${f.alias},`))) return false;
  if (f.actor && r.actor !== f.actor) return false;
  if (f.action && r.action !== f.action) return false;
  if (f.since && r.at < f.since) return false;
  if (f.until && r.at >= f.until) return false;
  return f.visibility.sees(r.model);
}

/**
 * GET /v1/audit's read: D1 first (the newer events), then, when D1 has no more, the archive.
 * `limit + 1` events when there is more; `cutAt` when the archive read stopped early.
 */
export async function readAuditSpanning(
  bucket: R2Bucket,
  d1Read: (f: AuditFilters) => Promise<AuditEvent[]>,
  f: AuditFilters,
  tuning: ArchiveTuning = ARCHIVE_TUNING,
): Promise<{ events: AuditEvent[]; cutAt?: string }> {
  const recent = await d1Read(f);
  if (recent.length > f.limit) return { events: recent };
  const older = await readArchived(
    bucket,
    { ...f, before: recent.at(-1)?.id ?? f.before },
    f.limit + 1 - recent.length,
    tuning,
  );
  return { events: [...recent, ...older.events], ...(older.cutAt !== undefined ? { cutAt: older.cutAt } : {}) };
}
