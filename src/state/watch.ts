/**
 * Watchers of a model's aliases: hibernating WebSockets tagged with the alias they watch.
 * ModelState publishes each transaction's changes (./changes.ts) here once it has committed,
 * in commit (generation) order. Holds no tables: the sockets and their attachments are the
 * state.
 *
 * A message is the Resolution's fields plus `event` (docs/reference.md "Aliases (the serving
 * path)"); when the alias resolves to nothing, `version`, `digest` and `files` are null. A
 * socket whose token expires, or is revoked, is closed with code 4001.
 */
import { resolutionFor, versionFor, type Resolution, type ResolveState } from "../domain/resolution";
import type { AliasChange, FanOutPort } from "./changes";
import type { Outcome } from "./outcome";

/** What a watching socket asked for; kept with the socket across hibernation. */
export interface Watcher {
  model: string;
  alias: string;
  key?: string;
  /** When the token that opened the socket expires (ms since the epoch); none for public reads. */
  expiresAt?: number;
  /** The id of the minted token that opened it, which ModelState's alarm checks for revocation; none for other tokens. */
  tokenId?: string;
  /** The relay holding the socket (a relay's sockets only). */
  relay?: string;
  /** Whether its token may report the node's state (the `report` scope and the alias's grant): a relay's sockets only. */
  report?: boolean;
}

/**
 * The watcher a watch upgrade asks for (`?model=&alias=`, and `key`, `expires` in ms, `token`,
 * the minted token's id), or null when the request is no WebSocket upgrade for an alias.
 */
export function watcherOf(request: Request): Watcher | null {
  const url = new URL(request.url);
  const model = url.searchParams.get("model");
  const alias = url.searchParams.get("alias");
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !model || !alias) return null;
  const key = url.searchParams.get("key") ?? undefined;
  const expires = url.searchParams.get("expires");
  const tokenId = url.searchParams.get("token");
  return { model, alias, key, ...(expires ? { expiresAt: Number(expires) } : {}), ...(tokenId ? { tokenId } : {}) };
}

export type WatchMessage =
  | (Resolution & { event: string })
  | {
      event: string;
      model: string;
      alias: string;
      version: null;
      generation: number;
      digest: null;
      files: null;
      uri: null;
      split: null;
      signatures: null;
    };

/** Close code for a socket whose token has expired or was revoked. */
export const TOKEN_ENDED = 4001;

type Resolve = (model: string, alias: string) => Outcome<ResolveState>;

/** The local fan-out port: this object's own hibernating sockets. */
export class Watch implements FanOutPort {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly resolve: Resolve,
    /** The generation a message of an alias that resolves to nothing carries. */
    private readonly generation: (alias: string) => number,
  ) {}

  /** Accepts a socket for `watcher` and sends it the current state. */
  accept(server: WebSocket, watcher: Watcher): void {
    this.ctx.acceptWebSocket(server, [watcher.alias]);
    server.serializeAttachment(watcher);
    server.send(JSON.stringify(this.message(watcher, "current", this.resolve(watcher.model, watcher.alias))));
  }

  /** Answers a socket's ping with the current state. */
  current(ws: WebSocket): void {
    const watcher = ws.deserializeAttachment() as Watcher;
    if (this.closeIfExpired(ws, watcher, Date.now())) return;
    ws.send(JSON.stringify(this.message(watcher, "current", this.resolve(watcher.model, watcher.alias))));
  }

  /** Sends committed changes to their watchers, in order; each alias is resolved once, not once per socket. */
  publish(changes: readonly AliasChange[], _seq?: number): void {
    const now = Date.now();
    for (const { alias, event } of changes) {
      const sockets = this.ctx.getWebSockets(alias);
      if (sockets.length === 0) continue;
      let state: Outcome<ResolveState> | undefined;
      // One alias's sockets differ only in the split member their key picks: each distinct
      // message is serialised once, not once per socket (5,000 sockets on one relay).
      const texts = new Map<number | null, string>();
      for (const ws of sockets) {
        const watcher = ws.deserializeAttachment() as Watcher;
        if (this.closeIfExpired(ws, watcher, now)) continue;
        state ??= this.resolve(watcher.model, alias);
        const member = state.ok ? versionFor(state.value, watcher.key) : null;
        let text = texts.get(member);
        if (text === undefined) texts.set(member, (text = JSON.stringify(this.message(watcher, event, state))));
        try {
          ws.send(text);
        } catch {
          // A socket that closed meanwhile; webSocketClose tidies it up.
        }
      }
    }
  }

  /** Every alias some socket watches. */
  watchedAliases(): Set<string> {
    const aliases = new Set<string>();
    for (const ws of this.ctx.getWebSockets()) aliases.add((ws.deserializeAttachment() as Watcher).alias);
    return aliases;
  }

  /** Closes the sockets whose tokens have expired; returns when the next one expires, if any. */
  closeExpired(now: number): number | null {
    let next: number | null = null;
    for (const ws of this.ctx.getWebSockets()) {
      const watcher = ws.deserializeAttachment() as Watcher;
      if (this.closeIfExpired(ws, watcher, now) || watcher.expiresAt === undefined) continue;
      next = next === null ? watcher.expiresAt : Math.min(next, watcher.expiresAt);
    }
    return next;
  }

  /** The minted tokens whose sockets are open: what the alarm asks D1 about. */
  tokenIds(): Set<string> {
    const ids = new Set<string>();
    for (const ws of this.ctx.getWebSockets()) {
      const { tokenId } = ws.deserializeAttachment() as Watcher;
      if (tokenId !== undefined) ids.add(tokenId);
    }
    return ids;
  }

  /** Closes the sockets of revoked tokens (4001). */
  closeRevoked(revoked: ReadonlySet<string>): void {
    if (revoked.size === 0) return;
    for (const ws of this.ctx.getWebSockets()) {
      const { tokenId } = ws.deserializeAttachment() as Watcher;
      if (tokenId === undefined || !revoked.has(tokenId)) continue;
      try {
        ws.close(TOKEN_ENDED, "token revoked");
      } catch {
        // Already closing.
      }
    }
  }

  private closeIfExpired(ws: WebSocket, watcher: Watcher, now: number): boolean {
    if (watcher.expiresAt === undefined || watcher.expiresAt > now) return false;
    try {
      ws.close(TOKEN_ENDED, "token expired");
    } catch {
      // Already closing.
    }
    return true;
  }

  private message(watcher: Watcher, event: string, state: Outcome<ResolveState>): WatchMessage {
    if (state.ok) return { ...resolutionFor(state.value, watcher.key), event };
    return {
      event,
      model: watcher.model,
      alias: watcher.alias,
      version: null,
      generation: this.generation(watcher.alias),
      digest: null,
      files: null,
      uri: null,
      split: null,
      signatures: null,
    };
  }
}
