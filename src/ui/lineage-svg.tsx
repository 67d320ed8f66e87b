/**
 * The lineage graph drawn as an inline SVG: the datasets versions were trained on in the
 * first column, then one column per step from the root (ancestors to the left, descendants
 * to the right); a box per version linking to its page, an arrow from each parent to its
 * child and from each dataset to the versions that used it. The table beside it carries the
 * same facts for screen readers.
 */
import type { LineageGraph, VersionRef } from "../client/types";
import { versionHref } from "./components";

const BOX_W = 180;
const BOX_H = 40;
const COL_GAP = 64;
const ROW_GAP = 14;
const PAD = 8;

type Ref = VersionRef | { redacted: true; ref: string };
const keyOf = (r: Ref) => ("redacted" in r ? `redacted:${r.ref}` : `${r.model}@${r.version}`);
const datasetKey = (d: { uri: string; snapshot?: string | null }) => `${d.uri}@${d.snapshot ?? ""}`;
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function LineageSvg({ graph }: { graph: LineageGraph }) {
  // Datasets, each once, with the versions (drawn here) that used it.
  const datasets = new Map<string, { uri: string; snapshot: string | null; users: string[] }>();
  for (const n of graph.nodes) {
    if ("redacted" in n) continue;
    for (const d of n.datasets) {
      const key = datasetKey(d);
      const entry = datasets.get(key) ?? { uri: d.uri, snapshot: d.snapshot ?? null, users: [] };
      entry.users.push(keyOf(n));
      datasets.set(key, entry);
    }
  }
  const offset = datasets.size > 0 ? 1 : 0;
  const distances = [...new Set(graph.nodes.map((n) => n.distance))].sort((a, b) => a - b);
  const columns = new Map(distances.map((d, i) => [d, i + offset]));
  const colX = (col: number) => PAD + col * (BOX_W + COL_GAP);
  const rowY = (row: number) => PAD + row * (BOX_H + ROW_GAP);
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const n of graph.nodes) {
    const row = rows.get(n.distance) ?? 0;
    rows.set(n.distance, row + 1);
    at.set(keyOf("redacted" in n ? n : { model: n.model, version: n.version }), {
      x: colX(columns.get(n.distance)!),
      y: rowY(row),
    });
  }
  const datasetAt = [...datasets.values()].map((d, row) => ({ ...d, x: colX(0), y: rowY(row) }));
  const columnCount = distances.length + offset;
  const width = PAD * 2 + columnCount * BOX_W + (columnCount - 1) * COL_GAP;
  const height = PAD * 2 + Math.max(datasets.size, ...rows.values()) * (BOX_H + ROW_GAP) - ROW_GAP;
  const arrow = (from: { x: number; y: number }, to: { x: number; y: number }, kind: string) => (
    <line
      class={`edge ${kind}`}
      x1={from.x + BOX_W}
      y1={from.y + BOX_H / 2}
      x2={to.x - 2}
      y2={to.y + BOX_H / 2}
      stroke="#8c959f"
      stroke-width="1.5"
      marker-end="url(#lineage-arrow)"
      stroke-dasharray={kind === "dataset" ? "5 3" : undefined}
    />
  );
  return (
    <svg class="lineage-graph" viewBox={`0 0 ${width} ${height}`} width={width} height={height} aria-hidden="true">
      <defs>
        <marker
          id="lineage-arrow"
          viewBox="0 0 10 10"
          refX="10"
          refY="5"
          markerWidth="8"
          markerHeight="8"
          orient="auto-start-reverse"
        >
          <path d="M0,0 L10,5 L0,10 z" fill="#8c959f" />
        </marker>
      </defs>
      {graph.edges.map((e) => {
        const from = at.get(keyOf(e.from));
        const to = at.get(keyOf(e.to));
        return from && to ? arrow(from, to, "parent") : null;
      })}
      {datasetAt.flatMap((d) => d.users.map((u) => at.get(u)).map((to) => (to ? arrow(d, to, "dataset") : null)))}
      {datasetAt.map((d) => (
        <g class="dataset">
          <title>{`dataset ${d.uri}${d.snapshot ? ` @ ${d.snapshot}` : ""}`}</title>
          <rect x={d.x} y={d.y} width={BOX_W} height={BOX_H} rx="12" fill="#fff8c5" stroke="#9a6700" />
          <text x={d.x + 10} y={d.y + 16} font-size="12" font-weight="600" fill="#1b1f24">
            {cut(d.uri.replace(/^[a-z0-9+.-]+:\/\//i, ""), 26)}
          </text>
          <text x={d.x + 10} y={d.y + 32} font-size="11" fill="#57606a">
            {cut(d.snapshot ? `dataset @ ${d.snapshot}` : "dataset", 28)}
          </text>
        </g>
      ))}
      {graph.nodes.map((n) => {
        if ("redacted" in n) {
          const p = at.get(keyOf(n))!;
          return (
            <g>
              <rect
                x={p.x}
                y={p.y}
                width={BOX_W}
                height={BOX_H}
                rx="4"
                fill="#f6f8fa"
                stroke="#d0d7de"
                stroke-dasharray="4 3"
              />
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
            <rect
              x={p.x}
              y={p.y}
              width={BOX_W}
              height={BOX_H}
              rx="4"
              fill={root ? "#ddf4ff" : "#fff"}
              stroke={root ? "#0550ae" : "#8c959f"}
              stroke-width={root ? "2" : "1"}
            />
            <text x={p.x + 8} y={p.y + 16} font-size="12" font-weight="600" fill="#1b1f24">
              {cut(label, 26)}
            </text>
            <text x={p.x + 8} y={p.y + 32} font-size="11" fill="#57606a">
              {cut([n.status, ...n.aliases].join(" · "), 30)}
            </text>
          </a>
        );
      })}
    </svg>
  );
}
