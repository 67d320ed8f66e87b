/**
 * Production signals from the model server beside the agent. It posts `{metrics, count?,
 * version?}` per request or per batch to the agent's `POST /signals` (who may:
 * ./local-auth.ts); the agent adds them up and sends the registry one weighted signal per
 * second for the version served, naming this node (docs/api.md "Aliases, gates and guards":
 * `{version, node, metrics, count}`), so a fleet of 10,000 nodes sends 10,000 signals a
 * second, not one per request, and a guard's `min_nodes` hears each node as one. When the
 * registry cannot take them they are counted as dropped, not queued: a guard judges the
 * present, and an unbounded queue would grow for as long as an outage lasts.
 */
import type { Signal } from "../../client/types";
import {
  MAX_METRIC_NAME,
  MAX_SIGNAL_COUNT,
  MAX_SIGNAL_MAGNITUDE,
  MAX_SIGNAL_METRICS,
} from "../../domain/signal-limits";

export interface SignalPost {
  metrics: Record<string, number>;
  count: number;
  /** The version the samples came from; the agent's `current` when the post does not say. */
  version?: number;
}

export type Parsed = { ok: true; value: SignalPost } | { ok: false; errors: { path: string; message: string }[] };

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** Checks a post against the registry's own limits, so a bad value is refused here (400), not dropped later. */
export function parseSignalPost(body: unknown): Parsed {
  const errors: { path: string; message: string }[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { ok: false, errors: [{ path: "", message: "expected a JSON object {metrics, count?, version?}" }] };
  const { metrics, count, version, ...rest } = body as Record<string, unknown>;
  for (const key of Object.keys(rest)) errors.push({ path: key, message: "unknown field" });
  if (typeof metrics !== "object" || metrics === null || Array.isArray(metrics))
    errors.push({ path: "metrics", message: "expected an object of numbers" });
  else {
    const entries = Object.entries(metrics as Record<string, unknown>);
    if (entries.length < 1 || entries.length > MAX_SIGNAL_METRICS)
      errors.push({ path: "metrics", message: `1 to ${MAX_SIGNAL_METRICS} metrics` });
    for (const [name, value] of entries.slice(0, MAX_SIGNAL_METRICS + 1)) {
      if (name.length < 1 || name.length > MAX_METRIC_NAME)
        errors.push({ path: "metrics", message: `metric names have 1 to ${MAX_METRIC_NAME} characters` });
      else if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > MAX_SIGNAL_MAGNITUDE) {
        errors.push({
          path: `metrics.${name}`,
          message: `a finite number with magnitude at most ${MAX_SIGNAL_MAGNITUDE}`,
        });
      }
    }
  }
  if (count !== undefined && (!isInt(count) || count < 1 || count > MAX_SIGNAL_COUNT))
    errors.push({ path: "count", message: `a whole number from 1 to ${MAX_SIGNAL_COUNT}` });
  if (version !== undefined && (!isInt(version) || version < 1))
    errors.push({ path: "version", message: "a positive whole number" });
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    value: {
      metrics: metrics as Record<string, number>,
      count: (count as number | undefined) ?? 1,
      ...(version !== undefined ? { version: version as number } : {}),
    },
  };
}

interface Tally {
  count: number;
  sum: number;
}

/**
 * One aggregation window: per version, per metric, how many samples and their sum. Memory is
 * bounded by the metric names it holds (at most MAX_SIGNAL_METRICS per version), not by the
 * rate of posts.
 */
export class SignalWindow {
  private readonly versions = new Map<number, Map<string, Tally>>();
  samples = 0;

  get empty(): boolean {
    return this.versions.size === 0;
  }

