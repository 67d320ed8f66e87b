/**
 * `mreg agent registry://<model>@<alias> --dir <dir>`: the serving node's side of a
 * deployment, as a long-running process beside the model server (see ./agent.ts for the
 * loop, ./layout.ts for the directory it keeps).
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { parseModelUri } from "../../client/aliases";
import { flag, int, size, str, strs, type Command } from "../command";
import { makeClient } from "../context";
import { DEFAULT_CHUNK, DEFAULT_STALL_MS } from "../download";
import { UsageError } from "../exit";
import type { Output } from "../output";
import { normalizeUri } from "../commands/pull";
import { trustHelp, TRUST_OPTIONS, trustFromFlags } from "../verify-version";
import { LABEL_KEY, MAX_LABEL_VALUE, MAX_LABELS } from "../../domain/fleet-limits";
import { MAX_NODE_NAME } from "../../domain/signal-limits";
import { Agent, type Log } from "./agent";
import { hookEnvironment } from "./hooks";
import { Layout } from "./layout";
import { localCredential } from "./local-auth";
import { redactor } from "./report";
import { listen, parseListen } from "./server";

const DEFAULT_LISTEN = "127.0.0.1:9464";
/** How long a version --check refused waits before it is looked at again (unless the alias changes first). */
const DEFAULT_RETRY_REFUSED_S = 300;
/** NODE_REPORT_S: the registry counts a node stale after 90 s without a report. */
const DEFAULT_REPORT_EVERY_S = 30;

/** `--label KEY=VALUE`s, held to what a report may carry (src/domain/fleet-limits.ts). */
function labelsOf(args: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const arg of args) {
    const at = arg.indexOf("=");
    const key = at < 0 ? arg : arg.slice(0, at);
    if (at < 0 || !LABEL_KEY.test(key))
      throw new UsageError(`--label takes KEY=VALUE, KEY 1 to 63 of A-Z a-z 0-9 . _ / -: not '${arg}'`, "agent");
    if (arg.length - at - 1 > MAX_LABEL_VALUE)
      throw new UsageError(`--label ${key}: a value is at most ${MAX_LABEL_VALUE} characters`, "agent");
    labels[key] = arg.slice(at + 1);
  }
  if (Object.keys(labels).length > MAX_LABELS) throw new UsageError(`at most ${MAX_LABELS} --label`, "agent");
  return labels;
}

/** Every string in a log line's fields, redacted. */
function redactAll(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === "string") return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactAll(v, redact));
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactAll(v, redact)]));
  return value;
}

/** Log lines: text with a timestamp on stderr, or with --json one object per line on stdout; no secret in either. */
function logger(out: Output, redact: (text: string) => string): Log {
  const write = (level: "info" | "warn", event: string, fields: Record<string, unknown>, text: string) => {
    const at = new Date().toISOString();
    if (out.json)
      out.line(
        { at, level, event, ...(redactAll(fields, redact) as Record<string, unknown>), message: redact(text) },
        () => "",
      );
    else if (level === "warn") out.error(`${at} mreg agent: ${redact(text)}`);
    else out.note(`${at} mreg agent: ${redact(text)}`);
  };
  return { info: (e, f, t) => write("info", e, f, t), warn: (e, f, t) => write("warn", e, f, t) };
}

