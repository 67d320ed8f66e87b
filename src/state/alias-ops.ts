/** What a ModelState decides about aliases and stages, and how it resolves them. */
import type { AuditAction } from "../domain/audit";
import {
  isReserved,
  pickFromSplit,
  rollbackTarget,
  sameValue,
  valueVersions,
  type AliasAt,
  type AliasValue,
} from "../domain/alias";
import { ungranted } from "../domain/glob";
import type { ResolveState, ResolveTarget } from "../domain/resolution";
import { signatureRef } from "../domain/signature";
import { stagesTouched } from "../domain/stage";
import type { Stage, VersionHead, VersionRecord } from "../domain/version";
import { aliasBody, type AliasAction, type AliasBody } from "./alias-table";
import { fail, type Outcome } from "./outcome";
import { gateRefusal } from "./gate-ops";
import { appendAudit, versionNotFound, type Reasoned, type Rooms } from "./rooms";
import { interruptRollout } from "./rollout-interrupt";

/**
 * Points an alias at a ready version or a split of ready versions. With
 * `expectedGeneration`, the alias must still be at that generation (0: not set).
 */
export function setAlias(
  r: Rooms,
  input: Reasoned & { alias: string; value: AliasValue; expectedGeneration?: number },
): Outcome<AliasBody> {
  const current = r.aliases.get(input.alias);
  if (input.expectedGeneration !== undefined && (current?.generation ?? 0) !== input.expectedGeneration) {
    return fail(
      "conflict",
      `Alias '${input.alias}' is at generation ${current?.generation ?? 0}, not ${input.expectedGeneration}`,
      {
        generation: current?.generation ?? 0,
      },
    );
  }
  const unready = unreadyRefusal(r, valueVersions(input.value));
  if (unready) return unready;
  // The gate, on the state just read, in this same synchronous step.
  const denied = gateRefusal(r, input, input.alias, valueVersions(input.value), { alias: input.alias });
  if (denied) return denied;
  const state = changeAlias(r, input, input.alias, "set", current?.value ?? null, input.value)!;
  return { ok: true, value: aliasBody(input.model, state) };
}

/**
 * Deletes an alias. One with a gate needs `admin` (`admin` says whether the caller has it):
 * checked here, with the gate read in this same step, so a gate set a moment earlier counts.
 */
export function deleteAlias(r: Rooms, input: Reasoned & { alias: string; admin: boolean }): Outcome<null> {
  const current = r.aliases.get(input.alias);
  if (!current) return fail("not_found", `Alias '${input.alias}' is not set`);
  if (!input.admin && r.gates.get(input.alias)) {
    return fail("forbidden", `Alias '${input.alias}' has a gate: deleting it needs the 'admin' scope`);
  }
  changeAlias(r, input, input.alias, "delete", current.value, null);
  return { ok: true, value: null };
}

/**
 * The emergency path: no gates. Without `toVersion`, restores the value from before the
 * newest change not yet rolled back (so a second rollback goes back one more change); with
 * it, only a version that held the alias before.
 */
export function rollbackAlias(r: Rooms, input: Reasoned & { alias: string; toVersion?: number }): Outcome<AliasBody> {
  const current = r.aliases.get(input.alias);
  let target: AliasValue | null;
  if (input.toVersion !== undefined) {
    if (!r.aliases.everHeld(input.alias, input.toVersion)) {
      return fail("conflict", `Version ${input.toVersion} has never held alias '${input.alias}'`);
    }
    target = { version: input.toVersion, split: null };
  } else {
    target = rollbackTarget(r.aliases.steps(input.alias));
    if (!target) return fail("conflict", `Alias '${input.alias}' has no earlier value to roll back to`);
  }
  const unready = unreadyRefusal(r, valueVersions(target));
  if (unready) return unready;
  const state = changeAlias(r, input, input.alias, "rollback", current?.value ?? null, target)!;
  return { ok: true, value: aliasBody(input.model, state) };
}

