/**
 * What runs after each switch, to tell the model server: `--exec` (a shell command, with the
 * version in its environment) and `--notify` (a POST of the resolution). Either failing
 * (non-zero exit, a signal, a timeout, a non-2xx answer, no answer) makes the switch fail.
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
 * Runs `command` in a shell with `env` added to the agent's environment; its output goes to
 * the agent's stderr line by line (prefixed), so the agent's log tells the whole story. Past
 * `timeoutMs` its process group gets SIGTERM, and SIGKILL 5 s later.
 */
export function runExec(command: string, env: HookEnv, timeoutMs: number, write: (line: string) => void): Promise<HookResult> {
  return new Promise((resolve) => {
    const posix = process.platform !== "win32";
    const child = spawn(command, { shell: true, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: posix });
    const out = new Tail();
    const err = new Tail();
    const forward = (tail: Tail) => (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      tail.add(text);
      for (const line of text.split("\n")) if (line.trim()) write(`exec: ${line}`);
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
      resolve({ ok: false, reason: `--exec could not start: ${err.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && !timedOut) return resolve({ ok: true });
      const how = timedOut ? `did not finish within ${Math.round(timeoutMs / 1000)} s` : signal ? `was killed by ${signal}` : `exited with code ${code}`;
      // What it said on stderr says why; failing that, its last words on stdout.
      const said = err.last || out.last;
      resolve({ ok: false, reason: `--exec ${how}${said ? `: ${said}` : ""}` });
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
    return { ok: false, reason: `--notify ${url} answered ${res.status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ""}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    const what = err instanceof Error && err.name === "TimeoutError" ? `did not answer within ${Math.round(timeoutMs / 1000)} s` : `failed: ${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ""}`;
    return { ok: false, reason: `--notify ${url} ${what}` };
  }
}
