/**
 * The documentation's commands, run as written against the shared registry:
 * - README's "Ten lines with the CLI" (`mreg` is the bundle this tree builds), from the checkout, leaving it clean;
 * - the runbook's rollback without a checkout (docs/operations.md): the `curl` call, and the
 *   CLI from `npm pack`'s tarball, extracted alone into a folder with no node_modules.
 * Each run uses its own model name, so the shared registry's other tests never see it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mregJson, root, sandbox } from "./helpers";

/** The first ```sh block after `heading` in a Markdown file. */
function shellBlock(file: string, heading: string): string {
  const text = readFileSync(join(root, file), "utf8");
  const at = text.indexOf(heading);
  expect(at, `${file}: ${heading}`).toBeGreaterThanOrEqual(0);
  const start = text.indexOf("```sh\n", at) + "```sh\n".length;
  return text.slice(start, text.indexOf("\n```", start));
}

/** The development secret `npm start` runs with, as `mreg token` reads it in a checkout. */
function devSecret(): string {
  const line = readFileSync(join(root, ".dev.vars"), "utf8")
    .split("\n")
    .find((l) => l.startsWith("JWT_SECRET="))!;
  return line.slice("JWT_SECRET=".length).trim();
}

function bash(script: string, cwd: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], { cwd, env, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the README's ten lines", () => {
  it("run as written: push, promote, push, promote, roll back, resolve, pull, history", () => {
    const { env, dir } = sandbox();
    const model = `readme-${Date.now().toString(36)}`;
    const lines = shellBlock("README.md", "## Ten lines with the CLI");
    // The ten, and two lines that make `mreg` the bundle and move to a scratch folder.
    expect(lines.split("\n").filter((l) => l.trim() && !l.startsWith("#"))).toHaveLength(12);
    // Run from the checkout, as written; only the scratch folder is this test's own (to read what it pulled).
    const scratch = 'cd "$(mktemp -d)"';
    expect(lines).toContain(scratch);
    const script = lines.replaceAll("payment-fraud", model).replace(scratch, `cd "${dir}"`);
    const before = execFileSync("git", ["status", "--porcelain", "--untracked-files=all"], {
      cwd: root,
      encoding: "utf8",
    });
    const run = bash(script, root, { ...env, JWT_SECRET: devSecret() });
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    // The checkout is left as it was: no model/ or serving/ in it.
    expect(
      execFileSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: root, encoding: "utf8" }),
    ).toBe(before);
    expect(run.stdout).toContain(`registry://${model}/1`); // resolve: production is version 1 again
    expect(readFileSync(join(dir, "serving", "config.json"), "utf8")).toBe('{"threshold": 0.7}\n');
    const token = mregJson<{ token: string }>({ ...env, JWT_SECRET: devSecret() }, [
      "token",
      "--sub",
      "check",
      "--scope",
      "read",
    ]).token;
    const history = mregJson<{ items: { action: string; version: number | null }[] }>({ ...env, MREG_TOKEN: token }, [
      "history",
      model,
      "production",
    ]);
    expect(history.items.map((h) => h.action)).toContain("rollback");
  });
});

describe("the runbook's rollback with no checkout", () => {
  /** A model whose production moved 1 → 2, by the admin token `token`. */
  function deployed(env: NodeJS.ProcessEnv, model: string, dir: string) {
    writeFileSync(join(dir, "w.bin"), "v1");
    mregJson(env, ["push", model, join(dir, "w.bin"), "--alias", "production"]);
    writeFileSync(join(dir, "w.bin"), "v2");
    mregJson(env, ["push", model, join(dir, "w.bin"), "--alias", "production"]);
    expect(mregJson(env, ["resolve", `${model}@production`]).version).toBe(2);
  }

  it("plain curl, as docs/operations.md writes it", () => {
    const { env, dir } = sandbox();
    const model = `runbook-curl-${Date.now().toString(36)}`;
    const token = mregJson<{ token: string }>({ ...env, JWT_SECRET: devSecret() }, [
      "token",
      "--sub",
      "oncall",
      "--scope",
      "admin",
    ]).token;
    const authed = { ...env, MREG_TOKEN: token };
    deployed(authed, model, dir);
    const block = shellBlock("docs/operations.md", "### A model (the 3 a.m. page)");
    const run = bash(block.replaceAll("payment-fraud", model), dir, authed);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ model, alias: "production", version: 1 });
  });

  it("the CLI from the packed bundle alone, on the machine's Node, outside the checkout", () => {
    const { env, dir } = sandbox();
    const model = `runbook-cli-${Date.now().toString(36)}`;
    const token = mregJson<{ token: string }>({ ...env, JWT_SECRET: devSecret() }, [
      "token",
      "--sub",
      "oncall",
      "--scope",
      "admin",
    ]).token;
    const authed = { ...env, MREG_TOKEN: token };
    deployed(authed, model, dir);
    // npm pack as CI would run it (the bundle is already built), then only the bundle leaves.
    const packDir = mkdtempSync(join(tmpdir(), "mreg-pack-"));
    const tarball = execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", packDir], {
      cwd: root,
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .pop()!;
    const lone = mkdtempSync(join(tmpdir(), "mreg-lone-"));
    execFileSync("tar", ["-xzf", join(packDir, tarball), "-C", lone, "package/dist/mreg.mjs"]);
    const PATH = (process.env.PATH ?? "")
      .split(":")
      .filter((p) => !p.includes("node_modules"))
      .join(":");
    const run = spawnSync(
      "node",
      [
        join(lone, "package", "dist", "mreg.mjs"),
        "rollback",
        model,
        "production",
        "--reason",
        "error rate 4%",
        "--json",
      ],
      {
        cwd: lone,
        env: { ...authed, PATH },
        encoding: "utf8",
      },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ alias: "production", version: 1 });
  });
});

describe("mreg on the PATH", () => {
  it("installs globally as the docs write it, with no warning, and runs", () => {
    // npm ci built the bundle already; --ignore-scripts skips the prepare script, and with it
    // npm's warning that the script is not covered by allowScripts (issue 33).
    const prefix = mkdtempSync(join(tmpdir(), "mreg-global-"));
    const install = spawnSync("npm", ["install", "-g", "--ignore-scripts", ".", "--prefix", prefix], {
      cwd: root,
      encoding: "utf8",
    });
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/warn/i);
    const version = spawnSync(join(prefix, "bin", "mreg"), ["--version"], { encoding: "utf8" });
    expect(version.stdout.trim()).toMatch(/^mreg \d+\.\d+\.\d+$/);
  });
});
