/**
 * Issue 30's reproduction, against the shared `npm start`: an agent whose check refuses a
 * version keeps serving the one before, `current` never points at the refused version however
 * often it is looked at again (a reader loops over `current` all along), and the registry's
 * fleet view (`mreg fleet`) shows the node refused, with its reason, instead of taking the
 * alias as done. A refused version is looked at again when the alias changes, or
 * `--retry-refused` later (0: only then).
 */
import { chmodSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mreg, mregJson, sandbox, token } from "./helpers";
import { readerLoop, startAgent, until, untilStatus, type RunningAgent } from "./agent-helpers";

const { env, dir } = sandbox();
const agents: RunningAgent[] = [];

beforeAll(() => {
  env.MREG_TOKEN = token(env, "agent-check-test", "read write promote admin report");
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
});

let pushes = 0;
function push(model: string, config: string, extra: string[] = []) {
  const src = join(dir, `src-${model}-${++pushes}`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "config.json"), config);
  writeFileSync(join(src, "weights.bin"), `weights of push ${pushes}\n`);
  const pushed = mregJson(env, ["push", model, src, ...extra]);
  return {
    version: pushed.version as number,
    files: new Map((pushed.files as { path: string; sha256: string }[]).map((f) => [f.path, f.sha256])),
  };
}

/** A --check that records what it was given (and where `current` pointed meanwhile), and refuses a config that is not ok. */
function checkScript(name: string): { path: string; log: string } {
  const log = join(dir, `${name}.log`);
  const path = join(dir, `${name}.sh`);
  writeFileSync(
    path,
    [
      "#!/bin/sh",
      'echo "$MREG_VERSION ${MREG_PREVIOUS:-none} $MREG_DIR $(readlink "$AGENT_DIR/current")" >> "$CHECK_LOG"',
      'grep -q \'"ok": true\' "$MREG_DIR/config.json" || { echo "smoke test failed: v$MREG_VERSION says not ok" >&2; exit 1; }',
      "",
    ].join("\n"),
  );
  chmodSync(path, 0o755);
  return { path, log };
}

