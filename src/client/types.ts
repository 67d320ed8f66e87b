/**
 * The shapes of docs/reference.md as the client sees them: what the server answers and what
 * it accepts. Plain interfaces, no runtime code, so users' TypeScript gets the contract
 * without pulling in the server's zod schemas.
 */

/** RFC 3339 UTC with milliseconds: `2026-11-27T04:05:06.789Z`. */
export type Timestamp = string;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PageQuery {
  limit?: number;
  cursor?: string;
}

/** A JSON value, as a lineage `signature` holds them. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type Tags = Record<string, string>;
/** A tag patch: a `null` value deletes the key. */
export type TagPatch = Record<string, string | null>;
export type Metrics = Record<string, number>;

// ---- models -------------------------------------------------------------------------------

export type ModelKind = "model" | "prompt" | "config";

export interface Model {
  name: string;
  kind: ModelKind;
  description: string | null;
  tags: Tags;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string;
  latest_version: number | null;
  aliases: Record<string, number>;
}

export interface CreateModel {
  name: string;
  kind?: ModelKind;
  description?: string | null;
  tags?: Tags;
}

export interface PatchModel {
  description?: string | null;
  tags?: TagPatch;
}

export interface ListModels extends PageQuery {
  prefix?: string;
  kind?: ModelKind;
  /** Model tags as `key=value` or `key:value`; every one must match. */
  tag?: string | string[];
}

// ---- versions -----------------------------------------------------------------------------

export type VersionStatus = "pending" | "ready" | "failed";
export type Stage = "none" | "staging" | "production" | "archived";

export interface Dataset {
  uri: string;
  snapshot?: string;
  digest?: string;
}

export interface Lineage {
  run_id?: string;
  run_url?: string;
  /** Where the files came from (MLflow's `source` URI, for a version registered or imported from MLflow). */
  source?: string;
  git_repo?: string;
  git_sha?: string;
  datasets?: Dataset[];
  params?: Record<string, string | number | boolean>;
  parents?: { model: string; version: number }[];
  framework?: { name: string; version?: string };
  signature?: Record<string, JsonValue>;
}

/** A lineage patch: given fields replace the old ones, `null` removes one (only while pending). */
export type LineagePatch = { [K in keyof Lineage]?: Lineage[K] | null };

export interface FileEntry {
  path: string;
  size: number;
  sha256: string;
  deduplicated?: boolean;
}

export interface Version {
  model: string;
  version: number;
  status: VersionStatus;
  stage: Stage;
  description: string | null;
  tags: Tags;
  metrics: Metrics;
  lineage: Lineage;
  files: FileEntry[];
  /** `sha256:<hex>` of the sorted `<path>\t<size>\t<sha256>\n` lines, set at finalize. */
  digest: string | null;
  aliases: string[];
  created_at: Timestamp;
  created_by: string;
  updated_at: Timestamp;
  ready_at: Timestamp | null;
  /** Downloads of the version's files, counted a few seconds behind. */
  downloads: number;
}

export interface CreateVersion {
  description?: string | null;
  tags?: Tags;
  metrics?: Metrics;
  lineage?: Lineage;
}

export interface PatchVersion {
  description?: string | null;
  tags?: TagPatch;
  /** Merged; a `null` value deletes the metric. Metrics may arrive after `ready`. */
  metrics?: Record<string, number | null>;
  lineage?: LineagePatch;
}

export interface ListVersions extends PageQuery {
  status?: VersionStatus;
  stage?: Stage;
  /** Version tags as `key=value` or `key:value`; every one must match. */
  tag?: string | string[];
}

export interface StageChange {
  stage: Stage;
  archive_existing?: boolean;
  reason?: string;
}

// ---- files and uploads --------------------------------------------------------------------

export interface UploadPart {
  part: number;
  size: number;
  etag: string;
}

export interface Upload {
  upload_id: string;
  path: string;
  size: number;
  sha256: string;
  part_size: number;
  part_count: number;
  parts: UploadPart[];
  /** `verifying`: `complete` assembled the parts and the server is verifying them over several invocations. */
  status: "open" | "verifying" | "completed" | "failed" | "aborted";
  expires_at: Timestamp;
  /** Once `completed`: the file it attached. */
  file?: FileEntry;
}

