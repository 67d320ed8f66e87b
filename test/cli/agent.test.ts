/**
 * `mreg agent` as a real process against the shared `npm start`: it follows promote →
 * rollback → promote while a reader checks every version it finds behind `current`; a hook
 * sees each version, and one that refuses a version has it switched back and retried; files
 * shared between versions are hard-linked, not fetched; without the socket it polls; `--key`
 * picks a split's member; posts
 * to its /signals reach the guard as one aggregated signal.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { mreg, mregJson, randomFile, sandbox, token } from "./helpers";
import { noSocketProxy, readerLoop, startAgent, until, untilStatus, type RunningAgent } from "./agent-helpers";

const { env, dir } = sandbox();
const agents: RunningAgent[] = [];

beforeAll(() => {
  env.MREG_TOKEN = token(env, "agent-test", "read write promote admin report");
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
});

let pushes = 0;

/** Pushes `files` (name → content, or a size for random bytes) as a new version; answers its number and each file's sha256. */
function push(model: string, files: Record<string, string | Buffer | number>, extra: string[] = []): { version: number; files: Map<string, string> } {
  const src = join(dir, `src-${model}-${++pushes}`);
  mkdirSync(src, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === "number") randomFile(join(src, name), content);
    else writeFileSync(join(src, name), content);
  }
  const pushed = mregJson(env, ["push", model, src, ...extra]);
  return { version: pushed.version as number, files: new Map((pushed.files as { path: string; sha256: string }[]).map((f) => [f.path, f.sha256])) };
}

