/**
 * Coalescing of production signals in this isolate: what arrives for one model and alias
 * within SIGNAL_COALESCE_MS becomes one RPC to the model's ModelState, carrying for each
 * version the number of samples of the guard's metric, their sum (so the object computes
 * the weighted mean per version) and the nodes they came from, distinct names kept apart up
 * to the guard's `min_nodes` (all the object keeps per bucket: src/domain/guard.ts `addNode`).
 * The object's load then grows with isolates and guarded aliases, not with requests.
 * Signals are telemetry: a batch lost with its isolate is lost (the next ones carry the same
 * news), and a 202 means "queued", not "counted".
 *
 * Only signals a guard counts get here (src/caches/guard-directory.ts filters them), and what a
 * client names cannot grow this: at most `maxOpenBatches` batches (each with one timer) are
 * open in the isolate, and a batch holds at most `maxVersionsPerBatch` versions (a split's
 * most). A signal that would pass either bound sends a batch at once instead: the oldest open
 * one, or the one it cannot join. So the RPCs never outnumber the requests, and while the
 * guarded aliases in use fit the bound, they number one per alias per SIGNAL_COALESCE_MS.
 */
import { MAX_SPLIT_ENTRIES } from "../domain/alias";
import { addNode, addSample, type Tally } from "../domain/guard";

/** One version's samples of the guard's metric, and the nodes they came from. */
export interface VersionTally extends Tally {
  version: number;
  nodes: string[];
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
  /** The node that measured it (ANONYMOUS_NODE when the signal names none). */
  node: string;
  /** The guard's `min_nodes`: how many distinct names a batch carries per version at most. */
  minNodes: number;
}

/** A version's tally in an open batch. */
interface OpenTally extends Tally {
  nodes: Set<string>;
}

export interface CoalescerLimits {
  maxOpenBatches: number;
  maxVersionsPerBatch: number;
}

interface OpenBatch {
  metric: string;
  tallies: Map<number, OpenTally>;
  /** Takes the batch out of the open ones and sends it now (its timer is cancelled). */
  close: () => void;
}

export class Coalescer {
  private readonly open = new Map<string, OpenBatch>();

  constructor(
    private readonly limits: CoalescerLimits = { maxOpenBatches: 1024, maxVersionsPerBatch: MAX_SPLIT_ENTRIES },
  ) {}

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
    const { model, alias, metric, version } = signal;
    if (delayMs === 0) return send({ model, alias, metric, samples: sampled(addTo(new Map(), signal)) });
    const key = `${model}\u0000${alias}`;
    const current = this.open.get(key);
    if (
      current &&
      current.metric === metric &&
      (current.tallies.has(version) || current.tallies.size < this.limits.maxVersionsPerBatch)
    ) {
      addTo(current.tallies, signal);
      return;
    }
    // The batch it cannot join (the guard's metric changed, or it holds as many versions as
    // it may) goes now; else, with every slot taken, the oldest open batch does.
    if (current) current.close();
    else if (this.open.size >= this.limits.maxOpenBatches) this.open.values().next().value!.close();
    const tallies = addTo(new Map(), signal);
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
        .then(() => send({ model, alias, metric, samples: sampled(tallies) }))
        .catch((err: unknown) => console.error(`signals for ${model}@${alias} were not delivered`, err)),
    );
  }
}

function addTo(tallies: Map<number, OpenTally>, signal: GuardSignal): Map<number, OpenTally> {
  let tally = tallies.get(signal.version);
  if (!tally) tallies.set(signal.version, (tally = { count: 0, sum: 0, nodes: new Set() }));
  addSample(tally, signal.value, signal.count);
  addNode(tally.nodes, signal.node, signal.minNodes);
  return tallies;
}

function sampled(tallies: Map<number, OpenTally>): VersionTally[] {
  return [...tallies].map(([version, t]) => ({ version, count: t.count, sum: t.sum, nodes: [...t.nodes] }));
}

/** This isolate's batches. */
export const signals = new Coalescer();
