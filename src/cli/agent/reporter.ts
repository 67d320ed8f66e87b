/**
 * Telling the registry what this node runs (docs/fleet.md): the agent's report (./report.ts
 * `nodeReport`) goes over the watch socket it holds, on every change and at least every
 * `--report-every` seconds; while the socket is down, by POST instead. Reports are telemetry:
 * one that cannot be sent is dropped (the next carries the same news), and a failure is logged
 * once, not on every try.
 */
import type { NodeReport } from "../../client/types";
import type { Watch } from "../../client/watch";

export interface ReporterLog {
  warn(event: string, fields: Record<string, unknown>, text: string): void;
  info(event: string, fields: Record<string, unknown>, text: string): void;
}

export class Reporter {
  private socket: Pick<Watch, "report"> | null = null;
  private last: string | null = null;
  private lastAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  /** The last failure said, so each is logged once. */
  private lastProblem: string | null = null;
  readonly counters = { sent: 0, failed: 0 };

  constructor(
    /** What the node would report now. */
    private readonly now: () => Omit<NodeReport, "node">,
    /** A POST of the report (`client.fleet.report`), for while the socket is down. */
    private readonly post: (report: NodeReport) => Promise<void>,
    private readonly node: string,
    private readonly everyMs: number,
    private readonly log: ReporterLog,
  ) {}

  /** Reports now, and from then on at least every `everyMs`. */
  start(): void {
    this.running = true;
    this.send(true);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The socket is up (a fresh relay, perhaps: report at once), or down (null). */
  attach(socket: Pick<Watch, "report"> | null): void {
    this.socket = socket;
    if (socket) this.send(true);
  }

  /** Something changed: report if what the node would say changed. */
  changed(): void {
    this.send(false);
  }

  /** The registry refused a report sent over the socket. */
  refused(detail: string): void {
    this.counters.failed++;
    this.problem(`the registry refuses this node's reports: ${detail}`);
  }

  /** Sends the report when it changed, or (`due`) when the last went `everyMs` ago. */
  private send(due: boolean): void {
    const body = this.now();
    const text = JSON.stringify(body);
    const now = Date.now();
    if (text === this.last && (!due || now - this.lastAt < this.everyMs)) return;
    this.last = text;
    this.lastAt = now;
    // The next "still the same" is due `everyMs` after this one, whatever sent it.
    clearTimeout(this.timer);
    if (this.running) this.timer = setTimeout(() => this.send(true), this.everyMs);
    if (this.socket?.report(body)) {
      this.counters.sent++;
      return;
    }
    this.post({ node: this.node, ...body }).then(
      () => {
        this.counters.sent++;
        if (this.lastProblem !== null) {
          this.lastProblem = null;
          this.log.info("report_ok", {}, "reports reach the registry again");
        }
      },
      (err: unknown) => {
        this.counters.failed++;
        // Sent again with the next change or period.
        this.last = null;
        this.problem(`a report could not be sent: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  private problem(text: string): void {
    if (text === this.lastProblem) return;
    this.lastProblem = text;
    this.log.warn("report_failed", { error: text }, text);
  }
}
