/** The CLI's pure pieces, without a server: argument parsing, sizes, exit codes, URIs, progress lines. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MregError } from "../../src/client/errors";
import { parseModelUri } from "../../src/client/aliases";
import { findCommand, numberPairs, pairs, parseInput, size, type Command } from "../../src/cli/command";
import { CliError, EXIT, GateRefused, UsageError, exitCodeOf } from "../../src/cli/exit";
import { Output } from "../../src/cli/output";
import { progress } from "../../src/cli/progress";
import { COMMANDS } from "../../src/cli/entry/main";
import { complete } from "../../src/cli/completion";
import { DEFAULT_PATTERNS, IgnoreRules, parseIgnore, parseLine, pathMatches } from "../../src/cli/ignore";
import { costAgainstScan, LINEAR_BOUND } from "../linear-cost";
import { aliasProblem, filePathProblem as cliFilePathProblem, modelNameProblem } from "../../src/cli/names";
import { closest, editDistance } from "../../src/cli/not-found";
import { formatSelected, parseSelector, select } from "../../src/cli/select";
import { SettableAliasName } from "../../src/domain/alias";
import { filePathProblem } from "../../src/domain/file-path";
import { ModelName } from "../../src/domain/names";

const problem = (status: number, code: string) => new MregError({ status, code, detail: code });

describe("exit codes", () => {
  it.each([
    [new UsageError("x"), EXIT.usage],
    [new GateRefused("x"), EXIT.gateRefused],
    [problem(409, "gate_failed"), EXIT.gateRefused],
    [problem(409, "conflict"), EXIT.conflict],
    [problem(409, "already_exists"), EXIT.conflict],
    [problem(409, "immutable"), EXIT.conflict],
    [problem(404, "not_found"), EXIT.notFound],
    [problem(401, "unauthenticated"), EXIT.error],
    [problem(400, "validation_failed"), EXIT.error],
    [problem(0, "network_error"), EXIT.error],
    [new CliError("sha256 mismatch"), EXIT.error],
    [new Error("anything else"), EXIT.error],
  ])("%s → %i", (err, code) => expect(exitCodeOf(err)).toBe(code));
});

describe("arguments", () => {
  it("finds command words past global options, and keeps the rest for parsing", () => {
    const found = findCommand(["--url", "http://x", "--json", "models", "ls", "--prefix", "f"], COMMANDS);
    expect(found.command?.name).toBe("models ls");
    expect(found.rest).toEqual(["--url", "http://x", "--json", "--prefix", "f"]);
    expect(findCommand(["models"], COMMANDS)).toMatchObject({ command: undefined, words: ["models"] });
    expect(findCommand(["push", "m", "models"], COMMANDS).rest).toEqual(["m", "models"]);
  });

  it("checks positionals and refuses unknown options as usage errors", () => {
    const push = COMMANDS.find((c) => c.name === "push")!;
    expect(parseInput(push, ["m", "a.bin", "b.bin", "--metric", "auc=1", "--metric", "f1=0.5"]).positionals).toEqual([
      "m",
      "a.bin",
      "b.bin",
    ]);
    expect(() => parseInput(push, ["m"])).toThrow(UsageError);
    expect(() => parseInput(push, ["m", "a", "--nope"])).toThrow(/Unknown option '--nope'/);
    const show: Command = COMMANDS.find((c) => c.name === "models show")!;
    expect(() => parseInput(show, ["a", "b"])).toThrow(/unexpected argument 'b'/);
  });

  it("reads key=value pairs, numbers and sizes", () => {
    const input = { values: { tag: ["a=1", "b=x=y"], metric: ["auc=0.93", "n=-2e3"], s: "16MiB" }, positionals: [] };
    expect(pairs(input, "tag")).toEqual({ a: "1", b: "x=y" });
    expect(numberPairs(input, "metric")).toEqual({ auc: 0.93, n: -2000 });
    expect(() => numberPairs({ values: { metric: ["auc=high"] }, positionals: [] }, "metric")).toThrow(
      /needs a number/,
    );
    expect(() => pairs({ values: { tag: ["novalue"] }, positionals: [] }, "tag")).toThrow(/key=value/);
    expect(size(input, "s")).toBe(16 * 1024 * 1024);
    for (const [text, bytes] of [
      ["512", 512],
      ["64k", 65536],
      ["1.5G", 1.5 * 1024 ** 3],
      ["5 MiB", 5 * 1024 ** 2],
    ] as const) {
      expect(size({ values: { s: text }, positionals: [] }, "s")).toBe(bytes);
    }
    expect(() => size({ values: { s: "lots" }, positionals: [] }, "s")).toThrow(UsageError);
  });

  it("parses registry URIs, folding aliases to lower case", () => {
    expect(parseModelUri("registry://fraud@Production")).toEqual({ model: "fraud", alias: "production" });
    expect(parseModelUri("registry://fraud/12")).toEqual({ model: "fraud", version: 12 });
    for (const bad of ["registry://Fraud@x", "fraud@x", "registry://fraud/0", "registry://fraud@x/1"]) {
      expect(() => parseModelUri(bad)).toThrow(MregError);
    }
  });
});

describe("progress off a terminal", () => {
  it("prints a plain line at each tenth, never redraws", () => {
    let text = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        text += chunk;
        done();
      },
    });
    const bar = progress(new Output(false, false, sink, sink), "w.bin", 100 * 1024 * 1024);
    for (let mib = 1; mib <= 100; mib++) bar.update(mib * 1024 * 1024);
    bar.finish();
    const lines = text.trim().split("\n");
    expect(lines.slice(0, -1).map((l) => /w\.bin: (\d+)%/.exec(l)?.[1])).toEqual([
      "10",
      "20",
      "30",
      "40",
      "50",
      "60",
      "70",
      "80",
      "90",
    ]);
    expect(lines.at(-1)).toMatch(/^w\.bin: 100 MiB done in [\d.]+ s/);
    expect(text).not.toContain("\r");
  });
});

describe("ignore rules (gitignore syntax)", () => {
  const rules = (text: string, include: string[] = []) =>
    new IgnoreRules(
      parseIgnore(text, ".mregignore:"),
      include.map((p) => parseLine(p, "--include")!),
    );
  it.each([
    ["*.tmp", "a.tmp", false, true],
    ["*.tmp", "deep/down/a.tmp", false, true],
    ["*.tmp", "a.tmpx", false, false],
    ["/top.txt", "top.txt", false, true],
    ["/top.txt", "sub/top.txt", false, false],
    ["logs/", "logs", true, true],
    ["logs/", "logs", false, false],
    ["logs/", "a/logs", true, true],
    ["a/**/b", "a/b", false, true],
    ["a/**/b", "a/x/y/b", false, true],
    ["**/cache", "x/cache", true, true],
    ["notes/**", "notes", true, false],
    ["notes/**", "notes/x/y.md", false, true],
    ["doc/*.md", "doc/a.md", false, true],
    ["doc/*.md", "doc/sub/a.md", false, false],
    ["file?.bin", "file1.bin", false, true],
    ["file[0-9].bin", "file7.bin", false, true],
    ["file[!0-9].bin", "file7.bin", false, false],
    ["\\#hash", "#hash", false, true],
    ["\\!bang", "!bang", false, true],
    ["trail\\ ", "trail ", false, true],
    ["# comment", "# comment", false, false],
  ])("%s on %s (dir %s) → %s", (pattern, path, isDir, skipped) => {
    expect(rules(pattern).skipReason(path, isDir) !== null).toBe(skipped);
  });

  it("lets the last matching rule decide, and --include narrow files", () => {
    const r = rules("*.tmp\n!keep.tmp\n");
    expect(r.skipReason("a.tmp", false)).toBe(".mregignore: *.tmp");
    expect(r.skipReason("keep.tmp", false)).toBeNull();
    const only = rules("", ["*.json"]);
    expect(only.skipReason("config.json", false)).toBeNull();
    expect(only.skipReason("weights.bin", false)).toBe("not matched by --include");
    expect(only.skipReason("sub", true)).toBeNull();
  });

  it("judges a link's target by its path and every folder above it, without --include (issue 27, item 10)", () => {
    const r = new IgnoreRules(
      [...DEFAULT_PATTERNS.map((p) => parseLine(p, "default:")!), ...parseIgnore("/data/private/\n", ".mregignore:")],
      [parseLine("*.bin", "--include")!],
    );
    expect(r.excludedAlong(".ssh/id_rsa", false)).toBe("default: .ssh/");
    expect(r.excludedAlong("deep/.git/objects/ab", false)).toBe("default: .git/");
    expect(r.excludedAlong("data/private/w.safetensors", false)).toBe(".mregignore: /data/private/");
    expect(r.excludedAlong("keys/server.pem", false)).toBe("default: *.pem");
    // A target not named *.bin is fine: --include judges the link's name, not its target's.
    expect(r.excludedAlong("blobs/3f2a9c", false)).toBeNull();
    expect(r.skipReason("blobs/3f2a9c", false)).toBe("not matched by --include");
  });

  it("skips VCS folders and secrets by default", () => {
    const d = new IgnoreRules(DEFAULT_PATTERNS.map((p) => parseLine(p, "default:")!));
    for (const [path, isDir] of [
      [".git", true],
      ["sub/.hg", true],
      [".env", false],
      [".env.production", false],
      ["certs/server.pem", false],
      ["id_ed25519", false],
      [".aws", true],
    ] as const) {
      expect(d.skipReason(path, isDir), path).not.toBeNull();
    }
    for (const path of ["model.safetensors", "config.json", "environment.yml", "tokenizer.json"])
      expect(d.skipReason(path, false), path).toBeNull();
  });

  it("matches 100 KB of near-matches in linear-ish time (no backtracking blow-up)", () => {
    const evil = parseLine("*a*a*a*a*a*a*a*a*a*a*b", "x")!;
    const segs = parseLine("**/a/**/a/**/a/**/a/**/b", "x")!;
    const name = "a".repeat(100_000);
    const path = Array.from({ length: 2000 }, () => "a");
    expect(pathMatches(evil.segments, [name])).toBe(false);
    expect(pathMatches(segs.segments, path)).toBe(false);
    const ratio = costAgainstScan(
      () => [pathMatches(evil.segments, [name]), pathMatches(segs.segments, path)],
      [name, ...path],
    );
    expect(ratio).toBeLessThan(LINEAR_BOUND);
  });
});

