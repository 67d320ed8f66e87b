/**
 * The agent's decisions, as pure functions of what it holds and what the registry says: which
 * files to link and which to fetch, which versions to keep, what to do next and when to try
 * again. No I/O and no clock of their own, so each is tested by itself.
 */
import { backoffMs } from "../../client/transport";
import type { FileEntry } from "../../client/types";

// ---- what to link, what to fetch --------------------------------------------------------

export type Step =
  /** Download it. */
  | { action: "fetch"; file: FileEntry }
  /** A verified file already held under another version: link it (`from` is its absolute path). */
  | { action: "link"; file: FileEntry; from: string }
  /** The same bytes appear earlier in this version: link to that path once it is in place. */
  | { action: "link-same"; file: FileEntry; same: string };

/**
 * Content-addressed: a file whose sha256 (and size) the agent holds already is linked, not
 * fetched; a sha256 that appears twice in one version is fetched once. Fetches and links from
 * other versions come first, in the version's order; links within the version last, since
 * they need their source in place.
 */
export function planFiles(
  files: readonly FileEntry[],
  held: ReadonlyMap<string, { path: string; size: number }>,
): Step[] {
  const first = new Map<string, string>();
  const steps: Step[] = [];
  const later: Step[] = [];
  for (const file of files) {
    const key = `${file.sha256}:${file.size}`;
    const same = first.get(key);
    if (same !== undefined) {
      later.push({ action: "link-same", file, same });
      continue;
    }
    first.set(key, file.path);
    const source = held.get(file.sha256);
    steps.push(
      source && source.size === file.size ? { action: "link", file, from: source.path } : { action: "fetch", file },
    );
  }
  return [...steps, ...later];
}

// ---- which versions stay ----------------------------------------------------------------

export interface HeldVersion {
  version: number;
  /** When it last became `current` (ms since the epoch); null if it never did. */
  servedAt: number | null;
}

/**
 * The versions to keep: the ones pinned (what `current` points at, and the version being
 * retried) whatever `keep` says, then the most recently served, newest version first on a
 * tie, up to `keep` in all. A version never served goes before one that was.
 */
export function chooseKeep(
  held: readonly HeldVersion[],
  keep: number,
  pinned: readonly (number | null | undefined)[],
): { keep: number[]; remove: number[] } {
  const pins = new Set(pinned.filter((v): v is number => typeof v === "number"));
  const kept = held.filter((h) => pins.has(h.version)).map((h) => h.version);
  const others = held
    .filter((h) => !pins.has(h.version))
    .sort((a, b) => (b.servedAt ?? -Infinity) - (a.servedAt ?? -Infinity) || b.version - a.version);
  const room = Math.max(0, keep - kept.length);
  return {
    keep: [...kept, ...others.slice(0, room).map((h) => h.version)],
    remove: others.slice(room).map((h) => h.version),
  };
}

/**
 * Partial versions (`.incoming/v<n>`) that may go: all but the target's and the most
 * recently touched other one, so an alias that moves away and back mid-download resumes
 * rather than starting over, and abandoned downloads do not pile up.
 */
export function incomingToRemove(
  incoming: readonly { version: number; mtimeMs: number }[],
  target: number | null,
): number[] {
  const others = incoming
    .filter((i) => i.version !== target)
    .sort((a, b) => b.mtimeMs - a.mtimeMs || b.version - a.version);
  return others.slice(1).map((i) => i.version);
}

// ---- what next ----------------------------------------------------------------------------

export interface Failure {
  version: number;
  /**
   * `check`: --check refused the staged version, and `current` never pointed at it; `hook`: the
   * version was switched to but --exec/--notify refused it; `transfer`: it could not be fetched
   * or verified; `signature`: no signature the node trusts covers it (`current` never pointed
   * at it).
   */
  kind: "check" | "hook" | "transfer" | "signature";
  attempts: number;
  /** When to try again (ms since the epoch; Infinity: only when the alias changes). */
  nextAt: number;
  message: string;
  /** For `check`: the alias's generation it was refused at; any other generation (the alias changed) tries it again at once. */
  generation?: number;
}

