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

/**
 * How long past its `next_attempt_at` a pending delivery must be before the scheduled run
 * takes its queue message for lost (src/events/dispatch.ts `requeueStranded`). Longer than
 * any backlog the consumer works through, so a message merely late is seldom doubled (a
 * double is harmless: delivery is at least once, and an attempt skips a delivery no longer pending).
 */
export const STRANDED_AFTER_MS = 2 * 60 * 1000;

export interface Subscription {
  /** Globs of event types (audit actions, `ping`); empty means every type. */
  events: readonly string[];
  /** Globs of model names; empty means every model (and registry-level events). */
  models: readonly string[];
}

export function subscribes(sub: Subscription, event: { action: string; model: string }): boolean {
  return (
    (sub.events.length === 0 || matchesAny(sub.events, event.action)) &&
    (sub.models.length === 0 || matchesAny(sub.models, event.model))
  );
}

/**
 * The models a webhook's `models` filter reaches: its globs, or undefined (every model, and
 * the registry's events) when it is empty. A token sees and changes a webhook only when its
 * own claim covers that reach (`Visibility.covers`, src/db/visibility.ts), so only an
 * unrestricted token may have an unfiltered webhook. src/events/store.ts says the same in SQL.
 */
export function filterReach(models: readonly string[]): readonly string[] | undefined {
  return models.length > 0 ? models : undefined;
}

/**
 * Address ranges a webhook may not reach: a request from the registry to them would probe
 * its own network (a cloud's metadata service at 169.254.169.254, an admin port on
 * localhost). `loopback` is named apart because `ALLOW_HTTP_WEBHOOKS=true` lets local
 * receivers use it. Not a unicast address on the internet (multicast, the reserved block,
 * broadcast) is refused too: no receiver can be there.
 */
type Range = readonly [base: number, prefix: number, name: string];

const IPV4_RANGES: readonly Range[] = [
  [0x00000000, 8, "unspecified"], // 0.0.0.0/8, "this network"
  [0x0a000000, 8, "private"], // 10/8
  [0x64400000, 10, "carrier-grade NAT"], // 100.64/10
  [0x7f000000, 8, "loopback"], // 127/8
  [0xa9fe0000, 16, "link-local"], // 169.254/16
  [0xac100000, 12, "private"], // 172.16/12
  [0xc0a80000, 16, "private"], // 192.168/16
  [0xe0000000, 4, "multicast"], // 224/4
  [0xf0000000, 4, "reserved"], // 240/4, broadcast included
];

function ipv4Range(address: number): string | null {
  for (const [base, prefix, name] of IPV4_RANGES) {
    // Unsigned shifts: JavaScript's bit operators work on signed 32-bit integers.
    if (address >>> (32 - prefix) === base >>> (32 - prefix)) return name;
  }
  return null;
}

/**
 * A dotted-decimal IPv4 address as a number, or null. Only this form: URL's host parser
 * has already turned every other notation (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`)
 * into it for http(s) URLs.
 */
function parseIPv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** An IPv6 address (no brackets) as eight 16-bit groups, or null; a dotted IPv4 tail is taken. */
function parseIPv6(text: string): number[] | null {
  let tail: number[] = [];
  let rest = text;
  const dotted = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted) {
    const v4 = parseIPv4(dotted[1]!);
    if (v4 === null) return null;
    tail = [v4 >>> 16, v4 & 0xffff];
    rest = text.slice(0, dotted.index + 1);
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const halves = rest.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(halves[0]!);
  const back = halves.length === 2 ? groups(halves[1]!) : [];
  if (![...head, ...back].every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const known = head.length + back.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const zeros: number[] = new Array<number>(8 - known).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...zeros, ...back.map((g) => parseInt(g, 16)), ...tail];
}

const v4Of = (hi: number, lo: number) => hi * 0x10000 + lo;

function ipv6Range(g: readonly number[]): string | null {
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return "unspecified";
  if (zeroUpTo(7) && g[7] === 1) return "loopback";
  // Addresses that carry an IPv4 address reach it (mapped: the socket is IPv4; NAT64 and
  // 6to4: a translator does): they are judged by it.
  if (zeroUpTo(5) && g[5] === 0xffff) return ipv4Range(v4Of(g[6]!, g[7]!));
  if (zeroUpTo(6)) return ipv4Range(v4Of(g[6]!, g[7]!)) ?? "IPv4-compatible (deprecated)";
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return ipv4Range(v4Of(g[6]!, g[7]!));
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "local-use NAT64";
  if (g[0] === 0x2002) return ipv4Range(v4Of(g[1]!, g[2]!));
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return "unique-local";
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  if ((first & 0xffc0) === 0xfec0) return "site-local (deprecated)";
  if ((first & 0xff00) === 0xff00) return "multicast";
  return null;
}

/**
 * The forbidden range a URL's host (as `URL.hostname` has it: lower case, IPv4 in dotted
 * decimal, IPv6 in brackets) names, or null for a public address or a DNS name. `localhost`
 * and every `*.localhost` are loopback by definition (RFC 6761), with or without the root's
 * trailing dot. What a DNS name resolves to is not known here.
 */
export function hostRange(hostname: string): string | null {
  if (hostname.startsWith("[") && hostname.endsWith("]")) {
    const groups = parseIPv6(hostname.slice(1, -1));
    return groups ? ipv6Range(groups) : "not an IPv6 address";
  }
  let end = hostname.length;
  while (end > 0 && hostname[end - 1] === ".") end--;
  const name = hostname.slice(0, end);
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback";
  const v4 = parseIPv4(name);
  return v4 === null ? null : ipv4Range(v4);
}

/** Why `url` cannot be a webhook endpoint, or null when it can. */
export function endpointProblem(url: string, allowHttpLoopback: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.username || parsed.password)
    return "must not carry credentials (put a token in the path or rely on the signature)";
  const range = parsed.protocol === "https:" || parsed.protocol === "http:" ? hostRange(parsed.hostname) : null;
  const loopbackAllowed = allowHttpLoopback && range === "loopback";
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopbackAllowed)) {
    return allowHttpLoopback ? "must be https:// (http:// only to a loopback host)" : "must be https://";
  }
  if (range !== null && !loopbackAllowed)
    return `must not point at a ${range} address: webhooks reach public hosts only`;
  return null;
}

/**
 * A webhook URL as the audit log shows it: its origin only. Paths and queries often hold a
 * receiver's token (`/services/T0/B0/XXXX`), and `read` tokens see the log.
 */
export function urlOrigin(url: string): string {
  try {
    const origin = new URL(url).origin;
    return origin === "null" ? "(not an http(s) URL)" : origin;
  } catch {
    return "(not a URL)";
  }
}

/** `value` with a `url` string it holds at its top level reduced to the origin. */
function originOnly(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const url = (value as { url?: unknown }).url;
  return typeof url === "string" ? { ...value, url: urlOrigin(url) } : value;
}

/**
 * An audit event of a webhook change as readers see it: events stored before the audit
 * kept origins only still hold whole URLs in `from`, `to` or `detail`, and stored events
 * are never edited, so they are reduced when read. Events of other actions pass untouched
 * (a model's tags may well have a `url`).
 */
export function webhookUrlsRedacted<E extends { action: string; from?: unknown; to?: unknown; detail?: unknown }>(
  event: E,
): E {
  if (!event.action.startsWith("webhook.")) return event;
  const out = { ...event };
  if (out.from !== undefined) out.from = originOnly(out.from);
  if (out.to !== undefined) out.to = originOnly(out.to);
  if (out.detail !== undefined) out.detail = originOnly(out.detail);
  return out;
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
