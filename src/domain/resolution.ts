/** What resolving an alias answers (API.md "Resolution"), built from the alias's state. */
import { pickFromSplit, type SplitEntry } from "./alias";
import type { ManifestEntry } from "./manifest";
import { versionUri } from "./uri";

/** A version an alias can resolve to, with what a serving node needs to fetch it. */
export interface ResolveTarget {
  version: number;
  digest: string | null;
  files: ManifestEntry[];
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

export interface Resolution {
  model: string;
  alias: string;
  version: number;
  generation: number;
  digest: string | null;
  files: ManifestEntry[];
  uri: string;
  split: SplitEntry[] | null;
}

export function resolutionFor(state: ResolveState, key: string | undefined): Resolution {
  const version = state.split ? pickFromSplit(state.split, state.model, state.alias, key) : state.targets[0]!.version;
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
  };
}