const ok = (args: string[]) => {
  const r = mreg(env, args);
  if (r.code !== 0) throw new Error(`mreg ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
};

describe("mreg agent", () => {
  it("follows promote → rollback → promote; current is always a whole version; the hook sees each one; a refused version is switched back and retried", async () => {
    const M = "agent-follow";
    // The same 1 MiB in every version: fetched once, then linked.
    const shared = join(dir, "shared.bin");
    randomFile(shared, 1024 * 1024);
    const sharedBytes = readFileSync(shared);
    const v1 = push(M, { "shared.bin": sharedBytes, "config.json": '{"v":1}\n' }, ["--alias", "prod"]);
    const v2 = push(M, { "shared.bin": sharedBytes, "config.json": '{"v":2}\n', "extra.txt": "only in v2\n" });
    const v3 = push(M, { "shared.bin": sharedBytes, "config.json": '{"v":3}\n', "head.bin": 64 * 1024 });
    const v4 = push(M, { "shared.bin": sharedBytes, "config.json": '{"v":4}\n' });
    expect([v1, v2, v3, v4].map((v) => v.files.get("shared.bin"))).toEqual(Array(4).fill(v1.files.get("shared.bin")));
    const expected = new Map([v1, v2, v3, v4].map((v) => [v.version, v.files]));

    const agentDir = join(dir, "follow");
    const hookLog = join(dir, "hook.log");
    const flags = join(dir, "flags");
    mkdirSync(flags);
    const hook = join(dir, "hook.sh");
    writeFileSync(hook, '#!/bin/sh\necho "$MREG_VERSION ${MREG_PREVIOUS:-none} $MREG_DIR" >> "$HOOK_LOG"\nif [ -e "$FLAGS/fail-$MREG_VERSION" ]; then echo "model server cannot load v$MREG_VERSION" >&2; exit 3; fi\n');
    chmodSync(hook, 0o755);
    const agent = await startAgent({ ...env, HOOK_LOG: hookLog, FLAGS: flags }, `registry://${M}@prod`, agentDir, ["--exec", hook, "--keep", "3"]);
    agents.push(agent);

    await untilStatus(agent, (s) => s.version === v1.version && s.in_sync, "v1 to be served");
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
    const reader = readerLoop(agentDir, expected);

    ok(["promote", M, "prod", String(v2.version)]);
    await untilStatus(agent, (s) => s.version === v2.version && s.in_sync, "the promotion to v2");
    expect(await agent.metric("mreg_agent_files_linked_total")).toBe(1); // shared.bin

    // The way back is a link switch: nothing is downloaded.
    const downloaded = await agent.metric("mreg_agent_files_downloaded_total");
    ok(["rollback", M, "prod", "--reason", "agent test"]);
    await untilStatus(agent, (s) => s.version === v1.version && s.in_sync, "the rollback to v1");
    expect(await agent.metric("mreg_agent_files_downloaded_total")).toBe(downloaded);

    ok(["promote", M, "prod", String(v3.version)]);
    await untilStatus(agent, (s) => s.version === v3.version && s.in_sync, "the promotion to v3");
    // One inode for the shared file in every version held: linked, not fetched again.
    const inodes = [v1, v2, v3].map((v) => statSync(join(agentDir, "versions", `v${v.version}`, "shared.bin")).ino);
    expect(new Set(inodes).size).toBe(1);
    expect(statSync(join(agentDir, "versions", `v${v3.version}`, "shared.bin")).nlink).toBe(3);

    // The model server cannot load v4: the agent switches back to v3, says why, and keeps trying.
    writeFileSync(join(flags, `fail-${v4.version}`), "");
    ok(["promote", M, "prod", String(v4.version)]);
    const refused = await untilStatus(agent, (s) => s.retry?.version === v4.version && s.version === v3.version, "v4 to be refused and switched back");
    expect(refused).toMatchObject({ degraded: true, in_sync: false, target: { version: v4.version } });
    expect(refused.last_error!.message).toBe(`v${v4.version}: --exec exited with code 3: model server cannot load v${v4.version}`);
    expect(refused.reasons[0]).toContain(`cannot load v${v4.version}`);
    expect(agent.out.stderr).toContain(`v${v4.version} refused: --exec exited with code 3: model server cannot load v${v4.version}; switched current back to v${v3.version}`);
    expect(readlinkSync(join(agentDir, "current"))).toBe(`versions/v${v3.version}`);

    unlinkSync(join(flags, `fail-${v4.version}`));
    const fixed = await untilStatus(agent, (s) => s.version === v4.version && s.in_sync && !s.degraded, "the retry of v4 to succeed");
    expect(fixed.retry).toBe(null);

    await reader.stop();
    expect(reader.violations).toEqual([]);
    // The reader checked every version it could have found, more than once.
    for (const v of [v1, v2, v3, v4]) expect(reader.seen.get(v.version) ?? 0).toBeGreaterThan(0);

    // The hook saw each switch, with the version it switched from and the version's directory.
    const lines = readFileSync(hookLog, "utf8").trim().split("\n");
    const dirOf = (v: number) => join(agentDir, "versions", `v${v}`);
    expect(lines.slice(0, 4)).toEqual([`${v1.version} none ${dirOf(v1.version)}`, `${v2.version} ${v1.version} ${dirOf(v2.version)}`, `${v1.version} ${v2.version} ${dirOf(v1.version)}`, `${v3.version} ${v1.version} ${dirOf(v3.version)}`]);
    expect(lines[4]).toBe(`${v4.version} ${v3.version} ${dirOf(v4.version)}`);
    expect(lines[5]).toBe(`${v3.version} ${v4.version} ${dirOf(v3.version)}`); // the switch back tells the model server too
    expect(lines.at(-1)).toBe(`${v4.version} ${v3.version} ${dirOf(v4.version)}`);

    // --keep 3: the version served longest ago (v2) went; nothing partial is left.
    expect(readdirSync(join(agentDir, "versions")).sort()).toEqual([v1, v3, v4].map((v) => `v${v.version}`).sort());
    expect((await agent.status()).versions).toEqual([v1.version, v3.version, v4.version]);
    expect(readdirSync(join(agentDir, ".incoming"))).toEqual([]);
    expect(statSync(join(agentDir, "versions", `v${v4.version}`, "config.json")).mode & 0o777).toBe(0o444);

    expect(await agent.stop()).toBe(0);
    expect(readlinkSync(join(agentDir, "current"))).toBe(`versions/v${v4.version}`);
    expect(agent.out.stderr).toMatch(/SIGTERM: stopping/);
    expect(existsSync(join(agentDir, ".agent", "lock"))).toBe(false);
  });

  it("polls with If-None-Match while the watch socket cannot be had, reconnects with backoff, and --notify POSTs each resolution", async () => {
    const M = "agent-poll";
    const v1 = push(M, { "config.json": '{"v":1}\n' }, ["--alias", "prod"]);
    const v2 = push(M, { "config.json": '{"v":2}\n' });
    // A proxy that passes HTTP but refuses WebSocket upgrades, as some do.
    const proxy = await noSocketProxy(inject("mregUrl"));
    const notified: { version: number; event: string; previous: number | null; files: { path: string; sha256: string }[] }[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        notified.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    try {
      const agent = await startAgent({ ...env, MREG_URL: proxy.url }, `${M}@prod`, join(dir, "poll"), ["--notify", `http://127.0.0.1:${(hook.address() as AddressInfo).port}/reload`]);
      agents.push(agent);
      await untilStatus(agent, (s) => s.version === v1.version && s.in_sync, "v1 to be served");
      ok(["promote", M, "prod", String(v2.version)]);
      const s = await untilStatus(agent, (s) => s.version === v2.version && s.in_sync, "the promotion to reach the agent by polling");
      expect(s).toMatchObject({ registry_via: "poll", registry_reachable: true, degraded: false });
      // The next poll sends the ETag it got, and the unchanged alias answers 304.
      await until(() => proxy.notModified() > 0, "a poll answered 304");
      await until(() => proxy.upgrades.length >= 4, "four attempts at the socket");
      // Backing off, not hammering: at least 0.5 s, 1 s, 2 s … apart (each -25% at worst).
      // Lower bounds only: a busy machine lengthens the gaps, never shortens them.
      const gaps = proxy.upgrades.slice(1).map((t, i) => t - proxy.upgrades[i]!);
      gaps.slice(0, 3).forEach((gap, i) => expect(gap, `gap ${i}: ${gaps}`).toBeGreaterThanOrEqual(0.75 * 500 * 2 ** i - 5));

      expect(notified.map((n) => [n.version, n.event, n.previous])).toEqual([
        [v1.version, "switch", null],
        [v2.version, "switch", v1.version],
      ]);
      expect(notified[1]!.files).toEqual([{ path: "config.json", size: 8, sha256: v2.files.get("config.json") }]);
      expect(await agent.stop()).toBe(0);
    } finally {
      hook.close();
      proxy.close();
    }
  });

  it("--key picks this node's member of a split; two agents never share a directory", async () => {
    const M = "agent-split";
    const a = push(M, { "config.json": '{"v":"a"}\n' }, ["--alias", "canary"]);
    const b = push(M, { "config.json": '{"v":"b"}\n' });
    ok(["alias", "set", M, "canary", "--split", `${a.version}:50,${b.version}:50`]);
    // Keys the registry sends to each member.
    const url = inject("mregUrl");
    const memberOf = async (key: string) =>
      ((await (await fetch(`${url}/v1/models/${M}/aliases/canary?key=${key}`, { headers: { authorization: `Bearer ${env.MREG_TOKEN}` } })).json()) as { version: number }).version;
    const keys = new Map<number, string>();
    for (let i = 0; keys.size < 2 && i < 200; i++) {
      const v = await memberOf(`node-${i}`);
      if (!keys.has(v)) keys.set(v, `node-${i}`);
    }
    expect(keys.size).toBe(2);

    // The system Node (20) runs the bundle too.
    const node = existsSync("/usr/bin/node") ? "/usr/bin/node" : process.execPath;
    const started = await Promise.all(
      [a, b].map((v) => startAgent(env, `${M}@canary`, join(dir, `split-${v.version}`), ["--key", keys.get(v.version)!], node)),
    );
    agents.push(...started);
    for (const [i, v] of [a, b].entries()) {
      const s = await untilStatus(started[i]!, (s) => s.version !== null && s.in_sync, `the agent keyed ${keys.get(v.version)}`);
      expect(s).toMatchObject({ version: v.version, key: keys.get(v.version) });
      expect(readFileSync(join(dir, `split-${v.version}`, "current", "config.json"), "utf8")).toBe(`{"v":"${v.version === a.version ? "a" : "b"}"}\n`);
    }

    const second = mreg(env, ["agent", `${M}@canary`, "--dir", join(dir, `split-${a.version}`), "--listen", "127.0.0.1:0"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another agent \(pid \d+\) is keeping .*split-\d+: one agent per directory/);
    await Promise.all(started.map((s) => s.stop()));
  });

  it("aggregates the model server's posts to /signals into one signal a second, with their count; refuses bad ones", async () => {
    const M = "agent-signals";
    const v1 = push(M, { "config.json": "{}\n" }, ["--alias", "prod"]);
    // A guard that never trips, so its window shows what arrived.
    ok(["guard", "set", M, "prod", "--metric", "latency_ms", "--max", "1000000", "--min-samples", "1000000"]);
    const agent = await startAgent(env, `${M}@prod`, join(dir, "signals"));
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === v1.version, "v1 to be served");

    const post = (body: unknown, type = "application/json") => fetch(`${agent.url}/signals`, { method: "POST", headers: { "content-type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });
    // Ten samples in eight posts, all at once: 7 × 1 sample and one batch of 3.
    const values = [10, 20, 30, 40, 50, 60, 70];
    const postedFrom = Date.now();
    const answers = await Promise.all([...values.map((v) => post({ metrics: { latency_ms: v } })), post({ metrics: { latency_ms: 100 }, count: 3 })]);
    const postingMs = Date.now() - postedFrom;
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(202));

    const mean = (values.reduce((s, v) => s + v, 0) + 300) / 10;
    let guard: { window: { version: number; samples: number; mean: number } } | undefined;
    await until(() => (guard = mregJson(env, ["guard", "show", M, "prod"]) as typeof guard)!.window.samples >= 10, "ten samples in the guard's window");
    expect(guard!.window).toMatchObject({ version: v1.version, samples: 10 });
    expect(guard!.window.mean).toBeCloseTo(mean, 9);
    // One signal per second-long window: one, unless a busy machine spread the posts over more.
    const sent = await agent.metric("mreg_agent_signals_sent_total");
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(Math.floor(postingMs / 1000) + 1);
    expect(await agent.metric("mreg_agent_signal_samples_total")).toBe(10);

    // What the registry would refuse is refused here, with the fields that are wrong.
    const bad = async (body: unknown, type?: string) => {
      const r = await post(body, type);
      return { status: r.status, body: (await r.json()) as { code: string; errors?: { path: string }[] } };
    };
    expect(await bad({ metrics: { latency_ms: 1e13 } })).toMatchObject({ status: 400, body: { code: "validation_failed", errors: [{ path: "metrics.latency_ms" }] } });
    expect(await bad({ metrics: { latency_ms: 1 }, count: 100_001 })).toMatchObject({ status: 400, body: { errors: [{ path: "count" }] } });
    expect(await bad({ metrics: { latency_ms: 1 }, count: 0 })).toMatchObject({ status: 400, body: { errors: [{ path: "count" }] } });
    expect(await bad({ metrics: {} })).toMatchObject({ status: 400, body: { errors: [{ path: "metrics" }] } });
    expect(await bad("{not json")).toMatchObject({ status: 400, body: { code: "validation_failed" } });
    expect(await bad('{"metrics":{"a":1e400}}')).toMatchObject({ status: 400, body: { errors: [{ path: "metrics.a" }] } });
    expect(await bad({ metrics: { a: 1 } }, "text/plain")).toMatchObject({ status: 415, body: { code: "unsupported_media_type" } });
    expect(await bad({ metrics: { a: 1 }, pad: "x".repeat(70_000) })).toMatchObject({ status: 413, body: { code: "payload_too_large" } });
    expect((await fetch(`${agent.url}/signals`)).status).toBe(405);
    expect((await fetch(`${agent.url}/nothing`)).status).toBe(404);
    expect(await agent.metric("mreg_agent_signal_samples_total")).toBe(10);
    expect(await agent.stop()).toBe(0);
  });
});