const checks = (log: string) => {
  try {
    return readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

describe("mreg agent --check", () => {
  it("refuses a version before current moves, never points current at it while it retries, and the fleet shows the node refused with its reason", async () => {
    const M = "agent-check";
    const good = push(M, '{"ok": true}\n', ["--alias", "staging"]);
    const bad = push(M, '{"ok": false}\n');
    const fixed = push(M, '{"ok": true}\n');
    const agentDir = join(dir, "node-a");
    const check = checkScript("check-a");
    const execLog = join(dir, "exec-a.log");
    const agent = await startAgent(
      { ...env, CHECK_LOG: check.log, AGENT_DIR: agentDir, EXEC_LOG: execLog },
      `registry://${M}@staging`,
      agentDir,
      [
        "--key",
        "node-a",
        "--check",
        check.path,
        "--exec",
        'echo "$MREG_VERSION" >> "$EXEC_LOG"',
        "--hook-env",
        "CHECK_LOG",
        "--hook-env",
        "AGENT_DIR",
        "--hook-env",
        "EXEC_LOG",
        "--retry-refused",
        "1",
        "--label",
        "zone=test-1",
      ],
    );
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === good.version && s.in_sync, "the good version served");
    // Only what the check took is ever behind `current`.
    const reader = readerLoop(agentDir, new Map([good, fixed].map((v) => [v.version, v.files])), 1);

    expect(mreg(env, ["promote", M, "staging", String(bad.version)]).code).toBe(0);
    const refused = await untilStatus(
      agent,
      (s) => s.retry?.version === bad.version && s.retry.kind === "check",
      "the check to refuse the bad version",
    );
    expect(refused).toMatchObject({ version: good.version, degraded: true, in_sync: false });
    expect(refused.retry!.reason).toBe(`--check exited with code 1: smoke test failed: v${bad.version} says not ok`);
    // Looked at again every second: three more looks, and not one of them moved `current`.
    await until(
      () => checks(check.log).filter((l) => l.startsWith(`${bad.version} `)).length >= 4,
      "four checks of it",
    );
    const looks = checks(check.log).filter((l) => l.startsWith(`${bad.version} `));
    for (const look of looks)
      expect(look).toBe(
        `${bad.version} ${good.version} ${join(agentDir, "versions", `v${bad.version}`)} versions/v${good.version}`,
      );
    expect(readFileSync(execLog, "utf8").trim().split("\n")).toEqual([String(good.version)]);

    // The registry does not take `staging → bad` as done: the node says it refused, and why.
    await until(() => mregJson(env, ["fleet", `${M}@staging`]).refused === 1, "the fleet to show the refusal");
    const fleet = mregJson(env, ["fleet", `${M}@staging`]);
    expect(fleet).toMatchObject({
      intended: { version: bad.version },
      converged: false,
      reporting: 1,
      refused: 1,
      by_version: [{ version: good.version, nodes: 1, refused: 1 }],
      reasons: [{ reason: `--check exited with code 1: smoke test failed: v${bad.version} says not ok`, nodes: 1 }],
    });
    const human = mreg(env, ["fleet", `${M}@staging`, "--nodes"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`1 node on v${good.version} (1 refused); refused: --check exited with code 1`);
    expect(human.stdout).toMatch(/converged:\s+no/);
    expect(human.stdout).toMatch(new RegExp(`node-a\\s+v${good.version}\\s+refused`));
    const listed = mregJson(env, ["fleet", `${M}@staging`, "--state", "refused"]);
    expect(listed.node_list).toMatchObject([
      { node: "node-a", version: good.version, target: bad.version, labels: { zone: "test-1" } },
    ]);

    // A fixed version: taken, switched to, and the fleet converges.
    expect(mreg(env, ["promote", M, "staging", String(fixed.version)]).code).toBe(0);
    await untilStatus(
      agent,
      (s) => s.version === fixed.version && s.in_sync && !s.degraded,
      "the fixed version served",
    );
    // --exec still runs after the switch, for the version the check took.
    await until(
      () => readFileSync(execLog, "utf8").trim().split("\n").includes(String(fixed.version)),
      "--exec for the fixed version",
    );
    expect(readFileSync(execLog, "utf8").trim().split("\n")).toEqual([String(good.version), String(fixed.version)]);
    await until(() => mregJson(env, ["fleet", `${M}@staging`]).converged === true, "the fleet to converge");
    expect(mreg(env, ["fleet", `${M}@staging`]).stdout).toContain(`1 node on v${fixed.version}`);
    await reader.stop();
    expect(reader.violations).toEqual([]);
    expect(reader.seen.get(bad.version)).toBeUndefined();
    expect(reader.seen.get(good.version)).toBeGreaterThan(0);
    // The audit log heard of it once: the first refusal, then the convergence on the fixed version.
    const audit = mregJson(env, ["audit", "--model", M, "--action", "fleet.refused"]);
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]).toMatchObject({ actor: "fleet", alias: "staging", version: bad.version });
  });

  it("with --retry-refused 0, looks at a refused version again only when the alias changes", async () => {
    const M = "agent-check-once";
    const good = push(M, '{"ok": true}\n', ["--alias", "prod"]);
    const bad = push(M, '{"ok": false}\n');
    const agentDir = join(dir, "node-b");
    const check = checkScript("check-b");
    const agent = await startAgent(
      { ...env, CHECK_LOG: check.log, AGENT_DIR: agentDir },
      `registry://${M}@prod`,
      agentDir,
      [
        "--key",
        "node-b",
        "--check",
        check.path,
        "--hook-env",
        "CHECK_LOG",
        "--hook-env",
        "AGENT_DIR",
        "--retry-refused",
        "0",
      ],
    );
    agents.push(agent);
    await untilStatus(agent, (s) => s.version === good.version && s.in_sync, "the good version served");
    expect(mreg(env, ["promote", M, "prod", String(bad.version)]).code).toBe(0);
    const refused = await untilStatus(agent, (s) => s.retry?.version === bad.version, "the refusal");
    // No retry is scheduled: only a change of the alias looks again.
    expect((refused.retry as { next_at?: string | null }).next_at).toBe(null);
    expect(refused.reasons.join(" ")).toContain("again when the alias changes");
    expect(checks(check.log).filter((l) => l.startsWith(`${bad.version} `))).toHaveLength(1);
    // The same version set again is a change of the alias: looked at once more, at once.
    expect(mreg(env, ["alias", "set", M, "prod", String(bad.version), "--reason", "try again"]).code).toBe(0);
    await until(() => checks(check.log).filter((l) => l.startsWith(`${bad.version} `)).length === 2, "a second look");
    await untilStatus(agent, (s) => s.retry?.version === bad.version && s.retry.attempts === 2, "the second refusal");
    expect((await agent.status()).version).toBe(good.version);
  });

  it("refuses what it cannot use: a bad --label, a bad --retry-refused", () => {
    for (const args of [
      ["--label", "no-equals"],
      ["--label", "bad key!=v"],
      ["--retry-refused", "-1"],
      ["--report-every", "0"],
    ]) {
      const r = mreg(env, ["agent", "registry://m@prod", "--dir", join(dir, "never"), ...args]);
      expect(r.code, args.join(" ")).toBe(2);
    }
    expect(mreg(env, ["fleet", "m/3"]).code).toBe(2);
    expect(mreg(env, ["fleet", "m@prod", "--state", "asleep"]).code).toBe(2);
  });
});
