/**
 * Scrubbing (docs/operations.md "8. Scrubbing: stored bytes checked again"): the scheduled job re-reads and re-hashes stored
 * blobs within a byte budget per run, a blob larger than one run's budget over several runs with
 * its hash state kept in D1 between them. Blobs are corrupted here the only way they can be: by
 * writing other bytes over `blobs/sha256/<hex>` in the local R2 directly. Then the scrub marks
 * them, every route that streams them answers 503, `blob.corrupt` reaches the audit log (each
 * model's readers see their own versions only) and a webhook, and an upload of the right bytes
 * heals them. A blob deleted while its scrub is under way is never marked.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup } from "../src/artifacts/cleanup";
import { blobKey } from "../src/artifacts/keys";
import { scrub, SCRUB_TUNING, type ScrubTuning } from "../src/artifacts/scrub";
import type { Env } from "../src/env";
import worker from "../src/index";
import { bytesOf, call, createModel, createVersion, hsToken, json, readyVersion, sha256Of } from "./helpers";
import { until } from "./until";

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY = 24 * 3600 * 1000;
/** The smallest budget the setting takes: a 5.5 MiB blob needs six runs. */
const BUDGET = MiB;

/**
 * Scheduled runs happen on a clock of their own, far past SCRUB_DAYS after the uploads, so every
 * blob is overdue and each run takes its whole budget. Each step is one cron interval.
 */
let clock = Date.now() + 40 * DAY;
const tick = (ms = 15 * 60_000) => (clock += ms);

/**
 * One scheduled invocation, as the cron makes it, through the Worker's own handler. Each gets an
 * env object of its own, as a fresh isolate would (nothing parsed or held from the run before):
 * what a run resumes from is in D1.
 */
async function scheduledRun(settings: Record<string, string> = {}): Promise<void> {
  const runEnv = { ...env, SCRUB_BYTES_PER_RUN: String(BUDGET), ...settings } as Env;
  await worker.scheduled(createScheduledController({ scheduledTime: tick(), cron: "*/15 * * * *" }), runEnv);
}

interface BlobRow {
  verified_at: string;
  corrupt_at: string | null;
  scrub_offset: number | null;
}
const blobRow = (sha256: string) =>
  env.DB.prepare("SELECT verified_at, corrupt_at, scrub_offset FROM blobs WHERE sha256 = ?")
    .bind(sha256)
    .first<BlobRow>();

function flipped(data: Uint8Array, at: number): Uint8Array {
  const copy = data.slice();
  copy[at] = copy[at]! ^ 0x40;
  return copy;
}

/** The R2 binding with every call counted, and a hook before each `get`. */
function countingBucket(
  bucket: R2Bucket,
  beforeGet: (key: string, n: number) => Promise<void> = async () => {},
): { bucket: R2Bucket; calls: () => number } {
  let calls = 0;
  let gets = 0;
  const counted = new Proxy(bucket, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        calls++;
        if (prop === "get") await beforeGet(args[0] as string, ++gets);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { bucket: counted, calls: () => calls };
}

/** Webhook deliveries the stubbed network received. */
let received: { url: string; body: string }[] = [];
beforeEach(() => {
  received = [];
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith("https://hooks.test/")) return realFetch(input, init);
    received.push({ url: request.url, body: await request.text() });
    return new Response("ok");
  });
});
afterEach(() => vi.restoreAllMocks());

