/**
 * Coalescing of production signals in this isolate: what arrives for one model and alias
 * within SIGNAL_COALESCE_MS becomes one RPC to the model's ModelState, carrying for each
 * version the number of samples of the guard's metric and their sum (so the object computes
 * the weighted mean per version). The object's load then grows with isolates and guarded
 * aliases, not with requests. Signals are telemetry: a batch lost with its isolate is lost
 * (the next ones carry the same news), and a 202 means "queued", not "counted".
 *
 * Only signals a guard counts get here (src/guards/directory.ts filters them), and what a
 * client names cannot grow this: at most `maxOpenBatches` batches (each with one timer) are
 * open in the isolate, and a batch holds at most `maxVersionsPerBatch` versions (a split's
 * most). A signal that would pass either bound sends a batch at once instead: the oldest open
 * one, or the one it cannot join. So the RPCs never outnumber the requests, and while the
 * guarded aliases in use fit the bound, they number one per alias per SIGNAL_COALESCE_MS.
 */
import { MAX_SPLIT_ENTRIES } from "../domain/alias";
import { addSample, type Tally } from "../domain/guard";

/** One version's samples of the guard's metric. */
export interface VersionTally extends Tally {
  version: number;
}

/** What one RPC carries: the samples of one alias's guard metric, per version. */
export interface SignalBatch {
  model: string;
  alias: string;
  metric: string;
  samples: VersionTally[];
}

/** One signal as the route accepted it, reduced to the guard's metric. */
export interface GuardSignal {
  model: string;
  alias: string;
  metric: string;
  version: number;
  value: number;
  count: number;
}

export interface CoalescerLimits {
  maxOpenBatches: number;
  maxVersionsPerBatch: number;
}

interface OpenBatch {
  metric: string;
  tallies: Map<number, Tally>;
  /** Takes the batch out of the open ones and sends it now (its timer is cancelled). */
  close: () => void;
}

export class Coalescer {
  private readonly open = new Map<string, OpenBatch>();

  constructor(private readonly limits: CoalescerLimits = { maxOpenBatches: 1024, maxVersionsPerBatch: MAX_SPLIT_ENTRIES }) {}

  /** How many batches (and timers) are open now. */
  get openBatches(): number {
    return this.open.size;
  }

  /**
   * Queues a signal. The first signal of a batch schedules its send `delayMs` later (kept
   * alive with `waitUntil`); later ones for the same model and alias join it. With `delayMs`
   * 0 it is sent now, and the returned promise settles with the send.
   */
  async add(
    signal: GuardSignal,
    delayMs: number,
    waitUntil: (promise: Promise<unknown>) => void,
    send: (batch: SignalBatch) => Promise<void>,
  ): Promise<void> {
    const { model, alias, metric, version, value, count } = signal;
    if (delayMs === 0) return send({ model, alias, metric, samples: [{ version, ...addSample({ count: 0, sum: 0 }, value, count) }] });
    const key = `${model}\u0000${alias}`;
    const current = this.open.get(key);
    if (current && current.metric === metric && (current.tallies.has(version) || current.tallies.size < this.limits.maxVersionsPerBatch)) {
      addTo(current.tallies, version, value, count);
      return;
    }
    // The batch it cannot join (the guard's metric changed, or it holds as many versions as
    // it may) goes now; else, with every slot taken, the oldest open batch does.
    if (current) current.close();
    else if (this.open.size >= this.limits.maxOpenBatches) this.open.values().next().value!.close();
    const tallies = new Map<number, Tally>();
    addTo(tallies, version, value, count);
    let fire!: () => void;
    const due = new Promise<void>((resolve) => (fire = resolve));
    const batch: OpenBatch = {
      metric,
      tallies,
      close: () => {
        clearTimeout(timer);
        if (this.open.get(key) === batch) this.open.delete(key);
        fire();
      },
    };
    const timer = setTimeout(batch.close, delayMs);
    this.open.set(key, batch);
    waitUntil(
      due
        .then(() => send({ model, alias, metric, samples: [...tallies].map(([v, t]) => ({ version: v, ...t })) }))
        .catch((err: unknown) => console.error(`signals for ${model}@${alias} were not delivered`, err)),
    );
  }
}

function addTo(tallies: Map<number, Tally>, version: number, value: number, count: number): void {
  let tally = tallies.get(version);
  if (!tally) tallies.set(version, (tally = { count: 0, sum: 0 }));
  addSample(tally, value, count);
}

/** This isolate's batches. */
export const signals = new Coalescer();
