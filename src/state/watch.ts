/**
 * Watchers of a model's aliases: hibernating WebSockets tagged with the alias they watch.
 * Changes are queued while a transaction runs and sent once it has committed, in commit
 * (generation) order. Holds no tables: the sockets and their attachments are the state.
 */
import { resolutionFor, type ResolveState } from "../domain/resolution";
import type { Outcome } from "./outcome";

/** What a watching socket asked for; kept with the socket across hibernation. */
export interface Watcher {
  model: string;
  alias: string;
  key?: string;
}

export class Watch {
  /** Watch messages of the transaction being committed, sent once it has committed. */
  private pending: { alias: string; event: string }[] = [];

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly resolve: (model: string, alias: string) => Outcome<ResolveState>,
    private readonly generation: () => number,
  ) {}

  /** Accepts a socket for `watcher` and sends it the current state. */
  accept(server: WebSocket, watcher: Watcher): void {
    this.ctx.acceptWebSocket(server, [watcher.alias]);
    server.serializeAttachment(watcher);
    server.send(this.message(watcher, "current"));
  }

  /** Answers a socket's ping with the current state. */
  current(ws: WebSocket): void {
    ws.send(this.message(ws.deserializeAttachment() as Watcher, "current"));
  }

  /** Queues `event` for the watchers of `aliases` (sent by `sendPending` after the commit). */
  changed(aliases: string[], event: string): void {
    for (const alias of aliases) this.pending.push({ alias, event });
  }

  /** Drops what a transaction queued (it is starting, or it rolled back). */
  reset(): void {
    this.pending = [];
  }

  sendPending(): void {
    const pending = this.pending;
    this.pending = [];
    for (const { alias, event } of pending) {
      for (const ws of this.ctx.getWebSockets(alias)) {
        try {
          ws.send(this.message(ws.deserializeAttachment() as Watcher, event));
        } catch {
          // A socket that closed meanwhile; webSocketClose tidies it up.
        }
      }
    }
  }

  private message(watcher: Watcher, event: string): string {
    const state = this.resolve(watcher.model, watcher.alias);
    return JSON.stringify(
      state.ok
        ? { event, generation: state.value.generation, resolution: resolutionFor(state.value, watcher.key) }
        : { event, generation: this.generation(), resolution: null, detail: state.detail },
    );
  }
}
