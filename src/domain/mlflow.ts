/**
 * What maps to what between mreg and MLflow's Model Registry (API.md "Bridges → MLflow";
 * MLflow's `mlflow/protos/model_registry.proto` and `mlflow_artifacts.proto`): stages,
 * statuses, timestamps, tag lists, the download URI of a version and the artifact paths
 * under it. Pure, shared by the bridge and `mreg import mlflow`.
 */
import { MODEL_NAME_PATTERN } from "./names";
import type { Stage, VersionStatus } from "./version";

export type MlflowStage = "None" | "Staging" | "Production" | "Archived";
export type MlflowStatus = "PENDING_REGISTRATION" | "FAILED_REGISTRATION" | "READY";

const STAGES: Record<Stage, MlflowStage> = {
  none: "None",
  staging: "Staging",
  production: "Production",
  archived: "Archived",
};

export const MLFLOW_STAGES: readonly MlflowStage[] = Object.values(STAGES);

export const toMlflowStage = (stage: Stage): MlflowStage => STAGES[stage];

/** An MLflow stage name, any case (MLflow's `get_canonical_stage`), as mreg's stage; null when it is none. */
export function fromMlflowStage(text: string): Stage | null {
  const lower = text.toLowerCase();
  return Object.hasOwn(STAGES, lower) ? (lower as Stage) : null;
}

export function toMlflowStatus(status: VersionStatus): MlflowStatus {
  return status === "ready" ? "READY" : status === "pending" ? "PENDING_REGISTRATION" : "FAILED_REGISTRATION";
}

/** An RFC 3339 timestamp as MLflow's int64 epoch milliseconds. */
export const epochMs = (timestamp: string): number => Date.parse(timestamp);

export interface TagEntry {
  key: string;
  value: string;
}

/** A tags map as MLflow's `[{key, value}]`, by key. */
export const tagList = (tags: Record<string, string>): TagEntry[] =>
  Object.keys(tags)
    .sort()
    .map((key) => ({ key, value: tags[key]! }));

/** MLflow's `[{key, value}]` as a map; a repeated key keeps its last value, as MLflow's stores do. */
export function tagMap(tags: readonly TagEntry[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of tags) out[key] = value;
  return out;
}

/** Where a version's files are, for `get-download-uri`: MLflow clients resolve it against their tracking URI. */
export const downloadUri = (model: string, version: number) => `mlflow-artifacts:/models/${model}/versions/${version}`;

export interface ArtifactPath {
  model: string;
  version: number;
  /** The path inside the version, '' for its root. */
  rest: string;
}

/**
 * `models/<model>/versions/<v>[/<path>]`, the artifact paths a download URI leads to; null
 * for anything else. Empty segments are ignored, as MLflow's client joins paths loosely.
 */
export function parseArtifactPath(path: string): ArtifactPath | null {
  const parts = path.split("/").filter((p) => p !== "");
  if (parts.length < 4 || parts[0] !== "models" || parts[2] !== "versions") return null;
  const model = parts[1]!;
  if (!MODEL_NAME_PATTERN.test(model) || model.includes("..")) return null;
  if (!/^[1-9][0-9]{0,8}$/.test(parts[3]!)) return null;
  return { model, version: Number(parts[3]), rest: parts.slice(4).join("/") };
}

export interface ArtifactEntry {
  /** Relative to the listed directory. */
  path: string;
  is_dir: boolean;
  /** Absent for a directory (proto: "Unset for directories"). */
  file_size?: number;
}

/**
 * The direct children of `dir` ('' for the root) among a version's files, named relative to
 * it, directories first then files, each by name. Empty when `dir` is a file or absent: the
 * MLflow client lists a path to learn whether it is a directory, and reads empty as "a file".
 */
export function childrenOf(files: readonly { path: string; size: number }[], dir: string): ArtifactEntry[] {
  const prefix = dir === "" ? "" : dir + "/";
  const dirs = new Set<string>();
  const out: ArtifactEntry[] = [];
  for (const f of files) {
    if (!f.path.startsWith(prefix)) continue;
    const rest = f.path.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) out.push({ path: rest, is_dir: false, file_size: f.size });
    else dirs.add(rest.slice(0, slash));
  }
  const byPath = (a: ArtifactEntry, b: ArtifactEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return [...[...dirs].map((path) => ({ path, is_dir: true })).sort(byPath), ...out.sort(byPath)];
}

/**
 * An MLflow registered model name as an mreg model name (lower case; other characters
 * become `-`), or null when nothing usable is left. `mreg import mlflow` uses it when a name
 * does not already fit mreg's rule.
 */
export function mregNameFor(name: string): string | null {
  let out = "";
  for (const ch of name.toLowerCase()) {
    const ok = (ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9") || ch === "." || ch === "_" || ch === "-";
    const next = ok ? ch : "-";
    if (next === "-" && out.endsWith("-")) continue;
    if (next === "." && out.endsWith(".")) continue;
    out += next;
  }
  out = out
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 128);
  return MODEL_NAME_PATTERN.test(out) && !out.includes("..") ? out : null;
}
