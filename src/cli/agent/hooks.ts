/**
 * What runs before a switch, to judge the staged version: `--check` (a shell command, with the
 * staged version's directory in MREG_DIR); a failure refuses the version. What runs after each
 * switch, to tell the model server: `--exec` (a shell command, with the version in its
 * environment) and `--notify` (a POST of the resolution). Either failing (non-zero exit, a
 * signal, a timeout, a non-2xx answer, no answer) makes the switch fail.
 *
 * A hook's environment is clean: the names below, PATH (so `sh -c` finds what the agent would
 * find; on Windows also what cmd.exe needs to start), and what the operator passes with
 * `--hook-env`. Nothing else of the agent's: not its token (MREG_TOKEN), which a hook that
 * prints its environment would otherwise put in the agent's log.
 */
import { spawn } from "node:child_process";

export type HookResult = { ok: true } | { ok: false; reason: string };

export interface HookEnv {
  MREG_VERSION: string;
  MREG_PREVIOUS: string;
  MREG_DIR: string;
  MREG_MODEL: string;
  MREG_ALIAS: string;
  MREG_DIGEST: string;
}

/** The names the agent sets for a hook; `--hook-env` may not set them. */
const HOOK_NAMES: readonly (keyof HookEnv)[] = [
  "MREG_VERSION",
  "MREG_PREVIOUS",
  "MREG_DIR",
  "MREG_MODEL",
  "MREG_ALIAS",
  "MREG_DIGEST",
];

/** What a hook gets of the agent's own environment unasked. */
const INHERITED = process.platform === "win32" ? ["PATH", "SystemRoot", "ComSpec", "PATHEXT"] : ["PATH"];

/**
 * A hook's environment but for the names of HOOK_NAMES: PATH (and on Windows what cmd.exe
 * needs), then each `--hook-env` argument, `NAME` (its value in the agent's environment `from`)
 * or `NAME=value`. A name the agent sets, the agent's token, a NAME not set in `from` or
 * not a name: the message says why.
 */
export function hookEnvironment(
  args: readonly string[],
  from: NodeJS.ProcessEnv,
): { ok: true; env: Record<string, string> } | { ok: false; message: string } {
  const env: Record<string, string> = {};
  for (const name of INHERITED) if (from[name] !== undefined) env[name] = from[name]!;
  for (const arg of args) {
    const at = arg.indexOf("=");
    const name = at < 0 ? arg : arg.slice(0, at);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      return { ok: false, message: `--hook-env takes NAME or NAME=value, not '${arg}'` };
    if (name === "MREG_TOKEN")
      return {
        ok: false,
        message:
          "--hook-env MREG_TOKEN: the agent's token is never given to a hook; give a hook that must call the registry a token of its own (NAME=value, or a file it reads)",
      };
    if ((HOOK_NAMES as readonly string[]).includes(name))
      return { ok: false, message: `--hook-env ${name}: the agent sets it` };
    const value = at < 0 ? from[name] : arg.slice(at + 1);
    if (value === undefined)
      return {
        ok: false,
        message: `--hook-env ${name}: not set in the agent's environment (give NAME=value to set it)`,
      };
    env[name] = value;
  }
  return { ok: true, env };
}

/** The last `max` characters of what a hook printed, for the reason a failure gives. */
class Tail {
  private text = "";
  constructor(private readonly max = 2000) {}
  add(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.max);
  }
  get last(): string {
    return this.text.trim().split("\n").slice(-3).join(" | ");
  }
}

/**
 * Runs `command` in a shell with `env` as its whole environment (hookEnvironment's and the
 * contract's names; nothing of the agent's own besides); its output goes to the agent's log
 * line by line (prefixed), so the agent's log tells the whole story. Past `timeoutMs` its
 * process group gets SIGTERM, and SIGKILL 5 s later.
 */
export function runExec(
  command: string,
  env: HookEnv & Record<string, string>,
  timeoutMs: number,
  write: (line: string) => void,
  /** The flag it came from, in what it says (`--exec`, `--check`). */
  flag = "--exec",
): Promise<HookResult> {
  return new Promise((resolve) => {
    const posix = process.platform !== "win32";
    const child = spawn(command, { shell: true, env, stdio: ["ignore", "pipe", "pipe"], detached: posix });
    const out = new Tail();
    const err = new Tail();
    const forward = (tail: Tail) => (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      tail.add(text);
      for (const line of text.split("\n")) if (line.trim()) write(`${flag.slice(2)}: ${line}`);
    };
    child.stdout!.on("data", forward(out));
    child.stderr!.on("data", forward(err));
    let timedOut = false;
    const kill = (signal: NodeJS.Signals) => {
      try {
        if (posix && child.pid) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // gone already
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
      setTimeout(() => kill("SIGKILL"), 5000).unref();
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: `${flag} could not start: ${err.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && !timedOut) return resolve({ ok: true });
      const how = timedOut
        ? `did not finish within ${Math.round(timeoutMs / 1000)} s`
        : signal
          ? `was killed by ${signal}`
          : `exited with code ${code}`;
      // What it said on stderr says why; failing that, its last words on stdout.
      const said = err.last || out.last;
      resolve({ ok: false, reason: `${flag} ${how}${said ? `: ${said}` : ""}` });
    });
  });
}

/** POSTs `body` as JSON to `url`; a 2xx answer within `timeoutMs` is success. */
export async function runNotify(url: string, body: unknown, timeoutMs: number): Promise<HookResult> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text().catch(() => "");
    if (res.ok) return { ok: true };
    return {
      ok: false,
      reason: `--notify ${url} answered ${res.status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ""}`,
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    const what =
      err instanceof Error && err.name === "TimeoutError"
        ? `did not answer within ${Math.round(timeoutMs / 1000)} s`
        : `failed: ${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ""}`;
    return { ok: false, reason: `--notify ${url} ${what}` };
  }
}
