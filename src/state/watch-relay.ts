/**
 * WatchRelay: one Durable Object per (model, alias, shard) that holds watch sockets, so one
 * alias can feed far more watchers than one object can hold (API.md "Aliases": watch). The
 * Worker's watch route spreads sockets over an alias's relays by a hash of the client (its
 * routing key, else at random: `WATCH_RELAY_SHARDS`, default 16). A relay attaches to the
 * model's ModelState when it takes its first socket; from then on the model's object tells it
 * once per committed change (src/state/relay-fanout.ts) and it tells its own sockets, with
 * the same messages, in the same order, as the object's own sockets got: each socket's first
 * message is the current Resolution, then one per change.
 *
 * - relay_state: the alias's latest resolution as last told (`seq`: the model's fan-out
 *   sequence number of that news; `since`: the seq it attached at), so a relay woken from
 *   hibernation answers pings and sends without asking. Written only here: at attach, and by
 *   each delivery newer than what it holds; removed when the last socket has gone (the model's
 *   register is then told, and the relay attaches again with its next socket).
 *
 * Its alarm closes sockets whose tokens expired or were revoked, as the model's object does.
 */
import { DurableObject } from "cloudflare:workers";
import type { ResolveState } from "../domain/resolution";
import type { Env } from "../env";
import { modelStateReads } from "./rpc";
import type { Outcome } from "./outcome";
import type { RelayDelivery, RelayReply } from "./relay-fanout";
import { REVOCATION_CHECK_MS, upkeepSockets } from "./socket-upkeep";
import { Watch, type Watcher } from "./watch";

const RELAY_STATE_SCHEMA = `CREATE TABLE IF NOT EXISTS relay_state (
  alias TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  since INTEGER NOT NULL,
  state TEXT,
  generation INTEGER NOT NULL
)`;

interface Held {
  seq: number;
  since: number;
  /** Null while the first attach is in flight. */
  state: Outcome<ResolveState> | null;
  generation: number;
}

export class WatchRelay extends DurableObject<Env> {
  private readonly watch: Watch;
  /** The attach in flight per alias: later sockets of this relay wait for it. */
  private readonly attaching = new Map<string, Promise<void>>();
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.watch = new Watch(
      ctx,
      (_model, alias) => this.held(alias)?.state ?? { ok: false, code: "unavailable", detail: "not attached" },
      (alias) => this.held(alias)?.generation ?? 0,
    );
    void ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(RELAY_STATE_SCHEMA);
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** A watch socket: attached to the model first if this relay holds nothing of the alias, then the current Resolution. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const [model, alias, relay] = ["model", "alias", "relay"].map((k) => url.searchParams.get(k));
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !model || !alias || !relay) {
      return new Response("expected a WebSocket upgrade for a model's alias", { status: 400 });
    }
    if (this.held(alias)?.state == null) await this.attach(model, alias, relay);
    const expires = url.searchParams.get("expires");
    const tokenId = url.searchParams.get("token");
    const key = url.searchParams.get("key") ?? undefined;
    const watcher: Watcher = {
      model,
      alias,
      key,
      ...(expires ? { expiresAt: Number(expires) } : {}),
      ...(tokenId ? { tokenId } : {}),
    };
    const { 0: client, 1: server } = new WebSocketPair();
    // No await between accepting and the first message: no delivery can come in between.
    this.watch.accept(server, watcher);
    if (watcher.expiresAt !== undefined) this.armAlarm(watcher.expiresAt);
    if (watcher.tokenId !== undefined) this.armAlarm(Date.now() + REVOCATION_CHECK_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** News of one committed change from the model's object: kept if newer than what is held, and sent to this relay's sockets. */
  async deliver(delivery: RelayDelivery): Promise<RelayReply> {
    const held = this.held(delivery.alias);
    // Not attached (all sockets gone, the model told): nothing to send to.
    if (!held) return { sockets: this.sockets(delivery.alias) };
    if (held.state !== null && delivery.seq <= held.seq) return { sockets: this.sockets(delivery.alias) };
    this.hold(delivery.alias, {
      seq: delivery.seq,
      since: held.since,
      state: delivery.state,
      generation: delivery.generation,
    });
    this.watch.publish(delivery.events.map((event) => ({ alias: delivery.alias, event })));
    const sockets = this.sockets(delivery.alias);
    if (sockets > 0 || this.attaching.has(delivery.alias)) return { sockets };
    this.ctx.storage.sql.exec("DELETE FROM relay_state WHERE alias = ?", delivery.alias);
    return { sockets: 0, detached: held.since };
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") this.watch.current(ws);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const next = await upkeepSockets(this.watch, this.env.DB, Date.now());
    if (next !== null) this.armAlarm(next);
  }

  /** Registers with the model's object; one attach per alias at a time. */
  private attach(model: string, alias: string, relay: string): Promise<void> {
    let running = this.attaching.get(alias);
    if (!running) {
      // A placeholder first, so a delivery that overtakes the attach's answer is kept.
      if (!this.held(alias)) this.hold(alias, { seq: -1, since: -1, state: null, generation: 0 });
      running = (async () => {
        const attached = await modelStateReads(this.env, model).attachRelay({ model, alias, relay });
        const held = this.held(alias)!;
        this.hold(
          alias,
          held.state !== null && held.seq > attached.seq
            ? { ...held, since: attached.seq }
            : { ...attached, since: attached.seq },
        );
      })().finally(() => this.attaching.delete(alias));
      this.attaching.set(alias, running);
    }
    return running;
  }

  private held(alias: string): Held | null {
    const row = this.ctx.storage.sql
      .exec<{ seq: number; since: number; state: string | null; generation: number }>(
        "SELECT seq, since, state, generation FROM relay_state WHERE alias = ?",
        alias,
      )
      .toArray()[0];
    return row
      ? {
          seq: row.seq,
          since: row.since,
          state: row.state === null ? null : (JSON.parse(row.state) as Outcome<ResolveState>),
          generation: row.generation,
        }
      : null;
  }

  private hold(alias: string, held: Held): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO relay_state (alias, seq, since, state, generation) VALUES (?, ?, ?, ?, ?) ON CONFLICT (alias) DO UPDATE SET seq = excluded.seq, since = excluded.since, state = excluded.state, generation = excluded.generation",
      alias,
      held.seq,
      held.since,
      held.state === null ? null : JSON.stringify(held.state),
      held.generation,
    );
  }

  private sockets(alias: string): number {
    return this.ctx.getWebSockets(alias).length;
  }

  private armAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((err: unknown) => console.error("setting the alarm failed", err));
  }
}
