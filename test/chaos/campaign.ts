/**
 * The crash-and-load campaign (issue 19): starts the registry and a webhook receiver, runs
 * the workload from several clients, SIGKILLs the server's process group at random moments
 * and restarts it on the same data, and after each restart, once the outboxes have drained,
 * and at the end, runs the checker. `npm run chaos -- --minutes N --seed S` (./cli.mjs) and
 * the `chaos` vitest project both call `runCampaign`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { readdirSync } from "node:fs";
import { SignJWT } from "jose";
import { MregClient } from "../../src/client";
import { STRANDED_AFTER_MS } from "../../src/domain/webhook";
import { checkAll, deliveryReport, INVARIANTS, projectionDiffs, Tally, type CheckContext } from "./checker";
import { formatEntry, History } from "./history";
import { World } from "./model";
import { Rand } from "./rand";
import { Receiver } from "./receiver";
import { freePort } from "../e2e/npm-start.mjs";
import { checkResumed, settleRollouts, untilRolloutRunning } from "./rollouts";
import { CHAOS_VARS, ChaosServer } from "./server";
import { Client, Gate, type WorkloadContext } from "./workload";

export interface CampaignOptions {
  minutes: number;
  seed: number;
  /** At least this many kills, whatever the duration (default: 1.6 per minute, at least 3). */
  kills?: number;
  clients?: number;
  modelsPerClient?: number;
  /** Keep the persist directory (its path is printed). */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface CampaignResult {
  ok: boolean;
  summary: string;
  report: string;
  ops: number;
  kills: number;
  restarts: number;
  tally: Tally;
  /** Rollouts a kill caught running that completed after the restart. */
  resumedRollouts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function mint(sub: string, scope: string): Promise<string> {
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("12h")
    .sign(new TextEncoder().encode(CHAOS_VARS.JWT_SECRET));
}

/** The keys of R2's persisted objects under `blobs/`, read from Miniflare's SQLite metadata in the persist dir. */
function r2BlobKeys(state: string): string[] | null {
  const dir = join(state, "v3", "r2", "miniflare-R2BucketObject");
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".sqlite"));
  } catch {
    return null;
  }
  const keys: string[] = [];
  for (const f of files) {
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try {
      // One file per bucket; others (Miniflare's own) have no objects table.
      const hasObjects =
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_mf_objects'").get() !== undefined;
      if (hasObjects)
        for (const row of db.prepare("SELECT key FROM _mf_objects WHERE key LIKE 'blobs/%'").all() as { key: string }[])
          keys.push(row.key);
    } finally {
      db.close();
    }
  }
  return keys;
}

