/**
 * What the UI says in words instead of JSON: an audit event's change ("production: v2 → v1,
 * reason …"), a gate policy as rules, a guard as its rule and its live window. Pure functions over the API's
 * shapes, so the pages and their tests share them. Audit `from`/`to`/`detail` are whatever
 * the writer recorded; a shape not recognised falls back to short JSON, never to an error.
 */
import type { AppliedGatePolicy, AuditEvent, GatePolicy, Guard } from "../client/types";
import { bytes } from "../domain/bytes-text";
import { signerLabel, type Signer } from "../domain/signature";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Compact JSON, cut to a readable length. */
function short(value: unknown, max = 120): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** An alias value (`{version, split}`) as `v2`, `v1 90% / v2 10%`, or `(unset)`. */
export function aliasValueText(value: unknown): string {
  if (!isObj(value)) return "(unset)";
  if (Array.isArray(value.split) && value.split.length > 0) {
    return value.split
      .map((s: unknown) => (isObj(s) ? `v${num(s.version) ?? "?"} ${num(s.weight) ?? "?"}%` : "?"))
      .join(" / ");
  }
  const v = num(value.version);
  return v === null ? "(unset)" : `v${v}`;
}

export const withReason = (text: string, reason: string | null | undefined) =>
  reason ? `${text}, reason “${reason}”` : text;

/** One audit event's change, in words. */
export function changeText(e: AuditEvent): string {
  const detail = isObj(e.detail) ? e.detail : {};
  const version = e.version !== undefined && e.version !== null ? `v${e.version}` : "";
  switch (e.action) {
    case "alias.set":
    case "rollback":
    case "alias.delete": {
      const verb =
        e.action === "rollback"
          ? e.actor === "guard"
            ? " (rolled back by its guard)"
            : " (rollback)"
          : e.action === "alias.delete"
            ? " (deleted)"
            : "";
      const gates = detail.gates === "skipped" ? "; gates skipped" : "";
      return withReason(
        `${e.alias ?? "?"}: ${aliasValueText(e.from)} → ${aliasValueText(e.to)}${verb}${gates}`,
        e.reason,
      );
    }
    case "alias.swap": {
      if (isObj(e.from) && isObj(e.to)) {
        const to = e.to;
        const parts = Object.keys(e.from).map(
          (alias) => `${alias}: ${aliasValueText((e.from as Obj)[alias])} → ${aliasValueText(to[alias])}`,
        );
        return withReason(`swapped ${parts.join("; ")}`, e.reason);
      }
      break;
    }
    case "version.stage":
      return withReason(`${version} stage: ${str(e.from) ?? "?"} → ${str(e.to) ?? "?"}`, e.reason);
    case "promotion_denied": {
      const checks = Array.isArray(detail.checks)
        ? detail.checks.filter((c): c is Obj => isObj(c) && c.passed === false).map((c) => str(c.check) ?? "?")
        : [];
      const target = str(detail.target) ?? e.alias ?? "?";
      const versions = Array.isArray(detail.versions)
        ? detail.versions.map((v) => `v${String(v)}`).join(", ")
        : version;
      return withReason(
        `${target} refused ${versions}${checks.length > 0 ? `: failed ${checks.join(", ")}` : ""}`,
        e.reason,
      );
    }
    case "approval.add":
      return withReason(`${version} approved for ${isObj(e.to) ? (str(e.to.target) ?? "?") : "?"}`, e.reason);
    case "gate.set":
    case "gate.delete": {
      const target = str(detail.target) ?? "?";
      if (e.action === "gate.delete") return `gate of ${target} removed`;
      return `gate of ${target}: ${isObj(e.to) ? policyRules(e.to as GatePolicy).join("; ") || "no checks" : "?"}`;
    }
    case "guard.set":
      return `guard of ${e.alias ?? "?"}: ${isObj(e.to) ? guardText(e.to) : "?"}`;
    case "guard.delete":
      return `guard of ${e.alias ?? "?"} removed`;
    case "model.create":
      return `created${isObj(e.to) && str(e.to.kind) ? ` (${str(e.to.kind)})` : ""}`;
    case "model.update":
    case "version.update": {
      const fields = Array.isArray(detail.fields)
        ? detail.fields.filter((f): f is string => typeof f === "string")
        : [];
      return `${version ? `${version} ` : ""}changed ${fields.length > 0 ? fields.join(", ") : "nothing"}`;
    }
    case "version.create":
      return `${version} created`;
    case "version.finalize":
      return `${version} ready${isObj(e.to) && str(e.to.digest) ? `, digest ${str(e.to.digest)!.slice(7, 19)}` : ""}`;
    case "version.delete":
      return withReason(`${version} deleted`, e.reason);
    case "model.delete":
      return "model deleted";
    case "file.add":
    case "file.delete": {
      const file = e.action === "file.add" ? e.to : e.from;
      if (isObj(file)) {
        const size = num(file.size);
        return `${version} ${e.action === "file.add" ? (e.from ? "replaced" : "added") : "removed"} ${str(file.path) ?? "?"}${size !== null ? ` (${bytes(size)})` : ""}${detail.deduplicated === true ? ", deduplicated" : ""}`;
      }
      break;
    }
    case "signature.add":
    case "signature.delete": {
      const s = e.action === "signature.add" ? e.to : e.from;
      if (!isObj(s)) break;
      const trusted = Array.isArray(s.trusted_by) ? s.trusted_by.length : 0;
      const signer = isObj(s.signer) ? signerLabel(s.signer as unknown as Signer) : "?";
      if (e.action === "signature.delete") return `${version} signature by ${signer} removed`;
      const trust = trusted === 0 ? "untrusted" : `trusted by ${trusted} key${trusted === 1 ? "" : "s"}`;
      return `${version} ${detail.refreshed === true ? "signature by" : "signed by"} ${signer}: ${trust}`;
    }
    case "signing_key.create":
    case "signing_key.delete": {
      const k = e.action === "signing_key.create" ? e.to : e.from;
      if (!isObj(k)) break;
      return `signing ${str(k.kind) === "ca" ? "CA" : (str(k.kind) ?? "key")} ${str(k.name) ?? "?"} ${e.action === "signing_key.create" ? "registered" : "deleted"}`;
    }
    case "upload.open":
      if (isObj(e.to)) return `${version} upload of ${str(e.to.path) ?? "?"} (${bytes(num(e.to.size) ?? 0)}) opened`;
      break;
    case "rollout.start": {
      const steps = Array.isArray(detail.steps)
        ? detail.steps.map((st) => (isObj(st) ? `${num(st.weight) ?? "?"}%` : "?")).join(", ")
        : "?";
      return withReason(
        `${e.alias ?? "?"}: rollout ${aliasValueText(e.from)} → ${aliasValueText(e.to)} in steps ${steps}`,
        e.reason,
      );
    }
    case "rollout.step":
      return `${e.alias ?? "?"}: ${aliasValueText(e.from)} → ${aliasValueText(e.to)} (rollout step ${num(detail.step) ?? "?"} of ${num(detail.of) ?? "?"})`;
    case "rollout.pause":
    case "rollout.resume":
    case "rollout.complete":
      return withReason(
        `${e.alias ?? "?"}: rollout ${e.action === "rollout.pause" ? "paused" : e.action === "rollout.resume" ? "resumed" : "completed"} at step ${num(detail.step) ?? "?"}`,
        e.reason,
      );
    case "rollout.abort":
      return withReason(
        `${e.alias ?? "?"}: rollout aborted at step ${num(detail.step) ?? "?"}${e.to !== undefined ? `, back to ${aliasValueText(e.to)}` : ""}`,
        e.reason,
      );
    case "upload.fail":
    case "upload.abort":
      return withReason(
        `${version} upload of ${str(detail.path) ?? "?"} ${e.action === "upload.fail" ? "failed" : "aborted"}`,
        e.reason,
      );
  }
  const parts = [
    e.from !== undefined || e.to !== undefined ? `${short(e.from ?? null)} → ${short(e.to ?? null)}` : "",
    version,
  ].filter(Boolean);
  return withReason(parts.join(" ") || e.action, e.reason);
}

