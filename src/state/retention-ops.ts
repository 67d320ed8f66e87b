/**
 * What a ModelState decides about retention: the model's own policy, and which versions a
 * policy deletes now. The preview and the scheduled application run the same
 * `planRetention` over the same facts (this object's versions, stages, tags, lineage and
 * aliases); the application deletes inside that same transaction, so an alias set a moment
 * earlier protects its version, and one set a moment later finds the version gone.
 */
import { valueVersions } from "../domain/alias";
import {
  evaluateRetention,
  type Deletion,
  type ProtectedParent,
  type RetentionFacts,
  type RetentionPlan,
  type RetentionPolicy,
} from "../domain/retention";
import type { VersionHead } from "../domain/version";
import type { Outcome } from "./outcome";
import type { Hold } from "./downstream-table";
import type { OwnRetention } from "./retention-table";
import { appendAudit, modelNotFound, type Actor, type Rooms } from "./rooms";
import type { R2Aborts } from "./upload-table";
import { deleteVersion } from "./version-ops";

/** Where the policy evaluated came from: the preview's body, the model's own, or the registry default. */
export type PolicySource = "request" | "model" | "default";

/** What a retention decision needs from outside this object: the default and the cross-model lineage. */
export interface RetentionInputs {
  model: string;
  /** The registry default: applies when the model has no policy of its own. */
  defaultPolicy: RetentionPolicy;
  /** Versions of this model that versions of other models name as parent, as D1 shows them. */
  protectedParents: ProtectedParent[];
  /**
   * Holds (./downstream-table.ts) whose child model's object said, after they were read, that
   * none of its versions names the parent any more. Every other hold protects its version.
   */
  staleHolds: Hold[];
  /** The moment ages are measured at (RFC 3339). */
  at: string;
}

export interface RetentionDecision extends RetentionPlan {
  policy: RetentionPolicy;
  source: PolicySource;
  at: string;
}

export interface RetentionApplied {
  deleted: Deletion[];
  source: PolicySource;
  /** Multipart uploads of deleted pending versions, for the caller to abort in R2. */
  aborts: R2Aborts["aborts"];
}

export function ownRetention(r: Rooms, input: { model: string }): Outcome<OwnRetention | null> {
  if (!r.model.get()) return modelNotFound(input);
  return { ok: true, value: r.retention.get() };
}

export function setRetention(r: Rooms, input: Actor & { policy: RetentionPolicy }): Outcome<OwnRetention> {
  if (!r.model.get()) return modelNotFound(input);
  const before = r.retention.get();
  const own: OwnRetention = { policy: input.policy, updated_at: input.at, updated_by: input.actor };
  r.retention.put(input.model, own);
  appendAudit(r, input, { action: "retention.set", ...(before ? { from: before.policy } : {}), to: input.policy });
  return { ok: true, value: own };
}

/** Removes the model's own policy (the default applies again); without one, changes nothing and audits nothing. */
export function deleteRetention(r: Rooms, input: Actor): Outcome<null> {
  if (!r.model.get()) return modelNotFound(input);
  const before = r.retention.get();
  if (!before) return { ok: true, value: null };
  r.retention.delete(input.model);
  appendAudit(r, input, { action: "retention.delete", from: before.policy });
  return { ok: true, value: null };
}

const facts = (v: VersionHead): RetentionFacts => ({
  version: v.version,
  status: v.status,
  stage: v.stage,
  tags: v.tags,
  created_at: v.created_at,
  ready_at: v.ready_at,
  updated_at: v.updated_at,
  parents: v.lineage.parents ?? [],
});

/** What `policy` (else the policy in force) deletes and keeps now; changes nothing. */
export function planRetention(
  r: Rooms,
  input: RetentionInputs & { policy?: RetentionPolicy },
): Outcome<RetentionDecision> {
  if (!r.model.get()) return modelNotFound(input);
  const own = r.retention.get();
  const [policy, source]: [RetentionPolicy, PolicySource] = input.policy
    ? [input.policy, "request"]
    : own
      ? [own.policy, "model"]
      : [input.defaultPolicy, "default"];
  const plan = evaluateRetention({
    model: input.model,
    versions: r.versions.heads().map(facts),
    aliases: r.aliases.all().map((a) => ({ alias: a.alias, versions: valueVersions(a.value) })),
    protectedParents: [...input.protectedParents, ...heldParents(r, input.staleHolds)],
    now: Date.parse(input.at),
    policy,
  });
  return { ok: true, value: { ...plan, policy, source, at: input.at } };
}

/** The versions this object's own holds protect, but for those judged stale (unless held again since). */
function heldParents(r: Rooms, stale: readonly Hold[]): ProtectedParent[] {
  const judged = new Set(stale.map((h) => `${h.version}\u0000${h.child_model}\u0000${h.held_at}`));
  return r.downstream
    .all()
    .filter((h) => !judged.has(`${h.version}\u0000${h.child_model}\u0000${h.held_at}`))
    .map((h) => ({ version: h.version, child: { model: h.child_model, version: null } }));
}

/**
 * Deletes what the policy in force deletes now, each version exactly as `DELETE .../versions/{v}`
 * would (projection, uploads, watchers), audited as `version.delete` by the actor with the
 * rule in `reason`. Runs inside one transaction: the plan and the deletions see one state.
 */
export function applyRetention(r: Rooms, input: RetentionInputs & { actor: string }): Outcome<RetentionApplied> {
  const decided = planRetention(r, input);
  if (decided.ok) r.downstream.release(input.staleHolds);
  if (!decided.ok) return decided;
  const { source, policy } = decided.value;
  const applied: RetentionApplied = { deleted: [], source, aborts: [] };
  for (const deletion of decided.value.delete) {
    const outcome = deleteVersion(r, {
      model: input.model,
      actor: input.actor,
      at: input.at,
      version: deletion.version,
      reason: deletion.rule,
      detail: { retention: { source, policy } },
    });
    // The evaluator keeps every version a delete refuses (alias-held, production), so this
    // cannot happen; were the two ever to disagree, the version stays and the rest go on.
    if (!outcome.ok) {
      console.error(`retention: ${input.model} version ${deletion.version} was not deleted: ${outcome.detail}`);
      continue;
    }
    applied.deleted.push(deletion);
    applied.aborts.push(...outcome.value.aborts);
  }
  return { ok: true, value: applied };
}
