/**
 * Alias rules (docs/reference.md "Names" and "Aliases (the serving path)"): names, reserved
 * names, splits, the stable choice of a split's version for a routing key, and which value a
 * rollback restores.
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

/** The most versions a split may hold. */
export const MAX_SPLIT_ENTRIES = 20;

export interface SplitEntry {
  version: number;
  weight: number;
}

/** A split as the contract's answers show it (Alias, Resolution, history): null for one version. */
export const SplitShown = z.array(z.object({ version: z.number().int(), weight: z.number() })).nullable();

/** An alias as set, as the contract shows it (built by the model's object; read back from the D1 projection). */
export const Alias = z
  .object({
    model: z.string(),
    alias: z.string(),
    version: z.number().int().nullable(),
    split: SplitShown,
    generation: z.number().int(),
    updated_at: z.string(),
    updated_by: z.string(),
  })
  .meta({ id: "Alias" });

/**
 * What an alias held at an instant (`?at=`), from its history: the value of the change in force
 * then, who made it, when, and why. For a split, `version` is the member the routing key picks
 * (null without a key).
 */
export const AliasAt = z
  .object({
    model: z.string(),
    alias: z.string(),
    version: z.number().int().nullable(),
    split: SplitShown,
    generation: z.number().int(),
    set_at: z.string(),
    set_by: z.string(),
    reason: z.string().nullable(),
  })
  .meta({ id: "AliasAt" });
export type AliasAt = z.output<typeof AliasAt>;

/** An alias's value: one version, or a weighted split over several. */
export type AliasValue = { version: number; split: null } | { version: null; split: SplitEntry[] };

export const valueVersions = (value: AliasValue): number[] =>
  value.split ? value.split.map((s) => s.version) : [value.version];

/** The one version a value shows where only one fits (a Model's `aliases`): a split's heaviest, the first on a tie. */
export const shownVersion = (value: AliasValue): number =>
  value.split ? value.split.reduce((a, b) => (b.weight > a.weight ? b : a)).version : value.version;

export const sameValue = (a: AliasValue | null, b: AliasValue | null) => JSON.stringify(a) === JSON.stringify(b);

const utf8 = new TextEncoder();
let scratch = new Uint8Array(256);

/** murmur3's 32-bit finalizer: every input bit flips each output bit with probability ~1/2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A uniform number in [0, 1) from a string, the same in every runtime (UTF-8 bytes and
 * 32-bit integer arithmetic only) and synchronous, as the resolve hot path needs.
 *
 * Two multiply-xor lanes (FNV-1a's, and one with murmur's multiplier) read the bytes; each
 * is then cross-mixed with the other and finalized with fmix32, giving 53 bits. FNV-1a alone
 * has no final avalanche: keys that differ only in their last bytes (`user-1`, `user-2`)
 * differ mostly in its low bits, while a split reads the high ones, so splits were skewed.
 */
export function hashUnit(text: string): number {
  // UTF-8 never takes more than 3 bytes per UTF-16 code unit. Encoding into one reused
  // buffer rather than a fresh array per call makes the hash about 5x faster; it is safe
  // because nothing else runs between the encode and the loop.
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = utf8.encodeInto(text, scratch);
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < written; i++) {
    const byte = scratch[i]!;
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x5bd1e995);
  }
  // The length goes in so that inputs whose lanes happen to agree still differ.
  const hi = fmix32(a ^ Math.imul(b, 0x27d4eb2f) ^ written);
  const lo = fmix32(b ^ hi);
  // 32 high bits + 21 low bits = 53 bits, exactly representable; the result is < 1.
  return (hi * 2 ** 21 + (lo >>> 11)) / 2 ** 53;
}

/**
 * The split's version for a unit in [0, 1): the entry whose cumulative weight covers
 * unit × total. Monotone in the unit, so changing weights moves only the keys whose point
 * crosses a boundary. An entry of weight 0 is never chosen.
 */
export function pickByUnit(split: readonly SplitEntry[], unit: number): number {
  const total = split.reduce((sum, s) => sum + s.weight, 0);
  let point = unit * total;
  for (const entry of split) {
    if (point < entry.weight) return entry.version;
    point -= entry.weight;
  }
  // Rounding can leave the point at or just past the total: it belongs to the last entry
  // that has any weight (not a trailing weight-0 one).
  for (let i = split.length - 1; i > 0; i--) if (split[i]!.weight > 0) return split[i]!.version;
  return split[0]!.version;
}

/**
 * The split's version for a routing key: a unit from a hash of (model, alias, key), so the
 * same key and split always give the same version. Without a key the unit is random.
 */
export function pickFromSplit(
  split: readonly SplitEntry[],
  model: string,
  alias: string,
  key: string | undefined,
): number {
  return pickByUnit(split, key === undefined ? Math.random() : routingUnit(model, alias, key));
}

/**
 * Where a routing key falls in [0, 1) for one model's alias: what picks its member of any
 * split of that alias. The fleet view judges each node by it (src/domain/fleet.ts), so a
 * node counts as in step exactly when it serves what a resolve with its key answers.
 */
export function routingUnit(model: string, alias: string, key: string): number {
  return hashUnit(`${model}\u0000${alias}\u0000${key}`);
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
