/** Rollouts (docs/rollouts.md): `rollout start|status|pause|resume|abort <model>@<alias>`. */
import { parseModelUri } from "../../client/aliases";
import type { Rollout, RolloutStep } from "../../client/types";
import { flag, int, str, toInt, type Command, type Input } from "../command";
import { CliError, UsageError } from "../exit";
import { ago, fields, table } from "../output";
import { normalizeUri, uriTarget } from "./pull";

/** The alias a rollout command names: `<model>@<alias>` (or `registry://<model>@<alias>`). */
function aliasOf(arg: string, command: string): { model: string; alias: string } {
  const named = parseModelUri(normalizeUri(arg));
  if (named.alias === undefined)
    throw new UsageError(`'${arg}' names a version; a rollout moves an alias: <model>@<alias>`, command);
  return { model: named.model, alias: named.alias };
}

/** Seconds from `300`, `300s`, `5m`, `2h`. */
function seconds(text: string, what: string): number {
  const match = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${what}: a hold is seconds (300), or 300s, 5m, 2h, not '${text}'`, "rollout start");
  return Number(match[1]) * (match[2] === "h" ? 3600 : match[2] === "m" ? 60 : 1);
}

/**
 * `--steps 10:5m,50:5m,100:0`: each step a weight in per cent and its hold. The registry
 * judges the rest (weights 1..100, the last 100, holds up to a week) and says what is wrong.
 */
export function parseSteps(text: string): RolloutStep[] {
  const steps = text
    .split(",")
    .filter((s) => s.trim() !== "")
    .map((part) => {
      const [weight, hold, extra] = part.split(":");
      if (weight === undefined || hold === undefined || extra !== undefined)
        throw new UsageError(`--steps: each step is <weight>:<hold>, such as 10:5m, not '${part}'`, "rollout start");
      return {
        weight: toInt(weight.trim().replace(/%$/, ""), "--steps weight", { min: 1, max: 100 }),
        hold_s: seconds(hold, "--steps"),
      };
    });
  if (steps.length === 0)
    throw new UsageError("--steps needs at least one step, the last of weight 100", "rollout start");
  return steps;
}

function minFleet(input: Input): number | undefined {
  const v = str(input, "min-fleet");
  if (v === undefined) return undefined;
  const n = Number(v.trim().endsWith("%") ? Number(v.trim().slice(0, -1)) / 100 : v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`--min-fleet is a share from 0 to 1 (or 0% to 100%), not '${v}'`, "rollout start");
  return n;
}

const duration = (s: number) =>
  s % 3600 === 0 && s > 0 ? `${s / 3600}h` : s % 60 === 0 && s > 0 ? `${s / 60}m` : `${s}s`;

function until(iso: string): string {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s <= 0
    ? "due now"
    : s < 60
      ? `in ${s}s`
      : s < 3600
        ? `in ${Math.round(s / 60)}m`
        : `in ${Math.round(s / 3600)}h`;
}

/** What the rollout is doing now, in words. */
function nowText(r: Rollout): string {
  switch (r.state) {
    case "completed":
      return `completed: ${r.alias} serves v${r.to}`;
    case "aborted":
      return `aborted${r.reason ? `: ${r.reason}` : ""}`;
    case "paused":
      return `paused at step ${r.step}${r.reason ? ` (${r.reason})` : ""}: mreg rollout resume ${r.model}@${r.alias}`;
    case "running":
      return r.next_at === null
        ? `step ${r.step} waits for ${Math.round(r.min_fleet * 100)}% of the reporting nodes to serve it`
        : `${r.step < r.steps.length ? `step ${r.step + 1}` : "completion"} at ${r.next_at} (${until(r.next_at)})`;
  }
}

/** A rollout for people: where it stands, then its steps. */
export function rolloutText(r: Rollout): string {
  const head = fields([
    ["rollout", `${r.model}@${r.alias}: v${r.from} → v${r.to}`],
    ["state", r.state],
    ["step", `${r.step} of ${r.steps.length} (v${r.to} at ${r.steps[r.step - 1]?.weight ?? "?"}%)`],
    ["now", nowText(r)],
    ["started", `${ago(r.started_at)} by ${r.started_by}${r.reason && r.state !== "aborted" ? `: ${r.reason}` : ""}`],
  ]);
  const rows = r.steps.map((s, i) => {
    const n = i + 1;
    const status =
      n < r.step || (n === r.step && r.state === "completed")
        ? "done"
        : n > r.step
          ? ""
          : r.state === "running"
            ? r.hold_started_at === null
              ? "waiting for the fleet"
              : `holding since ${ago(r.hold_started_at)}`
            : r.state;
    return [String(n), `${s.weight}%`, duration(s.hold_s), status];
  });
  return `${head}\n\n${table(["step", "weight", "hold", ""], rows)}`;
}

const ALIAS_ARG = "<model>@<alias>";

const versionOf = (arg: string | undefined) =>
  arg !== undefined && /^[1-9][0-9]*$/.test(arg) ? { version: Number(arg) } : {};

export const rolloutStart: Command = {
  name: "rollout start",
  args: `${ALIAS_ARG} <version>`,
  summary: "Move an alias to a version in steps the registry drives itself; exit 3 when its gate refuses",
  options: { steps: { type: "string" }, "min-fleet": { type: "string" }, reason: { type: "string" } },
  help: [
    "--steps W:H,…    Each step: the new version's weight in per cent, and how long it holds (300, 5m, 2h); the last weight 100 (required)",
    "--min-fleet X    The share of reporting nodes that must serve a step before its hold starts (0..1 or 90%; default 0.9)",
    "--reason TEXT    Recorded with each step in the alias history and the audit log",
  ],
  examples: [
    "mreg rollout start payment-fraud@production 4 --steps 10:5m,50:10m,100:0 --reason 'eval report 2026-12-07'",
    "mreg rollout start payment-fraud@production 4 --steps 25:1h,100:0 --min-fleet 0.95",
  ],
  target: (i) => ({ ...uriTarget(i.positionals[0]), ...versionOf(i.positionals[1]) }),
  async run(ctx, input) {
    const { model, alias } = aliasOf(input.positionals[0]!, "rollout start");
    const version = toInt(input.positionals[1]!, "version");
    const text = str(input, "steps");
    if (text === undefined)
      throw new UsageError("--steps is required, e.g. --steps 10:5m,50:5m,100:0", "rollout start");
    const share = minFleet(input);
    const reason = str(input, "reason");
    const r = await ctx.client.rollouts.start(model, alias, {
      version,
      steps: parseSteps(text),
      ...(share !== undefined ? { min_fleet: share } : {}),
      ...(reason !== undefined ? { reason } : {}),
    });
    ctx.out.result(r, () => rolloutText(r));
  },
};

export const rolloutStatus: Command = {
  name: "rollout status",
  args: ALIAS_ARG,
  summary: "Where the alias's rollout stands (the running one, else the last); --wait follows it to its end",
  options: { wait: { type: "boolean" }, interval: { type: "string" } },
  help: [
    "--wait           Follow it until it completes (exit 0) or is aborted (exit 1, with the reason), printing each step",
    "--interval S     With --wait: seconds between looks (default 2)",
  ],
  examples: [
    "mreg rollout status payment-fraud@production",
    "mreg rollout start payment-fraud@production 4 --steps 10:5m,100:0 && mreg rollout status payment-fraud@production --wait",
  ],
  target: (i) => uriTarget(i.positionals[0]),
  async run(ctx, input) {
    const { model, alias } = aliasOf(input.positionals[0]!, "rollout status");
    let r = await ctx.client.rollouts.get(model, alias);
    if (!flag(input, "wait")) {
      ctx.out.result(r, () => rolloutText(r));
      return;
    }
    const intervalMs = (int(input, "interval", { min: 1, max: 3600 }) ?? 2) * 1000;
    let shown = "";
    for (;;) {
      const line = `${new Date().toISOString()}  step ${r.step} of ${r.steps.length}  ${r.state}  ${nowText(r)}`;
      if (!ctx.out.json && line.slice(26) !== shown) ctx.out.note(line);
      shown = line.slice(26);
      if (r.state === "completed" || r.state === "aborted") break;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      r = await ctx.client.rollouts.get(model, alias);
    }
    ctx.out.result(r, () => rolloutText(r));
    if (r.state === "aborted")
      throw new CliError(`the rollout of ${model}@${alias} was aborted: ${r.reason ?? "no reason given"}`);
  },
};

function action(name: "pause" | "resume" | "abort", summary: string, example: string): Command {
  return {
    name: `rollout ${name}`,
    args: ALIAS_ARG,
    summary,
    options: { reason: { type: "string" } },
    help: ["--reason TEXT    Recorded in the rollout's history and the audit log"],
    examples: [example],
    target: (i) => uriTarget(i.positionals[0]),
    async run(ctx, input) {
      const { model, alias } = aliasOf(input.positionals[0]!, `rollout ${name}`);
      const reason = str(input, "reason");
      const r = await ctx.client.rollouts[name](model, alias, reason !== undefined ? { reason } : {});
      ctx.out.result(r, () => rolloutText(r));
    },
  };
}

export const rolloutPause = action(
  "pause",
  "Hold the alias at its step; the step's hold stops until resumed",
  "mreg rollout pause payment-fraud@production --reason 'p99 latency up, looking'",
);
export const rolloutResume = action(
  "resume",
  "Go on with a paused rollout: its step holds again from the start",
  "mreg rollout resume payment-fraud@production --reason 'latency explained'",
);
export const rolloutAbort = action(
  "abort",
  "End the rollout and take the alias back to the version it started from",
  "mreg rollout abort payment-fraud@production --reason 'error rate 3%'",
);