/** What D1 and the workload know of a blob, for a violation's message. */
function blobNote(state: string, world: World, sha: string): string {
  const dir = join(state, "v3", "d1", "miniflare-D1DatabaseObject");
  let row = "no D1 blobs row";
  let lease = "";
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".sqlite"))) {
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try {
      const hasBlobs =
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blobs'").get() !== undefined;
      const r = hasBlobs
        ? (db.prepare("SELECT * FROM blobs WHERE sha256 = ?").get(sha) as Record<string, unknown> | undefined)
        : undefined;
      if (r) row = `D1 blobs row ${JSON.stringify(r)}`;
      const l = hasBlobs
        ? (db.prepare("SELECT expires_at FROM blob_leases WHERE sha256 = ?").get(sha) as
            { expires_at: string } | undefined)
        : undefined;
      if (l && Date.parse(l.expires_at) > Date.now()) lease = `LEASED until ${l.expires_at}; `;
    } finally {
      db.close();
    }
  }
  const uses: string[] = [];
  for (const m of world.models.values()) {
    for (const v of m.versions.values())
      for (const [path, f] of v.files)
        if (f.value.sha256 === sha)
          uses.push(`${m.name}/${v.n}/${path} (${f.sure ? "acked" : "unacked"}, version deleted: ${v.deleted})`);
  }
  return `${lease}${row}; workload files: ${uses.join(", ") || "none (an unacknowledged or abandoned upload)"}`;
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const minKills = opts.kills ?? Math.max(3, Math.round(opts.minutes * 1.6));
  const rand = new Rand(opts.seed);
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "mreg-chaos-"));
  const server = new ChaosServer(port, state);
  const history = new History();
  const world = new World();
  const gate = new Gate();
  const tally = new Tally();
  const receiverRand = rand.fork();
  const receiver = new Receiver(() => receiverRand.chance(0.05));
  const hookUrl = await receiver.listen();
  let kills = 0;
  let queueLost = 0;
  let leasedBlobs = 0;
  /** Rollouts running at a kill whose object took a decision after it (each waited for to complete). */
  let resumedRollouts = 0;
  /** Kills that came while some rollout was running. */
  let killsInRollouts = 0;
  let stopped = false;
  const clientsDone: Promise<void>[] = [];
  const ops = { count: 0, byKind: new Map<string, number>() };
  try {
    log(`chaos: seed ${opts.seed}, ${opts.minutes} min, at least ${minKills} kills, state ${state}`);
    log(`chaos: server up in ${await server.start()} ms on ${server.base}`);
    const tokens = {
      admin: await mint("chaos", "admin"),
      approver: await mint("approver", "read approve"),
      reporter: await mint("reporter", "read report"),
    };
    const admin = new MregClient({
      url: server.base,
      token: tokens.admin,
      retries: 0,
      fetch: history.fetchFor("checker"),
    });
    const hook = await admin.webhooks.create({ url: hookUrl, description: "chaos receiver" });
    receiver.setSecret(hook.secret!);
    const hookEvent = (await admin.audit.list({ action: "webhook.create", limit: 1 })).items[0]!;
    const checkCtx: CheckContext = {
      api: admin,
      world,
      history,
      receiver,
      hookSince: hookEvent.at,
      hookEventId: hookEvent.id,
      hookId: hook.id,
      lastKillAt: 0,
      queueLost: 0,
      leasedBlobs: 0,
    };

    const pool = Array.from({ length: 6 }, () => rand.bytes(rand.int(1, 32 * 1024)));
    const ctx: WorkloadContext = { base: server.base, history, world, gate, tokens, pool, stopped: () => stopped, ops };
    const clientCount = opts.clients ?? 4;
    const perClient = opts.modelsPerClient ?? 2;
    for (let c = 0; c < clientCount; c++) {
      const owned = Array.from({ length: perClient }, (_, k) => `chaos-${opts.seed}-c${c}-m${k}`);
      const client = new Client(`c${c}`, ctx, rand.fork(), owned);
      clientsDone.push(client.run());
    }

    /**
     * A scheduled run at `at` (ms). Miniflare's trigger honours `time`; wrangler's
     * `/__scheduled` (--test-scheduled) drops it and runs at the real now, so a cleanup "as
     * if the grace period had passed" through it collected nothing. Anything but "ok" (the
     * handler threw, or the route is not Miniflare's trigger) fails the run.
     */
    const scheduled = async (at: number) => {
      const res = await history.fetchFor("checker")(
        `${server.base}/cdn-cgi/local/scheduled?cron=${encodeURIComponent("*/15 * * * *")}&time=${at}`,
      );
      const outcome = await res.text();
      if (outcome !== "ok") throw new Error(`scheduled run at ${new Date(at).toISOString()}: ${res.status} ${outcome}`);
    };
    /** Waits until D1 agrees with every ModelState and every event reached the receiver; what still differs at the deadline is reported by the check. */
    const drain = async (label: string, deliveriesToo: boolean) => {
      const began = Date.now();
      const deadline = began + Math.max(120_000, 2 * server.slowestStartMs);
      let lastCron = 0;
      for (;;) {
        const diffs = await projectionDiffs(admin, world);
        // After a restart the outboxes must drain; deliveries, at least once and with backoff,
        // are waited for (and checked) at the end.
        const deliveries = deliveriesToo ? await deliveryReport(checkCtx) : { undelivered: [], queueLost: [] };
        if ((diffs.length === 0 && deliveries.undelivered.length === 0) || Date.now() > deadline) {
          const events = deliveriesToo
            ? `, ${deliveries.undelivered.length} events undelivered, ${deliveries.queueLost.length} lost in the local queue`
            : "";
          log(`chaos: ${label}: drained in ${Date.now() - began} ms (${diffs.length} store differences${events})`);
          return;
        }
        // The cron re-sends deliveries whose queue message a crash took (src/events/dispatch.ts
        // requeueStranded); wrangler dev runs it only when asked, here as if its wait had passed.
        if (Date.now() - lastCron > 15_000) {
          lastCron = Date.now();
          await scheduled(Date.now() + STRANDED_AFTER_MS + 10_000);
        }
        await sleep(1000);
      }
    };

    const began = Date.now();
    const duration = opts.minutes * 60_000;
    /** The mean time a kill costs (restart, drain, check), as measured: the gaps make room for it. */
    let overheadMs = 0;
    while (Date.now() - began < duration || kills < minKills) {
      // The kills left, spread over the time left (restarts and checks take their share of it),
      // but never less than a few seconds of workload between two kills.
      const killsLeft = Math.max(1, minKills - kills);
      const meanGap = Math.max(8_000, (duration - (Date.now() - began) - killsLeft * overheadMs) / (killsLeft + 1));
      await sleep(meanGap * (0.4 + rand.next() * 1.2));
      // Then the first moment, within a few seconds, when a rollout runs with a step still due:
      // kills land during them.
      const atKill = await untilRolloutRunning(admin, world, Date.now() + 15_000);
      if (atKill.length > 0) killsInRollouts += 1;
      server.kill();
      const killedAt = Date.now();
      checkCtx.lastKillAt = killedAt;
      gate.close();
      kills += 1;
      history.epoch += 1;
      await server.waitDown();
      await gate.idle();
      await sleep(rand.int(0, 1500));
      const took = await server.start();
      // The clients are held: only the objects' alarms move the rollouts the kill caught running.
      await settleRollouts(admin, world, tally, Date.now() + Math.max(120_000, 2 * server.slowestStartMs));
      const { resumed, excused } = await checkResumed(admin, tally, atKill, killedAt);
      resumedRollouts += resumed;
      log(
        `chaos: restart ${kills}: ${atKill.length} rollouts running at the kill, ${resumed} went on after the restart${excused.length ? `; ended by a request: ${excused.join("; ")}` : ""}`,
      );
      await drain(`restart ${kills} (up in ${took} ms, ${ops.count} ops so far)`, false);
      const before = tally.violations.length;
      const checkBegan = Date.now();
      await checkAll(checkCtx, tally, { final: false });
      log(`chaos: restart ${kills}: checked in ${Date.now() - checkBegan} ms`);
      overheadMs = (overheadMs * (kills - 1) + (Date.now() - killedAt)) / kills;
      for (const v of tally.violations.slice(before)) log(`chaos: VIOLATION ${v.inv}: ${v.what}`);
      gate.open();
    }

    stopped = true;
    await gate.idle();
    await Promise.all(clientsDone);
    await settleRollouts(admin, world, tally, Date.now() + Math.max(120_000, 2 * server.slowestStartMs));
    // The end: a cleanup now, then one as if the grace period had passed, so every blob nothing holds must be gone.
    await drain("end", true);
    const blobsBefore = r2BlobKeys(state)?.length;
    await scheduled(Date.now());
    const past = (Number(CHAOS_VARS.BLOB_GC_GRACE_S) + Number(CHAOS_VARS.UPLOAD_TTL_S) + 120) * 1000;
    await scheduled(Date.now() + past);
    await scheduled(Date.now() + 2 * past);
    // How many blobs the collection took (the server is quiet: its own cleanup report is not printed).
    log(
      `chaos: end: R2 held ${blobsBefore ?? "?"} blobs before the final cleanups, ${r2BlobKeys(state)?.length ?? "?"} after`,
    );
    await drain("end, after collection", true);
    await checkAll(checkCtx, tally, {
      final: true,
      r2Keys: async () => r2BlobKeys(state),
      blobNote: (sha) => blobNote(state, world, sha),
    });
    queueLost = checkCtx.queueLost;
    leasedBlobs = checkCtx.leasedBlobs;
    for (const v of world.liveViolations)
      tally.expect(v[0] as "1" | "2", false, () => v, v.split(":")[1]?.trim() ?? "");
  } catch (err) {
    stopped = true;
    gate.open();
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), { serverOutput: server.output() });
  } finally {
    stopped = true;
    gate.open();
    await server.stop();
    await receiver.close();
    if (!opts.keep) rmSync(state, { recursive: true, force: true });
  }

  const parts = INVARIANTS.map((i) => `inv${i} ${tally.checked.get(i)}/${tally.violated(i)}`);
  const summary = `chaos seed=${opts.seed} ops=${ops.count} requests=${history.entries.length} kills=${kills} restarts=${server.starts - 1} | ${parts.join(" ")} (checked/violated) | events lost in the local queue: ${queueLost} | unheld blobs under a crashed writer's lease: ${leasedBlobs} | kills during a rollout: ${killsInRollouts}, rollouts resumed after a restart: ${resumedRollouts}`;
  const lines = [
    summary,
    `operations: ${[...ops.byKind]
      .sort()
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}`,
  ];
  if (tally.violations.length > 0) {
    lines.push(`FAILED: ${tally.violations.length} violations; replay with --seed ${opts.seed}`);
    for (const v of tally.violations.slice(0, 20)) {
      lines.push(`  [${v.inv}] ${v.what}`);
      for (const e of history.excerpt(v.needle, 8)) lines.push(`      ${formatEntry(e)}`);
    }
  }
  return {
    ok: tally.violations.length === 0,
    summary,
    report: lines.join("\n"),
    ops: ops.count,
    kills,
    restarts: server.starts - 1,
    tally,
    resumedRollouts,
  };
}
