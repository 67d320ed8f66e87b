/**
 * What a ModelState decides about gates and approvals, and the gate check every promotion
 * runs inside its own transaction: the facts it reads (status, metrics, tags, lineage,
 * approvals, creator, what held which alias or stage) are this object's SQLite, read in the
 * same synchronous step that commits or refuses.
 */
import { valueVersions } from "../domain/alias";
import { evaluateGate, type BaselineSource, type GateFacts, type GatePolicy, type GateResult } from "../domain/gate";
import type { VersionHead } from "../domain/version";
import type { Approval, GateBody } from "./gate-table";
import { fail, type Outcome } from "./outcome";
import { appendAudit, modelNotFound, versionNotFound, type Actor, type Reasoned, type Rooms } from "./rooms";

const STAGE_NAMES = new Set(["staging", "production", "archived"]);

export function setGate(r: Rooms, input: Actor & { target: string; policy: GatePolicy }): Outcome<GateBody> {
  if (!r.model.get()) return modelNotFound(input);
  const before = r.gates.get(input.target);
  const gate: GateBody = { target: input.target, policy: input.policy, updated_at: input.at, updated_by: input.actor };
  r.gates.put(gate);
  appendAudit(r, input, {
    action: "gate.set",
    ...(before ? { from: before.policy } : {}),
    to: input.policy,
    detail: { target: input.target },
  });
  return { ok: true, value: gate };
}

export function deleteGate(r: Rooms, input: Actor & { target: string }): Outcome<null> {
  const before = r.gates.get(input.target);
  if (!before) return fail("not_found", `No gate on '${input.target}'`);
  r.gates.delete(input.target);
  appendAudit(r, input, { action: "gate.delete", from: before.policy, detail: { target: input.target } });
  return { ok: true, value: null };
}

/**
 * Four eyes: the creator of a version cannot approve it (403). One approval per approver,
 * version and target; a repeat answers the first and changes nothing.
 */
export function approve(
  r: Rooms,
  input: Actor & { version: number; target: string; comment: string | null },
): Outcome<Approval> {
  const head = r.versions.head(input.version);
  if (!head) return versionNotFound(input);
  if (head.created_by === input.actor)
    return fail("forbidden", `'${input.actor}' created version ${input.version} and cannot approve it`);
  const approval: Approval = { target: input.target, approver: input.actor, comment: input.comment, at: input.at };
  if (!r.gates.approve(input.version, approval)) {
    return { ok: true, value: r.gates.approvals(input.version, input.target).find((a) => a.approver === input.actor)! };
  }
  appendAudit(r, input, {
    action: "approval.add",
    version: input.version,
    to: { target: input.target },
    reason: input.comment,
  });
  return { ok: true, value: approval };
}

/** What a promotion of `versions` to `target` would get from its gate now (passed, no checks, without a policy). */
export function checkGate(r: Rooms, target: string, versions: readonly number[]): GateResult {
  const gate = r.gates.get(target);
  if (!gate) return { passed: true, checks: [] };
  const candidates = versions.map((v) => facts(r, r.versions.head(v)!, target, gate.policy));
  const baseline = baselineOf(r, target);
  const holders = baseline.holders.map((h) => facts(r, h, target, gate.policy));
  return evaluateGate(gate.policy, candidates, holders, baseline.source);
}

/**
 * Refuses a promotion its gate does not pass: 409 `gate_failed` with the checks, and the
 * refusal audited as `promotion_denied` in the same transaction (a refused promotion still
 * commits its audit event). Null when the gate passes or there is none.
 */
export function gateRefusal(
  r: Rooms,
  actor: Reasoned,
  target: string,
  versions: readonly number[],
  audit: { alias?: string },
) {
  const result = checkGate(r, target, versions);
  if (result.passed) return null;
  appendAudit(r, actor, {
    action: "promotion_denied",
    ...(audit.alias ? { alias: audit.alias } : {}),
    version: versions.length === 1 ? versions[0]! : null,
    reason: actor.reason,
    detail: { target, versions, checks: result.checks },
  });
  const failed = result.checks.filter((c) => !c.passed).map((c) => c.check);
  return fail(
    "gate_failed",
    `The gate of '${target}' refused version${versions.length > 1 ? "s" : ""} ${versions.join(", ")}: ${failed.join(", ")}`,
    {
      checks: result.checks,
    },
  );
}

/**
 * What `no_regression` compares with. The versions serving `target` now: the alias's (every
 * version of a split), else those in the stage of that name. When nothing serves it, the last
 * that did, so deleting the alias (or moving the version out of the stage) and promoting a
 * worse one is still compared: the newest value the alias held whose versions still exist,
 * else the newest version still here that was ever in the stage. (Stage history keeps no
 * times, so for a stage "newest" is the highest version number.)
 */
function baselineOf(r: Rooms, target: string): { holders: VersionHead[]; source: BaselineSource } {
  const existing = (versions: number[]) => versions.flatMap((v) => r.versions.head(v) ?? []);
  const alias = r.aliases.get(target);
  if (alias) return { holders: existing(valueVersions(alias.value)), source: "current" };
  const stage = STAGE_NAMES.has(target) ? (target as "staging" | "production" | "archived") : null;
  if (stage) {
    const inStage = r.versions.inStage(stage);
    if (inStage.length > 0) return { holders: inStage, source: "current" };
  }
  let everHeld = false;
  for (const value of r.aliases.pastValues(target)) {
    everHeld = true;
    const holders = existing(valueVersions(value));
    if (holders.length > 0) return { holders, source: "last" };
  }
  const lastInStage = stage ? r.versions.lastEverInStage(stage) : null;
  if (lastInStage) return { holders: [lastInStage], source: "last" };
  return { holders: [], source: everHeld ? "gone" : "current" };
}

function facts(r: Rooms, head: VersionHead, target: string, policy: GatePolicy): GateFacts {
  const from = policy.from;
  const holdsFromNow = (alias: string) => {
    const current = r.aliases.get(alias);
    return current !== null && valueVersions(current.value).includes(head.version);
  };
  const heldFrom =
    from !== undefined &&
    (holdsFromNow(from) || r.aliases.everHeld(from, head.version) || r.versions.everInStage(head.version, from));
  return {
    version: head.version,
    metrics: head.metrics,
    tags: head.tags,
    lineage: head.lineage,
    created_by: head.created_by,
    approvers: r.gates.approvals(head.version, target).map((a) => a.approver),
    heldFrom,
    // Read in the promotion's own transaction: a key deleted a moment ago no longer vouches here.
    signatures: policy.signatures ? r.signatures.ofVersion(head.version) : [],
  };
}
