/**
 * `mreg agent` through a registry outage, on a registry of its own (the other CLI tests share
 * one, which must not die): SIGKILL the whole `npm start` mid-download of a large file, start
 * it again on the same data and port. The agent keeps serving the version it had, says it is
 * degraded, and resumes the download when the registry is back; `current` never points at a
 * partial version. A second agent started while the registry is down, on a directory with a
 * `current`, serves at once and catches up too; one with nothing to serve is not ready.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startServer, type Server } from "../e2e/server";
import { MiB, mregJson, randomFile, sandbox, sha256Of, token } from "./helpers";
import { readerLoop, startAgent, until, untilStatus, type RunningAgent } from "./agent-helpers";

const SIZE = 40 * MiB;
const M = "agent-outage";
const { env, dir } = sandbox();
const state = mkdtempSync(join(tmpdir(), "mreg-agent-outage-"));
let port: number;
let server: Server | undefined;
const agents: RunningAgent[] = [];

beforeAll(async () => {
  port = await freePort();
  server = await startServer(["--var", "RESOLVE_TTL_S:0"], { port, state });
  env.MREG_URL = server.base;
  env.MREG_TOKEN = token(env, "agent-outage", "read write promote report");
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  server?.stop();
  rmSync(state, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe("mreg agent through an outage", () => {
  it("keeps serving, reports degraded, resumes the download when the registry is back, and never points current at a partial version", async () => {
    randomFile(join(dir, "config.json"), 1024);
    const v1 = mregJson(env, ["push", M, join(dir, "config.json"), "--alias", "prod"]);
    const big = join(dir, "big.bin");
    const bigSha = randomFile(big, SIZE);
    const v2 = mregJson(env, ["push", M, big, join(dir, "config.json")]);
    const files = (v: Record<string, unknown>) =>
      new Map((v.files as { path: string; sha256: string }[]).map((f) => [f.path, f.sha256]));
    const expected = new Map([
      [v1.version as number, files(v1)],
      [v2.version as number, files(v2)],
    ]);

    // Slow enough (8 MiB/s, 1 MiB ranges) that the kill lands mid-download.
    const first = join(dir, "first");
    const a = await startAgent(env, `${M}@prod`, first, [
      "--limit-rate",
      "8MiB",
      "--chunk-size",
      "1MiB",
      "--parallel",
      "2",
    ]);
    agents.push(a);
    await untilStatus(a, (s) => s.version === v1.version && s.in_sync, "v1 to be served");
    // Hashing 40 MiB takes a while: a gentler loop leaves the machine to the agents.
    const reader = readerLoop(first, expected, 100);

    mregJson(env, ["promote", M, "prod", String(v2.version)]);
    await untilStatus(a, (s) => (s.sync?.bytes_done ?? 0) >= 6 * MiB, "the download of v2 to be under way");
    server!.kill();
    const before = await a.metric("mreg_agent_downloaded_bytes_total");
    expect(before).toBeLessThan(SIZE);

    const down = await untilStatus(
      a,
      (s) => s.registry_reachable === false && s.degraded,
      "the agent to report the registry unreachable",
    );
    expect(down.version).toBe(v1.version);
    expect(down.reasons[0]).toMatch(/^the registry cannot be reached/);
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
    expect(readlinkSync(join(first, "current"))).toBe(`versions/v${v1.version}`);
    expect(readdirSync(join(first, "versions"))).toEqual([`v${v1.version}`]);
    expect(readdirSync(join(first, ".incoming", `v${v2.version}`))).toContain("big.bin.mreg-partial");

    // Another node, started during the outage on a directory with a current (a copy of this one, partial download and all).
    const second = join(dir, "second");
    cpSync(first, second, { recursive: true, verbatimSymlinks: true });
    rmSync(join(second, ".agent", "lock"));
    const b = await startAgent(env, `${M}@prod`, second);
    agents.push(b);
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    const bDown = await untilStatus(
      b,
      (s) => s.degraded && s.registry_reachable === false,
      "the second agent to report degraded",
    );
    expect(bDown).toMatchObject({ version: v1.version, in_sync: false });
    // And one with nothing to serve yet is not ready.
    const empty = await startAgent(env, `${M}@prod`, join(dir, "empty"));
    agents.push(empty);
    expect((await fetch(`${empty.url}/healthz`)).status).toBe(503);
    await untilStatus(empty, (s) => s.degraded && s.version === null, "the empty agent to report degraded");

    server = await startServer(["--var", "RESOLVE_TTL_S:0"], { port, state });

    for (const [agent, where] of [
      [a, first],
      [b, second],
      [empty, join(dir, "empty")],
    ] as const) {
      await untilStatus(
        agent,
        (s) => s.version === v2.version && s.in_sync && !s.degraded,
        `${where} to catch up`,
        90_000,
      );
      expect(sha256Of(join(where, "current", "big.bin"))).toBe(bigSha);
    }
    // Resumed: after the kill the first agent fetched less than the whole file again.
    const after = await a.metric("mreg_agent_downloaded_bytes_total");
    expect(after - before).toBeLessThan(SIZE - 4 * MiB);
    expect(a.out.stderr).toMatch(/big\.bin: resuming, [\d.]+ MiB of 40 MiB already here/);
    expect(await b.metric("mreg_agent_downloaded_bytes_total")).toBeLessThan(SIZE - 4 * MiB);

    await until(() => (reader.seen.get(v2.version as number) ?? 0) > 0, "the reader to check v2");
    await reader.stop();
    expect(reader.violations).toEqual([]);
    expect(reader.seen.get(v1.version as number) ?? 0).toBeGreaterThan(0);
    expect(existsSync(join(first, ".incoming", `v${v2.version}`))).toBe(false);
    for (const agent of [a, b, empty]) expect(await agent.stop()).toBe(0);
  });
});
