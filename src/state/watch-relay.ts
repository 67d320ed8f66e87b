/**
 * WatchRelay: one Durable Object per (model, alias, shard) that holds watch sockets, so one
 * alias can feed far more watchers than one object can hold (docs/reference.md "Aliases (the
 * serving path)": watch). The Worker's watch route spreads sockets over an alias's relays by a
 * hash of the client (its routing key, else at random: `WATCH_RELAY_SHARDS`, default 16). A
 * relay attaches to the model's ModelState when it takes its first socket; from then on the
 * model's object tells it once per committed change (src/state/relay-fanout.ts) and it tells
 * its own sockets, with the same messages, in the same order, as the object's own sockets got:
 * each socket's first message is the current Resolution, then one per change.
 *
 * - relay_state: the alias's latest resolution as last told (`seq`: the model's fan-out
 *   sequence number of that news; `since`: the seq it attached at), so a relay woken from
 *   hibernation answers pings and sends without asking. Written only here: at attach, and by
 *   each delivery newer than what it holds; removed when the last socket has gone (the model's
 *   register is then told, and the relay attaches again with its next socket).
 *
 * It also keeps the fleet of the alias's nodes whose key picks it (./relay-fleet.ts): reports
 * arrive over its sockets (a JSON message `{"type": "report", …}`, from a socket whose token may
 * report) or from the report route (`report`), and it tells the model's object a summary of
 * them (`recordFleet`) at most once a second per alias, whenever what it would say changed: a
 * report, a node gone stale or forgotten, or a new value of the alias to judge them against.
 * While it keeps nodes of an alias it stays attached to it, sockets or not.
 *
 * Its alarm closes sockets whose tokens expired or were revoked, as the model's object does,
 * and keeps time for the fleet: staleness, forgetting, the summaries that had to wait.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import {
  intendedOf,
  NOTHING,
  REPORT_REFUSED,
  reportOf,
  SocketReport,
  type Node,
  type NodeReport,
} from "../domain/fleet";
import type { ResolveState } from "../domain/resolution";
import { config, type Env } from "../env";
import { modelStateReads } from "./rpc";
import { fail, type Outcome } from "./outcome";
import type { RelayDelivery, RelayReply } from "./relay-fanout";
import {
  RELAY_FLEET_SCHEMA,
  RelayFleet,
  REPORT_FLUSH_MS,
  SUMMARY_EVERY_MS,
  type FleetOf,
  type NodeQuery,
} from "./relay-fleet";
import { REVOCATION_CHECK_MS, upkeepSockets } from "./socket-upkeep";
import { Watch, type Watcher } from "./watch";

/** The longest report message a socket may send (a report with 16 labels at their limits fits). */
const MAX_REPORT_MESSAGE = 16 * 1024;

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
  private readonly fleet: RelayFleet;
  /** The attach in flight per alias: later sockets (and reports) of this relay wait for it; it answers whether the model exists. */
  private readonly attaching = new Map<string, Promise<boolean>>();
  /** The aliases whose summary is on its way to the model's object: one at a time, so they arrive in order. */
  private readonly sending = new Set<string>();
  private readonly ttlMs: number;
  private alarmAt: number | null = null;
  /**
   * When the sockets next need looking after (an expiry, a revocation check): the alarm also
   * fires for fleet summaries, up to ten times a second while nodes report, and walking every
   * socket each time would cost more than the reports. 0 (a fresh instance): at the next alarm.
   */
  private socketsDueAt = 0;
  /** A flush of taken reports is scheduled. */
  private flushing = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.watch = new Watch(
      ctx,
      (_model, alias) => this.held(alias)?.state ?? { ok: false, code: "unavailable", detail: "not attached" },
      (alias) => this.held(alias)?.generation ?? 0,
    );
    this.ttlMs = config(env).NODE_TTL_S * 1000;
    this.fleet = new RelayFleet(ctx.storage.sql, this.ttlMs);
    void ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec(RELAY_STATE_SCHEMA);
      for (const statement of RELAY_FLEET_SCHEMA) ctx.storage.sql.exec(statement);
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
      relay,
      report: url.searchParams.get("report") === "1",
      ...(expires ? { expiresAt: Number(expires) } : {}),
      ...(tokenId ? { tokenId } : {}),
    };
    const { 0: client, 1: server } = new WebSocketPair();
    // No await between accepting and the first message: no delivery can come in between.
    this.watch.accept(server, watcher);
    if (watcher.expiresAt !== undefined) this.socketsDue(watcher.expiresAt);
    if (watcher.tokenId !== undefined) this.socketsDue(Date.now() + REVOCATION_CHECK_MS);
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
    // Its nodes are judged against the new value.
    const fleet = this.fleet.of(delivery.alias);
    if (fleet) {
      this.fleet.markDirty(delivery.alias);
      this.sendSoon(fleet, Date.now());
    }
    const sockets = this.sockets(delivery.alias);
    if (sockets > 0 || fleet || this.attaching.has(delivery.alias)) return { sockets };
    this.ctx.storage.sql.exec("DELETE FROM relay_state WHERE alias = ?", delivery.alias);
    return { sockets: 0, detached: held.since };
  }

  /** A node's report from the report route: the node is `report.node`, whose key picked this relay. */
  async report(input: { model: string; alias: string; relay: string; report: NodeReport }): Promise<Outcome<null>> {
    return this.record(input.model, input.alias, input.relay, input.report);
  }

  /** A page of the alias's nodes this relay keeps, in name order (the nodes route merges the relays' pages). */
  async nodes(input: { alias: string; query: NodeQuery }): Promise<Node[]> {
    this.flushReports();
    return this.fleet.nodes(input.alias, input.query, Date.now());
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "ping") return this.watch.current(ws);
    if (typeof message !== "string" || !message.startsWith("{")) return;
    const refusal = await this.socketReport(ws.deserializeAttachment() as Watcher, message);
    if (refusal === null) return;
    try {
      ws.send(JSON.stringify({ event: REPORT_REFUSED, detail: refusal }));
    } catch {
      // Closed meanwhile.
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (this.socketsDueAt <= Date.now()) {
      this.socketsDueAt = Number.POSITIVE_INFINITY;
      const next = await upkeepSockets(this.watch, this.env.DB, Date.now());
      if (next !== null) this.socketsDue(next);
    } else if (this.socketsDueAt !== Number.POSITIVE_INFINITY) this.armAlarm(this.socketsDueAt);
    this.flushReports();
    const now = Date.now();
    const upkeep = this.fleet.upkeep(now);
    if (upkeep.next !== null) this.armAlarm(upkeep.next);
    for (const fleet of upkeep.due) this.sendSoon(fleet, now);
  }

  /** A report over a socket: refused (the reason, for the socket) unless its token may report and it names the socket's key. */
  private async socketReport(watcher: Watcher, text: string): Promise<string | null> {
    if (text.length > MAX_REPORT_MESSAGE) return `a report is at most ${MAX_REPORT_MESSAGE} bytes`;
    let parsed;
    try {
      parsed = SocketReport.safeParse(JSON.parse(text));
    } catch {
      return "a report is a JSON object";
    }
    if (!parsed.success) return `invalid report: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`;
    if (!watcher.report)
      return "this socket's token may not report: reports need the 'report' scope and the alias's grant";
    if (watcher.key === undefined || watcher.relay === undefined)
      return "a socket reports for its routing key: open it with ?key=<node>";
    if (parsed.data.node !== undefined && parsed.data.node !== watcher.key)
      return `this socket reports for its key '${watcher.key}', not '${parsed.data.node}'`;
    const outcome = await this.record(watcher.model, watcher.alias, watcher.relay, reportOf(watcher.key, parsed.data));
    return outcome.ok ? null : outcome.detail;
  }

  /** Keeps a node's report; the first of an alias attaches to it (and learns whether the model exists). */
  private async record(model: string, alias: string, relay: string, report: NodeReport): Promise<Outcome<null>> {
    let fleet = this.fleet.of(alias);
    if (!fleet) {
      if (!(await this.attach(model, alias, relay))) return fail("not_found", `Model '${model}' not found`);
      fleet = { alias, model, relay };
      this.fleet.open(fleet);
    }
    const now = Date.now();
    this.fleet.record(fleet, report, now);
    this.flushSoon();
    // When this node would go stale, unless it reports again.
    this.armAlarm(now + this.ttlMs);
    return { ok: true, value: null };
  }

  /** Sends the alias's summary now if none went in the last second and none is on its way; else the alarm sends it then. */
  private sendSoon(fleet: FleetOf, now: number): void {
    const at = this.fleet.sendableAt(fleet.alias);
    if (at > now || this.sending.has(fleet.alias)) {
      this.armAlarm(Math.max(at, now + SUMMARY_EVERY_MS / 10));
      return;
    }
    this.sending.add(fleet.alias);
    this.ctx.waitUntil(this.send(fleet).finally(() => this.sending.delete(fleet.alias)));
  }

  /** One summary to the model's object; one that fails is tried again by the alarm. */
  private async send(fleet: FleetOf): Promise<void> {
    const held = this.held(fleet.alias);
    const value = held?.state ? (held.state.ok ? intendedOf(held.state.value) : NOTHING) : null;
    const summary = this.fleet.takeSummary(fleet.alias, value, Date.now());
    try {
      const { model, alias, relay } = fleet;
      await modelStateReads(this.env, model).recordFleet({ model, alias, relay, summary });
    } catch (err) {
      console.error(`the fleet summary of ${fleet.relay} did not reach the model's object; trying again`, err);
      this.fleet.markDirty(fleet.alias);
      this.armAlarm(Date.now() + SUMMARY_EVERY_MS);
      return;
    }
    // The object has heard that no node is left: the fleet closes (and the relay detaches with its last socket).
    if (summary.nodes === 0) this.fleet.closeIfEmpty(fleet.alias);
  }

  /** Registers with the model's object; one attach per alias at a time. Answers whether the model exists. */
  private attach(model: string, alias: string, relay: string): Promise<boolean> {
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
        return attached.exists;
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

  /** Writes the reports taken within REPORT_FLUSH_MS of the first not yet written (src/state/relay-fleet.ts `flush`). */
  private flushSoon(): void {
    if (this.flushing) return;
    this.flushing = true;
    setTimeout(() => {
      this.flushing = false;
      this.flushReports();
    }, REPORT_FLUSH_MS);
  }

  /** Writes the reports taken so far, and sends the summaries they changed (each at most once a second). */
  private flushReports(): void {
    this.fleet.flush();
    const now = Date.now();
    for (const alias of this.fleet.takeChanged()) {
      const fleet = this.fleet.of(alias);
      if (fleet) this.sendSoon(fleet, now);
    }
  }

  private socketsDue(at: number): void {
    this.socketsDueAt = Math.min(this.socketsDueAt, at);
    this.armAlarm(at);
  }

  private armAlarm(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at).catch((err: unknown) => console.error("setting the alarm failed", err));
  }
}
