/**
 * A watch relay's RPC surface for the Worker's fleet routes (src/fleet/routes.ts): a node's
 * report, and a page of the nodes it keeps. Typed from the class, as ./rpc.ts types ModelState's.
 * Apart from ./rpc.ts, which the relay itself imports.
 */
import type { Env } from "../env";
import type { WatchRelay } from "./watch-relay";

export type WatchRelayRpc = Pick<WatchRelay, "report" | "nodes">;

/** The watch relay named `relay` (`<model>@<alias>#<shard>`, src/domain/fleet.ts `relayName`). */
export function watchRelay(env: Env, relay: string): WatchRelayRpc {
  // reason: the namespace is untyped in the bindings (they import no object code); these are the class's own signatures.
  return env.WATCH_RELAYS.getByName(relay) as unknown as WatchRelayRpc;
}