/** Exchanges two aliases' values in one step (one generation): both change, or neither. */
export function swapAliases(
  r: Rooms,
  input: Reasoned & { aliases: [string, string] },
): Outcome<[AliasBody, AliasBody]> {
  const [a, b] = input.aliases;
  const first = r.aliases.get(a);
  const second = r.aliases.get(b);
  if (!first || !second) return fail("not_found", `Alias '${!first ? a : b}' is not set`);
  // Each alias's gate, against the value it receives.
  const denied =
    gateRefusal(r, input, a, valueVersions(second.value), { alias: a }) ??
    gateRefusal(r, input, b, valueVersions(first.value), { alias: b });
  if (denied) return denied;
  const generation = r.meta.bump("generation");
  const record = (alias: string, from: AliasValue, to: AliasValue) =>
    r.aliases.record({
      alias,
      generation,
      action: "swap",
      from,
      to,
      actor: input.actor,
      reason: input.reason,
      at: input.at,
    })!;
  const stateA = record(a, first.value, second.value);
  const stateB = record(b, second.value, first.value);
  for (const s of [stateA, stateB]) r.outbox.enqueue({ kind: "alias", payload: aliasBody(input.model, s) });
  appendAudit(r, input, {
    action: "alias.swap",
    alias: `${a},${b}`,
    from: { [a]: first.value, [b]: second.value },
    to: { [a]: second.value, [b]: first.value },
    reason: input.reason,
    // Like every alias change's event: the generation ties it to both aliases' history entries.
    detail: { generation },
  });
  r.changes.changed([a, b], "swap");
  for (const alias of [a, b]) interruptRollout(r, input, alias, "swap");
  return { ok: true, value: [aliasBody(input.model, stateA), aliasBody(input.model, stateB)] };
}

/**
 * The legacy stage flow: moves a version to a stage; with `archiveExisting`, the versions
 * in that stage move to `archived`. Staging and production take ready versions only.
 * `grants` (the token's `aliases` globs) must cover every stage the move touches.
 */
export function setStage(
  r: Rooms,
  input: Reasoned & { version: number; stage: Stage; archiveExisting: boolean; grants?: readonly string[] },
): Outcome<VersionRecord> {
  const current = r.versions.head(input.version);
  if (!current) return versionNotFound(input);
  // Checked here, against the stage the version is in now, so no move can slip past it.
  const touched = stagesTouched(current.stage, input.stage, input.archiveExisting);
  // The same rule as every alias grant (src/auth/principal.ts, which authorize uses), on the stages this move touches.
  const refused = ungranted(input.grants, touched);
  if (refused.length > 0)
    return fail("forbidden", `This token may not move versions in or out of ${refused.join(", ")}`);
  if ((input.stage === "staging" || input.stage === "production") && current.status !== "ready") {
    return fail(
      "version_not_ready",
      `Version ${input.version} is ${current.status}; only ready versions enter ${input.stage}`,
    );
  }
  // The gate of the stage entered, before anything is written.
  if (input.stage !== "none" && input.stage !== current.stage) {
    const denied = gateRefusal(r, input, input.stage, [input.version], {});
    if (denied) return denied;
  }
  const moved = moveStage(r, input, current, input.stage);
  if (input.archiveExisting && input.stage !== "archived" && input.stage !== "none") {
    for (const other of r.versions.inStage(input.stage)) {
      if (other.version !== input.version) moveStage(r, input, other, "archived");
    }
  }
  r.changes.changed(touched, "stage");
  // A stage of the same name as an alias with a rollout: the rollout's ground moved under it.
  for (const stage of touched) interruptRollout(r, input, stage, "stage");
  return { ok: true, value: { ...moved, files: r.versions.files(input.version) } };
}

/**
 * What the alias held at `at` (RFC 3339 UTC with milliseconds), from its history: one indexed
 * seek. 404 when it held nothing then (before its first change, or deleted).
 */
export function aliasAt(r: Rooms, input: { model: string; alias: string; at: string; key?: string }): Outcome<AliasAt> {
  const change = r.aliases.changeAt(input.alias, input.at);
  if (!change?.value)
    return fail("not_found", `Alias '${input.alias}' of '${input.model}' held nothing at ${input.at}`);
  const { split } = change.value;
  return {
    ok: true,
    value: {
      model: input.model,
      alias: input.alias,
      version:
        change.value.version ??
        (input.key !== undefined && split ? pickFromSplit(split, input.model, input.alias, input.key) : null),
      split,
      generation: change.generation,
      set_at: change.at,
      set_by: change.actor,
      reason: change.reason,
    },
  };
}

/**
 * Resolution from this object's state: a set alias; else `latest` (highest ready
 * version), `v<n>`, or, for a stage name, the highest version in that stage.
 */
