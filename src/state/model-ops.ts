/** What a ModelState decides about the model as a whole (create, patch, delete). */
import { closeSessions } from "./blob-session-ops";
import { applyModelPatch, type ModelKind, type ModelPatch, type ModelRecord } from "../domain/model";
import { fail, type Outcome } from "./outcome";
import { appendAudit, closeUploads, modelNotFound, tooLarge, type Actor, type Rooms } from "./rooms";
import type { R2Aborts } from "./upload-table";

/**
 * Creates the model. A model deleted before keeps its counters, so a re-created one goes
 * on numbering versions and alias generations where the old one stopped: no
 * `registry://m/3` or ETag ever names two different things.
 */
export function createModel(
  r: Rooms,
  input: Actor & { kind: ModelKind; description: string | null; tags: Record<string, string> },
): Outcome<ModelRecord> {
  if (r.model.get()) return fail("already_exists", `Model '${input.model}' already exists`);
  const record: ModelRecord = {
    name: input.model,
    kind: input.kind,
    description: input.description,
    tags: input.tags,
    created_at: input.at,
    created_by: input.actor,
    updated_at: input.at,
  };
  r.model.put(record);
  appendAudit(r, input, { action: "model.create", to: { kind: input.kind } });
  return { ok: true, value: record };
}

export function patchModel(r: Rooms, input: Actor & { patch: ModelPatch }): Outcome<ModelRecord> {
  const current = r.model.get();
  if (!current) return modelNotFound(input);
  const patched = applyModelPatch(current, input.patch, input.at);
  if (!patched.ok) return tooLarge(patched);
  r.model.put(patched.record);
  appendAudit(r, input, { action: "model.update", detail: { fields: Object.keys(input.patch) } });
  return { ok: true, value: patched.record };
}

/**
 * Deletes the model: its versions, uploads and aliases go, here and (through the outbox,
 * after everything queued before) in D1; its counters stay. Refused (409 `in_use`) while
 * any alias is set. Returns the open uploads for the caller to abort in R2.
 */
export function dropModel(r: Rooms, input: Actor): Outcome<R2Aborts> {
  if (!r.model.get()) return modelNotFound(input);
  const set = r.aliases.all().map((a) => a.alias);
  if (set.length > 0) return fail("in_use", `The aliases ${set.join(", ")} are set; delete them first`);
  const aborts = [
    ...closeUploads(r, { ...input, reason: "model deleted" }, r.uploads.open(), "aborted"),
    ...closeSessions(r, r.blobSessions.open(), "aborted"),
  ];
  r.versions.clear();
  r.uploads.clear();
  r.blobSessions.clear();
  r.oci.clear();
  r.aliases.clear();
  r.gates.clear();
  r.guards.clear();
  r.rollouts.clear();
  r.retention.clear();
  r.downstream.clear();
  r.signatures.clear();
  r.fleet.clear();
  r.model.delete(input.model);
  appendAudit(r, input, { action: "model.delete" });
  // Every watched name hears that it is gone (this object's own sockets' and the relays':
  // a `v<n>`, `latest` or a stage as much as an alias), and every name of the model, watched
  // or not, is touched: the Worker forgets them all, not a list.
  r.changes.changed(new Set([...r.watch.watchedAliases(), ...r.relays.watched()]), "delete");
  r.changes.modelDeleted();
  return { ok: true, value: { aborts } };
}
