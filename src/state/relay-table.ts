/**
 * ModelState's register of the watch relays (src/state/watch-relay.ts) that hold sockets of
 * its aliases, read and written synchronously. Only ModelState (and, for which names are
 * watched, the model's deletion) uses this module.
 *
 * - relays: one row per (alias, relay) that asked to hear of the alias's changes, with the
 *           model's name (the object is one model's, but learns its name from its callers) and
 *           the fan-out sequence number it attached at (`since`). Written when a relay attaches;
 *           removed when the relay says it has no socket left, and only if it has not attached
 *           again since (`since` unchanged), so a detach never undoes a newer attach.
 */
export const RELAY_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS relays (
     alias TEXT NOT NULL,
     relay TEXT NOT NULL,
     model TEXT NOT NULL,
     since INTEGER NOT NULL,
     PRIMARY KEY (alias, relay)
   )`,
];

export class RelayTable {
  constructor(private readonly sql: SqlStorage) {}

  attach(model: string, alias: string, relay: string, since: number): void {
    this.sql.exec(
      "INSERT INTO relays (alias, relay, model, since) VALUES (?, ?, ?, ?) ON CONFLICT (alias, relay) DO UPDATE SET since = excluded.since",
      alias,
      relay,
      model,
      since,
    );
  }

  detach(alias: string, relay: string, since: number): void {
    this.sql.exec("DELETE FROM relays WHERE alias = ? AND relay = ? AND since = ?", alias, relay, since);
  }

  /** The relays of each of `aliases` that has any, with the model's name. */
  of(aliases: readonly string[]): Map<string, { model: string; relays: string[] }> {
    const out = new Map<string, { model: string; relays: string[] }>();
    if (aliases.length === 0) return out;
    const rows = this.sql
      .exec<{ alias: string; relay: string; model: string }>(
        "SELECT alias, relay, model FROM relays WHERE alias IN (SELECT value FROM json_each(?)) ORDER BY alias, relay",
        JSON.stringify(aliases),
      )
      .toArray();
    for (const { alias, relay, model } of rows)
      (out.get(alias) ?? out.set(alias, { model, relays: [] }).get(alias)!).relays.push(relay);
    return out;
  }

  /** Every alias some relay watches. */
  watched(): string[] {
    return this.sql
      .exec<{ alias: string }>("SELECT DISTINCT alias FROM relays ORDER BY alias")
      .toArray()
      .map((r) => r.alias);
  }
}