export function resolveNow(r: Rooms, model: string, alias: string): Outcome<ResolveState> {
  const target = (v: VersionRecord) => ({
    version: v.version,
    digest: v.digest,
    files: v.files,
    signatures: r.signatures.ofVersion(v.version).map(signatureRef),
  });
  // Signatures change without an alias change: a state listing any carries their counter in its
  // ETag (an unsigned one keeps the plain generation the contract names).
  const etagOf = (base: string, targets: ResolveTarget[]) =>
    targets.some((t) => t.signatures.length > 0) ? `${base}.s${r.meta.counter("signatures")}` : base;
  const set = r.aliases.get(alias);
  if (set) {
    const versions = valueVersions(set.value).map((n) => r.versions.get(n));
    if (versions.some((v) => v === null)) return fail("not_found", `A version of alias '${alias}' no longer exists`);
    const targets = (versions as VersionRecord[]).map(target);
    return {
      ok: true,
      value: {
        model,
        alias,
        generation: set.generation,
        etag: etagOf(String(set.generation), targets),
        split: set.value.split,
        targets,
      },
    };
  }
  let virtual: VersionRecord | null = null;
  if (alias === "latest") virtual = r.versions.highestReady();
  else if (isReserved(alias)) {
    virtual = r.versions.get(Number(alias.slice(1)));
    if (virtual && virtual.status !== "ready")
      return fail("version_not_ready", `Version ${virtual.version} is ${virtual.status}`);
  } else if (alias === "staging" || alias === "production" || alias === "archived") {
    virtual = r.versions.highestInStage(alias);
  }
  if (!virtual) return fail("not_found", `Alias '${alias}' of '${model}' resolves to nothing`);
  const generation = r.meta.counter("generation");
  const targets = [target(virtual)];
  return {
    ok: true,
    value: {
      model,
      alias,
      generation,
      etag: etagOf(`${generation}.${virtual.version}`, targets),
      split: null,
      targets,
    },
  };
}

/**
 * How an alias change is told: its watch `event` (default: the action); its audit event, when
 * not the action's own (a rollout's step is `rollout.step`, with the rollout's detail); and
 * whether the alias's rollout made it (any other change ends that rollout: ./rollout-interrupt.ts).
 */
export interface ChangeNotice {
  event?: string;
  audit?: { action: AuditAction; detail: Record<string, unknown> };
  byRollout?: boolean;
}

/** Records one alias change with its audit event, D1 projection and watch message. */
export function changeAlias(
  r: Rooms,
  actor: Reasoned,
  alias: string,
  action: AliasAction,
  from: AliasValue | null,
  to: AliasValue | null,
  notice: ChangeNotice = {},
) {
  const event = notice.event ?? action;
  const generation = r.meta.bump("generation");
  const state = r.aliases.record({
    alias,
    generation,
    action,
    from,
    to,
    actor: actor.actor,
    reason: actor.reason,
    at: actor.at,
  });
  r.outbox.enqueue(
    state
      ? { kind: "alias", payload: aliasBody(actor.model, state) }
      : { kind: "alias_deleted", payload: { model: actor.model, alias, generation } },
  );
  const auditAction =
    notice.audit?.action ?? (action === "rollback" ? "rollback" : action === "delete" ? "alias.delete" : "alias.set");
  appendAudit(r, actor, {
    action: auditAction,
    alias,
    version: to?.version ?? null,
    from,
    to,
    reason: actor.reason,
    // A rollback is the emergency path: gates are not evaluated, and the event says so.
    detail: {
      ...notice.audit?.detail,
      generation,
      unchanged: sameValue(from, to) || undefined,
      gates: action === "rollback" ? "skipped" : undefined,
    },
  });
  r.changes.changed([alias], event);
  if (!notice.byRollout) interruptRollout(r, actor, alias, event);
  return state;
}

/** 404 for a version that does not exist, 409 `version_not_ready` for one not ready. */
export function unreadyRefusal(r: Rooms, versions: number[]) {
  for (const version of versions) {
    const record = r.versions.head(version);
    if (!record) return fail("not_found", `Version ${version} does not exist`);
    if (record.status !== "ready")
      return fail("version_not_ready", `Version ${version} is ${record.status}, not ready`);
  }
  return null;
}

function moveStage(r: Rooms, actor: Reasoned, record: VersionHead, stage: Stage): VersionHead {
  const moved = { ...record, stage, updated_at: actor.at, revision: record.revision + 1 };
  r.versions.put(moved);
  appendAudit(r, actor, {
    action: "version.stage",
    version: record.version,
    from: record.stage,
    to: stage,
    reason: actor.reason,
  });
  return moved;
}
