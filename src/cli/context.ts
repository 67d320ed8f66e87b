/** What every command gets: the output, the settings in force, and a client built from them. */
import WebSocket from "ws";
import { MregClient } from "../client/client";
import type { WebSocketFactory, WebSocketLike } from "../client/watch";
import { resolveSettings, type Resolved } from "./config";
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
    this.cached ??= new MregClient({
      url: this.settings.url,
      token: this.settings.token,
      headers: { "user-agent": `mreg-cli/${VERSION} node/${process.versions.node}` },
      webSocket: nodeWebSocket,
    });
    return this.cached;
  }

  /** Whether the CLI may ask the person at the keyboard: never when stdin is not a terminal. */
  get interactive(): boolean {
    return process.stdin.isTTY === true;
  }
}

/**
 * Node 20 has no global WebSocket (Node 22's is behind no flag, but the CLI runs on both):
 * the `ws` package, which takes the bearer token as a header of the upgrade request.
 * Its event listeners take `ws`'s own event classes, which carry what WebSocketLike asks for
 * (`data`; `code` and `reason`) but are declared as overloads TypeScript cannot match to it.
 */
const nodeWebSocket: WebSocketFactory = (url, headers) => new WebSocket(url, { headers }) as unknown as WebSocketLike;