export const agent: Command = {
  name: "agent",
  args: "<uri>",
  summary:
    "Keep a directory in step with an alias: fetch, verify, switch `current`, run a hook (a serving node's sidecar)",
  options: {
    dir: { type: "string" },
    keep: { type: "string" },
    key: { type: "string" },
    exec: { type: "string" },
    check: { type: "string" },
    "retry-refused": { type: "string" },
    label: { type: "string", multiple: true },
    "report-every": { type: "string" },
    "hook-env": { type: "string", multiple: true },
    notify: { type: "string" },
    "hook-timeout": { type: "string" },
    listen: { type: "string" },
    parallel: { type: "string" },
    "chunk-size": { type: "string" },
    "limit-rate": { type: "string" },
    "stall-timeout": { type: "string" },
    "token-file": { type: "string" },
    "trust-local-counts": { type: "boolean" },
    ...TRUST_OPTIONS,
  },
  help: [
    "--dir DIR            Where versions live: DIR/current → versions/v<n> (required)",
    "--keep N             Complete versions kept on disk, for a way back with no download (default 3)",
    "--key KEY            This node's routing key (which member of a split it serves) and its name in the fleet (default: the hostname)",
    '--exec "CMD"         Run after each switch (sh -c), with MREG_VERSION, MREG_PREVIOUS, MREG_DIR,',
    "                     MREG_MODEL, MREG_ALIAS, MREG_DIGEST and PATH only; failing switches back and retries later",
    '--check "CMD"        Judge each version before current moves to it (sh -c, the same environment as --exec,',
    "                     MREG_DIR the staged version's directory); failing refuses it: current never points at it",
    `--retry-refused S    Look at a version --check refused again S seconds later (default ${DEFAULT_RETRY_REFUSED_S};`,
    "                     0: never by the clock); a change of the alias always looks at it again",
    "--hook-env NAME[=V]  Also give --exec and --check NAME (from the agent's environment) or NAME=V (repeatable; never MREG_TOKEN)",
    "--label KEY=VALUE    A label on this node's reports to the fleet view (repeatable, at most 16: zone=eu-1)",
    `--report-every S     Report this node's state at least every S seconds (default ${DEFAULT_REPORT_EVERY_S}; and on every change)`,
    "--notify URL         POST the new resolution (JSON) after each switch; non-2xx counts as failing",
    "--hook-timeout S     Seconds --exec and --notify may take (default 60)",
    `--listen HOST:PORT   Local HTTP: /healthz, /status, /metrics, POST /signals (default ${DEFAULT_LISTEN}; off: none)`,
    "--trust-local-counts Take a post's `count` to /signals as that many samples (default: each post is one)",
    "--parallel N         Ranges in flight per file (default 4)",
    "--chunk-size SIZE    Range size (default 32MiB)",
    "--limit-rate SIZE    Download at most SIZE a second (e.g. 50MiB), to leave the network to serving",
    "--stall-timeout S    Abandon a download that receives nothing for S seconds, to resume it later (default 60)",
    "--token-file PATH    Read the token from PATH on every request (a mounted Secret, rotated in place)",
    ...trustHelp(21),
    "With a --trust-* setting, a version becomes current only once this node has verified one of its",
    "signatures over exactly its files; else it is refused (see /status) and current keeps serving.",
  ],
  examples: [
    'mreg agent registry://payment-fraud@production --dir /models/fraud --exec "curl -fsS -XPOST localhost:8080/reload"',
    "mreg agent payment-fraud@production --dir /models/fraud --check 'python smoke.py \"$MREG_DIR\"' --label zone=eu-1",
    'mreg agent payment-fraud@canary --dir /models/fraud --key "$NODE_NAME" --listen 0.0.0.0:9464 --json',
    "mreg agent payment-fraud@production --dir /models/fraud --trust-key /etc/mreg/release-2026.pub.pem",
  ],
  async run(ctx, input) {
    const uri = parseModelUri(normalizeUri(input.positionals[0]!));
    if (uri.alias === undefined)
      throw new UsageError(
        "the agent follows an alias (registry://<model>@<alias>); for one fixed version use `mreg pull`",
        "agent",
      );
    const dirArg = str(input, "dir");
    if (!dirArg) throw new UsageError("--dir is required", "agent");
    const listenArg = str(input, "listen") ?? DEFAULT_LISTEN;
    const where = listenArg === "off" ? null : parseListen(listenArg);
    if (listenArg !== "off" && !where) throw new UsageError(`--listen takes HOST:PORT, not '${listenArg}'`, "agent");
    const chunkSize = size(input, "chunk-size") ?? DEFAULT_CHUNK;
    if (chunkSize < 64 * 1024) throw new UsageError("--chunk-size must be at least 64KiB", "agent");
    const rate = size(input, "limit-rate") ?? null;
    if (rate !== null && rate < 1024) throw new UsageError("--limit-rate must be at least 1KiB", "agent");
    const notify = str(input, "notify") ?? null;
    if (notify !== null && !/^https?:\/\//.test(notify)) throw new UsageError("--notify takes an http(s) URL", "agent");
    const tokenFile = str(input, "token-file");
    const token = tokenFile ? () => readToken(tokenFile) : ctx.settings.token;
    if (tokenFile) readToken(tokenFile, true);
    const key = str(input, "key") ?? hostname();
    if (key.length < 1 || key.length > MAX_NODE_NAME)
      throw new UsageError(`--key takes 1 to ${MAX_NODE_NAME} characters`, "agent");
    const hookEnv = hookEnvironment(strs(input, "hook-env"), process.env);
    if (!hookEnv.ok) throw new UsageError(hookEnv.message, "agent");
    const trust = await trustFromFlags(input, "agent");

    const client = makeClient(ctx.settings.url, token);
    const layout = new Layout(resolve(dirArg));
    // The local credential is made once the directory is ours (after load); until then it is nothing to hide.
    let credential: { token: string; file: string } | null = null;
    const redact = redactor(() => [typeof token === "function" ? token() : token, credential?.token]);
    const log = logger(ctx.out, redact);
    const a = new Agent(
      client,
      layout,
      {
        model: uri.model,
        alias: uri.alias,
        key,
        uri: `registry://${uri.model}@${uri.alias}`,
        registryUrl: ctx.settings.url,
        keep: int(input, "keep", { min: 1, max: 1000 }) ?? 3,
        exec: str(input, "exec") ?? null,
        check: str(input, "check") ?? null,
        retryRefusedMs: (int(input, "retry-refused", { min: 0, max: 7 * 86_400 }) ?? DEFAULT_RETRY_REFUSED_S) * 1000,
        reportEveryMs: (int(input, "report-every", { min: 1, max: 3600 }) ?? DEFAULT_REPORT_EVERY_S) * 1000,
        labels: labelsOf(strs(input, "label")),
        hookEnv: hookEnv.env,
        notify,
        hookTimeoutMs: (int(input, "hook-timeout", { min: 1, max: 86_400 }) ?? 60) * 1000,
        parallel: int(input, "parallel", { min: 1, max: 32 }) ?? 4,
        chunkSize,
        rate,
        stallMs: (int(input, "stall-timeout", { min: 1, max: 86_400 }) ?? DEFAULT_STALL_MS / 1000) * 1000,
        trust,
      },
      log,
    );
    await a.load();
    let listening;
    try {
      if (where) {
        credential = await localCredential(layout.meta);
        listening = await listen(a, where, {
          credential,
          trustLocalCounts: flag(input, "trust-local-counts"),
          redact,
          log,
        });
      } else listening = null;
    } catch (err) {
      layout.unlock();
      throw err;
    }
    log.info(
      "started",
      {
        uri: a.state.uri,
        key,
        dir: layout.dir,
        registry: ctx.settings.url,
        listen: listening?.url ?? null,
        signals_credential: credential?.file ?? null,
        verify: trust ? trust.keys.length + trust.cas.length + trust.identities.length : null,
      },
      `following ${a.state.uri} (key ${key}) into ${layout.dir}${listening ? `; listening on ${listening.url} (POST /signals with the credential in ${credential!.file})` : ""}`,
    );

    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (stop.signal.aborted) {
        // A second signal: the person means it.
        log.warn("killed", { signal }, `${signal} again: exiting now`);
        process.exit(130);
      }
      log.info("stopping", { signal }, `${signal}: stopping (a download under way is kept for later; current stays)`);
      stop.abort();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    try {
      await a.run(stop.signal);
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      await listening?.close();
      layout.unlock();
    }
    log.info(
      "stopped",
      { version: a.state.current?.version ?? null },
      `stopped${a.state.current ? `; current is v${a.state.current.version}` : ""}`,
    );
  },
};

/** The token in a file (trailing newline and spaces dropped); `strict` when its absence is a usage error. */
function readToken(file: string, strict = false): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch (err) {
    if (strict) throw new UsageError(`--token-file ${file}: ${(err as Error).message}`, "agent");
    return undefined;
  }
}
