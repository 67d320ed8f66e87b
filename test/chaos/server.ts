/**
 * The registry under test: `npm start` on its own port and persist directory, in its own
 * process group so SIGKILL of the group takes npm, wrangler and workerd down together (a
 * crash, not a shutdown), and started again on the same data. Readiness is observed
 * (/healthz), and the wait for it grows with the slowest start seen so far, because the
 * machine is shared and a start under load can take several times the first one.
 */
import { npmStartArgs, spawnGroup, waitForHealth, type Group } from "../e2e/npm-start.mjs";

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

export class ChaosServer {
  readonly base: string;
  private group: Group | null = null;
  /** What servers this one replaced said: the last 100,000 characters, for a failure's report. */
  private earlier = "";
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
    return (this.earlier + (this.group?.output() ?? "")).slice(-20_000);
  }

  /** Keeps what the current server said, and forgets the server. */
  private retire(): void {
    this.earlier = (this.earlier + (this.group?.output() ?? "")).slice(-100_000);
    this.group = null;
  }

  get running(): boolean {
    return this.group !== null && this.group.running();
  }

  async start(): Promise<number> {
    const vars = Object.entries(CHAOS_VARS).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
    const args = npmStartArgs(this.port, this.state, [
      "--test-scheduled",
      "--show-interactive-dev-session=false",
      ...vars,
    ]);
    const began = Date.now();
    this.retire();
    this.group = spawnGroup("npm", args, { env: { ...process.env, CI: "true" }, keepChars: 100_000 });
    // Generous: 3 minutes, or 4x the slowest start seen, whichever is longer.
    const timeoutMs = Math.max(180_000, 4 * this.slowestStartMs);
    if ((await waitForHealth(this.group, `${this.base}/healthz`, { timeoutMs, everyMs: 200 })) !== "up") {
      const output = this.output();
      this.kill();
      throw new Error(`npm start did not come up in ${Date.now() - began} ms:\n${output}`);
    }
    const took = Date.now() - began;
    this.slowestStartMs = Math.max(this.slowestStartMs, took);
    this.starts += 1;
    return took;
  }

  /** SIGKILL to the whole group: npm, wrangler, workerd (`waitDown` waits until the port is closed). */
  kill(): void {
    this.group?.signal("SIGKILL");
    this.retire();
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
    const group = this.group;
    if (!group?.signal("SIGTERM")) return;
    await new Promise((r) => setTimeout(r, 1500));
    group.signal("SIGKILL");
    this.retire();
  }
}