// ---- aliases and resolution ---------------------------------------------------------------

export interface SplitEntry {
  version: number;
  weight: number;
}

export interface Alias {
  model: string;
  alias: string;
  version: number | null;
  split: SplitEntry[] | null;
  generation: number;
  updated_at: Timestamp;
  updated_by: string;
}

export type SetAlias = ({ version: number; split?: undefined } | { split: SplitEntry[]; version?: undefined }) & {
  reason?: string;
  /** 409 `conflict` when the alias's generation is no longer this (0: not set). */
  expected_generation?: number;
};

export interface Resolution {
  model: string;
  alias: string;
  version: number;
  generation: number;
  digest: string | null;
  files: FileEntry[];
  uri: string;
  split: SplitEntry[] | null;
  /** The version's signatures: fetch each bundle and verify it with keys the node holds itself. */
  signatures: SignatureRef[];
  /** With `include: "lineage"`: the version's lineage graph, the Version, and the alias as set. */
  lineage?: LineageGraph;
  version_detail?: Version | null;
  /** Null for `latest`, `v<n>` and stage fallbacks. */
  alias_detail?: Alias | null;
}

export interface HistoryEntry {
  generation: number;
  version: number | null;
  split: SplitEntry[] | null;
  /** A guard's rollback is a `rollback` too (actor `guard`). */
  action: "set" | "delete" | "rollback" | "swap";
  actor: string;
  reason: string | null;
  at: Timestamp;
}

/** One watch message: the Resolution's fields plus `event`; nulls once the alias resolves to nothing. */
export interface WatchEvent {
  event: string;
  model: string;
  alias: string;
  version: number | null;
  generation: number;
  digest: string | null;
  files: FileEntry[] | null;
  uri: string | null;
  split: SplitEntry[] | null;
  /** Null, with the files, once the alias resolves to nothing. */
  signatures: SignatureRef[] | null;
}

// ---- gates, approvals, guards -------------------------------------------------------------

export interface NoRegression {
  metric: string;
  /** Default true. */
  higher_is_better?: boolean;
  /** Default 0. */
  tolerance?: number;
}

export interface GatePolicy {
  metrics?: { name: string; min?: number; max?: number }[];
  no_regression?: NoRegression[];
  required_tags?: Tags;
  required_lineage?: (keyof Lineage)[];
  approvals?: number;
  from?: string;
  /** At least `min` (default 1) distinct signers, each vouched for by a signing key named (by name or id) in `keys`. */
  signatures?: { keys: string[]; min?: number };
}

/** A policy as the server keeps and shows it: its defaults filled in. */
export type AppliedGatePolicy = Omit<GatePolicy, "no_regression" | "signatures"> & {
  no_regression?: Required<NoRegression>[];
  signatures?: Required<NonNullable<GatePolicy["signatures"]>>;
};

export interface Gate {
  target: string;
  policy: AppliedGatePolicy;
  updated_at: Timestamp;
  updated_by: string;
}

export interface GateCheck {
  check: string;
  passed: boolean;
  expected: string;
  actual: unknown;
  detail: string | null;
}

export interface GateResult {
  passed: boolean;
  checks: GateCheck[];
}

export interface Approval {
  target: string;
  approver: string;
  comment: string | null;
  at: Timestamp;
}

export interface GuardPolicy {
  metric: string;
  min?: number;
  max?: number;
  window_s?: number;
  min_samples?: number;
  /** Distinct nodes that must have reported in the window before it can trip (1..100; default 1). */
  min_nodes?: number;
}

export interface Guard {
  model: string;
  alias: string;
  metric: string;
  min: number | null;
  max: number | null;
  window_s: number;
  min_samples: number;
  min_nodes: number;
  updated_at: Timestamp;
  updated_by: string;
  /** The alias's window; for a split, all members together with `version` null. */
  window: GuardWindow;
  /** Each served version's own window (what the guard trips on), in the alias's order; none while the alias is not set. */
  windows: (GuardWindow & { version: number })[];
}

