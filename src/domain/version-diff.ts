/**
 * What changed between two versions of a model: files by path and sha256, and the maps a
 * reviewer compares (lineage params, metrics, tags, the other lineage fields). Pure; the
 * text of changed files is diffed by the caller, which reads the bytes.
 */
import { canonicalJson, setOwn } from "./canonical-json";
import type { ManifestEntry } from "./manifest";
import type { VersionRecord } from "./version";

export interface MapDiff<V> {
  added: Record<string, V>;
  removed: Record<string, V>;
  changed: Record<string, { from: V; to: V }>;
}

export interface ChangedFile {
  path: string;
  from_sha256: string;
  to_sha256: string;
  from_size: number;
  to_size: number;
}

export interface VersionDiff {
  files: { added: ManifestEntry[]; removed: ManifestEntry[]; changed: ChangedFile[] };
  params: MapDiff<unknown>;
  metrics: MapDiff<number>;
  tags: MapDiff<string>;
  /** Lineage fields other than params (git_sha, datasets, parents …), compared as JSON values. */
  lineage: MapDiff<unknown>;
}

/** Keys added, removed and changed from `from` to `to`; values compared as canonical JSON. */
export function diffMaps<V>(from: Readonly<Record<string, V>>, to: Readonly<Record<string, V>>): MapDiff<V> {
  const out: MapDiff<V> = { added: {}, removed: {}, changed: {} };
  for (const key of Object.keys(from).sort()) {
    if (!Object.hasOwn(to, key)) setOwn(out.removed, key, from[key]!);
    else if (canonicalJson(from[key]) !== canonicalJson(to[key]))
      setOwn(out.changed, key, { from: from[key]!, to: to[key]! });
  }
  for (const key of Object.keys(to).sort()) {
    if (!Object.hasOwn(from, key)) setOwn(out.added, key, to[key]!);
  }
  return out;
}

export function diffVersions(from: VersionRecord, to: VersionRecord): VersionDiff {
  const before = new Map(from.files.map((f) => [f.path, f]));
  const after = new Map(to.files.map((f) => [f.path, f]));
  const changed: ChangedFile[] = [];
  for (const [path, old] of before) {
    const now = after.get(path);
    if (now && now.sha256 !== old.sha256) {
      changed.push({ path, from_sha256: old.sha256, to_sha256: now.sha256, from_size: old.size, to_size: now.size });
    }
  }
  const { params: fromParams = {}, ...fromLineage } = from.lineage;
  const { params: toParams = {}, ...toLineage } = to.lineage;
  return {
    files: {
      // Both lists keep the versions' path order.
      added: to.files.filter((f) => !before.has(f.path)),
      removed: from.files.filter((f) => !after.has(f.path)),
      changed,
    },
    params: diffMaps<unknown>(fromParams, toParams),
    metrics: diffMaps(from.metrics, to.metrics),
    tags: diffMaps(from.tags, to.tags),
    lineage: diffMaps<unknown>(fromLineage, toLineage),
  };
}
