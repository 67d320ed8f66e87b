/**
 * The rooms of a model's ModelState, as the operations see them: each table module, the
 * outbox and the watchers, plus the helpers several operations share. Every function here
 * and in the *-ops modules is synchronous: ModelState runs it inside one transactionSync.
 */
import type { AuditEvent } from "../domain/audit";
import { auditEvent } from "../domain/audit";
import { collisionProblem } from "../domain/file-path-rule";
import type { ManifestEntry } from "../domain/manifest";
import { BLOB_UPLOAD_VERSION, type UploadRecord } from "../domain/upload";
import type { VersionHead } from "../domain/version";
import type { AliasTable } from "./alias-table";
import type { BlobSessionTable } from "./blob-session-table";
import type { ChangeLog } from "./changes";
import type { DownstreamTable } from "./downstream-table";
import type { FleetTable } from "./fleet-table";
import type { GateTable } from "./gate-table";
import type { GuardTable } from "./guard-table";
import type { OciTable } from "./oci-table";
import type { MetaTable } from "./meta-table";
import type { ModelTable } from "./model-table";
import type { RelayTable } from "./relay-table";
import { fail } from "./outcome";
import type { Outbox } from "./outbox";
import type { RetentionTable } from "./retention-table";
import type { SignatureTable } from "./signature-table";
import type { RolloutTable } from "./rollout-table";
import type { R2Aborts, UploadTable } from "./upload-table";
import type { VersionTable } from "./version-table";
import type { Watch } from "./watch";

/** Who does a write, and when: recorded as the audit event's actor (and token id) and time. */
export interface Actor {
  model: string;
  actor: string;
  /** The minted token the write was made with (src/auth/principal.ts `auditedAs`). */
  token?: string;
  at: string;
}

export type Reasoned = Actor & { reason: string | null };

export interface Rooms {
  model: ModelTable;
  meta: MetaTable;
  outbox: Outbox;
  versions: VersionTable;
  uploads: UploadTable;
  blobSessions: BlobSessionTable;
  oci: OciTable;
  aliases: AliasTable;
  gates: GateTable;
  guards: GuardTable;
  retention: RetentionTable;
  downstream: DownstreamTable;
  signatures: SignatureTable;
  rollouts: RolloutTable;
  /** The relays' summaries of each alias's nodes, and the fleet events each change has had. */
  fleet: FleetTable;
  /** What the transaction moved for serving (./changes.ts). */
  changes: ChangeLog;
  /** The model's open watch sockets (read only by operations: which aliases are watched). */
  watch: Watch;
  /** The watch relays that hold the other sockets (read only by operations: which aliases are watched). */
  relays: RelayTable;
}

export function appendAudit(
  r: Rooms,
  actor: Actor,
  fields: Omit<AuditEvent, "id" | "at" | "actor" | "token" | "model">,
): void {
  const by = { actor: actor.actor, ...(actor.token !== undefined ? { token: actor.token } : {}) };
  r.outbox.enqueue({ kind: "audit", payload: auditEvent({ at: actor.at, ...by, model: actor.model, ...fields }) });
}

/**
 * The refusal of `path` when the version holds a file no disk can hold beside it (NFC and
 * case folding, src/domain/file-path-rule.ts; a file where a path needs a directory), or
 * null. Checked in the transaction that would attach it, so of two racing uploads of
 * colliding paths one lands.
 */
export function pathCollision(r: Rooms, version: number, path: string) {
  const held = r.versions.collidingFile(version, path);
  if (held === null) return null;
  const problem = collisionProblem(held, path);
  return fail("validation_failed", `Version ${version} holds '${held}': ${problem}`, {
    errors: [{ path: "path", message: problem }],
  });
}

/** Adds or replaces one file row (and its one D1 row), bumps the version, and audits `file.add`. */
export function attach(
  r: Rooms,
  current: VersionHead,
  actor: Actor,
  file: ManifestEntry,
  detail: { deduplicated: boolean; upload_id?: string },
): void {
  const previous = r.versions.file(current.version, file.path);
  r.versions.putFile(current, file);
  r.versions.put({ ...current, updated_at: actor.at, revision: current.revision + 1 });
  appendAudit(r, actor, {
    action: "file.add",
    version: current.version,
    ...(previous ? { from: previous } : {}),
    to: file,
    detail,
  });
}

/** Ends uploads without a file (`aborted` or `failed`), each audited; returns them for R2 to abort. */
export function closeUploads(
  r: Rooms,
  actor: Reasoned,
  uploads: UploadRecord[],
  status: "aborted" | "failed",
): R2Aborts["aborts"] {
  for (const upload of uploads) {
    const blob = upload.version === BLOB_UPLOAD_VERSION;
    appendAudit(r, actor, {
      action: status === "failed" ? "upload.fail" : "upload.abort",
      // A blob upload belongs to no version yet: its event names the bytes.
      version: blob ? null : upload.version,
      reason: actor.reason,
      detail: blob
        ? { upload_id: upload.upload_id, sha256: upload.sha256 }
        : { upload_id: upload.upload_id, path: upload.path },
    });
  }
  return r.uploads.close(uploads, status);
}

/** A merge that would pass a contract limit: 400, as if the body itself had been too large. */
export function tooLarge(refusal: { path: string; message: string }) {
  return fail("validation_failed", `Invalid request body: ${refusal.path} ${refusal.message}`, {
    errors: [{ path: refusal.path, message: refusal.message }],
  });
}

export function modelNotFound(input: { model: string }) {
  return fail("not_found", `Model '${input.model}' not found`);
}

export function versionNotFound(input: { model: string; version: number }) {
  return fail("not_found", `Version ${input.version} of '${input.model}' not found`);
}

export function immutable(record: VersionHead) {
  return fail("immutable", `Version ${record.version} is ${record.status}: its files and lineage can no longer change`);
}
