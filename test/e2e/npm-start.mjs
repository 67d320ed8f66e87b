/**
 * Starting the registry for real, written once for every test and benchmark that does it:
 * the end-to-end and CLI tests (./server.ts), the chaos campaign (../chaos/server.ts), the
 * start test (./start.test.ts) and the benchmarks (bench/lib.mjs). Plain JavaScript, with its
 * types beside it (./npm-start.d.mts), because the benchmarks run on plain Node, which cannot
 * import TypeScript.
 *
 * A server runs in its own process group, so that one signal reaches npm, wrangler and workerd
 * together; every group still alive when this process exits is killed, so no server outlives
 * the run that started it. Readiness is observed (an answer on a health path), never assumed
 * after a fixed time.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A port nobody listens on right now (another process may still take it before the server binds it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * What every `wrangler dev` a test or benchmark starts passes besides its own flags: without
 * an explicit inspector port, wrangler dev takes the first free one from 9229, checked now and
 * bound later, so two servers starting at once on this machine (other suites' too) race for it
 * and the loser exits with "Address already in use". Port 0 lets the kernel choose.
 */
export const SERVER_ARGS = ["--inspector-port", "0"];

/** `npm`'s arguments for `npm start -- --port <port> --persist-to <state> …extra`. */
export function npmStartArgs(port, state, extra = []) {
  return ["start", "--", "--port", String(port), "--persist-to", state, ...SERVER_ARGS, ...extra];
}

/** Process groups still alive: killed on any exit of this process. */
const groups = new Set();
process.on("exit", () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/**
 * Spawns `command args` in a process group of its own, collecting its output (stdout and
 * stderr together). With `keepChars`, only about the last that many characters are kept, for
 * a server that runs long and logs much.
 */
export function spawnGroup(command, args, { cwd = root, env, keepChars } = {}) {
  const child = spawn(command, args, {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    ...(env ? { env } : {}),
  });
  const pid = child.pid;
  if (pid) groups.add(pid);
  child.on("exit", () => {
    if (pid) groups.delete(pid);
  });
  let output = "";
  const keep = (d) => {
    output += d;
    if (keepChars !== undefined && output.length > 2 * keepChars) output = output.slice(-keepChars);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return {
    child,
    pid,
    output: () => output,
    /** Whether the process is still running (the group's leader: npm, or the command itself). */
    running: () => child.exitCode === null && child.signalCode === null,
    /** Sends `signal` to the whole group; false when it is gone already. */
    signal(signal) {
      if (!pid) return false;
      try {
        process.kill(-pid, signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Asks `url` every `everyMs` until an answer passes `ready` ("up"), the group's leader exits
 * ("exited") or `timeoutMs` passes ("timeout"). Each request may take up to
 * `requestTimeoutMs`: a server that accepts and never answers does not stall the wait.
 */
export async function waitForHealth(
  group,
  url,
  { timeoutMs = 120_000, everyMs = 250, requestTimeoutMs = 10_000, ready = (res) => res.ok } = {},
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) });
      await res.body?.cancel();
      if (ready(res)) return "up";
    } catch {
      // not listening yet
    }
    if (!group.running()) return "exited";
    if (Date.now() > deadline) return "timeout";
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
