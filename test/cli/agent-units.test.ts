/** The agent's pure parts, without a server: backoff, what to link or fetch, what to keep, what next, the rate limit, signal aggregation, who may post signals, hooks' environment, its report. */
import { describe, expect, it } from "vitest";
import { backoffMs } from "../../src/client/transport";
import type { FileEntry } from "../../src/client/types";
import {
  chooseKeep,
  incomingToRemove,
  nextStep,
  planFiles,
  recordFailure,
  recordRefusal,
  retryDelayMs,
  take,
  type Failure,
} from "../../src/cli/agent/plan";
import { chmodSync, lstatSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { judgeStaged, judgesOf } from "../../src/cli/agent/before-switch";
import { hookEnvironment } from "../../src/cli/agent/hooks";
import {
  bearerMatches,
  isLoopbackAddress,
  isLoopbackHost,
  localCredential,
  refusal,
} from "../../src/cli/agent/local-auth";
import { metrics, nodeReport, reasons, redactor, status, type AgentState } from "../../src/cli/agent/report";
import { parseListen } from "../../src/cli/agent/server";
import { parseSignalPost, Signaler, SignalWindow } from "../../src/cli/agent/signals";
import type { Signal } from "../../src/client/types";

const f = (path: string, sha: string, size = 10): FileEntry => ({ path, sha256: sha.repeat(64).slice(0, 64), size });

describe("backoff", () => {
  it("doubles from the base up to the cap, with ±25% jitter", () => {
    for (const r of [0, 0.5, 0.999999]) {
      expect(backoffMs(0, 500, 8000, () => r)).toBeCloseTo(500 * (0.75 + r / 2));
      expect(backoffMs(3, 500, 8000, () => r)).toBeCloseTo(4000 * (0.75 + r / 2));
      expect(backoffMs(60, 500, 8000, () => r)).toBeCloseTo(8000 * (0.75 + r / 2));
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const ms = backoffMs(attempt);
      expect(ms).toBeGreaterThanOrEqual(Math.min(500 * 2 ** attempt, 8000) * 0.75);
      expect(ms).toBeLessThan(Math.min(500 * 2 ** attempt, 8000) * 1.25);
    }
  });

  it("retries a refused hook from 1 s up to 5 minutes, a failed transfer up to a minute", () => {
    const mid = () => 0.5;
    expect(retryDelayMs("hook", 1, mid)).toBe(1000);
    expect(retryDelayMs("hook", 4, mid)).toBe(8000);
    expect(retryDelayMs("hook", 40, mid)).toBe(300_000);
    expect(retryDelayMs("transfer", 40, mid)).toBe(60_000);
    expect(retryDelayMs("transfer", 40, () => 0)).toBe(45_000);
  });

  it("counts attempts of the same version and kind, and starts afresh otherwise", () => {
    const one = recordFailure(null, 4, "hook", "exit 3", 1000, () => 0.5);
    expect(one).toEqual({ version: 4, kind: "hook", attempts: 1, nextAt: 2000, message: "exit 3" });
    const two = recordFailure(one, 4, "hook", "exit 3", 5000, () => 0.5);
    expect(two).toMatchObject({ attempts: 2, nextAt: 7000 });
    expect(recordFailure(two, 5, "hook", "x", 0, () => 0.5).attempts).toBe(1);
    expect(recordFailure(two, 4, "transfer", "x", 0, () => 0.5).attempts).toBe(1);
  });
});

describe("what to link, what to fetch", () => {
  it("links a file held under another version (same sha256 and size), fetches the rest, and a duplicate within the version once", () => {
    const held = new Map([[f("x", "a").sha256, { path: "/d/versions/v1/weights.bin", size: 10 }]]);
    const steps = planFiles(
      [
        f("weights.bin", "a"),
        f("config.json", "b"),
        f("copy/weights.bin", "a"),
        f("tok.json", "c"),
        f("tok-again.json", "c"),
      ],
      held,
    );
    expect(
      steps.map((s) => [
        s.action,
        s.file.path,
        s.action === "link" ? s.from : s.action === "link-same" ? s.same : null,
      ]),
    ).toEqual([
      ["link", "weights.bin", "/d/versions/v1/weights.bin"],
      ["fetch", "config.json", null],
      ["fetch", "tok.json", null],
      ["link-same", "copy/weights.bin", "weights.bin"],
      ["link-same", "tok-again.json", "tok.json"],
    ]);
  });

  it("fetches when the held file's size differs (the same sha256 cannot have two sizes; a torn file can)", () => {
    const held = new Map([[f("x", "a").sha256, { path: "/held", size: 9 }]]);
    expect(planFiles([f("w", "a", 10)], held)[0]!.action).toBe("fetch");
    expect(planFiles([], held)).toEqual([]);
  });
});

describe("which versions stay", () => {
  const held = [
    { version: 1, servedAt: 100 },
    { version: 2, servedAt: 300 },
    { version: 3, servedAt: 200 },
    { version: 4, servedAt: null },
    { version: 5, servedAt: 400 },
  ];

  it("keeps the pinned ones, then the most recently served, up to --keep", () => {
    expect(chooseKeep(held, 3, [5])).toEqual({ keep: [5, 2, 3], remove: [1, 4] });
    // The version being retried stays even past --keep; never-served goes first.
    expect(chooseKeep(held, 2, [1, 4])).toEqual({ keep: [1, 4], remove: [5, 2, 3] });
    expect(chooseKeep(held, 1, [2, null, undefined])).toEqual({ keep: [2], remove: [5, 3, 1, 4] });
    expect(chooseKeep(held, 10, [5]).remove).toEqual([]);
  });

  it("breaks ties by the newer version", () => {
    expect(
      chooseKeep(
        [
          { version: 1, servedAt: null },
          { version: 2, servedAt: null },
        ],
        1,
        [],
      ),
    ).toEqual({ keep: [2], remove: [1] });
  });

  it("keeps the target's partial download and the newest other one", () => {
    const incoming = [
      { version: 6, mtimeMs: 10 },
      { version: 7, mtimeMs: 30 },
      { version: 8, mtimeMs: 20 },
    ];
    expect(incomingToRemove(incoming, 6).sort()).toEqual([8]);
    expect(incomingToRemove(incoming, null).sort()).toEqual([6, 8]);
    expect(incomingToRemove([], 1)).toEqual([]);
  });
});

describe("what next", () => {
  const failure = (version: number, kind: Failure["kind"], nextAt: number): Failure => ({
    version,
    kind,
    attempts: 1,
    nextAt,
    message: "x",
  });

  it("does nothing when in step or when the alias names nothing", () => {
    expect(nextStep(3, 3, null, 0)).toEqual({ kind: "idle" });
    expect(nextStep(3, null, null, 0)).toEqual({ kind: "idle" });
    expect(nextStep(null, undefined, null, 0)).toEqual({ kind: "idle" });
  });

  it("applies a new version, unless its retry is not due", () => {
    expect(nextStep(3, 4, null, 0)).toEqual({ kind: "apply", version: 4 });
    expect(nextStep(null, 4, null, 0)).toEqual({ kind: "apply", version: 4 });
    expect(nextStep(3, 4, failure(4, "hook", 5000), 1000)).toEqual({ kind: "wait", ms: 4000 });
    expect(nextStep(3, 4, failure(4, "hook", 5000), 5000)).toEqual({ kind: "apply", version: 4 });
    // A failure of another version does not hold this one back.
    expect(nextStep(3, 5, failure(4, "hook", 5000), 1000)).toEqual({ kind: "apply", version: 5 });
  });

  it("runs the hook again for the only version there is, at its retry", () => {
    expect(nextStep(4, 4, failure(4, "hook", 5000), 1000)).toEqual({ kind: "wait", ms: 4000 });
    expect(nextStep(4, 4, failure(4, "hook", 5000), 6000)).toEqual({ kind: "rehook", version: 4 });
    expect(nextStep(4, 4, failure(4, "transfer", 5000), 6000)).toEqual({ kind: "idle" });
  });

  it("looks at a version --check refused again at its retry, or at once when the alias changed, and never switches back to it", () => {
    const refused = recordRefusal(null, 4, 7, "--check exited with code 1", 1000, 60_000);
    expect(refused).toMatchObject({ version: 4, kind: "check", attempts: 1, nextAt: 61_000, generation: 7 });
    expect(recordRefusal(refused, 4, 7, "again", 70_000, 60_000).attempts).toBe(2);
    expect(recordRefusal(refused, 5, 7, "another", 70_000, 60_000).attempts).toBe(1);
    expect(nextStep(3, 4, refused, 2000, 7)).toEqual({ kind: "wait", ms: 59_000 });
    expect(nextStep(3, 4, refused, 61_000, 7)).toEqual({ kind: "apply", version: 4 });
    // The alias moved (set again, even to the same version): looked at now.
    expect(nextStep(3, 4, refused, 2000, 8)).toEqual({ kind: "apply", version: 4 });
    // --retry-refused 0: nothing to wait for but a change of the alias.
    const never = recordRefusal(null, 4, 7, "x", 1000, 0);
    expect(never.nextAt).toBe(Number.POSITIVE_INFINITY);
    expect(nextStep(3, 4, never, 10 ** 12, 7)).toEqual({ kind: "idle" });
    expect(nextStep(3, 4, never, 10 ** 12, 9)).toEqual({ kind: "apply", version: 4 });
    // A refused version is never `current`, so it is never hooked again.
    expect(nextStep(3, 3, never, 0, 7)).toEqual({ kind: "idle" });
  });
});

describe("the rate limit", () => {
  it("lets a second's worth go at once, then makes each piece wait its share", () => {
    const rate = 1000;
    let bucket = { tokens: 0, at: 0 };
    let r = take(bucket, 1000, 1000, rate); // a second of refill: exactly enough
    expect(r.waitMs).toBe(0);
    bucket = r.bucket;
    r = take(bucket, 500, 1000, rate);
    expect(r.waitMs).toBe(500);
    bucket = r.bucket;
    // After waiting, the debt is paid: the next piece waits only for itself.
    r = take(bucket, 250, 1500, rate);
    expect(r.waitMs).toBe(250);
    // Idle for long does not bank more than a second.
    expect(take({ tokens: 0, at: 0 }, 3000, 60_000, rate).waitMs).toBe(2000);
  });
});

describe("signals", () => {
  it("accepts what the registry would, and says what is wrong otherwise", () => {
    expect(parseSignalPost({ metrics: { latency_ms: 12.5, error: 0 } })).toEqual({
      ok: true,
      value: { metrics: { latency_ms: 12.5, error: 0 }, count: 1 },
    });
    expect(parseSignalPost({ metrics: { a: -1e12 }, count: 100_000, version: 3 })).toEqual({
      ok: true,
      value: { metrics: { a: -1e12 }, count: 100_000, version: 3 },
    });
    const bad = (body: unknown) => {
      const r = parseSignalPost(body);
      expect(r.ok).toBe(false);
      return r.ok ? [] : r.errors.map((e) => e.path);
    };
    expect(bad(null)).toEqual([""]);
    expect(bad([1])).toEqual([""]);
    expect(bad({})).toEqual(["metrics"]);
    expect(bad({ metrics: {} })).toEqual(["metrics"]);
    expect(bad({ metrics: { a: 1e12 * 1.5 } })).toEqual(["metrics.a"]);
    expect(bad({ metrics: { a: Infinity } })).toEqual(["metrics.a"]);
    expect(bad({ metrics: { a: "1" } })).toEqual(["metrics.a"]);
    expect(bad({ metrics: { ["x".repeat(129)]: 1 } })).toEqual(["metrics"]);
    expect(bad({ metrics: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`m${i}`, 1])) })).toContain(
      "metrics",
    );
    expect(bad({ metrics: { a: 1 }, count: 0 })).toEqual(["count"]);
    expect(bad({ metrics: { a: 1 }, count: 100_001 })).toEqual(["count"]);
    expect(bad({ metrics: { a: 1 }, count: 1.5 })).toEqual(["count"]);
    expect(bad({ metrics: { a: 1 }, version: 0 })).toEqual(["version"]);
    expect(bad({ metrics: { a: 1 }, extra: true })).toEqual(["extra"]);
  });

  it("aggregates posts into one weighted signal per version with their count", () => {
    const w = new SignalWindow();
    expect(w.empty).toBe(true);
    for (const v of [10, 20, 30]) w.add(4, { metrics: { latency: v, errors: 0 }, count: 1 });
    w.add(4, { metrics: { latency: 40, errors: 1 }, count: 7 });
    expect(w.samples).toBe(10);
    expect(w.signals()).toEqual([
      { version: 4, count: 10, metrics: { latency: (10 + 20 + 30 + 40 * 7) / 10, errors: 0.7 } },
    ]);
  });

  it("keeps metrics with different sample counts, and versions, apart", () => {
    const w = new SignalWindow();
    w.add(4, { metrics: { latency: 10, errors: 1 }, count: 2 });
    w.add(4, { metrics: { latency: 20 }, count: 2 });
    w.add(3, { metrics: { latency: 5 }, count: 1 });
    expect(w.signals()).toEqual([
      { version: 4, count: 4, metrics: { latency: 15 } },
      { version: 4, count: 2, metrics: { errors: 1 } },
      { version: 3, count: 1, metrics: { latency: 5 } },
    ]);
  });

  it("splits more than 100,000 samples into signals the registry takes, weighing the same", () => {
    const w = new SignalWindow();
    w.add(1, { metrics: { a: 2 }, count: 100_000 });
    w.add(1, { metrics: { a: 5 }, count: 50_000 });
    const signals = w.signals();
    expect(signals.map((s) => s.count)).toEqual([100_000, 50_000]);
    expect(signals.every((s) => s.metrics.a === 3)).toBe(true);
  });

  it("bounds its memory by metric names, not by posts", () => {
    const w = new SignalWindow();
    expect(
      w.add(1, { metrics: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`m${i}`, 1])), count: 1 }),
    ).toBe(true);
    expect(w.add(1, { metrics: { m0: 2 }, count: 1 })).toBe(true);
    expect(w.add(1, { metrics: { another: 1 }, count: 1 })).toBe(false);
    for (let v = 2; v <= 8; v++) expect(w.add(v, { metrics: { a: 1 }, count: 1 })).toBe(true);
    expect(w.add(9, { metrics: { a: 1 }, count: 1 })).toBe(false);
  });
});