export interface GuardWindow {
  version: number | null;
  samples: number;
  mean: number | null;
  /** How many calls to the model's Durable Object brought these samples. */
  batches: number;
  /** Distinct nodes that reported them, counted up to the guard's `min_nodes`. */
  nodes: number;
}

export interface Signal {
  version: number;
  /** The node that measured them; signals without one count as one anonymous node. */
  node?: string;
  metrics: Metrics;
  /** The metrics are the mean of this many samples (1..100,000; default 1). */
  count?: number;
}

// ---- rollouts ------------------------------------------------------------------------------

export interface RolloutStep {
  /** The share of requests the new version serves in this step, in percent (1..100; the last step's is 100). */
  weight: number;
  /** How long the step holds once enough of the fleet serves it (0..604800). */
  hold_s: number;
}

export interface StartRollout {
  version: number;
  steps: RolloutStep[];
  /** The share of reporting nodes that must serve a step before its hold starts (0..1; default 0.9). */
  min_fleet?: number;
  reason?: string;
}

export interface RolloutHistoryEntry {
  step: number;
  at: Timestamp;
  event: "step" | "hold" | "paused" | "resumed" | "completed" | "aborted";
  detail: Record<string, unknown> | null;
}

export interface Rollout {
  /** Names the rollout in its audit events (`detail.rollout`). */
  id: string;
  model: string;
  alias: string;
  from: number;
  to: number;
  steps: RolloutStep[];
  min_fleet: number;
  /** The step in force, from 1: `steps[step - 1]`. */
  step: number;
  state: "running" | "paused" | "completed" | "aborted";
  reason: string | null;
  started_at: Timestamp;
  started_by: string;
  step_started_at: Timestamp;
  /** Null while the step waits for the fleet. */
  hold_started_at: Timestamp | null;
  /** When the next step (or the completion) is due; null while waiting for the fleet, paused, or ended. */
  next_at: Timestamp | null;
  /** The alias's generation after the rollout's latest change of it. */
  generation: number;
  history: RolloutHistoryEntry[];
}

// ---- the fleet ----------------------------------------------------------------------------
// The shapes of src/domain/fleet.ts (docs/fleet.md).

export type NodeState = "serving" | "syncing" | "refused" | "degraded";

/** What a serving node reports (`POST .../nodes`; over a watch socket the same, less `node`). */
export interface NodeReport {
  node: string;
  /** The version it serves now (null: none yet). */
  version: number | null;
  state: NodeState;
  reason?: string;
  /** The version it is on its way to, or refused. */
  target?: number | null;
  /** At most 16. */
  labels?: Record<string, string>;
  agent?: string;
}

export interface FleetNode {
  node: string;
  version: number | null;
  state: NodeState;
  reason: string | null;
  target: number | null;
  labels: Record<string, string>;
  agent: string | null;
  /** When it began serving `version`. */
  since: Timestamp;
  first_seen: Timestamp;
  last_seen: Timestamp;
  /** No report for NODE_TTL_S (default 90). */
  stale: boolean;
}

export interface FleetNodesQuery extends PageQuery {
  version?: number;
  state?: NodeState;
  /** `key:value`. */
  label?: string;
  stale?: boolean;
}

export interface FleetVersion {
  version: number | null;
  nodes: number;
  serving: number;
  syncing: number;
  refused: number;
  degraded: number;
}

export interface Fleet {
  model: string;
  alias: string;
  intended: { version: number | null; split: SplitEntry[] | null; generation: number };
  nodes: number;
  reporting: number;
  by_version: FleetVersion[];
  converged: boolean;
  in_step: number;
  lagging: number;
  refused: number;
  reasons: { reason: string; nodes: number }[];
  since_change_s: number | null;
  updated_at: Timestamp | null;
  relays: number;
  summaries: number;
}

/** What an alias held at an instant (`?at=`). */
export interface AliasAt {
  model: string;
  alias: string;
  /** For a split: the member the routing key picks, null without one. */
  version: number | null;
  split: SplitEntry[] | null;
  generation: number;
  set_at: Timestamp;
  set_by: string;
  reason: string | null;
}

