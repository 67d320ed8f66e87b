/**
 * Coalescing of production signals in this isolate: what arrives for one model, alias and
 * version within SIGNAL_COALESCE_MS becomes one RPC to the model's ModelState, carrying per
 * metric the number of samples and their sum (so the object computes the weighted mean).
 * The object's load then grows with isolates, not with requests. Signals are telemetry: a
 * batch lost with its isolate is lost (the next ones carry the same news), and a 202 means
 * "queued", not "counted".
 */
import { addSample, type Tally } from "../domain/guard";

export type Samples = Record<string, Tally>;

const batches = new Map<string, Samples>();

/** Adds `count` samples of each metric's value (a node's own mean) to `into`. */
export function addSamples(into: Samples, metrics: Record<string, number>, count: number): Samples {
  for (const [name, value] of Object.entries(metrics)) addSample((into[name] ??= { count: 0, sum: 0 }), value, count);
  return into;
}

/**
 * Queues a signal under `key`. The first signal of a batch schedules its send `delayMs`
 * later (kept alive with `waitUntil`); later ones join it. With `delayMs` 0 it is sent now.
 */
export async function coalesce(
  key: string,
  metrics: Record<string, number>,
  count: number,
  delayMs: number,
  waitUntil: (promise: Promise<unknown>) => void,
  send: (samples: Samples) => Promise<void>,
): Promise<void> {
  if (delayMs === 0) return send(addSamples({}, metrics, count));
  const open = batches.get(key);
  if (open) {
    addSamples(open, metrics, count);
    return;
  }
  const batch = addSamples({}, metrics, count);
  batches.set(key, batch);
  waitUntil(
    new Promise((resolve) => setTimeout(resolve, delayMs))
      .then(() => {
        batches.delete(key);
        return send(batch);
      })
      .catch((err: unknown) => console.error(`signals for ${key} were not delivered`, err)),
  );
}
