/**
 * A fleet in one line, as the model page and `mreg fleet` say it (docs/fleet.md): "480 nodes
 * on v7, 20 on v6 (20 refused); refused: hook failed (20)". Pure and free of zod, so the CLI
 * says it in the same words without bundling the server's schemas.
 */

/** What the sentence reads of a Fleet (src/domain/fleet.ts; the client's `Fleet`). */
export interface FleetWords {
  reporting: number;
  by_version: {
    version: number | null;
    nodes: number;
    serving: number;
    syncing: number;
    refused: number;
    degraded: number;
  }[];
  reasons: { reason: string; nodes: number }[];
}

const STATES = ["syncing", "refused", "degraded"] as const;

export function fleetSentence(f: FleetWords): string {
  if (f.reporting === 0) return "no node reports";
  const versions = f.by_version.map((v, i) => {
    const on = v.version === null ? "serving nothing" : `on v${v.version}`;
    const count = i === 0 ? `${v.nodes} node${v.nodes === 1 ? "" : "s"} ${on}` : `${v.nodes} ${on}`;
    const states = STATES.filter((s) => v[s] > 0).map((s) => `${v[s]} ${s}`);
    return states.length > 0 ? `${count} (${states.join(", ")})` : count;
  });
  const reasons = f.reasons.map((r) => `${r.reason}${r.nodes > 1 ? ` (${r.nodes})` : ""}`);
  return versions.join(", ") + (reasons.length > 0 ? `; refused: ${reasons.join("; ")}` : "");
}

/** How long ago, in the largest unit that fits: "45 s", "12 min", "3 h", "2 d". */
export function sinceWords(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
