/**
 * ModelState's gate tables, read and written synchronously (safe inside transactionSync).
 * Only ModelState uses this module.
 *
 * - gates:     the policy of each target (an alias or a stage name), with who set it when.
 * - approvals: who approved which version for which target; one row per approver.
 */
import type { GatePolicy } from "../domain/gate";

export const GATE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS gates (
     target TEXT PRIMARY KEY,
     policy TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     updated_by TEXT NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS approvals (
     version INTEGER NOT NULL,
     target TEXT NOT NULL,
     approver TEXT NOT NULL,
     comment TEXT,
     at TEXT NOT NULL,
     PRIMARY KEY (version, target, approver)
   )`,
];

export interface GateBody {
  target: string;
  policy: GatePolicy;
  updated_at: string;
  updated_by: string;
}

export interface Approval {
  target: string;
  approver: string;
  comment: string | null;
  at: string;
}

type ApprovalRow = { target: string; approver: string; comment: string | null; at: string };
type GateRow = { target: string; policy: string; updated_at: string; updated_by: string };
const toGate = (r: GateRow): GateBody => ({ ...r, policy: JSON.parse(r.policy) as GatePolicy });

export class GateTable {
  constructor(private readonly sql: SqlStorage) {}

  get(target: string): GateBody | null {
    const row = this.sql.exec<GateRow>("SELECT * FROM gates WHERE target = ?", target).toArray()[0];
    return row ? toGate(row) : null;
  }

  all(): GateBody[] {
    return this.sql.exec<GateRow>("SELECT * FROM gates ORDER BY target").toArray().map(toGate);
  }

  put(gate: GateBody): void {
    this.sql.exec(
      "INSERT INTO gates (target, policy, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
      gate.target,
      JSON.stringify(gate.policy),
      gate.updated_at,
      gate.updated_by,
    );
  }

  delete(target: string): void {
    this.sql.exec("DELETE FROM gates WHERE target = ?", target);
  }

  approvals(version: number, target?: string): Approval[] {
    const rows =
      target === undefined
        ? this.sql
            .exec<ApprovalRow>(
              "SELECT target, approver, comment, at FROM approvals WHERE version = ? ORDER BY at, approver",
              version,
            )
            .toArray()
        : this.sql
            .exec<ApprovalRow>(
              "SELECT target, approver, comment, at FROM approvals WHERE version = ? AND target = ? ORDER BY at, approver",
              version,
              target,
            )
            .toArray();
    return rows.map((a) => ({ target: a.target, approver: a.approver, comment: a.comment, at: a.at }));
  }

  /** Records an approval; false when this approver had already approved (nothing changes). */
  approve(version: number, approval: Approval): boolean {
    const before = this.sql
      .exec(
        "SELECT 1 FROM approvals WHERE version = ? AND target = ? AND approver = ?",
        version,
        approval.target,
        approval.approver,
      )
      .toArray();
    if (before.length > 0) return false;
    this.sql.exec(
      "INSERT INTO approvals (version, target, approver, comment, at) VALUES (?, ?, ?, ?, ?)",
      version,
      approval.target,
      approval.approver,
      approval.comment,
      approval.at,
    );
    return true;
  }

  forgetVersion(version: number): void {
    this.sql.exec("DELETE FROM approvals WHERE version = ?", version);
  }

  clear(): void {
    this.sql.exec("DELETE FROM gates");
    this.sql.exec("DELETE FROM approvals");
  }
}
