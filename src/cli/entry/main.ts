/**
 * The `mreg` command. Finds the command, parses its arguments, runs it, and turns any
 * failure into a message on stderr (never a stack trace) and a documented exit code.
 */
import { MregError } from "../../client/errors";
import { commandHelp, findCommand, overview, parseInput, str, type Command, type Input } from "../command";
import { complete, completionScript, SHELLS } from "../completion";
import { closest, explainNotFound, isNotFound, NotFound } from "../not-found";
import { parseSelector, type Selector } from "../select";
import {
  retentionPreview,
  retentionRm,
  retentionSet,
  retentionShow,
  webhooksAdd,
  webhooksDeliveries,
  webhooksEnable,
  webhooksLs,
  webhooksPing,
  webhooksRedeliver,
  webhooksRm,
  webhooksRotate,
} from "../commands/admin";
import { approve, gatesCheck, gatesLs, gatesRm, gatesSet, guardRm, guardSet, guardShow } from "../commands/gates";
import { login, logout, token, tokenCreate, tokenLs, tokenRevoke, whoami } from "../commands/auth";
import {
  aliasLs,
  aliasRm,
  aliasSet,
  aliasSwap,
  history,
  printGateChecks,
  promote,
  rollback,
} from "../commands/promote";
import { agent } from "../agent/command";
import { fleet } from "../commands/fleet";
import { importMlflow } from "../commands/import-mlflow";
import { pull } from "../commands/pull";
import { rolloutAbort, rolloutPause, rolloutResume, rolloutStart, rolloutStatus } from "../commands/rollout";
import { push } from "../commands/push";
import { sign } from "../commands/sign";
import {
  modelsCreate,
  modelsDelete,
  modelsLs,
  modelsShow,
  modelsUpdate,
  versionsDelete,
  versionsLs,
  versionsShow,
  versionsStage,
  versionsUpdate,
} from "../commands/registry";
import { audit, diff, lineage, resolveCmd, watch } from "../commands/serving";
import { Context } from "../context";
import { EXIT, UsageError, exitCodeOf } from "../exit";
import { Output } from "../output";
import { VERSION } from "../version";

export const COMMANDS: Command[] = [
  login,
  logout,
  whoami,
  token,
  tokenCreate,
  tokenLs,
  tokenRevoke,
  modelsLs,
  modelsCreate,
  modelsShow,
  modelsUpdate,
  modelsDelete,
  versionsLs,
  versionsShow,
  versionsUpdate,
  versionsStage,
  versionsDelete,
  push,
  pull,
  sign,
  aliasLs,
  aliasSet,
  aliasRm,
  aliasSwap,
  promote,
  rollback,
  history,
  resolveCmd,
  watch,
  agent,
  fleet,
  gatesLs,
  gatesSet,
  gatesRm,
  gatesCheck,
  approve,
  guardShow,
  guardSet,
  guardRm,
  rolloutStart,
  rolloutStatus,
  rolloutPause,
  rolloutResume,
  rolloutAbort,
  audit,
  lineage,
  diff,
  webhooksLs,
  webhooksAdd,
  webhooksRm,
  webhooksRotate,
  webhooksEnable,
  webhooksDeliveries,
  webhooksRedeliver,
  webhooksPing,
  retentionShow,
  retentionSet,
  retentionRm,
  retentionPreview,
  importMlflow,
];

export const completion: Command = {
  name: "completion",
  args: "<shell>",
  summary: "Print the shell completion script: bash, zsh or fish",
  examples: [
    "source <(mreg completion bash)",
    'mreg completion zsh > "${fpath[1]}/_mreg"',
    "mreg completion fish > ~/.config/fish/completions/mreg.fish",
  ],
  async run(_ctx, input) {
    const shell = input.positionals[0]!;
    if (!(SHELLS as readonly string[]).includes(shell))
      throw new UsageError(`no completion for '${shell}': give one of ${SHELLS.join(", ")}`);
    process.stdout.write(completionScript(shell as (typeof SHELLS)[number]));
  },
};
COMMANDS.push(completion);

/** The value of `--jq` wherever it stands (`--jq P` or `--jq=P`). */
function jqArgument(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--jq") return argv[i + 1] ?? "";
    if (argv[i]!.startsWith("--jq=")) return argv[i]!.slice(5);
  }
  return undefined;
}

