/**
 * The `mreg` command. Finds the command, parses its arguments, runs it, and turns any
 * failure into a message on stderr (never a stack trace) and a documented exit code.
 */
import { MregError } from "../client/errors";
import { commandHelp, findCommand, overview, parseInput, str, type Command } from "./command";
import { retentionPreview, retentionRm, retentionSet, retentionShow, webhooksAdd, webhooksDeliveries, webhooksEnable, webhooksLs, webhooksPing, webhooksRedeliver, webhooksRm, webhooksRotate } from "./commands/admin";
import { approve, gatesCheck, gatesLs, gatesRm, gatesSet, guardRm, guardSet, guardShow } from "./commands/gates";
import { login, logout, token, tokenCreate, tokenLs, tokenRevoke, whoami } from "./commands/auth";
import { aliasLs, aliasRm, aliasSet, aliasSwap, history, printGateChecks, promote, rollback } from "./commands/promote";
import { agent } from "./agent/command";
import { importMlflow } from "./commands/import-mlflow";
import { pull } from "./commands/pull";
import { push } from "./commands/push";
import { modelsCreate, modelsDelete, modelsLs, modelsShow, modelsUpdate, versionsDelete, versionsLs, versionsShow, versionsStage, versionsUpdate } from "./commands/registry";
import { audit, diff, lineage, resolveCmd, watch } from "./commands/serving";
import { Context } from "./context";
import { EXIT, UsageError, exitCodeOf } from "./exit";
import { Output } from "./output";
import { VERSION } from "./version";

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
  gatesLs,
  gatesSet,
  gatesRm,
  gatesCheck,
  approve,
  guardShow,
  guardSet,
  guardRm,
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

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const quiet = argv.includes("--quiet") || argv.includes("-q");
  const out = new Output(json, quiet);
  if (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version") {
    out.result({ version: VERSION }, () => `mreg ${VERSION}`);
    return EXIT.ok;
  }
  const wantsHelp = argv.includes("--help") || argv.includes("-h") || argv[0] === "help";
  const { command, words } = findCommand(argv[0] === "help" ? argv.slice(1) : argv, COMMANDS);
  if (!command) {
    const prefix = words.length ? words.join(" ") + " " : "";
    if (wantsHelp || argv.length === 0) {
      process.stdout.write(overview(COMMANDS, prefix));
      return EXIT.ok;
    }
    if (words.length > 0) {
      // `mreg models` alone: say which subcommands there are, as a usage error (stderr, exit 2).
      process.stderr.write(overview(COMMANDS, prefix));
      return EXIT.usage;
    }
    const unknown = argv.find((a) => !a.startsWith("-")) ?? argv[0];
    out.error(`mreg: unknown command '${unknown}'. Run 'mreg --help' for the list.`);
    return EXIT.usage;
  }
  if (wantsHelp) {
    process.stdout.write(commandHelp(command));
    return EXIT.ok;
  }
  const { rest } = findCommand(argv, COMMANDS);
  try {
    const input = parseInput(command, rest);
    const ctx = new Context(out, { url: str(input, "url"), token: str(input, "token") });
    await command.run(ctx, input);
    return EXIT.ok;
  } catch (err) {
    report(out, err, command);
    return exitCodeOf(err);
  }
}

function report(out: Output, err: unknown, command: Command): void {
  if (err instanceof UsageError) {
    out.error(`mreg ${command.name}: ${err.message}\nRun 'mreg ${command.name} --help' for its usage.`);
    if (out.json) out.errorJson({ code: "usage", detail: err.message });
    return;
  }
  if (err instanceof MregError) {
    const hint = err.code === "unauthenticated" ? " (check --token, MREG_TOKEN or `mreg login`; `mreg whoami` shows the token in use)" : "";
    out.error(`mreg: ${err.detail}${hint}`);
    for (const e of err.errors ?? []) out.error(`  ${e.path}: ${e.message}`);
    if (err.code === "gate_failed" && !out.json) printGateChecks(out, err.checks ?? []);
    if (out.json) {
      out.errorJson({ ...(err.problem ?? {}), status: err.status, code: err.code, detail: err.detail, ...(err.requestId ? { request_id: err.requestId } : {}) });
    }
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  out.error(`mreg: ${message}`);
  if (out.json) out.errorJson({ code: "cli_error", detail: message });
  if (process.env.MREG_DEBUG && err instanceof Error && err.stack) out.error(err.stack);
}
