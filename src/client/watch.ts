/**
 * Watching an alias over a WebSocket, as an async iterator of events. The socket is made by
 * a factory because runtimes differ in how a bearer token reaches the upgrade request:
 * Node 22's global WebSocket takes `{ headers }`, Workers upgrade through fetch, Node 20
 * needs a library (the CLI passes one). Browsers cannot set headers on a WebSocket at all.
 *
 * A serving node reports its state over the same socket (`report`, docs/fleet.md); the relay
 * answers a report it refuses with a message of its own (`report_refused`), which is handed to
 * `onReportRefused` and never taken for a watch event.
 */
import { MregError } from "./errors";
import type { Transport } from "./transport";
import type { NodeReport, WatchEvent } from "./types";

/** The little of a WebSocket the watcher uses; the DOM's, undici's and `ws`'s all fit. */
export interface WebSocketLike {
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string, headers: Record<string, string>) => WebSocketLike | Promise<WebSocketLike>;

export interface WatchOptions {
  key?: string;
  webSocket?: WebSocketFactory;
  signal?: AbortSignal;
  /** Why the registry refused a report sent with `report` (a token without the `report` scope, say). */
  onReportRefused?: (detail: string) => void;
}

export interface Watch extends AsyncIterable<WatchEvent> {
  /** Ends the iteration (the socket closes with 1000). */
  close(): void;
  /**
   * Reports the node's state over the socket, for the node named by the watch's `key`. False
   * when the socket is not open (closed, or ending): report by `fleet.report` instead.
   */
  report(report: Omit<NodeReport, "node">): boolean;
}

/** The relay's answer to a report it refused. */
const REPORT_REFUSED = "report_refused";

/** Close code the server uses for a socket whose token expired or was revoked (the close reason says which). */
export const TOKEN_EXPIRED = 4001;

/** `check` judges each message (./validate.ts): one it refuses ends the watch with that error. */
export async function openWatch(
  url: string,
  t: Transport,
  options: WatchOptions,
  check: (message: unknown) => WatchEvent,
): Promise<Watch> {
  const headers = await t.authHeaders();
  const socket = await (options.webSocket ?? defaultWebSocket)(url.replace(/^http/, "ws"), headers);
  const queue: WatchEvent[] = [];
  let failure: unknown;
  let ended = false;
  let gotFirst = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const end = (err?: unknown) => {
    if (ended) return;
    ended = true;
    failure = err;
    notify();
  };

  socket.addEventListener("message", (event) => {
    if (ended) return;
    let message: unknown;
    try {
      message = JSON.parse(
        typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer),
      );
    } catch (err) {
      return fail(
        new MregError({ status: 0, code: "unexpected_response", detail: "A watch message is not JSON", cause: err }),
      );
    }
    if (typeof message === "object" && message !== null && (message as { event?: unknown }).event === REPORT_REFUSED) {
      const detail = (message as { detail?: unknown }).detail;
      options.onReportRefused?.(typeof detail === "string" ? detail : "the registry refused the report");
      return;
    }
    try {
      queue.push(check(message));
    } catch (err) {
      return fail(err);
    }
    gotFirst = true;
    notify();
  });
  socket.addEventListener("close", ({ code, reason }) => {
    if (code === 1000 || ended) return end();
    if (code === TOKEN_EXPIRED)
      return end(
        new MregError({
          status: 401,
          code: "unauthenticated",
          detail: `The watch ended: ${reason || "token expired"}`,
        }),
      );
    end({ code, reason, beforeFirst: !gotFirst });
  });
  socket.addEventListener("error", () => {
    // A close event follows with the code; nothing to decide here.
  });
  options.signal?.addEventListener("abort", () => close(), { once: true });

  function close() {
    if (ended) return;
    end();
    socket.close(1000, "done");
  }

  /** Ends the watch with `err` and closes the socket: nothing after a bad message is believed either. */
  function fail(err: unknown) {
    if (ended) return;
    end(err);
    socket.close(1000, "done");
  }

  async function* events(): AsyncGenerator<WatchEvent> {
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure !== undefined) throw await explain(failure, url, t);
    } finally {
      close();
    }
  }

  function report(body: Omit<NodeReport, "node">): boolean {
    if (ended) return false;
    try {
      socket.send(JSON.stringify({ type: "report", ...body }));
      return true;
    } catch {
      return false;
    }
  }

  return { close, report, [Symbol.asyncIterator]: events };
}

/**
 * A socket that closed abnormally. Refused before its first message, the upgrade's answer
 * (401, 403, 404) is not visible to WebSocket code: a plain GET of the alias says why.
 */
async function explain(failure: unknown, url: string, t: Transport): Promise<unknown> {
  if (failure instanceof MregError) return failure;
  const { code, reason, beforeFirst } = failure as { code: number; reason: string; beforeFirst: boolean };
  if (beforeFirst) {
    const path = new URL(url).pathname.replace(/\/watch$/, "");
    try {
      await t.send({ method: "GET", path, what: "watch" });
    } catch (err) {
      if (err instanceof MregError) return err;
    }
  }
  return new MregError({
    status: 0,
    code: "network_error",
    detail: `The watch socket closed (${code}${reason ? `: ${reason}` : ""})`,
  });
}

/**
 * Workers: a fetch with `Upgrade: websocket` answers a socket to `accept()`. Elsewhere the
 * global WebSocket with `{ headers }`, which Node 22 (undici) honours; browsers would ignore
 * the token, so they need a server that reads it elsewhere.
 */
const defaultWebSocket: WebSocketFactory = async (url, headers) => {
  const runtime = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;
  if (runtime === "Cloudflare-Workers") {
    const res = await fetch(url.replace(/^ws/, "http"), { headers: { ...headers, upgrade: "websocket" } });
    const ws = (res as Response & { webSocket?: (WebSocketLike & { accept(): void }) | null }).webSocket;
    if (!ws) throw await MregError.fromResponse(res, "watch");
    ws.accept();
    return ws;
  }
  const Ctor = (globalThis as { WebSocket?: new (url: string, init: unknown) => WebSocketLike }).WebSocket;
  if (!Ctor) {
    throw new MregError({
      status: 0,
      code: "network_error",
      detail: "No WebSocket in this runtime: pass `webSocket` to the client (Node 20: the `ws` package)",
    });
  }
  // undici's second argument may be an init object with headers (not the DOM's protocols).
  return new Ctor(url, { headers });
};