describe("--jq paths", () => {
  const doc = {
    version: 3,
    name: "m",
    items: [
      { name: "a", tags: { k: "v" } },
      { name: "b", tags: {} },
    ],
    "odd key": true,
    next_cursor: null,
  };
  it.each([
    [".", [doc]],
    [".version", [3]],
    [".items[].name", ["a", "b"]],
    [".items[0].tags.k", ["v"]],
    [".items[-1].name", ["b"]],
    ['.["odd key"]', [true]],
    [".name, .version", ["m", 3]],
    [".missing.deeper", [null]],
    [".next_cursor", [null]],
  ])("%s", (path, expected) => expect(select(parseSelector(path), doc)).toEqual(expected));

  it("refuses what it cannot read, as a usage error", () => {
    for (const bad of ["version", ".items[.name", ".a[", '.["x]', ".a b", ".a,", ".a|.b"])
      expect(() => parseSelector(bad), bad).toThrow(UsageError);
    expect(formatSelected(["text", 3, { a: 1 }, null])).toBe('text\n3\n{"a":1}\nnull');
  });
});

describe("names, as the server judges them", () => {
  it("agrees with the server's schemas on model names, aliases and file paths", () => {
    for (const name of ["fraud", "a.b-c_d", "Fraud", "-x", "a..b", "", "x".repeat(129), "a/b", "ok9"]) {
      expect(modelNameProblem(name) === null, name).toBe(ModelName.safeParse(name).success);
    }
    for (const alias of ["production", "Staging", "latest", "v3", "9x", "a b", "canary-1"]) {
      expect(aliasProblem(alias) === null, alias).toBe(SettableAliasName.safeParse(alias).success);
    }
    for (const path of ["a/b.bin", "a\\b", "/abs", "a//b", "a/./b", "ok", "tab\there", "é.txt"]) {
      expect(cliFilePathProblem(path), path).toBe(filePathProblem(path));
    }
    expect(modelNameProblem("Fraud_Model")).toMatch(/upper case.*e\.g\. 'fraud_model'/);
  });
});

