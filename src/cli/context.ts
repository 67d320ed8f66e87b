/** What every command gets: the output, the settings in force, and a client built from them. */
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { MregClient } from "../client/client";
import type { WebSocketFactory, WebSocketLike } from "../client/watch";
import { resolveSettings, type Resolved } from "./config";
import { CliError, EXIT, UsageError } from "./exit";
import { Output } from "./output";
import { VERSION } from "./version";

export class Context {
  readonly settings: Resolved;
  private cached: MregClient | undefined;

  constructor(
    readonly out: Output,
    flags: { url?: string; token?: string },
  ) {
    this.settings = resolveSettings(flags);
  }

  get client(): MregClient {
    this.cached ??= makeClient(this.settings.url, this.settings.token);
    return this.cached;
  }

  /** Whether the CLI may ask the person at the keyboard: never when stdin is not a terminal. */
  get interactive(): boolean {
    return process.stdin.isTTY === true;
  }

  /** Asks a question on the terminal (callers check `interactive` first). */
  async ask(question: string): Promise<string> {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      return await new Promise<string>((resolve) => rl.question(question, resolve));
    } finally {
      rl.close();
    }
  }

  /**
   * Asks for a secret on the terminal without echoing it (a pasted token must not stay on
   * the screen or in a terminal recording). Raw mode: Enter ends, backspace deletes, Ctrl-C
   * cancels (exit 130).
   */
  async askSecret(question: string): Promise<string> {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    stdin.resume();
    return await new Promise<string>((resolve, reject) => {
      let text = "";
      const finish = () => {
        stdin.removeListener("data", onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write("\n");
      };
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === "\r" || ch === "\n" || ch === "\u0004") {
            finish();
            return resolve(text);
          }
          if (ch === "\u0003") {
            finish();
            return reject(new CliError("cancelled", EXIT.interrupted));
          }
          if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
          else if (ch >= " ") text += ch;
        }
      };
      stdin.on("data", onData);
    });
  }

  /**
   * A destructive step goes ahead with --yes; on a terminal, when the person types `expected`;
   * otherwise (a script, CI) never: a usage error says to add --yes.
   */
  async confirm(yes: boolean, what: string, expected: string, command: string): Promise<void> {
    if (yes) return;
    if (!this.interactive) throw new UsageError(`${what} cannot be undone: add --yes`, command);
    const answer = (await this.ask(`${what} cannot be undone. Type '${expected}' to go ahead: `)).trim();
    if (answer !== expected) throw new UsageError("not confirmed; nothing was deleted", command);
  }
}

/** A client as the CLI makes them; `token` may be a function, read on every request (a token file that a Secret rotates). */
export function makeClient(url: string, token: string | undefined | (() => string | undefined)): MregClient {
  return new MregClient({
    url,
    token,
    headers: { "user-agent": `mreg-cli/${VERSION} node/${process.versions.node}` },
    webSocket: nodeWebSocket,
  });
}

/**
 * Node 20 has no global WebSocket (Node 22's is behind no flag, but the CLI runs on both):
 * the `ws` package, which takes the bearer token as a header of the upgrade request.
 * Its event listeners take `ws`'s own event classes, which carry what WebSocketLike asks for
 * (`data`; `code` and `reason`) but are declared as overloads TypeScript cannot match to it.
 */
const nodeWebSocket: WebSocketFactory = (url, headers) => {
  const ws = new WebSocket(url, { headers, handshakeTimeout: HEARTBEAT_MS });
  heartbeat(ws);
  return ws as unknown as WebSocketLike;
};

const HEARTBEAT_MS = 30_000;

/**
 * A socket whose peer vanished without a close (a NAT entry dropped, a host gone) looks open
 * for as long as nobody writes to it. A ping every 30 s, and a socket with no pong by the
 * next one is ended (close 1006), so a watcher reconnects instead of waiting forever.
 */
function heartbeat(ws: WebSocket): void {
  let answered = true;
  let timer: ReturnType<typeof setInterval> | undefined;
  ws.on("open", () => {
    timer = setInterval(() => {
      if (!answered) return ws.terminate();
      answered = false;
      try {
        ws.ping();
      } catch {
        // closing already: the close event ends the timer
      }
    }, HEARTBEAT_MS);
  });
  ws.on("pong", () => (answered = true));
  ws.on("close", () => clearInterval(timer));
}