export type Next =
  | { kind: "idle" }
  | { kind: "wait"; ms: number }
  /** Fetch (or find) the version and switch to it. */
  | { kind: "apply"; version: number }
  /** Run the hooks again for the version served: they refused it, and there was nothing to switch back to. */
  | { kind: "rehook"; version: number };

/**
 * What the agent does now: nothing when it serves what the registry names (or the registry
 * names nothing: `current` stays); wait when the last try of that version failed and its
 * retry is not due; else fetch (or find) it and switch.
 */
export function nextStep(
  current: number | null,
  desired: number | null | undefined,
  failure: Failure | null,
  now: number,
  /** The generation the registry names `desired` at: a version --check refused at another generation is tried again now. */
  generation?: number,
): Next {
  if (desired === null || desired === undefined) return { kind: "idle" };
  const aliasMoved = failure?.kind === "check" && generation !== undefined && failure.generation !== generation;
  const due = failure && failure.version === desired && !aliasMoved ? failure.nextAt - now : 0;
  // Refused until the alias changes: nothing to wait for but that (which wakes the agent).
  if (due === Number.POSITIVE_INFINITY) return { kind: "idle" };
  if (desired === current) {
    if (!failure || failure.kind !== "hook" || failure.version !== current) return { kind: "idle" };
    return due > 0 ? { kind: "wait", ms: due } : { kind: "rehook", version: current };
  }
  return due > 0 ? { kind: "wait", ms: due } : { kind: "apply", version: desired };
}

/**
 * When to try a version again after a failure. A refused hook means the model server cannot
 * take the version: try again from 1 s, up to every 5 minutes, rather than flap it. A
 * transfer that failed is retried from 1 s up to once a minute (and at once when the
 * registry answers again, see the agent). A version refused for its signatures stays refused
 * until it is signed (a `signature` watch message) or the alias names another: looked at
 * again from 30 s up to every 15 minutes, in case a message was missed.
 */
export function retryDelayMs(
  kind: Exclude<Failure["kind"], "check">,
  attempts: number,
  random: () => number = Math.random,
): number {
  if (kind === "signature") return backoffMs(attempts - 1, 30_000, 900_000, random);
  return kind === "hook"
    ? backoffMs(attempts - 1, 1000, 300_000, random)
    : backoffMs(attempts - 1, 1000, 60_000, random);
}

/** A failure recorded after another try of the same version and kind counts up; anything else starts afresh. */
export function recordFailure(
  previous: Failure | null,
  version: number,
  kind: Exclude<Failure["kind"], "check">,
  message: string,
  now: number,
  random: () => number = Math.random,
): Failure {
  const attempts = previous && previous.version === version && previous.kind === kind ? previous.attempts + 1 : 1;
  return { version, kind, attempts, nextAt: now + retryDelayMs(kind, attempts, random), message };
}

/**
 * A version --check refused (at the alias's `generation`): tried again only when the alias
 * changes, or `retryMs` later (0: only when the alias changes). No backoff: the operator chose
 * how often a refused version may be looked at again, and each look costs no switch.
 */
export function recordRefusal(
  previous: Failure | null,
  version: number,
  generation: number,
  message: string,
  now: number,
  retryMs: number,
): Failure {
  const attempts = previous && previous.version === version && previous.kind === "check" ? previous.attempts + 1 : 1;
  return {
    version,
    kind: "check",
    attempts,
    nextAt: retryMs > 0 ? now + retryMs : Number.POSITIVE_INFINITY,
    message,
    generation,
  };
}

// ---- how fast -------------------------------------------------------------------------------

export interface Bucket {
  /** Bytes that may go now (negative: owed). */
  tokens: number;
  at: number;
}

/**
 * A token bucket of `rate` bytes a second that holds at most one second's worth: taking `n`
 * bytes answers how long to wait before they may go. Debt is allowed, so a piece bigger than
 * the bucket waits in proportion instead of never going.
 */
export function take(bucket: Bucket, n: number, now: number, rate: number): { bucket: Bucket; waitMs: number } {
  const tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) * rate) / 1000) - n;
  return { bucket: { tokens, at: now }, waitMs: tokens >= 0 ? 0 : (-tokens / rate) * 1000 };
}
