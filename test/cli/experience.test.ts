/**
 * Issue 20, items 1–7: what a CLI user meets first, through the real bundle.
 *  1. a resumed push applies the new metrics/description/lineage (a gate reads them);
 *  2. pull removes what the version does not hold (--keep-extra keeps it), refuses a foreign folder;
 *  3. push <dir> skips VCS folders and secrets, honours .mregignore, --include/--exclude;
 *  4. names are checked before hashing: exit 2, no state file;
 *  5. progress counts acknowledged parts; Ctrl-C says how to resume;
 *  6. not-found says what is missing, lists aliases, suggests the closest model; exit 5;
 *  7. --jq, completion, "did you mean", a hidden login prompt, next_cursor on every list.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { MiB, bin, mreg, mregJson, mregSpawn, randomFile, root, sandbox, token, waitFor } from "./helpers";

const { env, dir } = sandbox();
const M = "cli-ux-model";

beforeAll(() => {
  env.MREG_TOKEN = token(env, "ux", "read write promote admin");
  expect(mreg(env, ["models", "create", M]).code).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stateFiles = () => (existsSync(join(dir, "state", "push")) ? readdirSync(join(dir, "state", "push")) : []);

function write(path: string, text: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

describe("push: names, ignore rules, resume", () => {
  it("checks names before hashing anything: exit 2 in plain words, no state file (4)", () => {
    const big = join(dir, "sparse.bin");
    writeFileSync(big, "");
    truncateSync(big, 100 * MiB); // hashing it would print "hashing sparse.bin: 10%" lines
    const upper = mreg(env, ["push", "Fraud_Model", big]);
    expect(upper.code).toBe(2);
    expect(upper.stderr).toContain("model name 'Fraud_Model'");
    expect(upper.stderr).toMatch(/lower case/);
    expect(upper.stderr).not.toContain("hashing");
    const reserved = mreg(env, ["push", M, big, "--alias", "latest"]);
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toMatch(/alias 'latest' is reserved/);
    expect(reserved.stderr).not.toContain("hashing");
    const badPath = join(dir, "badpath");
    write(join(badPath, "a\\b.bin"), "x");
    const path = mreg(env, ["push", M, badPath]);
    expect(path.code).toBe(2);
    expect(path.stderr).toContain("a\\b.bin");
    expect(stateFiles()).toEqual([]);
    // The same words, before any request, wherever a name is given.
    expect(mreg(env, ["models", "create", "Fraud"]).stderr).toContain("model name 'Fraud' has upper case letters");
    const promote = mreg(env, ["promote", M, "v3", "1"]);
    expect(promote.code).toBe(2);
    expect(promote.stderr).toContain("alias 'v3' is reserved");
  });

  it("skips VCS folders and secrets, honours .mregignore and --include/--exclude, and says what it skipped (3)", () => {
    const src = join(dir, "project");
    write(join(src, ".git", "config"), "[core]");
    write(join(src, ".env"), "AWS_SECRET=1");
    write(join(src, "deploy", "server.pem"), "-----BEGIN");
    write(join(src, "model.bin"), "weights");
    write(join(src, "config.json"), "{}");
    write(join(src, "logs", "train.log"), "loss");
    write(join(src, "a.tmp"), "t");
    write(join(src, "keep.tmp"), "k");
    write(join(src, "notes", "draft.md"), "d");
    write(join(src, ".mregignore"), "# scratch\nlogs/\n*.tmp\n!keep.tmp\n");
    const r = mreg(env, ["push", M, src, "--exclude", "notes/**", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.files.map((f: { path: string }) => f.path).sort()).toEqual(["config.json", "keep.tmp", "model.bin"]);
    const skipped = Object.fromEntries(out.skipped.map((s: { path: string; rule: string }) => [s.path, s.rule]));
    expect(skipped).toMatchObject({
      ".git/": expect.stringContaining("default"),
      ".env": expect.stringContaining("default"),
      "deploy/server.pem": expect.stringContaining("default"),
      "logs/": ".mregignore: logs/",
      "a.tmp": ".mregignore: *.tmp",
      "notes/draft.md": "--exclude notes/**",
    });
    expect(r.stderr).toMatch(/skipped 7 paths/);
    expect(r.stderr).toContain(".git/");

    const only = mregJson(env, ["push", M, src, "--include", "*.json"]);
    expect(only.files.map((f: { path: string }) => f.path)).toEqual(["config.json"]);
  });

  it("resumes after Ctrl-C from the parts the registry acknowledged, says how, and applies the new values a gate then reads (1, 5)", async () => {
    const file = join(dir, "big.bin");
    randomFile(file, 40 * MiB);
    const partSize = inject("partSize");
    const first = mregSpawn(env, [
      "push",
      M,
      file,
      "--parallel",
      "1",
      "--metric",
      "auc=0.5",
      "--description",
      "first try",
    ]);
    await waitFor(
      () => /big\.bin: (2[5-9]|[3-9]\d)%/.test(first.out.stderr) || first.child.exitCode !== null,
      "two acknowledged parts",
    );
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(130);
    expect(first.out.stdout).toBe("");
    const said = /big\.bin: (\d+) of (\d+) parts are on the registry/.exec(first.out.stderr);
    expect(said, first.out.stderr).not.toBeNull();
    expect(first.out.stderr).toContain(`to resume, run the same command again: mreg push ${M} ${file}`);
    // Every percentage shown was held by the registry: none beyond the parts it acknowledged.
    const shown = Math.max(...[...first.out.stderr.matchAll(/big\.bin: (\d+)%/g)].map((m) => Number(m[1])));
    expect(shown).toBeLessThanOrEqual(Math.floor((Number(said![1]) * partSize * 100) / (40 * MiB)));
    expect(stateFiles()).toHaveLength(1);

    expect(
      mreg(env, ["gates", "set", M, "production", "--policy", '{"metrics": [{"name": "auc", "min": 0.9}]}']).code,
    ).toBe(0);
    const second = mreg(env, [
      "push",
      M,
      file,
      "--metric",
      "auc=0.95",
      "--description",
      "second try",
      "--git-sha",
      "feed",
      "--alias",
      "production",
      "--json",
    ]);
    expect(second.code, second.stderr).toBe(0);
    const out = JSON.parse(second.stdout);
    expect(out.resumed).toBe(true);
    expect(out.bytes_skipped).toBeGreaterThanOrEqual(Number(said![1]) * partSize);
    expect(out.alias).toMatchObject({ alias: "production", version: out.version });
    expect(second.stderr).toMatch(
      /applied the new values to version \d+: metrics\.auc 0\.5 → 0\.95, description, lineage\.git_sha/,
    );
    const v = mregJson(env, ["versions", "show", M, String(out.version)]);
    expect(v).toMatchObject({ metrics: { auc: 0.95 }, description: "second try", lineage: { git_sha: "feed" } });
    expect(stateFiles()).toEqual([]);
    expect(mreg(env, ["gates", "rm", M, "production"]).code).toBe(0);
  });
});

describe("pull", () => {
  it("removes files the version does not hold, keeps them with --keep-extra, refuses a folder mreg did not fill (2)", () => {
    const a = join(dir, "v-a");
    write(join(a, "weights.bin"), "w1");
    write(join(a, "old", "tokenizer.json"), "{}");
    const b = join(dir, "v-b");
    write(join(b, "weights.bin"), "w2");
    write(join(b, "vocab.txt"), "v");
    const v1 = mregJson(env, ["push", M, a, "--alias", "serving"]).version;
    const v2 = mregJson(env, ["push", M, b]).version;
    const target = join(dir, "serving");
    expect(mregJson(env, ["pull", `${M}@serving`, target]).version).toBe(v1);
    expect(mreg(env, ["promote", M, "serving", String(v2)]).code).toBe(0);
    const pulled = mreg(env, ["pull", `${M}@serving`, target, "--json"]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ version: v2, removed: ["old/tokenizer.json"] });
    expect(pulled.stderr).toContain(`removed 1 file that version ${v2} does not hold: old/tokenizer.json`);
    expect(existsSync(join(target, "old"))).toBe(false);
    expect(
      readdirSync(target)
        .filter((f) => !f.startsWith("."))
        .sort(),
    ).toEqual(["vocab.txt", "weights.bin"]);

    const kept = mregJson(env, ["pull", `${M}/${v1}`, target, "--keep-extra"]);
    expect(kept.kept_extra).toEqual(["vocab.txt"]);
    expect(existsSync(join(target, "vocab.txt"))).toBe(true);

    const foreign = join(dir, "home-like");
    write(join(foreign, "notes.md"), "mine");
    const refused = mreg(env, ["pull", `${M}/${v2}`, foreign]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("notes.md");
    expect(refused.stderr).toContain("--keep-extra");
    expect(existsSync(join(foreign, "weights.bin"))).toBe(false);
    expect(mreg(env, ["pull", `${M}/${v2}`, foreign, "--keep-extra"]).code).toBe(0);
    expect(existsSync(join(foreign, "notes.md"))).toBe(true);
  });
});

describe("not found, said plainly (6)", () => {
  it("names the missing model and the closest one, the missing alias and the known ones, the missing version; exit 5", () => {
    const typo = mreg(env, ["resolve", "cli-ux-modle@production"]);
    expect(typo.code).toBe(5);
    expect(typo.stderr).toContain("mreg: there is no model 'cli-ux-modle'. Did you mean 'cli-ux-model'?");
    expect(typo.stderr).not.toContain("resolves to nothing");

    const alias = mreg(env, ["pull", `${M}@prodution`, join(dir, "nowhere")]);
    expect(alias.code).toBe(5);
    expect(alias.stderr).toMatch(
      new RegExp(`model '${M}' has no alias 'prodution'\\. Its aliases: .*production → v\\d+`),
    );
    expect(alias.stderr).toContain("serving → v");

    const version = mreg(env, ["versions", "show", M, "999"]);
    expect(version.code).toBe(5);
    expect(version.stderr).toMatch(new RegExp(`model '${M}' has no version 999 \\(its latest is \\d+\\)`));

    const json = mreg(env, ["resolve", "cli-ux-modle@production", "--json"]);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: "not_found", missing: "model", did_you_mean: M });
  });

  it("rolling back an alias with nothing earlier, or one never set, says so and exits 5", () => {
    const once = mregJson(env, ["push", M, write(join(dir, "once.json"), "{}"), "--alias", "canary"]).version;
    const nothing = mreg(env, ["rollback", M, "canary"]);
    expect(nothing.code).toBe(5);
    expect(nothing.stderr).toContain(`${M}@canary has held only v${once}: there is no earlier value to roll back to`);
    const never = mreg(env, ["rollback", M, "canary-typo"]);
    expect(never.code).toBe(5);
    expect(never.stderr).toMatch(
      new RegExp(`model '${M}' has no alias 'canary-typo'\\. Its aliases: .*canary → v${once}`),
    );
  });
});

describe("gh habits (7)", () => {
  it("selects fields with --jq, and every list carries next_cursor", () => {
    const aliases = mregJson(env, ["alias", "ls", M]);
    expect(aliases).toHaveProperty("next_cursor", null);
    expect(mregJson(env, ["gates", "ls", M])).toHaveProperty("next_cursor", null);
    const names = mreg(env, ["alias", "ls", M, "--jq", ".items[].alias"]);
    expect(names.code, names.stderr).toBe(0);
    expect(names.stdout.trim().split("\n")).toEqual(aliases.items.map((a: { alias: string }) => a.alias));
    const pair = mreg(env, ["models", "show", M, "--jq", ".name, .latest_version"]);
    expect(pair.stdout.split("\n").slice(0, 2)).toEqual([M, expect.stringMatching(/^\d+$/)]);
    const bad = mreg(env, ["models", "show", M, "--jq", ".items[.name"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--jq");
  });

  it("suggests the command meant", () => {
    const typo = mreg(env, ["promot", M, "production", "1"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("Did you mean 'mreg promote'?");
    const sub = mreg(env, ["models", "lss"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("Did you mean 'mreg models ls'?");
  });

  it("completes commands and options in bash", () => {
    const shim = join(dir, "shim");
    mkdirSync(shim, { recursive: true });
    symlinkSync(bin, join(shim, "mreg"));
    chmodSync(bin, 0o755);
    const script = mreg(env, ["completion", "bash"]).stdout;
    writeFileSync(join(dir, "mreg.bash"), script);
    const complete = (...words: string[]) => {
      const line = `source ${join(dir, "mreg.bash")}; COMP_WORDS=(mreg ${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length}; _mreg; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync("bash", ["-c", line], {
        env: { ...env, PATH: `${shim}:${join(process.execPath, "..")}:${env.PATH}` },
        encoding: "utf8",
      });
      return r.stdout.trim().split("\n");
    };
    expect(complete("mod")).toEqual(["models"]);
    expect(complete("models", "")).toEqual(["create", "delete", "ls", "show", "update"]);
    expect(complete("push", M, "--met")).toEqual(["--metric"]);
    for (const shell of ["zsh", "fish"]) {
      const r = mreg(env, ["completion", shell]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("__complete");
    }
    expect(mreg(env, ["completion", "tcsh"]).code).toBe(2);
  });

  const hasScript = spawnSync("script", ["--version"]).status === 0;
  it.skipIf(!hasScript)("login hides the pasted token on a terminal", async () => {
    const { env: fresh } = sandbox();
    const t = token(env, "hidden", "read");
    const command = [process.execPath, bin, "login"].map((a) => `'${a}'`).join(" ");
    // --echo never: script itself does not copy its piped stdin to the screen; what shows is
    // what the terminal, and the CLI, echo.
    const child = spawn("script", ["-qfe", "--echo", "never", "-c", command, "/dev/null"], {
      cwd: root,
      env: { ...fresh, TERM: "xterm" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let seen = "";
    child.stdout.on("data", (d) => (seen += d));
    await waitFor(() => seen.includes("Token for"), "the prompt", 20_000);
    child.stdin.write(t + "\r");
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(0);
    expect(seen).toContain("logged in to");
    expect(seen).not.toContain(t.slice(0, 20));
  });
});