  /** Adds a post's samples; false (nothing added) when it would take a version past MAX_SIGNAL_METRICS names or the window past 8 versions. */
  add(version: number, post: SignalPost): boolean {
    let tallies = this.versions.get(version);
    if (!tallies) {
      if (this.versions.size >= 8) return false;
      tallies = new Map();
    }
    const fresh = Object.keys(post.metrics).filter((k) => !tallies.has(k)).length;
    if (tallies.size + fresh > MAX_SIGNAL_METRICS) return false;
    this.versions.set(version, tallies);
    for (const [name, value] of Object.entries(post.metrics)) {
      const t = tallies.get(name) ?? { count: 0, sum: 0 };
      t.count += post.count;
      t.sum += value * post.count;
      tallies.set(name, t);
    }
    this.samples += post.count;
    return true;
  }

  /**
   * The signals that carry this window: per version, the metrics that have the same number of
   * samples go together as one signal with that `count` (usually every metric, so one signal);
   * a count above MAX_SIGNAL_COUNT goes as several signals of the same mean, which weigh the
   * same in the guard's window.
   */
  signals(): Signal[] {
    const out: Signal[] = [];
    for (const [version, tallies] of this.versions) {
      const byCount = new Map<number, Record<string, number>>();
      for (const [name, t] of tallies) {
        const group = byCount.get(t.count) ?? {};
        // The mean of values within the bound is within it, but for rounding.
        group[name] = Math.max(-MAX_SIGNAL_MAGNITUDE, Math.min(MAX_SIGNAL_MAGNITUDE, t.sum / t.count));
        byCount.set(t.count, group);
      }
      for (const [count, metrics] of byCount) {
        for (let left = count; left > 0; left -= MAX_SIGNAL_COUNT)
          out.push({ version, metrics, count: Math.min(left, MAX_SIGNAL_COUNT) });
      }
    }
    return out;
  }
}

const MAX_WAITING = 3;

export interface SignalCounters {
  /** Signals the registry took (202). */
  sent: number;
  /** Samples they carried. */
  samples: number;
  /** Signals the registry refused or could not be sent. */
  failed: number;
  lastError: string | null;
  /** Posts refused for want of the local credential, a loopback Host, or for coming from a browser. */
  refused: number;
  /** Posts whose `count` was taken as one sample (no --trust-local-counts). */
  countsIgnored: number;
}

/**
 * Collects posts into a window that opens with the first post after a quiet spell and is sent
 * `intervalMs` later, so posts that come together go together.
 */
export class Signaler {
  private window = new SignalWindow();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sending: Promise<void> = Promise.resolve();
  private waiting = 0;
  readonly counters: SignalCounters = { sent: 0, samples: 0, failed: 0, lastError: null, refused: 0, countsIgnored: 0 };

  /** `node`: the name each signal carries (the agent's --key); null sends none (one anonymous node). */
  constructor(
    private readonly send: (signal: Signal) => Promise<void>,
    private readonly node: string | null,
    private readonly intervalMs = 1000,
  ) {}

  /** False when the window cannot take the post (too many distinct metrics or versions this second). */
  add(version: number, post: SignalPost): boolean {
    if (!this.window.add(version, post)) return false;
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
    return true;
  }

  /** Sends what the window holds now (the last window on shutdown, too). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const window = this.window;
    this.window = new SignalWindow();
    if (window.empty) return this.sending;
    const node = this.node;
    const signals = window.signals().map((signal) => (node === null ? signal : { ...signal, node }));
    // One window at a time: a slow registry delays the next rather than piling up requests,
    // and past a few windows waiting, the newest is dropped rather than queued.
    if (this.waiting >= MAX_WAITING) {
      this.counters.failed += signals.length;
      this.counters.lastError = `the registry is slow: ${MAX_WAITING} windows were still waiting to go, so one was dropped`;
      return this.sending;
    }
    this.waiting++;
    this.sending = this.sending.then(async () => {
      this.waiting--;
      for (const signal of signals) {
        try {
          await this.send(signal);
          this.counters.sent++;
          this.counters.samples += signal.count ?? 1;
        } catch (err) {
          this.counters.failed++;
          this.counters.lastError = err instanceof Error ? err.message : String(err);
        }
      }
    });
    return this.sending;
  }
}