describe("scrubbing", () => {
  it("finds corrupt blobs over runs of a small budget, refuses to serve them on every route, tells the audit log and webhooks, and heals them on the next upload", async () => {
    await createModel("scrub-a");
    await createModel("scrub-b");
    const big = bytesOf(5 * MiB + 512 * KiB, 3);
    const config = bytesOf(1000, 4);
    const [bigSha, configSha] = [await sha256Of(big), await sha256Of(config)];
    const a1 = await readyVersion("scrub-a", { "weights/big.bin": big, "config.json": config });
    const a2 = await readyVersion("scrub-a", { "config.json": config });
    const b1 = await readyVersion("scrub-b", { "config.json": config });
    const hook = await json("POST", "/v1/webhooks", { body: { url: "https://hooks.test/scrub", events: ["blob.*"] } });
    expect(hook.status).toBe(201);

    // The big blob's last byte changes (found only once every byte was hashed); the config's bytes are replaced by shorter ones.
    await env.ARTIFACTS.put(blobKey(bigSha), flipped(big, big.length - 1));
    await env.ARTIFACTS.put(blobKey(configSha), "not the config");

    // Run after run, each a fresh invocation: the big blob's saved offset moves by at most the budget, until its verdict.
    const offsets: number[] = [];
    for (let run = 0; run < 30 && !(await blobRow(bigSha))?.corrupt_at; run++) {
      await scheduledRun();
      const row = await blobRow(bigSha);
      if (row?.scrub_offset) offsets.push(row.scrub_offset);
    }
    expect((await blobRow(bigSha))?.corrupt_at).toBeTruthy();
    expect((await blobRow(configSha))?.corrupt_at).toBeTruthy();
    // Five saved states on the way (1..5 MiB), each run no further than the budget from the last.
    expect(offsets.length).toBeGreaterThanOrEqual(5);
    for (let i = 0; i < offsets.length; i++) {
      expect(offsets[i]!).toBeGreaterThan(i === 0 ? 0 : offsets[i - 1]!);
      expect(offsets[i]! - (i === 0 ? 0 : offsets[i - 1]!)).toBeLessThanOrEqual(BUDGET);
    }
    expect((await blobRow(bigSha))?.scrub_offset).toBeNull();

    // Never the wrong bytes: 503 `unavailable` with Retry-After on every route that streams them.
    const digest = `sha256:${bigSha}`;
    const routes: [string, string][] = [
      ["GET", `/v1/models/scrub-a/versions/${a1.version}/files/weights/big.bin`],
      ["HEAD", `/v1/models/scrub-a/versions/${a1.version}/files/weights/big.bin`],
      ["GET", `/v1/models/scrub-a/versions/${a1.version}/files/config.json`],
      ["GET", `/v1/models/scrub-b/versions/${b1.version}/files/config.json`],
      ["GET", `/mreg/scrub-a/resolve/v${a1.version}/weights/big.bin`],
      ["GET", `/scrub-a/resolve/v${a2.version}/config.json`],
      ["GET", `/v2/scrub-a/blobs/${digest}`],
      ["GET", `/api/2.0/mlflow-artifacts/artifacts/models/scrub-a/versions/${a1.version}/weights/big.bin`],
    ];
    for (const [method, path] of routes) {
      const res = await call(method, path, { headers: { range: "bytes=0-9" } });
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(Number(res.headers.get("retry-after")), path).toBeGreaterThan(0);
      await res.body?.cancel();
    }
    const problem = await json("GET", `/v1/models/scrub-a/versions/${a1.version}/files/weights/big.bin`);
    expect(problem.body).toMatchObject({ code: "unavailable", status: 503 });
    expect(problem.body.detail).toMatch(/upload/);
    // A client that holds the bytes already (its ETag) is told so: nothing is streamed.
    expect(
      (
        await call("GET", `/v1/models/scrub-a/versions/${a1.version}/files/weights/big.bin`, {
          headers: { "if-none-match": `"${bigSha}"` },
        })
      ).status,
    ).toBe(304);
    // The version is still listed, its files with them.
    expect((await json("GET", `/v1/models/scrub-a/versions/${a1.version}`)).status).toBe(200);

    // The audit log: one event per model holding the bytes, naming that model's versions only.
    const audit = await json("GET", "/v1/audit?action=blob.corrupt");
    const events = audit.body.items as { model: string; actor: string; detail: Record<string, any> }[];
    const of = (sha: string, model: string) => events.filter((e) => e.detail.sha256 === sha && e.model === model);
    expect(of(bigSha, "scrub-a")).toHaveLength(1);
    expect(of(bigSha, "scrub-a")[0]).toMatchObject({
      actor: "scrub",
      detail: { sha256: bigSha, size: big.length, versions: [{ version: a1.version, path: "weights/big.bin" }] },
    });
    expect(of(configSha, "scrub-a")[0]!.detail.versions).toEqual([
      { version: a1.version, path: "config.json" },
      { version: a2.version, path: "config.json" },
    ]);
    expect(of(configSha, "scrub-b")[0]!.detail.versions).toEqual([{ version: b1.version, path: "config.json" }]);
    expect(events.filter((e) => e.detail.sha256 === configSha)).toHaveLength(2);
    // A team's reader sees its own versions, and learns nothing of the other team's.
    const teamA = await hsToken({ sub: "team-a", scope: "read", models: ["scrub-a"] });
    const seen = (await json("GET", "/v1/audit?action=blob.corrupt", { token: teamA })).body.items as {
      model: string;
    }[];
    expect(seen.map((e) => e.model).sort()).toEqual(["scrub-a", "scrub-a"]);
    expect(JSON.stringify(seen)).not.toContain("scrub-b");

    // And the webhook.
    const delivered = await until(() => received.find((r) => r.body.includes(bigSha)), "the blob.corrupt delivery");
    expect(JSON.parse(delivered.body)).toMatchObject({ type: "blob.corrupt", data: { model: "scrub-a" } });

    // Healing, by a single PUT into another version: never deduplicated against the corrupt bytes, it writes the right ones over them.
    const a3 = await createVersion("scrub-a");
    const put = await call("PUT", `/v1/models/scrub-a/versions/${a3.version}/files/big.bin`, {
      rawBody: big,
      headers: { "x-mreg-sha256": bigSha },
    });
    expect(put.status).toBe(201);
    expect(await put.json()).not.toHaveProperty("deduplicated");
    const healed = await call("GET", `/v1/models/scrub-a/versions/${a1.version}/files/weights/big.bin`);
    expect(healed.status).toBe(200);
    expect(await sha256Of(await healed.arrayBuffer())).toBe(bigSha);
    expect((await blobRow(bigSha))?.corrupt_at).toBeNull();

    // … and by a multipart upload: `POST uploads` does not deduplicate against the corrupt blob; `complete` heals it.
    const b2 = await createVersion("scrub-b");
    const base = `/v1/models/scrub-b/versions/${b2.version}/uploads`;
    const started = await json("POST", base, { body: { path: "config.json", size: config.length, sha256: configSha } });
    expect(started.status).toBe(201);
    const upload = `${base}/${started.body.upload_id}`;
    expect((await call("PUT", `${upload}/parts/1`, { rawBody: config })).status).toBe(200);
    expect((await json("POST", `${upload}/complete`)).status).toBe(200);
    for (const path of [
      `/v1/models/scrub-b/versions/${b1.version}/files/config.json`,
      `/scrub-a/resolve/v${a2.version}/config.json`,
    ]) {
      const res = await call("GET", path);
      expect(res.status, path).toBe(200);
      expect(await sha256Of(await res.arrayBuffer())).toBe(configSha);
    }
    // Healed blobs count as verified now: the next overdue run hashes them and finds them sound.
    tick(40 * DAY);
    for (let run = 0; run < 10 && (await blobRow(bigSha))!.verified_at < new Date(clock - 3 * DAY).toISOString(); run++)
      await scheduledRun();
    expect((await blobRow(bigSha))?.corrupt_at).toBeNull();
  });

  it("never marks a blob deleted while its scrub is under way, between runs or between two ranges of one run", async () => {
    await createModel("scrub-del");
    const big = bytesOf(3 * MiB + 100, 8);
    const sha = await sha256Of(big);
    const v = await readyVersion("scrub-del", { "w.bin": big });
    tick(40 * DAY);
    // The first run starts on it (the least recently verified blob) and saves its state part way.
    for (let run = 0; run < 10 && !(await blobRow(sha))?.scrub_offset; run++) await scheduledRun();
    expect((await blobRow(sha))?.scrub_offset).toBeGreaterThan(0);
    expect((await json("DELETE", `/v1/models/scrub-del/versions/${v.version}`)).status).toBe(204);
    // The collector deletes the bytes once they have been unreferenced for its grace period.
    await cleanup(env, new Date(tick()));
    await cleanup(env, new Date(tick(2 * 3600 * 1000)));
    expect(await blobRow(sha)).toBeNull();
    expect(await env.ARTIFACTS.head(blobKey(sha))).toBeNull();
    for (let run = 0; run < 5; run++) await scheduledRun();

    // Deleted between two ranges of one run: the next range finds no object, and no row under the lease.
    await createModel("scrub-del2");
    const other = bytesOf(3 * MiB + 7, 9);
    const otherSha = await sha256Of(other);
    const w = await readyVersion("scrub-del2", { "w.bin": other });
    tick(40 * DAY);
    let deleted = false;
    const { bucket } = countingBucket(env.ARTIFACTS, async (key, n) => {
      if (key !== blobKey(otherSha) || n !== 2) return;
      deleted = true;
      await call("DELETE", `/v1/models/scrub-del2/versions/${w.version}`);
      await cleanup(env, new Date(clock));
      await cleanup(env, new Date(clock + 2 * 3600 * 1000));
    });
    const tuning: ScrubTuning = { ...SCRUB_TUNING, rangeSize: 256 * KiB };
    // Larger than the run's budget: hashed range by range through the resumable hash.
    const report = await scrub(
      { ...env, ARTIFACTS: bucket, SCRUB_BYTES_PER_RUN: String(BUDGET) } as Env,
      new Date(tick()),
      tuning,
    );
    expect(deleted).toBe(true);
    expect(await blobRow(otherSha)).toBeNull();
    expect(report.corrupt).toEqual([]);

    // Rotten bytes put right from a backup while the scrub is part way through them: the ranges
    // after the change are not the object the hash began on, so it begins again, and finds them sound.
    await createModel("scrub-restored");
    const kept = bytesOf(3 * MiB + 11, 10);
    const keptSha = await sha256Of(kept);
    await readyVersion("scrub-restored", { "w.bin": kept });
    await env.ARTIFACTS.put(blobKey(keptSha), flipped(kept, 5));
    tick(40 * DAY);
    const restoring = countingBucket(env.ARTIFACTS, async (key, n) => {
      if (key === blobKey(keptSha) && n === 2) await env.ARTIFACTS.put(blobKey(keptSha), kept);
    });
    const restoredEnv = { ...env, ARTIFACTS: restoring.bucket, SCRUB_BYTES_PER_RUN: String(BUDGET) } as Env;
    for (let run = 0; run < 20 && (await blobRow(keptSha))!.verified_at < new Date(clock - DAY).toISOString(); run++)
      expect((await scrub(restoredEnv, new Date(tick()), tuning)).corrupt).toEqual([]);
    expect(await blobRow(keptSha)).toMatchObject({ corrupt_at: null, scrub_offset: null });
    expect((await blobRow(keptSha))!.verified_at > new Date(clock - DAY).toISOString()).toBe(true);

    const audit = await json("GET", "/v1/audit?action=blob.corrupt");
    expect(JSON.stringify(audit.body.items)).not.toContain(sha);
    expect(JSON.stringify(audit.body.items)).not.toContain(otherSha);
    expect(JSON.stringify(audit.body.items)).not.toContain(keptSha);
  });

  it("takes the least recently verified blobs first and stays within its byte budget and its cap on calls, going on where it stopped", async () => {
    await createModel("scrub-many");
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 12; i++) files[`f${i}.bin`] = bytesOf(10 * KiB + i, 100 + i);
    files["big.bin"] = bytesOf(3 * MiB, 99);
    await readyVersion("scrub-many", files);
    const shas = new Set(await Promise.all(Object.values(files).map((f) => sha256Of(f))));
    tick(40 * DAY);
    const order = async () =>
      (
        await env.DB.prepare("SELECT sha256 FROM blobs WHERE corrupt_at IS NULL ORDER BY verified_at, sha256").all<{
          sha256: string;
        }>()
      ).results.map((r) => r.sha256);

    const tuning: ScrubTuning = { ...SCRUB_TUNING, rangeSize: 256 * KiB, maxCalls: 30 };
    const seen: string[] = [];
    for (let run = 0; run < 30 && seen.filter((s) => shas.has(s)).length < shas.size; run++) {
      const before = await order();
      const { bucket, calls } = countingBucket(env.ARTIFACTS);
      const report = await scrub(
        { ...env, ARTIFACTS: bucket, SCRUB_BYTES_PER_RUN: String(BUDGET) } as Env,
        new Date(tick()),
        tuning,
      );
      // Within the budget and the cap, the R2 calls it counted being those the bucket saw.
      expect(report.bytes).toBeLessThanOrEqual(BUDGET);
      expect(report.calls.r2).toBe(calls());
      expect(report.calls.r2 + report.calls.other).toBeLessThanOrEqual(tuning.maxCalls);
      // Least recently verified first: what it verified comes in the order before it ran, and
      // every blob it passed over on the way is one it is part way through (carried to the next run).
      const done = report.verified;
      expect(before.filter((s) => done.includes(s))).toEqual(done);
      const reached = Math.max(-1, ...done.map((s) => before.indexOf(s)));
      for (const passed of before.slice(0, reached + 1).filter((s) => !done.includes(s)))
        expect((await blobRow(passed))?.scrub_offset, passed).toBeGreaterThan(0);
      seen.push(...done);
    }
    // Every blob once before any is taken again (a run that had its share left over goes round once more).
    const mine = seen.filter((s) => shas.has(s));
    const firsts = [...shas].map((s) => mine.indexOf(s));
    expect(Math.min(...firsts)).toBeGreaterThanOrEqual(0);
    const firstRepeat = mine.findIndex((s, i) => mine.indexOf(s) !== i);
    if (firstRepeat >= 0) expect(firstRepeat).toBeGreaterThan(Math.max(...firsts));
  });

  it("reads a larger budget in larger ranges, so the budget is reachable within the cap on calls, and never stalls on a blob that needs more calls than a run has", async () => {
    await createModel("scrub-calls");
    const blob = bytesOf(5 * MiB + 3, 21);
    const sha = await sha256Of(blob);
    await readyVersion("scrub-calls", { "w.bin": blob });
    // Only this blob is due (the file's other tests leave theirs in the store): each run's bytes are its own.
    await env.DB.prepare("UPDATE blobs SET verified_at = '9999-01-01T00:00:00.000Z' WHERE sha256 != ?").bind(sha).run();
    tick(40 * DAY);
    // 16 KiB ranges would take 321 calls for this blob; an 8 MiB budget reads 128 KiB ranges (a
    // 64th of it), 41 calls, inside a cap of 100: hashed natively, in one run.
    const budgetEnv = (bucket: R2Bucket) =>
      ({ ...env, ARTIFACTS: bucket, SCRUB_BYTES_PER_RUN: String(8 * MiB) }) as Env;
    const wide: ScrubTuning = { ...SCRUB_TUNING, rangeSize: 16 * KiB, maxCalls: 100 };
    const runUntilVerified = async (tuning: ScrubTuning) => {
      const runs: Awaited<ReturnType<typeof scrub>>[] = [];
      for (let run = 0; run < 20 && !runs.some((r) => r.verified.includes(sha)); run++) {
        const { bucket, calls } = countingBucket(env.ARTIFACTS);
        const report = await scrub(budgetEnv(bucket), new Date(tick()), tuning);
        expect(report.calls.r2).toBe(calls());
        expect(report.calls.r2 + report.calls.other).toBeLessThanOrEqual(tuning.maxCalls);
        expect(report.bytes).toBeLessThanOrEqual(8 * MiB);
        expect(report.corrupt).toEqual([]);
        runs.push(report);
      }
      return runs;
    };
    const once = await runUntilVerified(wide);
    expect(once.at(-1)!.verified).toContain(sha);
    expect(once.filter((r) => r.bytes > 0)).toHaveLength(1);

    // A cap of 40 calls: the blob fits in the budget but not in the run's calls. It is taken
    // range by range as far as the calls go, its state saved, and finished by the next runs,
    // each of them hashing some of it (it is never passed over for ever).
    tick(40 * DAY);
    const narrow: ScrubTuning = { ...wide, maxCalls: 40 };
    const runs = await runUntilVerified(narrow);
    expect(runs.at(-1)!.verified).toContain(sha);
    expect(runs.length).toBeGreaterThan(1);
    for (const r of runs) expect(r.bytes).toBeGreaterThan(0);
    expect(runs.reduce((n, r) => n + r.bytes, 0)).toBe(blob.length);
    expect(await blobRow(sha)).toMatchObject({ corrupt_at: null, scrub_offset: null });
  });
});
