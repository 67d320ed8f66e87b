/**
 * The fan-out port beyond one object: a model's ModelState tells each watch relay of a
 * changed alias once per committed change (one RPC per relay, not one message per socket),
 * and each relay tells its own sockets (src/state/watch-relay.ts). Sends to one relay are
 * chained, so a relay hears a model's changes in commit order; each carries the model's
 * fan-out `seq`, so a relay keeps only news newer than what it holds (its attach answer may
 * cross a delivery). A relay that says it has no socket left is struck off the register.
 */
import type { ResolveState } from "../domain/resolution";
import type { Env } from "../env";
import type { AliasChange, FanOutPort } from "./changes";
import type { Outcome } from "./outcome";
import type { RelayTable } from "./relay-table";

/** What a relay is told of one alias after one committed change. */
export interface RelayDelivery {
  alias: string;
  seq: number;
  /** The watch events of the change, in order (one alias can move twice in one transaction). */
  events: string[];
  /** The alias's resolution right after the commit (or why it resolves to nothing). */
  state: Outcome<ResolveState>;
  /** The model's alias generation then: watch messages of an alias that resolves to nothing carry it. */
  generation: number;
}

/** A relay's answer: how many sockets it holds now; `detached` (its attach `since`) when none is left. */
export interface RelayReply {
  sockets: number;
  detached?: number;
}

/** What a model's object answers a relay that attaches: the alias's state now, and where its news starts. */
export interface RelayAttachment {
  seq: number;
  state: Outcome<ResolveState>;
  generation: number;
  /** Whether the model exists: a relay keeps no node reports of one that does not. */
  exists: boolean;
}

/** What the model's object calls on a relay. */
export interface RelayStub {
  deliver(delivery: RelayDelivery): Promise<RelayReply>;
}

/** A watch relay, by name (`<model>@<alias>#<shard>`). */
export function relayStub(env: Env, relay: string): RelayStub {
  // reason: the namespace is untyped in the bindings (they import no object code); the relay class implements RelayStub.
  return env.WATCH_RELAYS.getByName(relay) as unknown as RelayStub;
}

/** How many times a delivery is tried before it is given up (logged; the relay's sockets then hear the next change). */
const ATTEMPTS = 3;
const RETRY_MS = [100, 400];

export class RelayFanOut implements FanOutPort {
  /** The tail of each relay's chain of deliveries. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly relays: RelayTable,
    private readonly stub: (relay: string) => RelayStub,
    private readonly resolve: (model: string, alias: string) => Outcome<ResolveState>,
    private readonly generation: () => number,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
  ) {}

  publish(changes: readonly AliasChange[], seq: number): void {
    const events = new Map<string, string[]>();
    for (const { alias, event } of changes) (events.get(alias) ?? events.set(alias, []).get(alias)!).push(event);
    const relays = this.relays.of([...events.keys()]);
    for (const [alias, { model, relays: names }] of relays) {
      // Resolved once per alias, now, right after the commit: every relay gets the same state.
      const delivery: RelayDelivery = {
        alias,
        seq,
        events: events.get(alias)!,
        state: this.resolve(model, alias),
        generation: this.generation(),
      };
      for (const relay of names) this.send(relay, delivery);
    }
  }

  private send(relay: string, delivery: RelayDelivery): void {
    const previous = this.chains.get(relay) ?? Promise.resolve();
    const next = previous.then(() => this.deliver(relay, delivery));
    this.chains.set(relay, next);
    void next.finally(() => {
      if (this.chains.get(relay) === next) this.chains.delete(relay);
    });
    this.waitUntil(next);
  }

  private async deliver(relay: string, delivery: RelayDelivery): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.stub(relay).deliver(delivery);
        if (reply.detached !== undefined) this.relays.detach(delivery.alias, relay, reply.detached);
        return;
      } catch (err) {
        if (attempt >= ATTEMPTS) {
          console.error(
            `relay ${relay} missed change ${delivery.seq} of ${delivery.alias}; its sockets hear the next one`,
            err,
          );
          return;
        }
        await new Promise((r) => setTimeout(r, RETRY_MS[attempt - 1]));
      }
    }
  }
}
