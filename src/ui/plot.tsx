/**
 * A metric across a model's versions as an inline SVG (no script, no library): one point per
 * version that has the metric, the versions aliases hold ringed and labelled.
 */
import type { Alias, Version } from "../client/types";
import { metric as fmt } from "./components";

const W = 640;
const H = 180;
const PAD = { left: 56, right: 16, top: 16, bottom: 28 };

export function metricNames(versions: Version[]): string[] {
  return [...new Set(versions.flatMap((v) => Object.keys(v.metrics)))].sort();
}

export function MetricPlot({ versions, aliases, name }: { versions: Version[]; aliases: Alias[]; name: string }) {
  const points = versions
    .filter((v) => typeof v.metrics[name] === "number")
    .map((v) => ({ version: v.version, value: v.metrics[name]! }))
    .sort((a, b) => a.version - b.version);
  if (points.length === 0) return <p class="muted">{`No version has '${name}'.`}</p>;
  const held = new Map<number, string[]>();
  for (const a of aliases) {
    const versionsHeld = a.split ? a.split.map((s) => s.version) : a.version === null ? [] : [a.version];
    for (const v of versionsHeld) held.set(v, [...(held.get(v) ?? []), a.alias]);
  }
  const values = points.map((p) => p.value);
  const min = Math.min(...values);
  const max = Math.max(...values);
  let lo = min;
  let hi = max;
  // A margin above and below, so no point sits on the axis or under its label.
  const margin = (hi - lo) * 0.15 || Math.abs(hi) * 0.05 || 1;
  lo -= margin;
  hi += margin;
  const x = (i: number) => PAD.left + (points.length === 1 ? (W - PAD.left - PAD.right) / 2 : (i * (W - PAD.left - PAD.right)) / (points.length - 1));
  const y = (v: number) => PAD.top + ((hi - v) * (H - PAD.top - PAD.bottom)) / (hi - lo);
  const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  return (
    <svg class="plot" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`${name} across versions`}>
      <line x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} stroke="#d0d7de" />
      <text x={PAD.left - 6} y={y(max) + 4} text-anchor="end" font-size="11" fill="#57606a">
        {fmt(max)}
      </text>
      {min !== max && (
        <text x={PAD.left - 6} y={y(min) + 4} text-anchor="end" font-size="11" fill="#57606a">
          {fmt(min)}
        </text>
      )}
      <path d={path} fill="none" stroke="#0550ae" stroke-width="1.5" />
      {points.map((p, i) => {
        const aliasNames = held.get(p.version);
        return (
          <g>
            <circle cx={x(i)} cy={y(p.value)} r={aliasNames ? 6 : 3.5} fill={aliasNames ? "#fff" : "#0550ae"} stroke="#0550ae" stroke-width="2">
              <title>{`v${p.version}: ${name} = ${fmt(p.value)}${aliasNames ? ` (${aliasNames.join(", ")})` : ""}`}</title>
            </circle>
            {aliasNames && (
              <text x={x(i)} y={y(p.value) - 10} text-anchor="middle" font-size="11" fill="#0550ae">
                {aliasNames.join(", ")}
              </text>
            )}
            <text x={x(i)} y={H - PAD.bottom + 16} text-anchor="middle" font-size="11" fill="#57606a">
              {`v${p.version}`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