/** `mreg promot`: the command meant, by edit distance over every command's words. */
function didYouMean(words: string[], unknown: string): string | undefined {
  const candidates = new Set<string>();
  for (const c of COMMANDS) {
    const parts = c.name.split(" ");
    if (parts.length > words.length && words.every((w, i) => parts[i] === w))
      candidates.add(parts.slice(0, words.length + 1).join(" "));
  }
  const typed = [...words, unknown].join(" ");
  const near = closest(typed, [...candidates]);
  return near ? `mreg ${near}` : undefined;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "__complete") {
    // Asked by the completion scripts: candidates for the last word, one per line.
    const found = complete(argv.slice(1), COMMANDS);
    if (found.length) process.stdout.write(found.join("\n") + "\n");
    return EXIT.ok;
  }
  const jq = jqArgument(argv);
  let selector: Selector | undefined;
  try {
    selector = jq === undefined ? undefined : parseSelector(jq);
  } catch (err) {
    process.stderr.write(`mreg: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  const json = argv.includes("--json") || selector !== undefined;
  const quiet = argv.includes("--quiet") || argv.includes("-q");
  const out = new Output(json, quiet, process.stdout, process.stderr, selector);
  if (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version") {
    out.result({ version: VERSION }, () => `mreg ${VERSION}`);
    return EXIT.ok;
  }
  const wantsHelp = argv.includes("--help") || argv.includes("-h") || argv[0] === "help";
  const { command, words, rest: unparsed } = findCommand(argv[0] === "help" ? argv.slice(1) : argv, COMMANDS);
  if (!command) {
    const prefix = words.length ? words.join(" ") + " " : "";
    // The first word after the command words that is not an option (nor an option's value).
    const unknown = unparsed.find(
      (a, i) => !a.startsWith("-") && !["--url", "--token", "--jq"].includes(unparsed[i - 1] ?? ""),
    );
    const meant = unknown !== undefined ? didYouMean(words, unknown) : undefined;
    if ((wantsHelp || argv.length === 0) && unknown === undefined) {
      process.stdout.write(overview(COMMANDS, prefix));
      return EXIT.ok;
    }
    if (unknown === undefined) {
      // `mreg models` alone: say which subcommands there are, as a usage error (stderr, exit 2).
      process.stderr.write(overview(COMMANDS, prefix));
      return EXIT.usage;
    }
    out.error(
      `mreg: unknown command '${[...words, unknown].join(" ")}'.${meant ? ` Did you mean '${meant}'?` : ""} Run 'mreg ${prefix}--help' for the list.`,
    );
    return EXIT.usage;
  }
  if (wantsHelp) {
    process.stdout.write(commandHelp(command));
    return EXIT.ok;
  }
  const { rest } = findCommand(argv, COMMANDS);
  let ctx: Context | undefined;
  let input: Input | undefined;
  try {
    input = parseInput(command, rest);
    ctx = new Context(out, { url: str(input, "url"), token: str(input, "token") });
    await command.run(ctx, input);
    return EXIT.ok;
  } catch (err) {
    let failure = err;
    if (ctx && input && command.target && isNotFound(err))
      failure = (await explainNotFound(ctx.client, command.target(input))) ?? err;
    report(out, failure, command);
    return exitCodeOf(failure);
  }
}

function report(out: Output, err: unknown, command: Command): void {
  if (err instanceof UsageError) {
    out.error(`mreg ${command.name}: ${err.message}\nRun 'mreg ${command.name} --help' for its usage.`);
    if (out.json) out.errorJson({ code: "usage", detail: err.message });
    return;
  }
  if (err instanceof NotFound) {
    out.error(`mreg: ${err.message}`);
    if (out.json) out.errorJson({ status: 404, code: "not_found", detail: err.message, ...err.facts });
    return;
  }
  if (err instanceof MregError) {
    const hint =
      err.code === "unauthenticated"
        ? " (check --token, MREG_TOKEN or `mreg login`; `mreg whoami` shows the token in use)"
        : "";
    out.error(`mreg: ${err.detail}${hint}`);
    for (const e of err.errors ?? []) out.error(`  ${e.path}: ${e.message}`);
    if (err.code === "gate_failed" && !out.json) printGateChecks(out, err.checks ?? []);
    if (out.json) {
      out.errorJson({
        ...(err.problem ?? {}),
        status: err.status,
        code: err.code,
        detail: err.detail,
        ...(err.requestId ? { request_id: err.requestId } : {}),
      });
    }
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  out.error(`mreg: ${message}`);
  if (out.json) out.errorJson({ code: "cli_error", detail: message });
  if (process.env.MREG_DEBUG && err instanceof Error && err.stack) out.error(err.stack);
}