describe("the signals sent", () => {
  it("name this node (its --key), and none when it has none", async () => {
    for (const node of ["node-7", null]) {
      const sent: Signal[] = [];
      const signaler = new Signaler(async (signal) => void sent.push(signal), node, 60_000);
      signaler.add(4, { metrics: { err: 0.5 }, count: 1 });
      await signaler.flush();
      expect(sent).toEqual([{ version: 4, metrics: { err: 0.5 }, count: 1, ...(node ? { node } : {}) }]);
    }
  });
});

describe("who may post signals", () => {
  it("knows loopback peers and Host headers, and nothing else", () => {
    for (const a of ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"]) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ["10.0.0.7", "0.0.0.0", "::", "::ffff:10.0.0.7", "", undefined, "localhost"])
      expect(isLoopbackAddress(a), String(a)).toBe(false);
    for (const h of [
      "127.0.0.1:9464",
      "127.0.0.1",
      "localhost:9464",
      "LOCALHOST",
      "localhost.:1",
      "[::1]:9464",
      "[::1]",
      "[::ffff:127.0.0.1]:80",
    ])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [
      "evil.example:9464", // a rebound DNS name
      "0.0.0.0:9464",
      "10.0.0.7:9464",
      "localhost.evil.example",
      "app.localhost",
      "127.1:9464",
      "2130706433",
      "[::1",
      "127.0.0.1:9464:1",
      "",
      undefined,
    ]) {
      expect(isLoopbackHost(h), String(h)).toBe(false);
    }
  });

  it("takes the credential as a bearer token, and only it", () => {
    expect(bearerMatches("Bearer s3cret-token", "s3cret-token")).toBe(true);
    expect(bearerMatches("bearer   s3cret-token ", "s3cret-token")).toBe(true);
    for (const h of [
      "Bearer s3cret-toke",
      "Bearer s3cret-token2",
      "Basic s3cret-token",
      "s3cret-token",
      "Bearer",
      "",
      undefined,
    ])
      expect(bearerMatches(h, "s3cret-token"), String(h)).toBe(false);
  });

  it("refuses, in order: a peer not on loopback, a foreign Host, a browser, a missing credential", () => {
    const credential = { token: "t".repeat(43), file: "/models/.agent/signals.token" };
    const good = { host: "127.0.0.1:9464", authorization: `Bearer ${credential.token}` };
    const why = (remoteAddress: string, headers: Record<string, string>) =>
      refusal({ remoteAddress, headers }, credential)?.reason ?? null;
    expect(why("127.0.0.1", good)).toBe(null);
    expect(why("10.0.0.7", good)).toBe("not_loopback");
    expect(why("127.0.0.1", { ...good, host: "evil.example" })).toBe("host");
    expect(why("127.0.0.1", { ...good, origin: "null" })).toBe("browser");
    expect(why("127.0.0.1", { ...good, "sec-fetch-site": "cross-site" })).toBe("browser");
    // Node's own fetch sends Sec-Fetch-Mode: a model server written with it is no browser.
    expect(why("127.0.0.1", { ...good, "sec-fetch-mode": "cors" })).toBe(null);
    expect(why("127.0.0.1", { host: good.host })).toBe("credential");
    expect(refusal({ remoteAddress: "127.0.0.1", headers: { host: good.host } }, credential)).toMatchObject({
      status: 401,
      code: "unauthorized",
    });
  });

  it("keeps its credential in a file only its user reads, across restarts, and replaces one it cannot trust", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mreg-credential-"));
    try {
      const first = await localCredential(dir);
      expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(first.file).mode & 0o777).toBe(0o600);
      expect((await localCredential(dir)).token).toBe(first.token);
      // Readable by others, not of its making, or a link: a new one.
      chmodSync(first.file, 0o644);
      const widened = await localCredential(dir);
      expect(widened.token).not.toBe(first.token);
      expect(statSync(widened.file).mode & 0o777).toBe(0o600);
      writeFileSync(widened.file, "chosen-by-someone-else\n");
      expect((await localCredential(dir)).token).not.toBe("chosen-by-someone-else");
      const planted = join(dir, "planted");
      writeFileSync(planted, `${"p".repeat(43)}\n`, { mode: 0o600 });
      rmSync(first.file);
      symlinkSync(planted, first.file);
      const replaced = await localCredential(dir);
      expect(replaced.token).not.toBe("p".repeat(43));
      expect(lstatSync(first.file).isFile()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("hooks' environment", () => {
  const agentEnv = {
    PATH: "/usr/bin:/bin",
    HOME: "/home/agent",
    MREG_TOKEN: "eyJ.secret.token",
    MREG_URL: "https://r",
    NODE_NAME: "node-7",
  };

  it("holds PATH and what --hook-env passes, nothing else of the agent's", () => {
    expect(hookEnvironment([], agentEnv)).toEqual({ ok: true, env: { PATH: "/usr/bin:/bin" } });
    expect(hookEnvironment(["NODE_NAME", "RELOAD_URL=http://127.0.0.1:8080/reload?a=b", "EMPTY="], agentEnv)).toEqual({
      ok: true,
      env: { PATH: "/usr/bin:/bin", NODE_NAME: "node-7", RELOAD_URL: "http://127.0.0.1:8080/reload?a=b", EMPTY: "" },
    });
    // The operator may replace PATH, or pass HOME, by name.
    expect(hookEnvironment(["PATH=/opt/bin", "HOME"], agentEnv)).toEqual({
      ok: true,
      env: { PATH: "/opt/bin", HOME: "/home/agent" },
    });
  });

  it("refuses the agent's token, the names the agent sets, names it does not have, and what is not a name", () => {
    const refused = (arg: string) => {
      const r = hookEnvironment([arg], agentEnv);
      return r.ok ? null : r.message;
    };
    expect(refused("MREG_TOKEN")).toMatch(/never given to a hook/);
    expect(refused("MREG_TOKEN=x")).toMatch(/never given to a hook/);
    expect(refused("MREG_DIR=/tmp")).toMatch(/the agent sets it/);
    expect(refused("UNSET_NAME")).toMatch(/not set in the agent's environment/);
    for (const bad of ["", "=x", "1A", "A-B=x", "A B"]) expect(refused(bad), bad).toMatch(/takes NAME or NAME=value/);
  });
});

describe("judges before the switch", () => {
  const staged = {
    version: 4,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      MREG_VERSION: "4",
      MREG_PREVIOUS: "3",
      MREG_DIR: "/tmp/versions/v4",
      MREG_MODEL: "m",
      MREG_ALIAS: "prod",
      MREG_DIGEST: "",
    },
  };

  it("asks for none without --check, and --check's command with it", async () => {
    expect(judgesOf({ check: null, hookTimeoutMs: 1000 })).toEqual([]);
    const lines: string[] = [];
    const [check] = judgesOf({ check: 'echo "looking at $MREG_DIR"; test "$MREG_VERSION" = 4', hookTimeoutMs: 30_000 });
    expect(await check!.judge(staged, (l) => lines.push(l))).toEqual({ ok: true });
    expect(lines).toEqual(["check: looking at /tmp/versions/v4"]);
    expect(await check!.judge({ ...staged, env: { ...staged.env, MREG_VERSION: "5" } }, () => {})).toEqual({
      ok: false,
      // Its last words say why.
      reason: "--check exited with code 1: looking at /tmp/versions/v4",
    });
  });

  it("takes the first refusal as the verdict, and runs no judge after it", async () => {
    const ran: string[] = [];
    const judge = (name: string, verdict: { ok: true } | { ok: false; reason: string }) => ({
      judge: async () => {
        ran.push(name);
        return verdict;
      },
    });
    expect(await judgeStaged([], staged, () => {})).toEqual({ ok: true });
    expect(await judgeStaged([judge("a", { ok: true }), judge("b", { ok: true })], staged, () => {})).toEqual({
      ok: true,
    });
    ran.length = 0;
    const refused = await judgeStaged(
      [judge("a", { ok: true }), judge("b", { ok: false, reason: "no" }), judge("c", { ok: true })],
      staged,
      () => {},
    );
    expect(refused).toEqual({ ok: false, reason: "no" });
    expect(ran).toEqual(["a", "b"]);
  });
});

describe("--listen", () => {
  it("takes host:port, :port, a port and a bracketed IPv6 host", () => {
    expect(parseListen("127.0.0.1:9464")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseListen("0.0.0.0:0")).toEqual({ host: "0.0.0.0", port: 0 });
    expect(parseListen(":9464")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseListen("9464")).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseListen("[::1]:9464")).toEqual({ host: "::1", port: 9464 });
    expect(parseListen("localhost:70000")).toBe(null);
    expect(parseListen("a:b")).toBe(null);
  });
});

describe("the report", () => {
  const base = (): AgentState => ({
    model: "fraud",
    alias: "prod",
    key: "node-1",
    uri: "registry://fraud@prod",
    dir: "/models",
    registryUrl: "http://r",
    current: { version: 3, digest: "sha256:x", since: "2026-01-01T00:00:00.000Z" },
    target: { version: 3, generation: 7, digest: "sha256:x" },
    registry: { reachable: true, via: "watch", connected: true, lastContact: 0, error: null },
    failure: null,
    lastError: null,
    sync: null,
    held: [2, 3],
    counters: { switches: 2, failures: 0, bytesDownloaded: 10, filesDownloaded: 1, filesLinked: 1 },
    signals: { sent: 0, samples: 0, failed: 0, lastError: null, refused: 0, countsIgnored: 0 },
    lastSyncAt: 0,
  });

  it("is not degraded when in step, and says why it is otherwise", () => {
    expect(reasons(base())).toEqual([]);
    expect(status(base(), 0)).toMatchObject({
      version: 3,
      in_sync: true,
      degraded: false,
      seconds_since_sync: 0,
      registry_reachable: true,
    });
    const down = {
      ...base(),
      registry: { reachable: false, via: "poll" as const, connected: false, lastContact: 0, error: "ECONNREFUSED" },
    };
    expect(status(down, 30_000)).toMatchObject({
      version: 3,
      degraded: true,
      reasons: ["the registry cannot be reached (ECONNREFUSED)"],
      seconds_since_sync: 30,
    });
    const refused = {
      ...base(),
      target: { version: 4, generation: 8, digest: null },
      failure: { version: 4, kind: "hook" as const, attempts: 2, nextAt: 0, message: "--exec exited with code 3" },
    };
    expect(reasons(refused)[0]).toMatch(/^v4: --exec exited with code 3 \(attempt 2; next at /);
    expect(reasons({ ...base(), target: { version: null, generation: 9, digest: null } })).toEqual([
      "the alias resolves to nothing; keeping v3",
    ]);
  });

  it("tells the fleet view what the node serves, and whether it refused, syncs, serves or is degraded", () => {
    const extra = { labels: { zone: "eu-1" }, agent: "mreg-agent/test" };
    expect(nodeReport(base(), extra)).toEqual({ version: 3, target: 3, state: "serving", ...extra });
    const moving = { ...base(), target: { version: 4, generation: 8, digest: null } };
    expect(nodeReport(moving, extra)).toMatchObject({ version: 3, target: 4, state: "syncing" });
    const check: AgentState["failure"] = { ...recordRefusal(null, 4, 8, "--check exited with code 1: bad", 0, 0) };
    expect(nodeReport({ ...moving, failure: check }, extra)).toMatchObject({
      version: 3,
      target: 4,
      state: "refused",
      reason: "--check exited with code 1: bad",
    });
    // A refusal of a version no longer named is history: the node is on its way to the new one.
    expect(
      nodeReport({ ...moving, target: { version: 5, generation: 9, digest: null }, failure: check }, extra),
    ).toMatchObject({
      state: "syncing",
    });
    const transfer = {
      ...moving,
      failure: { version: 4, kind: "transfer" as const, attempts: 1, nextAt: 0, message: "EPIPE" },
    };
    expect(nodeReport(transfer, extra)).toMatchObject({ state: "degraded", reason: expect.stringContaining("EPIPE") });
    // A reason is held to what a report may carry.
    const long = { ...check, message: "x".repeat(5000) };
    expect(nodeReport({ ...moving, failure: long }, extra).reason).toHaveLength(1024);
    // A refusal retried only when the alias changes says so, rather than a time.
    expect(reasons({ ...moving, failure: check })[0]).toContain("again when the alias changes");
    expect(status({ ...moving, failure: check }, 0).retry).toMatchObject({ kind: "check", next_at: null });
  });

  it("takes its secrets out of what it says, even a rotated token", () => {
    let token = "eyJhbGciOi.first.token";
    const redact = redactor(() => [token, "credential-abcdefgh", undefined, null, "short"]);
    expect(redact(`exec: ${token} and credential-abcdefgh, twice ${token}`)).toBe(
      "exec: [redacted] and [redacted], twice [redacted]",
    );
    // Too short to be a secret of ours: left alone rather than mangling every line.
    expect(redact("a short line")).toBe("a short line");
    token = "eyJhbGciOi.second.token";
    expect(redact("now eyJhbGciOi.second.token")).toBe("now [redacted]");
  });

  it("writes Prometheus text, leaving out what it cannot say yet", () => {
    const text = metrics(base(), 0);
    expect(text).toContain(
      '# TYPE mreg_agent_current_version gauge\nmreg_agent_current_version{model="fraud",alias="prod"} 3\n',
    );
    expect(text).toContain('mreg_agent_switches_total{model="fraud",alias="prod"} 2\n');
    expect(text).toContain('mreg_agent_seconds_since_sync{model="fraud",alias="prod"} 0\n');
    const fresh = metrics(
      {
        ...base(),
        current: null,
        target: null,
        lastSyncAt: null,
        registry: { reachable: null, via: null, connected: false, lastContact: null, error: null },
      },
      0,
    );
    expect(fresh).not.toMatch(/^mreg_agent_current_version\{/m);
    expect(fresh).not.toMatch(/^mreg_agent_registry_reachable\{/m);
    // Every sample line is name{labels} value.
    for (const line of text.split("\n").filter((l) => l && !l.startsWith("#")))
      expect(line).toMatch(/^mreg_agent_[a-z_]+\{model="fraud",alias="prod"\} [0-9.]+$/);
  });
});
