/** Audit events: one per write, append-only (API.md "Audit"). */
import { sortableId } from "./ids";

/**
 * Action names. `rollback` and `promotion_denied` are fixed by the contract; the rest follow
 * `<thing>.<verb>`.
 */
export type AuditAction =
  | "model.create"
  | "model.update"
  | "model.delete"
  | "version.create"
  | "version.update"
  | "version.finalize"
  | "version.delete"
  | "file.add"
  | "file.delete"
  | "upload.open"
  | "upload.fail"
  | "upload.abort"
  | "version.stage"
  | "alias.set"
  | "alias.delete"
  | "alias.swap"
  | "rollback"
  | "gate.set"
  | "gate.delete"
  | "approval.add"
  | "guard.set"
  | "guard.delete"
  | "promotion_denied";

export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: AuditAction;
  model: string;
  version?: number | null;
  alias?: string | null;
  from?: unknown;
  to?: unknown;
  reason?: string | null;
  detail?: unknown;
}

export function auditEvent(fields: Omit<AuditEvent, "id">, now: number = Date.parse(fields.at)): AuditEvent {
  return { id: sortableId(now), ...fields };
}