// ---- lineage ------------------------------------------------------------------------------
// The shapes of the server's lineage routes (src/lineage/schemas.ts).

export interface VersionRef {
  model: string;
  version: number;
}

/** A node the token may not see: edges meet at it by `ref`, nothing else is told. */
export interface RedactedNode {
  model: null;
  version: null;
  redacted: true;
  /** Opaque, per response. */
  ref: string;
}

export interface LineageNode {
  model: string;
  version: number;
  status: VersionStatus | "deleted";
  stage: string | null;
  aliases: string[];
  created_at: Timestamp | null;
  created_by: string | null;
  digest: string | null;
  run_id: string | null;
  run_url: string | null;
  git_repo: string | null;
  git_sha: string | null;
  datasets: Dataset[];
  params: Record<string, string | number | boolean>;
  metrics: Metrics;
  /** 0 for the root, -n for n steps upstream (ancestors), +n downstream (descendants). */
  distance: number;
}

export interface LineageGraph {
  root: VersionRef;
  depth: number;
  nodes: (LineageNode | (RedactedNode & { distance: number }))[];
  /** `from` is a parent of `to`. */
  edges: { from: VersionRef | RedactedNode; to: VersionRef | RedactedNode; relation: "parent" }[];
  datasets: { uri: string; snapshot: string | null; digest: string | null }[];
  truncated: boolean;
}

/** Exactly one of `dataset` (with an optional `snapshot`), `git_sha` and `run_id`. */
export type LineageSearch = PageQuery &
  (
    | { dataset: string; snapshot?: string; git_sha?: undefined; run_id?: undefined }
    | { git_sha: string; dataset?: undefined; snapshot?: undefined; run_id?: undefined }
    | { run_id: string; dataset?: undefined; snapshot?: undefined; git_sha?: undefined }
  );

export interface LineageHit {
  model: string;
  version: number;
  status: VersionStatus;
  stage: string;
  aliases: string[];
  created_at: Timestamp;
}

export interface MapDiff<T> {
  added: Record<string, T>;
  removed: Record<string, T>;
  changed: Record<string, { from: T; to: T }>;
}

export interface VersionDiff {
  model: string;
  from: number;
  to: number;
  files: {
    added: FileEntry[];
    removed: FileEntry[];
    changed: {
      path: string;
      from_sha256: string;
      to_sha256: string;
      from_size: number;
      to_size: number;
      /** Unified diff, for UTF-8 text files up to 1 MiB on both sides. */
      diff?: string;
      diff_omitted?: "binary" | "too_large" | "budget" | "unreadable";
    }[];
  };
  params: MapDiff<unknown>;
  metrics: MapDiff<number>;
  tags: MapDiff<string>;
  /** Lineage fields other than params. */
  lineage: MapDiff<unknown>;
}

// ---- audit --------------------------------------------------------------------------------

export interface AuditEvent {
  id: string;
  at: Timestamp;
  actor: string;
  /** The id of the minted token the write was made with. */
  token?: string;
  action: string;
  model: string;
  version?: number;
  alias?: string;
  from?: unknown;
  to?: unknown;
  reason?: string;
  detail?: unknown;
}

export interface ListAudit extends PageQuery {
  model?: string;
  alias?: string;
  actor?: string;
  action?: string;
  /** Inclusive. */
  since?: string;
  /** Exclusive. */
  until?: string;
}

// ---- tokens -------------------------------------------------------------------------------

export interface Token {
  /** `tok_…`: also the token's `jti`. */
  id: string;
  sub: string;
  /** Space-separated scopes. */
  scope: string;
  /** null: every model. */
  models: string[] | null;
  /** null: every alias. */
  aliases: string[] | null;
  expires_at: Timestamp;
  description: string | null;
  created_at: Timestamp;
  created_by: string;
  /** The id of the minted token it was minted with (revoked with it); null for a token without a registry jti. */
  parent: string | null;
}

/** The answer to minting: the token itself is shown only here. */
export interface MintedToken extends Token {
  token: string;
  /** The lifetime granted, in seconds. */
  ttl_s: number;
  /** Whether `ttl_s` was cut to the minting token's own `exp`. */
  ttl_capped: boolean;
}

