/**
 * What a ModelState decides when a version is made in one step: the files of a starting
 * version (what `latest`, an alias or `v<n>` names at that instant, or none) changed by a
 * list of edits (src/domain/version-changes.ts), made `ready` at once, with the starting
 * version as its lineage parent. A Hugging Face commit is one (src/bridges/hf/), and any
 * protocol that writes a whole version in one request can be.
 *
 * The digests (the version's, its OCI manifest's) are hashed outside the transaction, as
 * finalize's are: `planDerive` reads the start and applies the edits, the caller hashes, and
 * `derive` plans again inside the transaction and commits only if nothing moved meanwhile
 * (else "retry"). Edits apply to the start as it is then, so two commits racing on one
 * revision both land, each on the other (a client that wants the start it saw names it:
 * `expectCommit`).
 */
import { manifestText, type ManifestEntry } from "../domain/manifest";
import { commitOf } from "../domain/reference";
import { resolutionOfHeaviest } from "../domain/resolution";
import type { VersionHead, VersionRecord } from "../domain/version";
import { applyChanges, unchanged, type Changed, type FileChange } from "../domain/version-changes";
import { resolveNow } from "./alias-ops";
import { fail, type Outcome } from "./outcome";
import { appendAudit, modelNotFound, type Actor, type Rooms } from "./rooms";

/** Where a derived version starts: the newest ready version, what an alias names (a split: its heaviest member), or a version. */
export type DeriveStart = { kind: "latest" } | { kind: "alias"; alias: string } | { kind: "version"; version: number };

export interface DeriveInput extends Actor {
  start: DeriveStart;
  /**
   * The commit (`commitOf` its digest, lower-case hex; a prefix of 5 to 40 digits) the start
   * must have now: a client's "only if nothing changed since I looked". 409 `conflict` with
   * `start_commit` otherwise.
   */
  expectCommit?: string;
  changes: FileChange[];
  description: string | null;
}

/** The version a derived version started from; `aliasGeneration`: the alias's own generation then (0: not set), for a start that is an alias. */
export interface Started {
  version: number;
  digest: string;
  aliasGeneration: number;
}

export interface Derived {
  /** The new ready version; null when the edits change nothing (no version is made). */
  record: VersionRecord | null;
  start: Started | null;
}

export interface DerivePlan {
  start: Started | null;
  changed: Changed;
  /** The number the new version takes. */
  version: number;
  /** Its manifest text (src/domain/manifest.ts), whose sha256 is its digest. */
  manifest: string;
  /**
   * Its `created_at` and `ready_at`: the write's time, or a millisecond after its start's
   * creation when a clock tie would make the parent no older than its child (the lineage rule).
   */
  at: string;
}

function startName(start: DeriveStart): string {
  return start.kind === "latest" ? "latest" : start.kind === "alias" ? start.alias : `v${start.version}`;
}

/** The start as it is now, with its files; null for `latest` of a model without a ready version. */
function startNow(r: Rooms, input: DeriveInput): Outcome<{ started: Started; files: ManifestEntry[] } | null> {
  const resolved = resolveNow(r, input.model, startName(input.start));
  if (!resolved.ok) return input.start.kind === "latest" && resolved.code === "not_found" ? ok(null) : resolved;
  const at = resolutionOfHeaviest(resolved.value);
  // resolveNow names ready versions only, and a ready version has its digest.
  const digest = at.digest!;
  const aliasGeneration = input.start.kind === "alias" ? (r.aliases.get(input.start.alias)?.generation ?? 0) : 0;
  return ok({ started: { version: at.version, digest, aliasGeneration }, files: at.files });
}

const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });

