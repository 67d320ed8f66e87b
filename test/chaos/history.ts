/**
 * The history: every HTTP request the workload and the checker send, with its answer, and
 * whether it was acknowledged (2xx). Recorded below the typed client, at its `fetch`, so
 * nothing the client does is missed. Bodies are not kept (files are megabytes); a request's
 * `note` says what the workload meant by it (which model, which bytes).
 */
import type { FetchLike } from "../../src/client";

export interface Entry {
  seq: number;
  client: string;
  at: number;
  ms: number;
  method: string;
  path: string;
  /** 0: no answer (the connection failed: the server was down or died mid-request). */
  status: number;
  ack: boolean;
  code?: string;
  error?: string;
  /** The server's life this request ran in (restart count when it was sent). */
  epoch: number;
}

export class History {
  readonly entries: Entry[] = [];
  private seq = 0;
  /** Bumped at every restart. */
  epoch = 0;

  /** A fetch for client `name` that records each request and its outcome. */
  fetchFor(name: string): FetchLike {
    return async (input, init) => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      const entry: Entry = {
        seq: ++this.seq,
        client: name,
        at: Date.now(),
        ms: 0,
        method: init?.method ?? "GET",
        path: url.pathname + url.search,
        status: 0,
        ack: false,
        epoch: this.epoch,
      };
      this.entries.push(entry);
      try {
        const res = await fetch(input, init);
        entry.status = res.status;
        entry.ack = res.ok;
        entry.ms = Date.now() - entry.at;
        if (!res.ok && res.headers.get("content-type")?.includes("json")) {
          const text = await res.clone().text();
          try {
            entry.code = (JSON.parse(text) as { code?: string }).code;
          } catch {
            entry.code = "not-json";
          }
        }
        return res;
      } catch (err) {
        entry.ms = Date.now() - entry.at;
        entry.error =
          err instanceof Error
            ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ""}`
            : String(err);
        throw err;
      }
    };
  }

  /** The entries around a violation, for replaying it: those touching `needle`, the last `n`. */
  excerpt(needle: string, n = 30): Entry[] {
    const touching = this.entries.filter((e) => e.path.includes(needle));
    // The workload's requests first: the checker's reads of the same path come after.
    const workload = touching.filter((e) => !e.client.startsWith("checker")).slice(-n);
    return [...workload, ...touching.filter((e) => e.client.startsWith("checker")).slice(-3)];
  }
}

export const formatEntry = (e: Entry) =>
  `#${e.seq} ${new Date(e.at).toISOString()} ${e.client} e${e.epoch} ${e.method} ${e.path} -> ${e.status || "no answer"}${e.code ? ` ${e.code}` : ""}${e.error ? ` (${e.error})` : ""} ${e.ms}ms`;
