/**
 * `mreg agent` as a real process against the shared `npm start`: it follows promote →
 * rollback → promote while a reader checks every version it finds behind `current`; a hook
 * sees each version, and one that refuses a version has it switched back and retried; files
 * shared between versions are hard-linked, not fetched; without the socket it polls; `--key`
 * picks a split's member; posts
 * to its /signals reach the guard as one aggregated signal. What it takes from its own host
 * is held to what it may do: a post to /signals needs the local credential, a loopback Host
 * and no browser Origin, counts as one sample unless told otherwise, and names the node; a
 * hook gets a clean environment, and the token reaches no log line.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { mreg, mregJson, randomFile, sandbox, token } from "./helpers";
import {
  noSocketProxy,
  postSignal,
  readerLoop,
  signalsToken,
  startAgent,
  until,
  untilStatus,
  type RunningAgent,
} from "./agent-helpers";

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
function push(
  model: string,
  files: Record<string, string | Buffer | number>,
  extra: string[] = [],
): { version: number; files: Map<string, string> } {
  const src = join(dir, `src-${model}-${++pushes}`);
  mkdirSync(src, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === "number") randomFile(join(src, name), content);
    else writeFileSync(join(src, name), content);
  }
  const pushed = mregJson(env, ["push", model, src, ...extra]);
  return {
    version: pushed.version as number,
    files: new Map((pushed.files as { path: string; sha256: string }[]).map((f) => [f.path, f.sha256])),
  };
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
    writeFileSync(
      hook,
      '#!/bin/sh\necho "$MREG_VERSION ${MREG_PREVIOUS:-none} $MREG_DIR" >> "$HOOK_LOG"\nif [ -e "$FLAGS/fail-$MREG_VERSION" ]; then echo "model server cannot load v$MREG_VERSION" >&2; exit 3; fi\n',
    );
    chmodSync(hook, 0o755);
    const agent = await startAgent({ ...env, HOOK_LOG: hookLog, FLAGS: flags }, `registry://${M}@prod`, agentDir, [
      "--exec",
      hook,
      "--hook-env",
      "HOOK_LOG",
      "--hook-env",
      "FLAGS",
      "--keep",
      "3",
    ]);
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
    const refused = await untilStatus(
      agent,
      (s) => s.retry?.version === v4.version && s.version === v3.version,
      "v4 to be refused and switched back",
    );
    expect(refused).toMatchObject({ degraded: true, in_sync: false, target: { version: v4.version } });
    expect(refused.last_error!.message).toBe(
      `v${v4.version}: --exec exited with code 3: model server cannot load v${v4.version}`,
    );
    expect(refused.reasons[0]).toContain(`cannot load v${v4.version}`);
    expect(agent.out.stderr).toContain(
      `v${v4.version} refused: --exec exited with code 3: model server cannot load v${v4.version}; switched current back to v${v3.version}`,
    );
    expect(readlinkSync(join(agentDir, "current"))).toBe(`versions/v${v3.version}`);

    unlinkSync(join(flags, `fail-${v4.version}`));
    const fixed = await untilStatus(
      agent,
      (s) => s.version === v4.version && s.in_sync && !s.degraded,
      "the retry of v4 to succeed",
    );
    expect(fixed.retry).toBe(null);

    await reader.stop();
    expect(reader.violations).toEqual([]);
    // The reader checked every version it could have found, more than once.
    for (const v of [v1, v2, v3, v4]) expect(reader.seen.get(v.version) ?? 0).toBeGreaterThan(0);

    // The hook saw each switch, with the version it switched from and the version's directory.
    const lines = readFileSync(hookLog, "utf8").trim().split("\n");
    const dirOf = (v: number) => join(agentDir, "versions", `v${v}`);
    expect(lines.slice(0, 4)).toEqual([
      `${v1.version} none ${dirOf(v1.version)}`,
      `${v2.version} ${v1.version} ${dirOf(v2.version)}`,
      `${v1.version} ${v2.version} ${dirOf(v1.version)}`,
      `${v3.version} ${v1.version} ${dirOf(v3.version)}`,
    ]);
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
    const notified: {
      version: number;
      event: string;
      previous: number | null;
      files: { path: string; sha256: string }[];
    }[] = [];
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
      const agent = await startAgent({ ...env, MREG_URL: proxy.url }, `${M}@prod`, join(dir, "poll"), [
        "--notify",
        `http://127.0.0.1:${(hook.address() as AddressInfo).port}/reload`,
      ]);
      agents.push(agent);
      await untilStatus(agent, (s) => s.version === v1.version && s.in_sync, "v1 to be served");
      ok(["promote", M, "prod", String(v2.version)]);
      const s = await untilStatus(
        agent,
        (s) => s.version === v2.version && s.in_sync,
        "the promotion to reach the agent by polling",
      );
      expect(s).toMatchObject({ registry_via: "poll", registry_reachable: true, degraded: false });
      // The next poll sends the ETag it got, and the unchanged alias answers 304.
      await until(() => proxy.notModified() > 0, "a poll answered 304");
      await until(() => proxy.upgrades.length >= 4, "four attempts at the socket");
      // Backing off, not hammering: at least 0.5 s, 1 s, 2 s … apart (each -25% at worst).
      // Lower bounds only: a busy machine lengthens the gaps, never shortens them.
      const gaps = proxy.upgrades.slice(1).map((t, i) => t - proxy.upgrades[i]!);
      gaps
        .slice(0, 3)
        .forEach((gap, i) => expect(gap, `gap ${i}: ${gaps}`).toBeGreaterThanOrEqual(0.75 * 500 * 2 ** i - 5));

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
      (
        (await (
          await fetch(`${url}/v1/models/${M}/aliases/canary?key=${key}`, {
            headers: { authorization: `Bearer ${env.MREG_TOKEN}` },
          })
        ).json()) as { version: number }
      ).version;
    const keys = new Map<number, string>();
    for (let i = 0; keys.size < 2 && i < 200; i++) {
      const v = await memberOf(`node-${i}`);
      if (!keys.has(v)) keys.set(v, `node-${i}`);
    }
    expect(keys.size).toBe(2);

    // The system Node (20) runs the bundle too.
    const node = existsSync("/usr/bin/node") ? "/usr/bin/node" : process.execPath;
    const started = await Promise.all(
      [a, b].map((v) =>
        startAgent(env, `${M}@canary`, join(dir, `split-${v.version}`), ["--key", keys.get(v.version)!], node),
      ),
    );
    agents.push(...started);
    for (const [i, v] of [a, b].entries()) {
      const s = await untilStatus(
        started[i]!,
        (s) => s.version !== null && s.in_sync,
        `the agent keyed ${keys.get(v.version)}`,
      );
      expect(s).toMatchObject({ version: v.version, key: keys.get(v.version) });
      expect(readFileSync(join(dir, `split-${v.version}`, "current", "config.json"), "utf8")).toBe(
        `{"v":"${v.version === a.version ? "a" : "b"}"}\n`,
      );
    }

    const second = mreg(env, [
      "agent",
      `${M}@canary`,
      "--dir",
      join(dir, `split-${a.version}`),
      "--listen",
      "127.0.0.1:0",
    ]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another agent \(pid \d+\) is keeping .*split-\d+: one agent per directory/);
    await Promise.all(started.map((s) => s.stop()));
  });

  it("aggregates the model server's posts to /signals into one signal a second, with their count; refuses bad ones", async () => {
    const M = "agent-signals";
    const v1 = push(M, { "config.json": "{}\n" }, ["--alias", "prod"]);
    // A guard that never trips, so its window shows what arrived.
    ok(["guard", "set", M, "prod", "--metric", "latency_ms", "--max", "1000000", "--min-samples", "1000000"]);
    // The model server here aggregates itself (a batch of 3), so the agent trusts its counts.
    const agent = await startAgent(env, `${M}@prod`, join(dir, "signals"), ["--trust-local-counts"]);
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === v1.version, "v1 to be served");
    const credential = signalsToken(join(dir, "signals"));

    const post = (body: unknown, type = "application/json") =>
      fetch(`${agent.url}/signals`, {
        method: "POST",
        headers: { "content-type": type, authorization: `Bearer ${credential}` },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    // Ten samples in eight posts, all at once: 7 × 1 sample and one batch of 3.
    const values = [10, 20, 30, 40, 50, 60, 70];
    const postedFrom = Date.now();
    const answers = await Promise.all([
      ...values.map((v) => post({ metrics: { latency_ms: v } })),
      post({ metrics: { latency_ms: 100 }, count: 3 }),
    ]);
    const postingMs = Date.now() - postedFrom;
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(202));

    const mean = (values.reduce((s, v) => s + v, 0) + 300) / 10;
    let guard: { window: { version: number; samples: number; mean: number } } | undefined;
    await until(
      () => (guard = mregJson(env, ["guard", "show", M, "prod"]) as typeof guard)!.window.samples >= 10,
      "ten samples in the guard's window",
    );
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
    expect(await bad({ metrics: { latency_ms: 1e13 } })).toMatchObject({
      status: 400,
      body: { code: "validation_failed", errors: [{ path: "metrics.latency_ms" }] },
    });
    expect(await bad({ metrics: { latency_ms: 1 }, count: 100_001 })).toMatchObject({
      status: 400,
      body: { errors: [{ path: "count" }] },
    });
    expect(await bad({ metrics: { latency_ms: 1 }, count: 0 })).toMatchObject({
      status: 400,
      body: { errors: [{ path: "count" }] },
    });
    expect(await bad({ metrics: {} })).toMatchObject({ status: 400, body: { errors: [{ path: "metrics" }] } });
    expect(await bad("{not json")).toMatchObject({ status: 400, body: { code: "validation_failed" } });
    expect(await bad('{"metrics":{"a":1e400}}')).toMatchObject({
      status: 400,
      body: { errors: [{ path: "metrics.a" }] },
    });
    expect(await bad({ metrics: { a: 1 } }, "text/plain")).toMatchObject({
      status: 415,
      body: { code: "unsupported_media_type" },
    });
    expect(await bad({ metrics: { a: 1 }, pad: "x".repeat(70_000) })).toMatchObject({
      status: 413,
      body: { code: "payload_too_large" },
    });
    expect((await fetch(`${agent.url}/signals`)).status).toBe(405);
    expect((await fetch(`${agent.url}/nothing`)).status).toBe(404);
    expect(await agent.metric("mreg_agent_signal_samples_total")).toBe(10);
    expect(await agent.stop()).toBe(0);
  });

  it("the issue's repro: a post without the local credential, with a foreign Host, from a browser or with a big count moves nothing", async () => {
    const M = "agent-repro";
    push(M, { "config.json": '{"v":1}\n' }, ["--alias", "production"]);
    const v2 = push(M, { "config.json": '{"v":2}\n' });
    ok(["promote", M, "production", String(v2.version)]);
    ok(["guard", "set", M, "production", "--metric", "err", "--max", "0.05"]);
    const agentDir = join(dir, "repro");
    const agent = await startAgent(env, `${M}@production`, agentDir);
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === v2.version, "v2 to be served");
    const credential = signalsToken(agentDir) ?? "no credential file";
    const bearer = { authorization: `Bearer ${credential}` };
    const host = new URL(agent.url).host;
    const bad = { metrics: { err: 1 }, count: 100_000 };

    const answers = {
      // Reported in the issue: one curl, production rolled back 4 s later.
      curl: await postSignal(agent.url, bad),
      wrongCredential: await postSignal(agent.url, bad, { authorization: "Bearer guessed" }),
      // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
      rebound: await postSignal(agent.url, bad, { ...bearer, host: `evil.example:${new URL(agent.url).port}` }),
      browser: await postSignal(agent.url, bad, { ...bearer, host, origin: "https://evil.example" }),
      // With the credential, its count is not trusted: one sample.
      bigCount: await postSignal(agent.url, bad, bearer),
    };
    // A good sample after them: once the registry counted it, the agent sent all it was going to.
    expect((await postSignal(agent.url, { metrics: { err: 0 } }, bearer)).status).toBe(202);
    const production = () => (mregJson(env, ["resolve", `registry://${M}@production`]) as { version: number }).version;
    const window = () =>
      (mregJson(env, ["guard", "show", M, "production"]) as { window: { samples: number; nodes: number } }).window;
    await until(() => production() !== v2.version || window().samples >= 2, "the agent's signals to be counted");

    expect(production(), "production must not move").toBe(v2.version);
    expect(answers.curl).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect(answers.wrongCredential).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect(answers.rebound).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(answers.browser).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect(answers.bigCount).toMatchObject({ status: 202, body: { accepted: true, samples: 1 } });
    expect(window()).toMatchObject({ samples: 2, nodes: 1 });
    const status = (await agent.status()) as unknown as { signals: { refused: number; counts_ignored: number } };
    expect(status.signals).toMatchObject({ refused: 4, counts_ignored: 1 });
    // The credential: a file only the agent's user may read, never in the agent's output.
    expect(statSync(join(agentDir, ".agent", "signals.token")).mode & 0o777).toBe(0o600);
    expect(agent.out.stdout + agent.out.stderr).not.toContain(credential);
    expect(await agent.stop()).toBe(0);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;

  it.skipIf(!external)(
    "listening beyond loopback for the probes, takes no signal from the network, even with the credential and a loopback Host",
    async () => {
      const M = "agent-wide";
      const v1 = push(M, { "config.json": '{"v":1}\n' }, ["--alias", "prod"]);
      const agentDir = join(dir, "wide");
      const agent = await startAgent(env, `${M}@prod`, agentDir, ["--listen", "0.0.0.0:0"]);
      agents.push(agent);
      await untilStatus(agent, (s) => s.version === v1.version, "v1 to be served");
      const port = new URL(agent.url).port;
      // The kubelet's probe reaches it over the pod's address.
      expect((await fetch(`http://${external}:${port}/healthz`)).status).toBe(200);
      const bearer = { authorization: `Bearer ${signalsToken(agentDir)}` };
      const answer = await postSignal(
        `http://${external}:${port}`,
        { metrics: { err: 1 } },
        { ...bearer, host: `127.0.0.1:${port}` },
      );
      expect(answer).toMatchObject({
        status: 403,
        body: { code: "forbidden", detail: expect.stringContaining("loopback") },
      });
      expect((await postSignal(`http://127.0.0.1:${port}`, { metrics: { err: 1 } }, bearer)).status).toBe(202);
      expect(await agent.stop()).toBe(0);
    },
  );

  it("names its node in what it forwards: with min_nodes 2, one node's 100,000 samples move nothing, a second node's trip the guard", async () => {
    const M = "agent-nodes";
    push(M, { "config.json": '{"v":1}\n' }, ["--alias", "production"]);
    const v2 = push(M, { "config.json": '{"v":2}\n' });
    ok(["promote", M, "production", String(v2.version)]);
    ok(["guard", "set", M, "production", "--metric", "err", "--max", "0.05", "--min-nodes", "2"]);
    // Two nodes on one machine: each its own --key (the default, the hostname, would make them one node).
    const started = await Promise.all(
      ["node-a", "node-b"].map((key) =>
        startAgent(env, `${M}@production`, join(dir, `nodes-${key}`), ["--key", key, "--trust-local-counts"]),
      ),
    );
    agents.push(...started);
    const [a, b] = started as [RunningAgent, RunningAgent];
    for (const agent of started) await untilStatus(agent, (s) => s.version === v2.version, "v2 to be served");
    const bearer = (key: string) => ({ authorization: `Bearer ${signalsToken(join(dir, `nodes-${key}`))}` });

    expect(await postSignal(a.url, { metrics: { err: 1 }, count: 100_000 }, bearer("node-a"))).toMatchObject({
      status: 202,
      body: { samples: 100_000 },
    });
    const guard = () =>
      mregJson(env, ["guard", "show", M, "production"]) as {
        min_nodes: number;
        window: { samples: number; nodes: number };
      };
    const production = () => (mregJson(env, ["resolve", `registry://${M}@production`]) as { version: number }).version;
    await until(
      () => production() !== v2.version || guard().window.samples >= 100_000,
      "node-a's samples to be counted",
    );
    expect(production()).toBe(v2.version);
    expect(guard()).toMatchObject({ min_nodes: 2, window: { samples: 100_000, nodes: 1 } });

    expect((await postSignal(b.url, { metrics: { err: 1 } }, bearer("node-b"))).status).toBe(202);
    await until(() => production() !== v2.version, "the second node to trip the guard");
    const rollback = (
      mregJson(env, ["audit", "--model", M, "--action", "rollback"]) as { items: { actor: string; reason: string }[] }
    ).items[0]!;
    expect(rollback.actor).toBe("guard");
    expect(rollback.reason).toContain("over 100001 samples from at least 2 nodes");
    await Promise.all(started.map((agent) => agent.stop()));
  });

  it("runs hooks in a clean environment (the contract's names and what --hook-env passes), and the token reaches no log line", async () => {
    const M = "agent-hook-env";
    const v1 = push(M, { "config.json": '{"v":1}\n' }, ["--alias", "prod"]);
    const agentDir = join(dir, "hook-env");
    const dump = join(dir, "hook-env.txt");
    const failFlag = join(dir, "hook-env-fail");
    // A secret the hook can read on its own (a mounted Secret, say): printing it must not leak it either.
    const tokenCopy = join(dir, "token-copy");
    writeFileSync(tokenCopy, `${env.MREG_TOKEN}\n`);
    const hook = join(dir, "hook-env.sh");
    writeFileSync(
      hook,
      '#!/bin/sh\nenv | sort > "$ENV_DUMP"\necho "hook sees v$MREG_VERSION; MREG_TOKEN is ${MREG_TOKEN:-unset}"\nif [ -e "$FAIL_FLAG" ]; then cat "$TOKEN_COPY" >&2; exit 1; fi\ncat "$TOKEN_COPY"\n',
    );
    chmodSync(hook, 0o755);
    writeFileSync(failFlag, "");
    const agent = await startAgent(
      { ...env, ENV_DUMP: dump, TOKEN_COPY: tokenCopy, UNRELATED_SECRET: "hunter2-unrelated" },
      `${M}@prod`,
      agentDir,
      [
        "--exec",
        hook,
        "--hook-env",
        "ENV_DUMP",
        "--hook-env",
        "TOKEN_COPY",
        "--hook-env",
        `FAIL_FLAG=${failFlag}`,
        "--hook-env",
        "EXTRA=a=b c",
      ],
    );
    agents.push(agent);
    // The hook refuses v1, saying the token on stderr: /status gives the reason, without the token.
    const refused = await untilStatus(agent, (s) => s.retry?.version === v1.version, "the hook to refuse v1");
    expect(refused.retry!.reason).toContain("[redacted]");
    expect(JSON.stringify(refused)).not.toContain(env.MREG_TOKEN);
    unlinkSync(failFlag);
    await untilStatus(agent, (s) => s.version === v1.version && s.retry === null && !s.degraded, "the hook to take v1");

    const seen = new Map(
      readFileSync(dump, "utf8")
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
    );
    expect(Object.fromEntries([...seen].filter(([k]) => k.startsWith("MREG_")))).toEqual({
      MREG_VERSION: String(v1.version),
      MREG_PREVIOUS: "",
      MREG_DIR: join(agentDir, "versions", `v${v1.version}`),
      MREG_MODEL: M,
      MREG_ALIAS: "prod",
      MREG_DIGEST: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(seen.get("PATH")).toBe(env.PATH);
    expect(seen.get("ENV_DUMP")).toBe(dump);
    expect(seen.get("FAIL_FLAG")).toBe(failFlag);
    expect(seen.get("EXTRA")).toBe("a=b c");
    // Nothing else of the agent's environment: not its token, its registry, its home or anything unrelated.
    for (const name of ["MREG_TOKEN", "MREG_URL", "MREG_CONFIG_DIR", "HOME", "UNRELATED_SECRET"])
      expect(seen.has(name), name).toBe(false);

    const output = agent.out.stdout + agent.out.stderr;
    expect(output).toContain(`hook sees v${v1.version}; MREG_TOKEN is unset`);
    expect(output).toContain("exec: [redacted]");
    expect(output).not.toContain(env.MREG_TOKEN);
    expect(await agent.stop()).toBe(0);

    // The agent's token is not the operator's to hand a hook; nor is a name the agent sets, or one it does not have.
    for (const [arg, why] of [
      ["MREG_TOKEN", /--hook-env MREG_TOKEN: the agent's token is never given to a hook/],
      ["MREG_VERSION=9", /--hook-env MREG_VERSION: the agent sets it/],
      ["NOT_SET_ANYWHERE", /--hook-env NOT_SET_ANYWHERE: not set in the agent's environment/],
      ["=x", /--hook-env takes NAME or NAME=value/],
    ] as const) {
      const r = mreg(env, [
        "agent",
        `${M}@prod`,
        "--dir",
        join(dir, "hook-env-refused"),
        "--exec",
        "true",
        "--hook-env",
        arg,
      ]);
      expect(r.code, arg).toBe(2);
      expect(r.stderr).toMatch(why);
    }
  });
});