const LINEAGE_WORDS: Record<string, string> = {
  git_sha: "a git sha",
  run_id: "a run id",
  datasets: "datasets",
  git_repo: "a git repo",
  run_url: "a run URL",
  params: "params",
  parents: "parents",
  framework: "a framework",
  signature: "a signature",
};

/** A gate policy as rules a person reads: one line per check. */
export function policyRules(policy: GatePolicy | AppliedGatePolicy): string[] {
  const rules: string[] = [];
  for (const m of policy.metrics ?? []) {
    const bounds = [m.min !== undefined ? `≥ ${m.min}` : "", m.max !== undefined ? `≤ ${m.max}` : ""]
      .filter(Boolean)
      .join(" and ");
    rules.push(`${m.name} ${bounds || "present"}`);
  }
  for (const n of policy.no_regression ?? []) {
    const higher = n.higher_is_better ?? true;
    const tolerance = n.tolerance ?? 0;
    rules.push(
      `${n.metric} no worse than the current holder's (${higher ? "higher" : "lower"} is better${tolerance ? `, tolerance ${tolerance}` : ""})`,
    );
  }
  for (const [k, v] of Object.entries(policy.required_tags ?? {})) rules.push(`tag ${k} = ${v}`);
  if (policy.required_lineage && policy.required_lineage.length > 0) {
    rules.push(`lineage records ${policy.required_lineage.map((f) => LINEAGE_WORDS[f] ?? f).join(", ")}`);
  }
  if (policy.approvals)
    rules.push(`${policy.approvals} approval${policy.approvals === 1 ? "" : "s"} by someone other than its creator`);
  if (policy.from) rules.push(`held ${policy.from} first`);
  if (policy.signatures) {
    const min = policy.signatures.min ?? 1;
    rules.push(
      `signed by ${min === 1 ? "a signer" : `${min} distinct signers`} that ${policy.signatures.keys.join(" or ")} vouches for`,
    );
  }
  return rules;
}

/** A guard's rule: `error_rate ≤ 0.05 over 300 s, at least 50 samples from 3 nodes` (nodes only past one). */
export function guardText(g: Obj): string {
  const metric = str(g.metric) ?? "?";
  const min = num(g.min);
  const max = num(g.max);
  const bounds = [min !== null ? `≥ ${min}` : "", max !== null ? `≤ ${max}` : ""].filter(Boolean).join(" and ");
  const window = num(g.window_s);
  const samples = num(g.min_samples);
  const nodes = num(g.min_nodes);
  return `${metric} ${bounds}${window !== null ? ` over ${window} s` : ""}${samples !== null ? `, at least ${samples} samples` : ""}${nodes !== null && nodes > 1 ? ` from ${nodes} nodes` : ""}`;
}

/** A guard's live windows: `v4: 120 samples, 2 of 3 nodes, mean 0.012` (nodes only where the guard counts them); a split's members by `; `. */
export function guardWindowText(g: Pick<Guard, "window" | "windows" | "min_nodes">): string {
  return (g.windows.length > 1 ? g.windows : [g.window])
    .map(
      (w) =>
        `v${w.version ?? "—"}: ${w.samples} samples${g.min_nodes > 1 ? `, ${w.nodes} of ${g.min_nodes} nodes` : ""}, mean ${w.mean ?? "—"}`,
    )
    .join("; ");
}
