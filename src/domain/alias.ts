/**
 * Alias rules (API.md "Names" and "Aliases"): names, reserved names, splits, the stable
 * choice of a split's version for a routing key, and which value a rollback restores.
 */
import { z } from "zod";

export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
const RESERVED = /^(latest|v[0-9]+)$/;

/** An alias as written in a path or body: folded to lower case, then checked. */
export const AliasName = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.string().regex(ALIAS_PATTERN, "must match ^[a-z][a-z0-9_-]{0,63}$ (case-insensitive)"));

/** An alias that may be set: not `latest` or `v<digits>`, which resolve virtually. */
export const SettableAliasName = AliasName.refine((a) => !RESERVED.test(a), "'latest' and 'v<digits>' are reserved");

export const isReserved = (alias: string) => RESERVED.test(alias);

export interface SplitEntry {
  version: number;
  weight: number;
}

/** An alias's value: one version, or a weighted split over several. */
export type AliasValue = { version: number; split: null } | { version: null; split: SplitEntry[] };

export const valueVersions = (value: AliasValue): number[] => (value.split ? value.split.map((s) => s.version) : [value.version]);

export const sameValue = (a: AliasValue | null, b: AliasValue | null) => JSON.stringify(a) === JSON.stringify(b);

/** FNV-1a, 32 bits: small, fast, and the same in every runtime, so a key always lands alike. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The split's version for a routing key: a point in [0, total weight) from a hash of
 * (model, alias, key), then the entry whose cumulative weight covers it. Without a key the
 * point is random. The same key and split always give the same version.
 */
export function pickFromSplit(split: readonly SplitEntry[], model: string, alias: string, key: string | undefined): number {
  const total = split.reduce((sum, s) => sum + s.weight, 0);
  const unit = key === undefined ? Math.random() : fnv1a(`${model}\u0000${alias}\u0000${key}`) / 2 ** 32;
  let point = unit * total;
  for (const entry of split) {
    if (point < entry.weight) return entry.version;
    point -= entry.weight;
  }
  return split[split.length - 1]!.version;
}

/** One entry of an alias's history, as far as rollback needs it. */
export interface HistoryStep {
  action: "set" | "delete" | "rollback" | "swap";
  /** The value before this change (null: the alias did not exist). */
  from: AliasValue | null;
}

/**
 * The value a rollback restores, given the alias's history newest first. Rollback is an
 * undo: it restores the value from before the newest change not yet undone, so two
 * rollbacks in a row go back two changes. Null when there is nothing to go back to.
 */
export function rollbackTarget(historyNewestFirst: readonly HistoryStep[]): AliasValue | null {
  let undone = 0;
  for (const step of historyNewestFirst) {
    if (step.action === "rollback") undone += 1;
    else if (undone > 0) undone -= 1;
    else return step.from;
  }
  return null;
}
