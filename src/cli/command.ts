/**
 * How commands are declared and their arguments parsed. Node's own `util.parseArgs` does the
 * parsing (no dependency, and it refuses unknown options in strict mode); this module adds
 * command words (`models ls`), options every command shares, typed positionals and help text.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { splitTagPair, TAG_PAIR_HINT, type TagPair } from "../domain/tag-pair";
import { UsageError } from "./exit";
import type { Context } from "./context";
import type { Target } from "./not-found";

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
  /** The command words: `"models ls"`. */
  name: string;
  summary: string;
  /** After the command words: `<model> <path...>`. A trailing `...` takes the rest. */
  args?: string;
  options?: Options;
  /** One line per option: `--metric k=v  A metric (repeatable)`. */
  help?: string[];
  examples?: string[];
  /** What the command names, so a 404 can be explained (which of model, version, alias is missing). */
  target?(input: Input): Target;
  run(ctx: Context, input: Input): Promise<void>;
}

export interface Input {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Options every command takes; they may stand anywhere on the line. */
export const GLOBAL_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  jq: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} satisfies Options;

export const GLOBAL_HELP = [
  "--url URL        The registry (env MREG_URL, then `mreg login`; default http://127.0.0.1:8787)",
  "--token JWT      The bearer token (env MREG_TOKEN, then `mreg login`)",
  '--json           Machine-readable output on stdout (errors too, as {"error": …})',
  "--jq PATH        Only these fields of the JSON: .version, .items[].name, .a, .b (implies --json)",
  "-q, --quiet      No progress output",
  "-h, --help       This help",
];

/** Splits argv into the command words and the rest, skipping global options placed before them. */
export function findCommand(
  argv: string[],
  commands: Command[],
): { command?: Command; words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  const names = new Set(commands.flatMap((c) => c.name.split(" ").map((_, i, all) => all.slice(0, i + 1).join(" "))));
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--url" || arg === "--token" || arg === "--jq") {
      rest.push(arg, argv[i + 1] ?? "");
      i++;
      continue;
    }
    if (arg.startsWith("-")) {
      rest.push(arg);
      continue;
    }
    if (names.has([...words, arg].join(" "))) {
      words.push(arg);
      continue;
    }
    break;
  }
  rest.push(...argv.slice(i));
  const name = words.join(" ");
  return { command: commands.find((c) => c.name === name), words, rest };
}

export function parseInput(command: Command, argv: string[]): Input {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // parseArgs's messages name the option and say what is wrong; the code is noise here.
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""), command.name);
  }
  const spec = (command.args ?? "").split(" ").filter(Boolean);
  const required = spec.filter((a) => a.startsWith("<")).length;
  const variadic = spec.some((a) => a.endsWith("...>") || a.endsWith("...]"));
  if (!parsed.values.help) {
    if (parsed.positionals.length < required) throw new UsageError(`expected ${command.args}`, command.name);
    if (!variadic && parsed.positionals.length > spec.length) {
      throw new UsageError(`unexpected argument '${parsed.positionals[spec.length]}'`, command.name);
    }
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

export function commandHelp(command: Command): string {
  const lines = [`mreg ${command.name}${command.args ? ` ${command.args}` : ""}`, "", `  ${command.summary}`];
  if (command.help?.length) lines.push("", "Options:", ...command.help.map((h) => `  ${h}`));
  lines.push("", "Global options:", ...GLOBAL_HELP.map((h) => `  ${h}`));
  if (command.examples?.length) lines.push("", "Examples:", ...command.examples.map((e) => `  ${e}`));
  return lines.join("\n") + "\n";
}

export function overview(commands: Command[], prefix = ""): string {
  const shown = commands.filter((c) => c.name.startsWith(prefix));
  const width = Math.max(...shown.map((c) => (c.name + (c.args ? ` ${c.args}` : "")).length));
  const lines = [
    prefix ? `mreg ${prefix.trim()}: commands` : "mreg: the ML model registry from a terminal or a pipeline",
    "",
    "Usage: mreg <command> [arguments] [options]",
    "",
    "Commands:",
    ...shown.map((c) => `  ${(c.name + (c.args ? ` ${c.args}` : "")).padEnd(width)}  ${c.summary}`),
    "",
    "Global options:",
    ...GLOBAL_HELP.map((h) => `  ${h}`),
    "",
    "Exit codes: 0 ok, 1 error, 2 usage, 3 gate refused, 4 conflict, 5 not found, 130 interrupted.",
    "`mreg <command> --help` for a command's options and examples.",
  ];
  return lines.join("\n") + "\n";
}

// ---- typed access to parsed values ----------------------------------------------------------

export function str(input: Input, name: string): string | undefined {
  const v = input.values[name];
  return typeof v === "string" ? v : undefined;
}

export function strs(input: Input, name: string): string[] {
  const v = input.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
}

export function flag(input: Input, name: string): boolean {
  return input.values[name] === true;
}

export function int(input: Input, name: string, bounds: { min?: number; max?: number } = {}): number | undefined {
  const v = str(input, name);
  if (v === undefined) return undefined;
  return toInt(v, `--${name}`, bounds);
}

export function toInt(
  v: string,
  what: string,
  { min = 1, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  if (!/^-?\d+$/.test(v)) throw new UsageError(`${what} must be a whole number, not '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max}`);
  return n;
}

/** `--tag k=v` pairs into a map (later wins). */
export function pairs(input: Input, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of strs(input, name)) {
    const at = p.indexOf("=");
    if (at <= 0) throw new UsageError(`--${name} takes key=value, not '${p}'`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

/** `--tag k=v` or `--tag k:v` pairs into a map (later wins): one syntax with `?tag=` (src/domain/tag-pair.ts). */
export function tagPairs(input: Input, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const text of strs(input, name)) {
    const { key, value } = tagPairOf(text, name);
    out[key] = value;
  }
  return out;
}

/** One `key=value` or `key:value`, or a usage error naming the option. */
export function tagPairOf(text: string, option: string): TagPair {
  const pair = splitTagPair(text);
  if (!pair) throw new UsageError(`--${option} takes ${TAG_PAIR_HINT}, not '${text}'`);
  return pair;
}

/** `--metric k=0.93` pairs into numbers. */
export function numberPairs(input: Input, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(pairs(input, name))) {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} ${k}= needs a number, not '${v}'`);
    out[k] = n;
  }
  return out;
}

/** Sizes as `16MiB`, `64M`, `1GiB` or bytes. */
export function size(input: Input, name: string): number | undefined {
  const v = str(input, name);
  if (v === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(v.trim());
  if (!match) throw new UsageError(`--${name} takes a size such as 16MiB, not '${v}'`);
  const unit = (match[2] ?? "").toLowerCase()[0];
  const scale = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Math.round(Number(match[1]) * scale);
}
