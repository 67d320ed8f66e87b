/**
 * The lineage graph drawn as an inline SVG: one column per step from the root (ancestors to
 * the left, descendants to the right), a box per version linking to its page, a line per
 * parent edge. The table beside it carries the same facts for screen readers.
 */
import type { LineageGraph, VersionRef } from "../client/types";
import { versionHref } from "./components";

const BOX_W = 168;
const BOX_H = 40;
const COL_GAP = 56;
const ROW_GAP = 14;
const PAD = 8;

type Ref = VersionRef | { redacted: true; ref: string };
const keyOf = (r: Ref) => ("redacted" in r ? `redacted:${r.ref}` : `${r.model}@${r.version}`);

export function LineageSvg({ graph }: { graph: LineageGraph }) {
  const distances = [...new Set(graph.nodes.map((n) => n.distance))].sort((a, b) => a - b);
  const columns = new Map(distances.map((d, i) => [d, i]));
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const n of graph.nodes) {
    const row = rows.get(n.distance) ?? 0;
    rows.set(n.distance, row + 1);
    at.set(keyOf("redacted" in n ? n : { model: n.model, version: n.version }), {
      x: PAD + columns.get(n.distance)! * (BOX_W + COL_GAP),
      y: PAD + row * (BOX_H + ROW_GAP),
    });
  }
  const width = PAD * 2 + distances.length * BOX_W + (distances.length - 1) * COL_GAP;
  const height = PAD * 2 + Math.max(...rows.values()) * (BOX_H + ROW_GAP) - ROW_GAP;
  return (
    <svg class="lineage-graph" viewBox={`0 0 ${width} ${height}`} width={width} height={height} aria-hidden="true">
      {graph.edges.map((e) => {
        const from = at.get(keyOf(e.from));
        const to = at.get(keyOf(e.to));
        if (!from || !to) return null;
        return <line x1={from.x + BOX_W} y1={from.y + BOX_H / 2} x2={to.x} y2={to.y + BOX_H / 2} stroke="#8c959f" stroke-width="1.5" />;
      })}
      {graph.nodes.map((n) => {
        if ("redacted" in n) {
          const p = at.get(keyOf(n))!;
          return (
            <g>
              <rect x={p.x} y={p.y} width={BOX_W} height={BOX_H} rx="4" fill="#f6f8fa" stroke="#d0d7de" stroke-dasharray="4 3" />
              <text x={p.x + 8} y={p.y + 24} font-size="12" fill="#57606a">
                (hidden)
              </text>
            </g>
          );
        }
        const p = at.get(keyOf({ model: n.model, version: n.version }))!;
        const root = n.distance === 0;
        const label = `${n.model} v${n.version}`;
        return (
          <a href={versionHref(n.model, n.version)}>
            <rect x={p.x} y={p.y} width={BOX_W} height={BOX_H} rx="4" fill={root ? "#ddf4ff" : "#fff"} stroke={root ? "#0550ae" : "#8c959f"} stroke-width={root ? "2" : "1"} />
            <text x={p.x + 8} y={p.y + 16} font-size="12" font-weight="600" fill="#1b1f24">
              {label.length > 24 ? `${label.slice(0, 23)}…` : label}
            </text>
            <text x={p.x + 8} y={p.y + 32} font-size="11" fill="#57606a">
              {[n.status, ...n.aliases].join(" · ").slice(0, 28)}
            </text>
          </a>
        );
      })}
    </svg>
  );
}
