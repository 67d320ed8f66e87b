/**
 * The hot path's caches, both holding an alias's ResolveState (not a finished response, so
 * a split still picks per routing key) for at most RESOLVE_TTL_S:
 * 1. a small bounded map in this isolate;
 * 2. the Cache API (per data centre), keyed by the generation-free model@alias.
 * An entry carries its absolute expiry, so moving it from one layer to the other never
 * extends its life: a rollback is hidden for at most the TTL.
 */
import type { ResolveState } from "../domain/resolution";

const MAX_MEMORY_ENTRIES = 1000;
const memory = new Map<string, { expires: number; state: ResolveState }>();

const cacheUrl = (model: string, alias: string) => `https://resolve.mreg.internal/${model}/${alias}`;

function remember(key: string, expires: number, state: ResolveState): void {
  memory.delete(key);
  memory.set(key, { expires, state });
  // Map iteration is insertion order: the first key is the least recently stored.
  if (memory.size > MAX_MEMORY_ENTRIES) memory.delete(memory.keys().next().value!);
}

export async function cachedResolveState(
  model: string,
  alias: string,
  ttlS: number,
  waitUntil: (promise: Promise<unknown>) => void,
  load: () => Promise<ResolveState>,
): Promise<ResolveState> {
  if (ttlS === 0) return load();
  const key = `${model}@${alias}`;
  const now = Date.now();
  const held = memory.get(key);
  if (held && held.expires > now) return held.state;

  const cache = caches.default;
  const hit = await cache.match(cacheUrl(model, alias));
  if (hit) {
    const expires = Number(hit.headers.get("x-mreg-expires"));
    if (expires > now) {
      const state = (await hit.json()) as ResolveState;
      remember(key, expires, state);
      return state;
    }
  }

  const state = await load();
  const expires = now + ttlS * 1000;
  remember(key, expires, state);
  const response = new Response(JSON.stringify(state), {
    headers: { "content-type": "application/json", "cache-control": `max-age=${ttlS}`, "x-mreg-expires": String(expires) },
  });
  waitUntil(cache.put(cacheUrl(model, alias), response));
  return state;
}

/** Forgets a model's cached aliases here after this isolate changed them (other colos wait out the TTL). */
export async function forgetResolved(model: string, aliases: readonly string[]): Promise<void> {
  await Promise.all(
    aliases.map(async (alias) => {
      memory.delete(`${model}@${alias}`);
      await caches.default.delete(cacheUrl(model, alias));
    }),
  );
}
