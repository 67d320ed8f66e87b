/**
 * The real server for end-to-end tests: `npm start` (migrations + wrangler dev) on a free
 * port with its own state directory, in its own process group so stopping it stops wrangler
 * and workerd too; and development tokens minted the way docs/api.md says.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const root = join(import.meta.dirname, "..", "..");

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export interface Server {
  base: string;
  output: () => string;
  /** SIGTERM to the whole process group; removes the state directory unless the caller gave it. */
  stop: () => void;
  /** SIGKILL to the whole process group (npm, wrangler, workerd): a crash. The state stays. */
  kill: () => void;
}

/**
 * What every test server passes to `npm start` besides its own flags: without an explicit
 * inspector port, wrangler dev takes the first free one from 9229, checked now and bound
 * later, so two servers starting at once on this machine (other suites' too) race for it and
 * the loser exits with "Address already in use". Port 0 lets the kernel choose.
 */
export const SERVER_ARGS = ["--inspector-port", "0"];

/**
 * Starts `npm start -- --port <free> --persist-to <tmp> ...extra` and waits for /healthz.
 * `port` and `state` start it where a killed one was, on the same data. A free port found
 * here can still be taken by another process before wrangler binds it: without `port`, that
 * start is retried on another.
 */
export async function startServer(extra: string[] = [], at: { port?: number; state?: string } = {}): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(extra, { ...at, port: at.port ?? (await freePort()) });
    } catch (err) {
      if (at.port !== undefined || attempt >= 3 || !(err instanceof PortTaken)) throw err;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(extra: string[], at: { port: number; state?: string }): Promise<Server> {
  const { port } = at;
  const state = at.state ?? mkdtempSync(join(tmpdir(), "mreg-e2e-"));
  const child: ChildProcess = spawn(
    "npm",
    ["start", "--", "--port", String(port), "--persist-to", state, ...SERVER_ARGS, ...extra],
    {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  const signal = (name: NodeJS.Signals) => {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, name);
  };
  const stop = () => {
    signal("SIGTERM");
    if (!at.state) rmSync(state, { recursive: true, force: true });
  };
  const kill = () => signal("SIGKILL");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, output: () => output, stop, kill };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      stop();
      const message = `npm start did not come up:\n${output}`;
      throw /address already in use/i.test(output) ? new PortTaken(message) : new Error(message);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A development token, as `npm run token` mints it; `models`: the globs it is limited to. */
export function token(sub: string, scope: string, models?: string, aliases?: string): string {
  const limit = [
    ...(models === undefined ? [] : ["--models", models]),
    ...(aliases === undefined ? [] : ["--aliases", aliases]),
  ];
  return execFileSync("npm", ["run", "-s", "token", "--", "--sub", sub, "--scope", scope, ...limit], {
    cwd: root,
    encoding: "utf8",
  }).trim();
}
