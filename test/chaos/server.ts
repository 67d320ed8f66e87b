/**
 * The registry under test: `npm start` on its own port and persist directory, in its own
 * process group so SIGKILL of the group takes npm, wrangler and workerd down together (a
 * crash, not a shutdown), and started again on the same data. Readiness is observed
 * (/healthz), and the wait for it grows with the slowest start seen so far, because the
 * machine is shared and a start under load can take several times the first one.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { SERVER_ARGS } from "../e2e/server";

export const root = join(import.meta.dirname, "..", "..");

/** Settings the campaign needs short or fixed (see docs/chaos.md). */
export const CHAOS_VARS: Record<string, string> = {
  JWT_SECRET: "chaos-secret-0123456789abcdef0123456789",
  WEBHOOK_KEY: "chaos-webhook-key-0123456789abcdef0123456789",
  ALLOW_HTTP_WEBHOOKS: "true",
  // Every answer reflects the object's state at once: the checker compares stores.
  RESOLVE_TTL_S: "0",
  SIGNAL_COALESCE_MS: "0",
  SIGNAL_GUARDS_TTL_S: "0",
  WEBHOOK_RETRY_BASE_S: "1",
  // R2's smallest part, so multipart uploads stay a few MiB.
  UPLOAD_PART_SIZE: String(5 * 1024 * 1024),
  MAX_SINGLE_PUT: String(6 * 1024 * 1024),
  // Abandoned uploads expire within a run; blobs go after the shortest grace allowed.
  UPLOAD_TTL_S: "60",
  BLOB_GC_GRACE_S: "300",
};

/** Process groups still alive: killed on any exit of the harness, so no server outlives it. */
const groups = new Set<number>();
process.on("exit", () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

export class ChaosServer {
  readonly base: string;
  private child: ChildProcess | null = null;
  private log = "";
  /** Slowest observed start, in ms: the readiness deadline is a multiple of it. */
  slowestStartMs = 0;
  starts = 0;

  constructor(
    readonly port: number,
    readonly state: string,
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  output(): string {
    return this.log.slice(-20_000);
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<number> {
    const vars = Object.entries(CHAOS_VARS).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
    const args = [
      "start",
      "--",
      "--port",
      String(this.port),
      "--persist-to",
      this.state,
      "--test-scheduled",
      "--show-interactive-dev-session=false",
      ...SERVER_ARGS,
      ...vars,
    ];
    const began = Date.now();
    const child = spawn("npm", args, {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "true" },
    });
    this.child = child;
    if (child.pid) groups.add(child.pid);
    const keep = (d: Buffer) => {
      this.log += d.toString();
      if (this.log.length > 200_000) this.log = this.log.slice(-100_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    // Generous: 3 minutes, or 4x the slowest start seen, whichever is longer.
    const deadline = began + Math.max(180_000, 4 * this.slowestStartMs);
    for (;;) {
      try {
        const res = await fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(10_000) });
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (!this.running || Date.now() > deadline) {
        this.kill();
        throw new Error(`npm start did not come up in ${Date.now() - began} ms:\n${this.output()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const took = Date.now() - began;
    this.slowestStartMs = Math.max(this.slowestStartMs, took);
    this.starts += 1;
    return took;
  }

  /** SIGKILL to the whole group: npm, wrangler, workerd. Waits until the port is closed. */
  kill(): void {
    const child = this.child;
    if (!child?.pid) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    groups.delete(child.pid);
    this.child = null;
  }

  /** Waits until nothing answers on the port any more (workerd can outlive the signal briefly). */
  async waitDown(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(1000) });
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The end of the campaign: SIGTERM then SIGKILL, so nothing outlives it. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 1500));
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // gone
    }
    groups.delete(child.pid);
    this.child = null;
  }
}
