/**
 * Webhook rules, pure: which events a webhook receives, which URLs it may have, what an
 * attempt's answer means, and when to try again.
 */
import { matchesAny } from "./glob";

/** Retries stop this long after a delivery's first attempt. */
export const RETRY_WINDOW_MS = 24 * 3600 * 1000;
/** A webhook whose every attempt has failed for this long is disabled. */
export const DISABLE_AFTER_MS = 3 * 24 * 3600 * 1000;
/** Queues' longest delay. */
export const MAX_DELAY_S = 12 * 3600;
/** How long an attempt may take before it counts as failed. */
export const ATTEMPT_TIMEOUT_MS = 15_000;

export interface Subscription {
  /** Globs of event types (audit actions, `ping`); empty means every type. */
  events: readonly string[];
  /** Globs of model names; empty means every model (and registry-level events). */
  models: readonly string[];
}

export function subscribes(sub: Subscription, event: { action: string; model: string }): boolean {
  return (sub.events.length === 0 || matchesAny(sub.events, event.action)) && (sub.models.length === 0 || matchesAny(sub.models, event.model));
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Why `url` cannot be a webhook endpoint, or null when it can. */
export function endpointProblem(url: string, allowHttpLoopback: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.username || parsed.password) return "must not carry credentials (put a token in the path or rely on the signature)";
  if (parsed.protocol === "https:") return null;
  if (parsed.protocol === "http:" && allowHttpLoopback && LOOPBACK.has(parsed.hostname)) return null;
  return allowHttpLoopback ? "must be https:// (http:// only to a loopback host)" : "must be https://";
}

export type AttemptResult = { status: number } | { error: string };

/** What an attempt's answer means: done, the endpoint is gone, try again, or give up on this event. */
export function classify(result: AttemptResult): "delivered" | "gone" | "retry" | "rejected" {
  if ("error" in result) return "retry";
  if (result.status >= 200 && result.status < 300) return "delivered";
  if (result.status === 410) return "gone";
  if (result.status === 429 || result.status >= 500) return "retry";
  return "rejected";
}

/**
 * Seconds until the next attempt after `attempts` failed ones: base, 2×base, 4×base … up to
 * 12 h, the last one shortened to land at the end of the 24 h since the first attempt; null
 * once that window has passed.
 */
export function retryDelayS(attempts: number, baseS: number, firstAttemptMs: number, nowMs: number): number | null {
  const remainingS = Math.floor((firstAttemptMs + RETRY_WINDOW_MS - nowMs) / 1000);
  if (remainingS < 1) return null;
  return Math.min(baseS * 2 ** Math.max(0, attempts - 1), MAX_DELAY_S, remainingS);
}