export interface CreateToken {
  sub: string;
  /** Space-separated: read write promote approve report admin. */
  scope: string;
  models?: string[];
  aliases?: string[];
  /** Seconds; default 86400, at most 31536000. */
  ttl_s?: number;
  description?: string | null;
}

// ---- webhooks and retention ---------------------------------------------------------------

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  models: string[];
  description: string | null;
  active: boolean;
  disabled_reason: string | null;
  created_at: Timestamp;
  created_by: string;
  updated_at: Timestamp;
  /** `whsec_…`: only when created or rotated. */
  secret?: string;
}

export interface CreateWebhook {
  url: string;
  events?: string[];
  models?: string[];
  description?: string | null;
}

export interface PatchWebhook {
  url?: string;
  events?: string[];
  models?: string[];
  description?: string | null;
  active?: boolean;
  rotate_secret?: true;
}

export interface Delivery {
  id: string;
  webhook_id: string;
  event_id: string;
  type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Timestamp | null;
  delivered_at: Timestamp | null;
}

export interface RetentionPolicy {
  keep_last?: number;
  max_age_days?: number;
  /** `production` is kept whatever this says; default production and staging. */
  keep_stages?: ("staging" | "production" | "archived")[];
  keep_tags?: Tags;
  pending_max_age_days?: number;
  failed_max_age_days?: number;
}

/** A model's retention: its own policy, or the registry default it inherits. */
export interface ModelRetention {
  policy: RetentionPolicy;
  /** true: the model has no policy of its own, and this is the registry default. */
  inherited: boolean;
  /** When the policy shown was set (null: the default was never set). */
  updated_at: Timestamp | null;
  updated_by: string | null;
}

export interface RetentionPreview {
  delete: {
    version: number;
    rule: "keep_last" | "max_age_days" | "keep_last+max_age_days" | "pending_max_age_days" | "failed_max_age_days";
  }[];
  keep: {
    version: number;
    reason:
      | "alias"
      | "stage"
      | "keep_tags"
      | "lineage_parent"
      | "keep_last"
      | "max_age_days"
      | "pending_max_age_days"
      | "failed_max_age_days"
      | "no_rule";
    /** The alias, the stage, or the child (`model/version`) naming the version as parent. */
    detail?: string;
  }[];
  /** The policy evaluated, and where it came from. */
  policy: RetentionPolicy;
  source: "request" | "model" | "default";
  /** The moment it was evaluated as of. */
  at: Timestamp;
}

// ---- signatures ----------------------------------------------------------------------------

/** Who signed a bundle, as the registry's verification found it. */
export interface Signer {
  kind: "key" | "certificate" | "sigstore";
  /** `sha256:<hex>` of the signing key's SPKI DER. */
  fingerprint: string | null;
  /** A certificate's identity (a Sigstore certificate's SAN). */
  subject?: string;
  /** A Sigstore certificate's OIDC issuer. */
  issuer?: string;
}

/** A verified signature of a version: `trusted_by` names the signing keys that vouch for it (empty: valid, untrusted). */
export interface Signature {
  id: string;
  signer: Signer;
  trusted_by: string[];
  verified_at: Timestamp;
  created_at: Timestamp;
  created_by: string;
  bundle_sha256: string;
}

/** What a Resolution and a watch message say of each signature. */
export interface SignatureRef {
  id: string;
  signer: Signer;
  trusted_by: string[];
}

/** A key, certificate authority or Sigstore identity the registry trusts to vouch for signatures. */
export interface SigningKey {
  id: string;
  name: string;
  kind: "key" | "ca" | "identity";
  /** `sha256:<hex>` of the SPKI DER: the key's, or the CA certificate's; null for an identity. */
  fingerprint: string | null;
  identity: { issuer: string; subject: string } | null;
  created_at: Timestamp;
  created_by: string;
}

/** Exactly one of `public_key`, `ca_certificate` (PEM) and `identity` (400 otherwise). */
export interface CreateSigningKey {
  name: string;
  public_key?: string;
  ca_certificate?: string;
  identity?: { issuer: string; subject: string };
}
