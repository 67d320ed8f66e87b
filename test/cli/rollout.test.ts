/**
 * `mreg rollout start|status|pause|resume|abort` against the shared registry: the alias moves
 * in steps the registry drives by itself (its alarm, here in real time), refusals come back
 * with the documented exit codes, and `status --wait` follows a rollout to its end.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mreg, mregJson, mregSpawn, sandbox, token, waitFor } from "./helpers";

const { env, dir } = sandbox();
const M = `cli-rollout-${Date.now().toString(36)}`;

/** Pushes a version of M whose one file says `text`. */
function push(text: string): number {
  const folder = join(dir, "model");
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "config.json"), text);
  return mregJson<{ version: number }>(env, ["push", M, folder]).version;
}

beforeAll(() => {
  env.MREG_TOKEN = token(env, "release", "read write promote admin");
  push('{"v": 1}');
  push('{"v": 2}');
  expect(mreg(env, ["promote", M, "prod", "1"]).code).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const resolved = () => mregJson<{ version: number }>(env, ["resolve", `${M}@prod`]).version;

describe("mreg rollout", () => {
  it("starts, shows, pauses, resumes and aborts a rollout; refusals exit 2, 3, 4 and 5", () => {
    const started = mregJson(env, [
      "rollout",
      "start",
      `${M}@prod`,
      "2",
      "--steps",
      "10:1h,50:30m,100:0",
      "--min-fleet",
      "95%",
      "--reason",
      "canary of v2",
    ]);
    expect(started).toMatchObject({
      from: 1,
      to: 2,
      step: 1,
      state: "running",
      min_fleet: 0.95,
      reason: "canary of v2",
      steps: [
        { weight: 10, hold_s: 3600 },
        { weight: 50, hold_s: 1800 },
        { weight: 100, hold_s: 0 },
      ],
    });
    const shown = mreg(env, ["rollout", "status", `${M}@prod`]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`${M}@prod: v1 → v2`);
    expect(shown.stdout).toContain("1 of 3 (v2 at 10%)");
    expect(shown.stdout).toMatch(/step 2 at .* \(in (60m|1h)\)/);
    expect(mregJson(env, ["rollout", "status", `registry://${M}@PROD`]).id).toBe(started.id);

    // Another start while it runs: a conflict (exit 4), saying what runs.
    const busy = mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "100:0"]);
    expect(busy.code).toBe(4);
    expect(busy.stderr).toContain("running rollout");

    const paused = mregJson(env, ["rollout", "pause", `${M}@prod`, "--reason", "looking"]);
    expect(paused).toMatchObject({ state: "paused", next_at: null });
    expect(mreg(env, ["rollout", "status", `${M}@prod`]).stdout).toContain(`mreg rollout resume ${M}@prod`);
    expect(mregJson(env, ["rollout", "resume", `${M}@prod`]).state).toBe("running");
    const aborted = mreg(env, ["rollout", "abort", `${M}@prod`, "--reason", "error budget"]);
    expect(aborted.code).toBe(0);
    expect(aborted.stdout).toContain("aborted: error budget");
    expect(resolved()).toBe(1);
    expect(mreg(env, ["rollout", "abort", `${M}@prod`]).code).toBe(4);

    // What the CLI refuses before sending (exit 2), and what the registry refuses.
    expect(mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "50"]).code).toBe(2);
    expect(mreg(env, ["rollout", "start", `${M}@prod`, "2"]).code).toBe(2);
    expect(mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "50:1h", "--min-fleet", "2"]).code).toBe(2);
    expect(mreg(env, ["rollout", "status", `${M}/2`]).code).toBe(2);
    const notLast = mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "50:1h"]);
    expect(notLast.code).toBe(1);
    expect(notLast.stderr).toContain("the last step's weight must be 100");
    expect(mreg(env, ["rollout", "status", `${M}@never`]).code).toBe(5);

    // A gate that refuses v2 now: exit 3, and the alias stays.
    expect(mreg(env, ["gates", "set", M, "prod", "--policy", '{"metrics": [{"name": "auc", "min": 0.9}]}']).code).toBe(
      0,
    );
    const gated = mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "100:0"]);
    expect(gated.code).toBe(3);
    expect(gated.stderr).toContain("metrics.auc");
    expect(mreg(env, ["gates", "rm", M, "prod"]).code).toBe(0);
    expect(resolved()).toBe(1);
  });

  it("status --wait follows a rollout to its end: exit 0 once completed, 1 once aborted", async () => {
    const done = mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "50:1,100:0"]);
    expect(done.code, done.stderr).toBe(0);
    const waited = mreg(env, ["rollout", "status", `${M}@prod`, "--wait", "--interval", "1"]);
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toContain(`completed: prod serves v2`);
    expect(resolved()).toBe(2);

    expect(mreg(env, ["promote", M, "prod", "1"]).code).toBe(0);
    expect(mreg(env, ["rollout", "start", `${M}@prod`, "2", "--steps", "50:1h,100:0"]).code).toBe(0);
    const waiter = mregSpawn(env, ["rollout", "status", `${M}@prod`, "--wait", "--interval", "1"]);
    await waitFor(() => waiter.out.stderr.includes("running"), "the waiter's first look");
    expect(mreg(env, ["rollout", "abort", `${M}@prod`, "--reason", "pulled"]).code).toBe(0);
    expect(await waiter.exited).toBe(1);
    expect(waiter.out.stderr).toContain("was aborted: pulled");
  });
});
