/** The CLI's pure pieces, without a server: argument parsing, sizes, exit codes, URIs, progress lines. */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MregError } from "../../src/client/errors";
import { parseModelUri } from "../../src/client/aliases";
import { findCommand, numberPairs, pairs, parseInput, size, type Command } from "../../src/cli/command";
import { CliError, EXIT, GateRefused, UsageError, exitCodeOf } from "../../src/cli/exit";
import { Output } from "../../src/cli/output";
import { progress } from "../../src/cli/progress";
import { COMMANDS } from "../../src/cli/main";

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
    expect(parseInput(push, ["m", "a.bin", "b.bin", "--metric", "auc=1", "--metric", "f1=0.5"]).positionals).toEqual(["m", "a.bin", "b.bin"]);
    expect(() => parseInput(push, ["m"])).toThrow(UsageError);
    expect(() => parseInput(push, ["m", "a", "--nope"])).toThrow(/Unknown option '--nope'/);
    const show: Command = COMMANDS.find((c) => c.name === "models show")!;
    expect(() => parseInput(show, ["a", "b"])).toThrow(/unexpected argument 'b'/);
  });

  it("reads key=value pairs, numbers and sizes", () => {
    const input = { values: { tag: ["a=1", "b=x=y"], metric: ["auc=0.93", "n=-2e3"], s: "16MiB" }, positionals: [] };
    expect(pairs(input, "tag")).toEqual({ a: "1", b: "x=y" });
    expect(numberPairs(input, "metric")).toEqual({ auc: 0.93, n: -2000 });
    expect(() => numberPairs({ values: { metric: ["auc=high"] }, positionals: [] }, "metric")).toThrow(/needs a number/);
    expect(() => pairs({ values: { tag: ["novalue"] }, positionals: [] }, "tag")).toThrow(/key=value/);
    expect(size(input, "s")).toBe(16 * 1024 * 1024);
    for (const [text, bytes] of [["512", 512], ["64k", 65536], ["1.5G", 1.5 * 1024 ** 3], ["5 MiB", 5 * 1024 ** 2]] as const) {
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
    expect(lines.slice(0, -1).map((l) => /w\.bin: (\d+)%/.exec(l)?.[1])).toEqual(["10", "20", "30", "40", "50", "60", "70", "80", "90"]);
    expect(lines.at(-1)).toMatch(/^w\.bin: 100 MiB done in [\d.]+ s/);
    expect(text).not.toContain("\r");
  });
});
