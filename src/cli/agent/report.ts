/**
 * What the agent says about itself: `GET /status` (JSON), `GET /metrics` (Prometheus text),
 * and the report it sends the registry's fleet view (`nodeReport`), all pure functions of its
 * state and the time.
 */
import type { NodeReport } from "../../client/types";
import { MAX_REASON } from "../../domain/fleet-limits";
import type { SignalCounters } from "./signals";
import type { Failure } from "./plan";
import type { SyncCounters, SyncProgress } from "./sync";
import type { Via } from "./follow";

export interface AgentState {
  model: string;
  alias: string;
  key: string | null;
  uri: string;
  dir: string;
  registryUrl: string;
  current: { version: number; digest: string | null; since: string | null } | null;
  /** What the registry names (null `version`: nothing), once heard. */
  target: { version: number | null; generation: number; digest: string | null } | null;
  registry: {
    /** Null until the first answer or failure. */
    reachable: boolean | null;
    via: Via | null;
    connected: boolean;
    lastContact: number | null;
    /** A refusal (401, 403, 404 …) or why it cannot be reached. */
    error: string | null;
  };
  failure: Failure | null;
  lastError: { at: string; message: string } | null;
  sync: SyncProgress | null;
  held: number[];
  counters: SyncCounters & { switches: number; failures: number };
  signals: SignalCounters;
  /** When the agent last knew it served what the registry names (ms since the epoch). */
  lastSyncAt: number | null;
}

/** Shorter than this, a "secret" would redact ordinary words: no token of ours is. */
const MIN_SECRET = 8;

/**
 * Takes the agent's secrets (its registry token, the local credential) out of what it says:
 * every log line and /status pass through it, so a hook that prints one (read from a file
 * it was given, say) does not put it in the log. `secrets` is asked each time, as a token
 * file may be rotated.
 */
export function redactor(secrets: () => readonly (string | null | undefined)[]): (text: string) => string {
  return (text) => {
    let out = text;
    for (const secret of secrets())
      if (secret && secret.length >= MIN_SECRET) out = out.split(secret).join("[redacted]");
    return out;
  };
}

/** An instant as RFC 3339; null for none, and for "never" (a refusal retried only when the alias changes). */
const iso = (ms: number | null) => (ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString());

export const inSync = (s: AgentState) =>
  s.target !== null && s.current !== null && s.target.version === s.current.version;

/** Why the agent is degraded; empty when it is not. */
export function reasons(s: AgentState): string[] {
  const out: string[] = [];
  if (s.registry.reachable === false)
    out.push(`the registry cannot be reached${s.registry.error ? ` (${s.registry.error})` : ""}`);
  else if (s.registry.error) out.push(`the registry refuses: ${s.registry.error}`);
  if (s.failure && (s.failure.version === s.target?.version || s.failure.version === s.current?.version)) {
    const next = Number.isFinite(s.failure.nextAt)
      ? `next at ${iso(s.failure.nextAt)}`
      : "again when the alias changes";
    out.push(`v${s.failure.version}: ${s.failure.message} (attempt ${s.failure.attempts}; ${next})`);
  }
  if (s.target && s.target.version === null)
    out.push(`the alias resolves to nothing${s.current ? `; keeping v${s.current.version}` : ""}`);
  return out;
}

/** Whether the version the registry names was refused (by --check, or by --exec/--notify after a switch). */
const refusal = (s: AgentState) =>
  s.failure !== null && s.failure.kind !== "transfer" && s.target !== null && s.failure.version === s.target.version
    ? s.failure
    : null;

/**
 * What the node tells the registry's fleet view (docs/fleet.md): the version it serves, and
 * `refused` when it refused the version the registry names (the reason says why); `serving`
 * once it serves that version with nothing amiss; `syncing` while on its way to it; `degraded`
 * when something else keeps it from following (the registry out of reach, a download failing,
 * an alias that names nothing).
 */
export function nodeReport(
  s: AgentState,
  extra: { labels: Record<string, string>; agent: string },
): Omit<NodeReport, "node"> {
  const version = s.current?.version ?? null;
  const target = s.target?.version ?? null;
  const base = { version, target, labels: extra.labels, agent: extra.agent };
  const refused = refusal(s);
  if (refused) return { ...base, state: "refused", reason: refused.message.slice(0, MAX_REASON) };
  const why = reasons(s);
  if (why.length > 0) return { ...base, state: "degraded", reason: why.join("; ").slice(0, MAX_REASON) };
  if (inSync(s)) return { ...base, state: "serving" };
  return { ...base, state: "syncing" };
}

/** Seconds since the agent last knew it was in sync; 0 while the socket is up and it is. */
export function secondsSinceSync(s: AgentState, now: number): number | null {
  if (s.registry.connected && inSync(s)) return 0;
  return s.lastSyncAt === null ? null : Math.max(0, (now - s.lastSyncAt) / 1000);
}

