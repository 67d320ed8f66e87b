/**
 * MLflow's JSON shapes (`model_registry.proto`: ModelVersion, RegisteredModel,
 * RegisteredModelAlias, ModelVersionTag), as MLflow's server writes them with
 * `message_to_json`: field names in snake_case, int64 fields (timestamps) as JSON numbers,
 * `version` as a string, enums by name, and fields that are not set left out (proto2: a
 * description that was never set is absent, not null).
 */
import {
  downloadUri,
  epochMs,
  tagList,
  toMlflowStage,
  toMlflowStatus,
  type MlflowStage,
  type MlflowStatus,
  type TagEntry,
} from "../../domain/mlflow";
import type { ModelRecord } from "../../domain/model";
import type { VersionHead } from "../../domain/version";

/** What MLflow shows of a model. */
export type ModelFacts = Pick<ModelRecord, "name" | "description" | "tags" | "created_at" | "updated_at">;

/** What MLflow shows of a version (no files). */
export type VersionFacts = Pick<
  VersionHead,
  | "model"
  | "version"
  | "status"
  | "stage"
  | "description"
  | "tags"
  | "lineage"
  | "created_at"
  | "created_by"
  | "updated_at"
>;

export interface MlflowModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: MlflowStage;
  description?: string;
  source: string;
  run_id?: string;
  run_link?: string;
  status: MlflowStatus;
  status_message?: string;
  tags: TagEntry[];
  aliases: string[];
}

export interface MlflowRegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description?: string;
  latest_versions: MlflowModelVersion[];
  tags: TagEntry[];
  aliases: { alias: string; version: string }[];
}

/** What a pending version waits for, in words a person reading an MLflow client's output can act on. */
function statusMessage(v: VersionFacts): string | undefined {
  if (v.status === "pending") {
    return `Waiting for its files: push them through mreg (PUT /v1/models/${v.model}/versions/${v.version}/files/<path>, then POST /v1/models/${v.model}/versions/${v.version}/finalize); READY once finalized`;
  }
  if (v.status === "failed") return "The version's registration failed in mreg; create another version";
  return undefined;
}

/**
 * A ModelVersion. `source` is where the files are in mreg (the download URI, which MLflow
 * clients can load from); the URI the version was registered with is kept in its lineage
 * (`lineage.source`, shown by `/v1`). `run_link` is the lineage's `run_url`.
 */
export function modelVersionJson(v: VersionFacts, aliases: readonly string[]): MlflowModelVersion {
  const message = statusMessage(v);
  return {
    name: v.model,
    version: String(v.version),
    creation_timestamp: epochMs(v.created_at),
    last_updated_timestamp: epochMs(v.updated_at),
    user_id: v.created_by,
    current_stage: toMlflowStage(v.stage),
    ...(v.description !== null ? { description: v.description } : {}),
    source: downloadUri(v.model, v.version),
    ...(v.lineage.run_id !== undefined ? { run_id: v.lineage.run_id } : {}),
    ...(v.lineage.run_url !== undefined ? { run_link: v.lineage.run_url } : {}),
    status: toMlflowStatus(v.status),
    ...(message !== undefined ? { status_message: message } : {}),
    tags: tagList(v.tags),
    aliases: [...aliases],
  };
}

export function registeredModelJson(
  m: ModelFacts,
  latest: MlflowModelVersion[],
  aliases: readonly { alias: string; version: number }[],
): MlflowRegisteredModel {
  return {
    name: m.name,
    creation_timestamp: epochMs(m.created_at),
    last_updated_timestamp: epochMs(m.updated_at),
    ...(m.description !== null ? { description: m.description } : {}),
    latest_versions: latest,
    tags: tagList(m.tags),
    aliases: aliases.map((a) => ({ alias: a.alias, version: String(a.version) })),
  };
}
