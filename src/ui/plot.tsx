/**
 * Metrics across a model's versions as inline SVG (no script, no library): one full-width
 * panel per metric, since metrics rarely share a scale (an AUC near 0.95 and a latency near
 * 30 ms on one axis would flatten both). Each panel has its axis titles, a point per version
 * that has the metric with its value written above it, and the versions aliases hold ringed
 * and named.
 */
import type { Alias, Version } from "../client/types";
import { metric as fmt } from "./components";

const W = 1000;
const H = 220;
const PAD = { left: 76, right: 24, top: 30, bottom: 44 };

/**
 * A label centred under its point unless that would cut it at the chart's edge: then it ends
 * (or starts) at the point. Widths are estimated at 7.5 units a character of 12 px text.
 */
function anchorAt(x: number, chars: number): "start" | "middle" | "end" {
  const half = (chars * 7.5) / 2;
  if (x + half > W) return "end";
  if (x - half < 0) return "start";
  return "middle";
}

export function metricNames(versions: Version[]): string[] {
  return [...new Set(versions.flatMap((v) => Object.keys(v.metrics)))].sort();
}

/** Version number → the aliases serving it (a split's members included). */
function holders(aliases: Alias[]): Map<number, string[]> {
  const held = new Map<number, string[]>();
  for (const a of aliases) {
    const versionsHeld = a.split ? a.split.map((s) => s.version) : a.version === null ? [] : [a.version];
    for (const v of versionsHeld) held.set(v, [...(held.get(v) ?? []), a.alias]);
  }
  return held;
}

export function MetricPlots({ versions, aliases, names }: { versions: Version[]; aliases: Alias[]; names: string[] }) {
  const held = holders(aliases);
  // One x position per version that has any plotted metric, the same in every panel, so a
  // version reads down the page.
  const columns = versions
    .filter((v) => names.some((n) => typeof v.metrics[n] === "number"))
    .map((v) => v.version)
    .sort((a, b) => a - b);
  const column = new Map(columns.map((v, i) => [v, i]));
  return (
    <>
      {names.map((name) => (
        <MetricPlot versions={versions} held={held} name={name} column={column} />
      ))}
    </>
  );
}

function MetricPlot({
  versions,
  held,
  name,
  column,
}: {
  versions: Version[];
  held: Map<number, string[]>;
  name: string;
  column: Map<number, number>;
}) {
  const points = versions
    .filter((v) => typeof v.metrics[name] === "number")
    .map((v) => ({ version: v.version, value: v.metrics[name]! }))
    .sort((a, b) => a.version - b.version);
  if (points.length === 0) return <p class="muted">{`No version has '${name}'.`}</p>;
  const values = points.map((p) => p.value);
  const min = Math.min(...values);
  const max = Math.max(...values);
  // A margin above and below, so no point sits on the axis or under its label.
  const margin = (max - min) * 0.15 || Math.abs(max) * 0.05 || 1;
  const lo = min - margin;
  const hi = max + margin;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slots = column.size;
  const x = (i: number) => {
    const at = column.get(points[i]!.version) ?? 0;
    return PAD.left + (slots <= 1 ? plotW / 2 : (at * plotW) / (slots - 1));
  };
  const y = (v: number) => PAD.top + ((hi - v) * plotH) / (hi - lo);
  const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  // Value labels are dropped where points crowd (more than one per 40 px); the titles keep them.
  const labelled = slots <= 1 || plotW / (slots - 1) >= 40;
  return (
    <svg class="plot" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${name} across versions`} data-metric={name}>
      <text x={PAD.left} y={16} font-size="14" font-weight="600" fill="#1b1f24">
        {name}
      </text>
      <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={H - PAD.bottom} stroke="#d0d7de" />
      <line x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} stroke="#d0d7de" />
      <text x={PAD.left - 8} y={y(max) + 4} text-anchor="end" font-size="12" fill="#57606a">
        {fmt(max)}
      </text>
      {min !== max && (
        <text x={PAD.left - 8} y={y(min) + 4} text-anchor="end" font-size="12" fill="#57606a">
          {fmt(min)}
        </text>
      )}
      <text
        class="axis-title"
        transform={`translate(16 ${PAD.top + plotH / 2}) rotate(-90)`}
        text-anchor="middle"
        font-size="12"
        fill="#57606a"
      >
        {name}
      </text>
      <text class="axis-title" x={PAD.left + plotW / 2} y={H - 6} text-anchor="middle" font-size="12" fill="#57606a">
        version
      </text>
      <path d={path} fill="none" stroke="#0550ae" stroke-width="2" />
      {points.map((p, i) => {
        const aliasNames = held.get(p.version);
        const label = aliasNames ? `v${p.version} (${aliasNames.join(", ")})` : `v${p.version}`;
        return (
          <g data-version={String(p.version)}>
            <circle
              cx={x(i)}
              cy={y(p.value)}
              r={aliasNames ? 7 : 4}
              fill={aliasNames ? "#fff" : "#0550ae"}
              stroke="#0550ae"
              stroke-width="2"
            >
              <title>{`v${p.version}: ${name} = ${fmt(p.value)}${aliasNames ? ` (${aliasNames.join(", ")})` : ""}`}</title>
            </circle>
            {labelled && (
              <text
                class="value"
                x={x(i)}
                y={y(p.value) - 12}
                text-anchor="middle"
                font-size="12"
                font-weight="600"
                fill="#1b1f24"
              >
                {fmt(p.value)}
              </text>
            )}
            <text
              x={x(i)}
              y={H - PAD.bottom + 18}
              text-anchor={anchorAt(x(i), label.length)}
              font-size="12"
              fill="#57606a"
            >
              {label}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