export function status(s: AgentState, now: number) {
  const why = reasons(s);
  return {
    model: s.model,
    alias: s.alias,
    key: s.key,
    uri: s.uri,
    dir: s.dir,
    version: s.current?.version ?? null,
    digest: s.current?.digest ?? null,
    since: s.current?.since ?? null,
    target: s.target,
    in_sync: inSync(s),
    degraded: why.length > 0,
    reasons: why,
    registry_url: s.registryUrl,
    registry_reachable: s.registry.reachable,
    registry_via: s.registry.connected ? "watch" : s.registry.via,
    last_contact: iso(s.registry.lastContact),
    last_error: s.lastError,
    retry: s.failure
      ? {
          version: s.failure.version,
          kind: s.failure.kind,
          attempts: s.failure.attempts,
          next_at: iso(s.failure.nextAt),
          reason: s.failure.message,
        }
      : null,
    sync: s.sync
      ? {
          version: s.sync.version,
          files: s.sync.files,
          files_done: s.sync.filesDone,
          bytes_total: s.sync.bytesTotal,
          bytes_done: s.sync.bytesDone,
        }
      : null,
    versions: s.held,
    switches: s.counters.switches,
    failures: s.counters.failures,
    seconds_since_sync: secondsSinceSync(s, now),
    signals: {
      sent: s.signals.sent,
      samples: s.signals.samples,
      failed: s.signals.failed,
      last_error: s.signals.lastError,
      refused: s.signals.refused,
      counts_ignored: s.signals.countsIgnored,
    },
  };
}

/** Label values escaped as the exposition format asks (backslash, quote, newline). */
const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function metrics(s: AgentState, now: number): string {
  const labels = `{model="${label(s.model)}",alias="${label(s.alias)}"}`;
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, value: number | null) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    // A gauge with nothing to say (no version yet) is left out rather than reported as 0.
    if (value !== null) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : "NaN"}`);
  };
  const degraded = reasons(s).length > 0;
  metric("mreg_agent_current_version", "gauge", "The version current points at.", s.current?.version ?? null);
  metric(
    "mreg_agent_target_version",
    "gauge",
    "The version the registry names for this node.",
    s.target?.version ?? null,
  );
  metric("mreg_agent_in_sync", "gauge", "1 when current is the version the registry names.", inSync(s) ? 1 : 0);
  metric(
    "mreg_agent_degraded",
    "gauge",
    "1 when the registry cannot be reached or refuses, or the named version cannot be served (see /status).",
    degraded ? 1 : 0,
  );
  metric(
    "mreg_agent_registry_reachable",
    "gauge",
    "1 when the registry answered last time it was asked.",
    s.registry.reachable === null ? null : s.registry.reachable ? 1 : 0,
  );
  metric("mreg_agent_watch_connected", "gauge", "1 while the watch socket is up.", s.registry.connected ? 1 : 0);
  metric(
    "mreg_agent_seconds_since_sync",
    "gauge",
    "Seconds since the agent last knew it served what the registry names (0 while the socket is up and it does).",
    secondsSinceSync(s, now),
  );
  metric("mreg_agent_switches_total", "counter", "Switches of current (switches back included).", s.counters.switches);
  metric(
    "mreg_agent_failures_total",
    "counter",
    "Versions that could not be fetched, verified or taken by the hook.",
    s.counters.failures,
  );
  metric("mreg_agent_downloaded_bytes_total", "counter", "Bytes downloaded.", s.counters.bytesDownloaded);
  metric("mreg_agent_files_downloaded_total", "counter", "Files downloaded.", s.counters.filesDownloaded);
  metric(
    "mreg_agent_files_linked_total",
    "counter",
    "Files linked from a version already held instead of downloaded.",
    s.counters.filesLinked,
  );
  metric("mreg_agent_versions_held", "gauge", "Complete versions on disk.", s.held.length);
  metric("mreg_agent_signals_sent_total", "counter", "Aggregated signals the registry took.", s.signals.sent);
  metric("mreg_agent_signal_samples_total", "counter", "Samples those signals carried.", s.signals.samples);
  metric(
    "mreg_agent_signals_failed_total",
    "counter",
    "Aggregated signals refused, dropped or not delivered.",
    s.signals.failed,
  );
  metric(
    "mreg_agent_signal_posts_refused_total",
    "counter",
    "Posts to /signals refused: no local credential, a foreign Host, a browser, or not over loopback.",
    s.signals.refused,
  );
  metric(
    "mreg_agent_signal_counts_ignored_total",
    "counter",
    "Posts to /signals whose count was taken as one sample (no --trust-local-counts).",
    s.signals.countsIgnored,
  );
  return lines.join("\n") + "\n";
}
