/**
 * What a ModelState write changed for serving: the aliases (and virtual names: `latest`,
 * `v<n>`, stage names) whose resolution it moved, each with the watch event that says how.
 * The operations record them while their transaction runs; once it has committed, ModelState
 * hands them to its fan-out ports (the watch relays, and its own sockets) and returns what
 * they touched with the write's outcome (`Touched`, ./outcome.ts), so the Worker forgets its
 * cached answers from the same record (src/model-writes/stub.ts). Nothing here is stored.
 */
import type { Touched } from "./outcome";

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
  private wholeModel = false;

  /** Records that `event` moved each of `aliases`. */
  changed(aliases: Iterable<string>, event: string): void {
    for (const alias of aliases) this.entries.push({ alias, event });
  }

  /**
   * Records that the model itself went: every name of it stops resolving, whether or not
   * anyone watches it, so the Worker forgets them all (`wholeModel`), not a list.
   */
  modelDeleted(): void {
    this.wholeModel = true;
  }

  /** Forgets what a transaction recorded (it is starting, or it rolled back). */
  reset(): void {
    this.entries = [];
    this.wholeModel = false;
  }

  /** Whether the transaction running has recorded anything. */
  get moved(): boolean {
    return this.entries.length > 0;
  }

  /** What the committed transaction recorded: its changes in order, and what they touched; the log starts empty again. */
  take(): { changes: AliasChange[]; touched: Touched } {
    const changes = this.entries;
    const touched: Touched = this.wholeModel
      ? { wholeModel: true }
      : { names: [...new Set(changes.map((c) => c.alias))] };
    this.reset();
    return { changes, touched };
  }
}
