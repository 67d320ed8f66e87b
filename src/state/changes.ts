/**
 * What a ModelState write changed for serving: the aliases (and virtual names: `latest`,
 * `v<n>`, stage names) whose resolution it moved, each with the watch event that says how.
 * The operations record them while their transaction runs; once it has committed, ModelState
 * hands them to its fan-out port (the local watch sockets today, relay objects next) and
 * returns the touched names with the write's outcome, so the Worker invalidates its resolve
 * cache from the same list (src/model-writes/stub.ts). Nothing here is stored.
 */

export interface AliasChange {
  alias: string;
  /** The watch event: `set`, `delete`, `rollback`, `swap`, `stage`, `finalize`, `guard`. */
  event: string;
}

/**
 * Where committed changes go to reach watchers. `seq` numbers the model's committed changes
 * (ModelState's `fanout` counter, bumped by each transaction that moved something), so a
 * receiver that hears of them out of band (a relay) can keep only the newest.
 */
export interface FanOutPort {
  publish(changes: readonly AliasChange[], seq: number): void;
}

export class ChangeLog {
  private entries: AliasChange[] = [];

  /** Records that `event` moved each of `aliases`. */
  changed(aliases: Iterable<string>, event: string): void {
    for (const alias of aliases) this.entries.push({ alias, event });
  }

  /** Forgets what a transaction recorded (it is starting, or it rolled back). */
  reset(): void {
    this.entries = [];
  }

  /** Whether the transaction running has recorded anything. */
  get moved(): boolean {
    return this.entries.length > 0;
  }

  /** What the committed transaction recorded, in order; the log starts empty again. */
  take(): AliasChange[] {
    const taken = this.entries;
    this.entries = [];
    return taken;
  }
}

/** The distinct names a list of changes touched. */
export const touchedAliases = (changes: readonly AliasChange[]): string[] => [...new Set(changes.map((c) => c.alias))];