describe("completion and suggestions", () => {
  it("offers command words, subcommands, options and shells", () => {
    expect(complete(["pro"], COMMANDS)).toEqual(["promote"]);
    expect(complete(["alias", ""], COMMANDS)).toEqual(["ls", "rm", "set", "swap"]);
    expect(complete(["pull", "--par"], COMMANDS)).toEqual(["--parallel"]);
    expect(complete(["push", "m", "--metric", ""], COMMANDS)).toEqual([]);
    expect(complete(["completion", ""], COMMANDS)).toEqual(["bash", "zsh", "fish"]);
    expect(complete(["token", ""], COMMANDS)).toEqual(["create", "ls", "revoke"]);
  });

  it("finds the closest name within a typo's reach", () => {
    expect(closest("fraud-detetcion", ["fraud-detection", "churn"])).toBe("fraud-detection");
    expect(closest("zzz", ["fraud-detection", "churn"])).toBeUndefined();
    expect(editDistance("promot", "promote")).toBe(1);
    expect(editDistance("ab", "ba")).toBe(1);
  });
});

describe("docs/cli.md", () => {
  it("documents every command, every option and every exit code", () => {
    const doc = readFileSync(join(import.meta.dirname, "..", "..", "docs", "cli.md"), "utf8");
    for (const c of COMMANDS) {
      expect(doc, c.name).toContain(`\`mreg ${c.name}${c.args ? ` ${c.args}` : ""}\``);
      for (const o of Object.keys(c.options ?? {})) expect(doc, `${c.name} --${o}`).toContain(`--${o}`);
    }
    for (const code of Object.values(EXIT)) expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, "m"));
  });
});
