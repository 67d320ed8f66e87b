/** What resolving an alias answers (API.md "Resolution"), built from the alias's state. */
import { z } from "zod";
import { pickFromSplit, SplitShown, type SplitEntry } from "./alias";
import { File, type ManifestEntry } from "./manifest";
import { SignatureRef } from "./signature";
import { versionUri } from "./uri";

/** A version an alias can resolve to, with what a serving node needs to fetch it. */
export interface ResolveTarget {
  version: number;
  digest: string | null;
  files: ManifestEntry[];
  /** The version's signatures: what a node fetches and checks itself before it serves the version. */
  signatures: SignatureRef[];
}

/**
 * An alias's resolvable state: one target, or a split over several. `etag` changes whenever
 * the answer may change: the generation for real aliases; generation and version for the
 * virtual ones (`latest`, `v3`, the stage fallback), which move without an alias change.
 */
export interface ResolveState {
  model: string;
  alias: string;
  generation: number;
  etag: string;
  split: SplitEntry[] | null;
  targets: ResolveTarget[];
}

/**
 * The contract's Resolution, written once: the OpenAPI and the server's type come from it; the
 * client's copy is held equal to it by test/client-shapes.ts.
 */
export const Resolution = z
  .object({
    model: z.string(),
    alias: z.string(),
    version: z.number().int(),
    generation: z.number().int(),
    digest: z.string().nullable(),
    files: z.array(File),
    uri: z.string(),
    split: SplitShown,
    signatures: z
      .array(SignatureRef)
      .describe("The version's signatures (fetch each at .../versions/{version}/signatures/{id} and verify it)"),
  })
  .meta({ id: "Resolution" });

export type Resolution = z.output<typeof Resolution>;

export function resolutionFor(state: ResolveState, key: string | undefined): Resolution {
  return resolutionAt(state, versionFor(state, key));
}

/** The version a client with routing `key` resolves to: its split member, else the one target. */
export function versionFor(state: ResolveState, key: string | undefined): number {
  return state.split ? pickFromSplit(state.split, state.model, state.alias, key) : state.targets[0]!.version;
}

/**
 * A split's member for a client that sends no routing key but must get the same version every
 * time (a Hub client's snapshot): the one of largest weight, the lowest version on a tie.
 */
export function resolutionOfHeaviest(state: ResolveState): Resolution {
  if (!state.split) return resolutionAt(state, state.targets[0]!.version);
  const heaviest = state.split.reduce((best, m) =>
    m.weight > best.weight || (m.weight === best.weight && m.version < best.version) ? m : best,
  );
  return resolutionAt(state, heaviest.version);
}

/** The Resolution of `version`, one of the state's targets. */
function resolutionAt(state: ResolveState, version: number): Resolution {
  const target = state.targets.find((t) => t.version === version)!;
  return {
    model: state.model,
    alias: state.alias,
    version,
    generation: state.generation,
    digest: target.digest,
    files: target.files,
    uri: versionUri(state.model, version),
    split: state.split,
    // A state cached by a registry from before signatures (the colo's cache keeps one up to a
    // day for stale-if-error) has none to list.
    signatures: target.signatures ?? [],
  };
}
