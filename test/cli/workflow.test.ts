/**
 * The CLI as CI and on-call use it: promote, rollback and history with --json; a gate that
 * refuses (exit 3, its checks on stderr); a bad token (exit 1, a clear message, no stack);
 * the other exit codes; login into a 0600 config and whoami; watch; and the bundle on the
 * system's Node 20.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { mreg, mregJson, mregSpawn, sandbox, token, waitFor } from "./helpers";

const { env, dir } = sandbox();
const M = "cli-flow";

/** Pushes a small version with `auc`; returns its number. */
function pushVersion(auc: number): number {
  const file = join(dir, `model-${auc}.json`);
  writeFileSync(file, JSON.stringify({ auc }));
  return mregJson(env, ["push", M, file, "--metric", `auc=${auc}`]).version as number;
}

beforeAll(() => {
  env.MREG_TOKEN = token(env, "ci", "read write promote admin");
  expect(mreg(env, ["models", "create", M, "--tag", "team=risk"]).code).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mreg in a pipeline", () => {
  it("promotes, rolls back and shows history, all parseable with --json", () => {
    const v1 = pushVersion(0.91);
    const v2 = pushVersion(0.92);
    expect(mregJson(env, ["promote", M, "production", String(v1), "--reason", "first deploy"])).toMatchObject({
      alias: "production",
      version: v1,
    });
    expect(mregJson(env, ["promote", M, "production", String(v2)])).toMatchObject({ version: v2 });
    expect(mregJson(env, ["resolve", `registry://${M}@production`]).version).toBe(v2);

    const rolledBack = mregJson(env, ["rollback", M, "production", "--reason", "3am page"]);
    expect(rolledBack).toMatchObject({ alias: "production", version: v1 });
    const history = mregJson(env, ["history", M, "production"]);
    expect(history.items.map((h: { action: string; version: number }) => [h.action, h.version])).toEqual([
      ["rollback", v1],
      ["set", v2],
      ["set", v1],
    ]);
    expect(history.items[0].reason).toBe("3am page");
    expect(mregJson(env, ["alias", "ls", M]).items).toEqual([
      expect.objectContaining({ alias: "production", version: v1 }),
    ]);
    const rollbacks = mregJson(env, ["audit", "--model", M, "--action", "rollback"]);
    expect(rollbacks.items).toHaveLength(1);
    expect(rollbacks.items[0]).toMatchObject({ actor: "ci", alias: "production", reason: "3am page" });

    // The text form is for people: the alias, its version and generation.
    const text = mreg(env, ["rollback", M, "production", "--to", String(v2)]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${M}@production → v${v2} \\(generation \\d+\\)\\n$`));
  });

  it("exits 3 when a gate refuses, printing its checks; the dry run agrees", () => {
    const candidate = pushVersion(0.85);
    expect(
      mreg(env, [
        "gates",
        "set",
        M,
        "champion",
        "--policy",
        '{"metrics": [{"name": "auc", "min": 0.9}], "approvals": 1}',
      ]).code,
    ).toBe(0);
    expect(mregJson(env, ["gates", "ls", M]).items).toEqual([expect.objectContaining({ target: "champion" })]);

    const check = mreg(env, ["gates", "check", M, "champion", String(candidate)]);
    expect(check.code).toBe(3);
    expect(check.stderr).toMatch(/FAIL\s+metrics\.auc\s+>= 0\.9\s+0\.85/);

    const refused = mreg(env, ["promote", M, "champion", String(candidate), "--reason", "try"]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/FAIL\s+metrics\.auc/);
    expect(refused.stderr).toMatch(/FAIL\s+approvals/);
    expect(refused.stderr).toContain(`mreg: The gate of 'champion' refused version ${candidate}`);

    const json = mreg(env, ["promote", M, "champion", String(candidate), "--json"]);
    expect(json.code).toBe(3);
    const problem = JSON.parse(json.stdout).error;
    expect(problem).toMatchObject({ status: 409, code: "gate_failed" });
    expect(problem.checks.filter((c: { passed: boolean }) => !c.passed).map((c: { check: string }) => c.check)).toEqual(
      ["metrics.auc", "approvals"],
    );
    expect(mreg(env, ["audit", "--model", M, "--action", "promotion_denied", "--json"]).stdout).toContain(
      '"promotion_denied"',
    );
  });

  it("registers a model that does not exist yet on its first push, as huggingface-cli does", () => {
    const file = join(dir, "fresh.json");
    writeFileSync(file, "{}");
    const pushed = mreg(env, ["push", "cli-fresh-model", file]);
    expect(pushed.code).toBe(0);
    expect(pushed.stderr).toContain("registered the new model cli-fresh-model");
    expect(mregJson(env, ["models", "show", "cli-fresh-model"]).latest_version).toBe(1);
  });

  it("exits 1 on a bad token with the server's reason and no stack trace", () => {
    const bad = mreg({ ...env, MREG_TOKEN: "not-a-jwt" }, ["models", "ls"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^mreg: token is invalid \(check --token, MREG_TOKEN or `mreg login`/);
    const forged = token({ ...env }, "mallory", "admin").replace(/.{4}$/, "AAAA");
    const refused = mreg({ ...env, MREG_TOKEN: forged }, ["push", M, join(dir, "model-0.91.json")]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^mreg: token signature is invalid/);
    for (const r of [bad, refused]) {
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
    const whoami = mreg({ ...env, MREG_TOKEN: forged }, ["whoami"]);
    expect(whoami.code).toBe(1);
    expect(whoami.stdout).toContain("subject:    mallory");
    expect(whoami.stderr).toContain("refuses this token: token signature is invalid");
  });

  it("keeps its exit codes: 2 usage, 4 conflict, 5 not found", () => {
    const usage = mreg(env, ["push", M]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("mreg push: expected <model> <path...>");
    expect(mreg(env, ["promote", M, "production", "seven"]).code).toBe(2);
    expect(mreg(env, ["models", "ls", "--no-such-option"]).code).toBe(2);
    expect(mreg(env, ["frobnicate"]).code).toBe(2);
    expect(mreg(env, ["models", "delete", M]).code).toBe(2); // needs --yes: no prompt, ever

    const exists = mreg(env, ["models", "create", M]);
    expect(exists.code).toBe(4);
    expect(exists.stderr).toContain("mreg:");
    const stale = mreg(env, ["alias", "set", M, "production", "1", "--expected-generation", "1"]);
    expect(stale.code).toBe(4);

    const missing = mreg(env, ["models", "show", "cli-no-such-model"]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/^mreg: there is no model 'cli-no-such-model'\./);
    expect(mreg(env, ["pull", `registry://${M}/999`, join(dir, "nowhere")]).code).toBe(5);
  });

  it("logs in to a 0600 config file, and whoami reads the token from it", () => {
    const { env: fresh } = sandbox();
    const t = token(env, "alice", "read write");
    // stdin is not a terminal here: no prompt, a usage error instead.
    const noToken = mreg(fresh, ["login"]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("no prompt");
    expect(mreg(fresh, ["login", "--token", "bad.token.x"]).code).toBe(1);

    const login = mreg(fresh, ["login", "--with-token"], { input: t + "\n" });
    expect(login.code).toBe(0);
    expect(login.stdout).toContain(`logged in to ${inject("mregUrl")} as alice`);
    const file = join(fresh.MREG_CONFIG_DIR!, "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8")).hosts[inject("mregUrl")!].token).toBe(t);

    const { MREG_URL: _, ...noUrl } = fresh;
    const who = mregJson(noUrl, ["whoami"]);
    expect(who).toMatchObject({
      url: inject("mregUrl"),
      token_source: "config",
      subject: "alice",
      scopes: ["read", "write"],
      models: null,
      server_accepts: true,
    });
    expect(Date.parse(who.expires_at)).toBeGreaterThan(Date.now());
    expect(mregJson(noUrl, ["models", "ls"]).items.length).toBeGreaterThan(0);

    expect(mreg(noUrl, ["logout"]).code).toBe(0);
    expect(mreg(noUrl, ["models", "ls"]).code).toBe(1);
  });

  it("watches an alias: the current state, then each change, one JSON object per line", async () => {
    const v = pushVersion(0.95);
    const watching = mregSpawn(env, ["watch", `${M}@canary`, "--count", "3", "--json"]);
    await waitFor(() => watching.out.stdout.includes("\n"), "the first watch message");
    expect(mreg(env, ["alias", "set", M, "canary", String(v)]).code).toBe(0);
    expect(mreg(env, ["alias", "rm", M, "canary"]).code).toBe(0);
    expect(await watching.exited).toBe(0);
    const events = watching.out.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events.map((e) => [e.event, e.version])).toEqual([
      ["current", null],
      ["set", v],
      ["delete", null],
    ]);
  });

  const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
  it.skipIf(system.status !== 0 || !system.stdout.startsWith("v20."))("runs on the system's Node 20", () => {
    expect(mreg(env, ["--help"], { node: "/usr/bin/node" }).stdout).toContain(
      "Exit codes: 0 ok, 1 error, 2 usage, 3 gate refused, 4 conflict, 5 not found",
    );
    const listed = mreg(env, ["models", "ls", "--json"], { node: "/usr/bin/node" });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).items.map((m: { name: string }) => m.name)).toContain(M);
    const watched = mreg(env, ["watch", `${M}@production`, "--count", "1"], { node: "/usr/bin/node" });
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/current\s+cli-flow@production → v\d+/);
  });
});