/** The version the edits would make now, or why not; `unchanged` when they change nothing. Changes nothing. */
export function planDerive(r: Rooms, input: DeriveInput): Outcome<DerivePlan | { unchanged: Started | null }> {
  if (!r.model.get()) return modelNotFound(input);
  const now = startNow(r, input);
  if (!now.ok) return now;
  const start = now.value;
  if (input.expectCommit !== undefined) {
    const actual = start ? commitOf(start.started.digest) : null;
    if (actual === null || !actual.startsWith(input.expectCommit)) {
      return fail(
        "conflict",
        `'${startName(input.start)}' is at ${actual === null ? "no commit" : `commit ${actual}`}, not ${input.expectCommit}`,
        { start_commit: actual },
      );
    }
  }
  const changed = applyChanges(start?.files ?? [], input.changes);
  if (!changed.ok) {
    return changed.reason === "missing"
      ? fail("not_found", changed.message, { entry: changed.path })
      : fail("validation_failed", `Invalid commit: ${changed.message}`, {
          errors: [{ path: changed.path, message: changed.message }],
        });
  }
  if (unchanged(changed) && start) return ok({ unchanged: start.started });
  if (changed.files.length === 0) {
    return fail("validation_failed", "A version needs at least one file: this commit leaves none", {
      errors: [{ path: "", message: "no files" }],
    });
  }
  const startHead = start ? r.versions.head(start.started.version) : null;
  const tie = startHead !== null && startHead.created_at >= input.at;
  return ok({
    start: start?.started ?? null,
    changed,
    version: r.meta.counter("last_version") + 1,
    manifest: manifestText(changed.files),
    at: tie ? new Date(Date.parse(startHead.created_at) + 1).toISOString() : input.at,
  });
}

/**
 * Makes the planned version, if the plan still holds (else "retry": the start, the edits'
 * result or the next version number moved while the digests were hashed). One transaction:
 * the version, its files, `ready`, its OCI manifest's digest for D1, and its events
 * (`version.create`, `file.add` / `file.delete` for what differs from the start,
 * `version.finalize`), heard by watchers of `latest` and `v<n>`.
 */
export function derive(
  r: Rooms,
  input: DeriveInput,
  hashed: { version: number; manifest: string; at: string; digest: string; ociDigest: string },
): Outcome<Derived> | "retry" {
  const planned = planDerive(r, input);
  if (!planned.ok) return planned;
  if ("unchanged" in planned.value) return "retry";
  const plan = planned.value;
  if (plan.version !== hashed.version || plan.manifest !== hashed.manifest || plan.at !== hashed.at) return "retry";
  const version = r.meta.bump("last_version");
  const head: VersionHead = {
    model: input.model,
    version,
    status: "ready",
    stage: "none",
    description: input.description,
    tags: {},
    metrics: {},
    lineage: plan.start ? { parents: [{ model: input.model, version: plan.start.version }] } : {},
    digest: hashed.digest,
    created_at: plan.at,
    created_by: input.actor,
    updated_at: plan.at,
    ready_at: plan.at,
    revision: 1,
  };
  r.versions.put(head);
  for (const file of plan.changed.files) r.versions.putFile(head, file);
  r.outbox.enqueue({ kind: "oci_manifest", payload: { model: input.model, version, digest: hashed.ociDigest } });
  appendAudit(r, input, {
    action: "version.create",
    version,
    detail: { start: plan.start?.version ?? null, files: plan.changed.files.length },
  });
  const before = new Map(plan.changed.removed.map((f) => [f.path, f]));
  for (const file of plan.changed.added) {
    const previous = before.get(file.path);
    appendAudit(r, input, { action: "file.add", version, ...(previous ? { from: previous } : {}), to: file });
  }
  const kept = new Set(plan.changed.files.map((f) => f.path));
  for (const file of plan.changed.removed) {
    if (!kept.has(file.path)) appendAudit(r, input, { action: "file.delete", version, from: file });
  }
  appendAudit(r, input, { action: "version.finalize", version, to: { digest: hashed.digest } });
  r.changes.changed(["latest", `v${version}`], "finalize");
  return ok({ record: { ...head, files: plan.changed.files }, start: plan.start });
}
