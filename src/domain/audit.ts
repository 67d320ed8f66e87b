/** Audit events: one per write, append-only (docs/reference.md "Audit"). */
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
  | "rollout.start"
  | "rollout.step"
  | "rollout.pause"
  | "rollout.resume"
  | "rollout.abort"
  | "rollout.complete"
  | "promotion_denied"
  | "webhook.create"
  | "webhook.update"
  | "webhook.delete"
  | "retention.set"
  | "retention.delete"
  | "token.create"
  | "token.revoke"
  | "blob.corrupt"
  | "signature.add"
  | "signature.delete"
  | "signing_key.create"
  | "signing_key.delete"
  /** The fleet's events (actor `fleet`), each at most once per change of an alias: src/state/fleet-ops.ts. */
  | "fleet.refused"
  | "fleet.converged"
  | "fleet.drift"
  | "oci.attach"
  | "oci.detach";

/**
 * The `model` of an event that belongs to no model (a webhook, the registry's default
 * retention policy, a minted token). Model names start with a letter or digit, so it names none; a token's
 * `models` globs never match it, except `*`.
 */
export const REGISTRY_MODEL = "";

export interface AuditEvent {
  id: string;
  at: string;
  /** The token's `sub`: a name the token's minter chose, so `token` says which token it was. */
  actor: string;
  /** The `jti` of the minted token the write was made with; absent for a token without one. */
  token?: string;
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
