/**
 * Following an alias: over the watch socket while it can be had, reconnecting with backoff
 * and jitter when it drops; while it is down, polling `GET .../aliases/{alias}` with
 * `If-None-Match` at the registry's resolve TTL (the `max-age` it answers with). While the
 * socket is up, a poll a minute anyway: a socket that died without a close (a dropped NAT
 * entry) cannot hide a change for longer than that.
 */
import type { MregClient } from "../../client/client";
import { MregError } from "../../client/errors";
import { backoffMs } from "../../client/transport";
import type { Resolution, WatchEvent } from "../../client/types";
import type { Watch } from "../../client/watch";

export type Via = "watch" | "poll";

export interface FollowHandlers {
  /** What the alias resolves to now (a watch message, or a poll that found a change). */
  resolution(event: WatchEvent, via: Via): void;
  /** The registry answered (`error`: with a refusal, 401/403/404 …), or could not be reached (`reachable` false). */
  contact(reachable: boolean, via: Via, error?: MregError): void;
  /** The socket is up, or down. */
  connected(up: boolean): void;
  /** The socket the node reports over while it is up (null once it is down): docs/fleet.md. */
  socket?(watch: Pick<Watch, "report"> | null): void;
  /** The registry refused a report sent over the socket, saying why. */
  reportRefused?(detail: string): void;
}

export interface FollowTiming {
  /** Poll interval before the first answer, and while answers are stale. */
  defaultPollMs: number;
  /** The floor (a registry with TTL 0 names none). */
  minPollMs: number;
  /** Polls while the socket is up. */
  safetyPollMs: number;
  watchBackoff: { baseMs: number; capMs: number };
  /** Polls after failures back off up to this. */
  pollBackoffCapMs: number;
  /** A poll without an answer by then has failed. */
  pollTimeoutMs: number;
}

export const TIMING: FollowTiming = {
  defaultPollMs: 5000,
  minPollMs: 1000,
  safetyPollMs: 60_000,
  watchBackoff: { baseMs: 500, capMs: 8000 },
  pollBackoffCapMs: 30_000,
  pollTimeoutMs: 30_000,
};

/** Whether the error says the registry is out of reach (no answer, or a gateway's 5xx), as opposed to a refusal. */
const unreachable = (err: unknown) => !(err instanceof MregError) || err.status === 0 || err.status >= 500;

/** A resolution as a watch message, so both ways in look the same. */
const asEvent = (r: Resolution): WatchEvent => ({
  event: "poll",
  model: r.model,
  alias: r.alias,
  version: r.version,
  generation: r.generation,
  digest: r.digest,
  files: r.files,
  uri: r.uri,
  split: r.split,
  signatures: r.signatures,
});

/** Sleeps until `ms` pass, `wake()` is called, or `signal` aborts. */
class Waker {
  private wakeUp: (() => void) | undefined;
  wake(): void {
    this.wakeUp?.();
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.wakeUp = done;
    });
  }
}

export async function follow(
  client: MregClient,
  target: { model: string; alias: string; key?: string },
  on: FollowHandlers,
  signal: AbortSignal,
  timing: FollowTiming = TIMING,
): Promise<void> {
  let connected = false;
  const poller = new Waker();
  const query = target.key ? { key: target.key } : {};

  const pollLoop = async () => {
    let etag: string | undefined;
    let failures = 0;
    let intervalMs = timing.defaultPollMs;
    while (!signal.aborted) {
      try {
        // A registry that stopped answering (a black hole, not a refusal) fails the poll in time.
        const answer = await client.aliases.poll(target.model, target.alias, {
          ...query,
          ...(etag ? { etag } : {}),
          signal: AbortSignal.any([signal, AbortSignal.timeout(timing.pollTimeoutMs)]),
        });
        failures = 0;
        if (answer.etag) etag = answer.etag;
        on.contact(true, "poll");
        if (answer.resolution) on.resolution(asEvent(answer.resolution), "poll");
        // At the TTL; a registry that caches nothing (TTL 0) at the floor; a stale answer (the
        // model's object is in trouble) at the default, not faster.
        intervalMs = answer.maxAgeS
          ? Math.max(timing.minPollMs, answer.maxAgeS * 1000)
          : answer.staleS === null
            ? timing.minPollMs
            : timing.defaultPollMs;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        const e =
          err instanceof MregError ? err : new MregError({ status: 0, code: "network_error", detail: String(err) });
        on.contact(!unreachable(e), "poll", e);
      }
      const wait = connected
        ? timing.safetyPollMs
        : failures > 0
          ? Math.max(intervalMs, backoffMs(failures - 1, timing.minPollMs, timing.pollBackoffCapMs))
          : intervalMs;
      // ±10% so a fleet that started together does not poll in step.
      await poller.sleep(wait * (0.9 + Math.random() / 5), signal);
    }
  };

  const watchLoop = async () => {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const w = await client.aliases.watch(target.model, target.alias, {
          ...query,
          signal,
          ...(on.reportRefused ? { onReportRefused: (detail: string) => on.reportRefused!(detail) } : {}),
        });
        for await (const event of w) {
          const opened = !connected;
          if (opened) {
            connected = true;
            failures = 0;
            on.connected(true);
          }
          // Each message is an answer: it clears a refusal an earlier poll reported.
          on.contact(true, "watch");
          on.resolution(event, "watch");
          // Reports go over it from now on, the first with what the node makes of this message.
          if (opened) on.socket?.(w);
        }
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        // A refusal (401, 403, 404) is the poll's to report, with the registry's words; a
        // socket that cannot be had (a proxy without WebSocket) leaves the polls to do the work.
        if (err instanceof MregError && !unreachable(err)) on.contact(true, "watch", err);
      }
      if (connected) {
        connected = false;
        on.socket?.(null);
        on.connected(false);
      }
      if (signal.aborted) break;
      // The socket is down: poll now, then at the TTL, until it is back.
      poller.wake();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          done,
          backoffMs(Math.max(0, failures - 1), timing.watchBackoff.baseMs, timing.watchBackoff.capMs),
        );
        signal.addEventListener("abort", done, { once: true });
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
      });
    }
  };

  await Promise.all([pollLoop(), watchLoop()]);
}
