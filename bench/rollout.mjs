#!/usr/bin/env node
// bench/rollout: a rollout the registry drives itself, through a fleet that reports, against `npm start`.
//   node bench/rollout.mjs [--nodes 10000] [--agents 20] [--hold 5] [--steps 10,25,50,100] [--min-fleet 0.9]
//                          [--switch-delay 2000] [--report-every 30] [--shards 16] [--by-post 0]
//
// One server, one model with two ready versions. Then, one after the other:
// 1. --nodes simulated serving nodes (./fleet-nodes.mjs: each on its own watch socket, switching
//    to what the alias names for its key after 0..--switch-delay ms, reporting on every change and
//    every --report-every s) follow `production`, and a rollout v1 → v2 in --steps (each held --hold
//    seconds, gated on --min-fleet of the reporting nodes) runs to its end. Per step: how long it
//    waited for the fleet (step applied → hold started, the object's own times), how late the next
//    step came after its hold ended (the alarm's lateness), and how many nodes served v2 when its
//    hold started; then how long after the last node switched to v2 the fleet view (GET .../fleet,
//    polled every 50 ms) said `converged`, and the whole rollout against the sum of its holds.
//    --by-post M of the nodes report by POST instead (a local workerd holds about 9,000 sockets:
//    10,000 nodes are --by-post 1000; see bench/README.md "`--nodes`: what the fleet runs (issue 30)").
// 2. --agents real `mreg agent` processes (dist/mreg.mjs, each its own directory and routing key,
//    reporting over their watch sockets) follow `canary`, and the same rollout runs through them:
//    the same per-step figures, and that every agent's `current` link ends on v2.
// Both check that every node and agent ended on v2 and that the alias only ever held a value of
// the rollout's steps (its history between the start and the completion).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startAgents, versionOf } from "./agents.mjs";
import { openNodes } from "./fleet-nodes.mjs";
import { apiClient, freePort, mintToken, readyVersions, startRegistry, workerOrigin } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "10000" },
    agents: { type: "string", default: "20" },
    hold: { type: "string", default: "5" },
    steps: { type: "string", default: "10,25,50,100" },
    "min-fleet": { type: "string", default: "0.9" },
    "switch-delay": { type: "string", default: "2000" },
    "report-every": { type: "string", default: "30" },
    shards: { type: "string", default: "16" },
    "by-post": { type: "string", default: "0" },
  },
});
const hold = Number(values.hold);
const steps = values.steps.split(",").map((w) => ({ weight: Number(w), hold_s: hold }));
const minFleet = Number(values["min-fleet"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (x) => Math.round(x);

/** Polls the alias's rollout until it has ended; answers it, with when (performance.now()) each step was first seen applied. */
async function followRollout(admin, alias, timeoutMs, onStep) {
  const seen = new Map();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await admin.rollouts.get("m", alias);
    if (!seen.has(r.step)) {
      seen.set(r.step, performance.now());
      onStep(r.step);
    }
    if (r.state === "completed" || r.state === "aborted") return { rollout: r, seen };
    if (Date.now() > deadline) throw new Error(`the rollout of ${alias} is still ${r.state} at step ${r.step}`);
    await sleep(100);
  }
}

/** Per step, from the rollout's own history: the wait for the fleet, and the lateness of what followed the hold. */
function stepFigures(rollout) {
  const at = (step, event) => {
    const e = rollout.history.find((h) => h.step === step && h.event === event);
    return e ? Date.parse(e.at) : NaN;
  };
  return rollout.steps.map((s, i) => {
    const n = i + 1;
    const applied = at(n, "step");
    const held = at(n, "hold");
    const next = n < rollout.steps.length ? at(n + 1, "step") : at(n, "completed");
    const holdEvent = rollout.history.find((h) => h.step === n && h.event === "hold");
    return {
      step: n,
      weight: s.weight,
      fleet_wait_ms: held - applied,
      late_after_hold_ms: next - (held + s.hold_s * 1000),
      reporting: holdEvent?.detail?.reporting ?? null,
      share: holdEvent?.detail?.share ?? null,
    };
  });
}

/** The alias's values from the rollout's start on: each must be a step's split (or v1 before, v2 after). */
async function offStepValues(admin, alias, from, to) {
  const allowed = new Set(
    steps.map((s) =>
      JSON.stringify(
        s.weight === 100
          ? [to]
          : [
              [from, 100 - s.weight],
              [to, s.weight],
            ],
      ),
    ),
  );
  const history = await admin.aliases.history("m", alias, { limit: 200 });
  const rolloutEntries = history.items.filter((h) => /^rollout step/.test(h.reason ?? ""));
  const bad = rolloutEntries.filter((h) => {
    const value = h.split
      ? JSON.stringify([...h.split].sort((a, b) => a.version - b.version).map((m) => [m.version, m.weight]))
      : JSON.stringify([h.version]);
    return !allowed.has(value);
  });
  return { entries: rolloutEntries.length, bad: bad.length };
}

/**
 * Runs the rollout to its end. From the moment the last step is seen applied, GET .../fleet is
 * polled every 50 ms until it says `converged` (answered as `converged`: performance.now() then).
 */
async function runRollout(admin, alias, versions) {
  const started = performance.now();
  let converged = null;
  await admin.rollouts.start("m", alias, { version: versions[1], steps, min_fleet: minFleet, reason: "bench" });
  const { rollout, seen } = await followRollout(admin, alias, 30 * 60_000, (step) => {
    if (step === steps.length) converged = untilConverged(admin, alias, versions[1], 10 * 60_000);
  });
  const wall = performance.now() - started;
  if (rollout.state !== "completed") throw new Error(`the rollout ended ${rollout.state}: ${rollout.reason}`);
  const path = await offStepValues(admin, alias, versions[0], versions[1]);
  return { rollout, seen, wall, path, converged: await converged };
}

/** Polls GET .../fleet every 50 ms until it says every reporting node serves `version`; answers performance.now() then. */
async function untilConverged(admin, alias, version, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fleet = await admin.fleet.get("m", alias);
    if (fleet.converged && fleet.intended.version === version) return performance.now();
    if (Date.now() > deadline) throw new Error(`the fleet of ${alias} never converged: ${JSON.stringify(fleet)}`);
    await sleep(50);
  }
}

async function untilAgents(procs, version, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (procs.some((p) => versionOf(p.dir) !== version)) {
    if (Date.now() > deadline) {
      const behind = procs.find((p) => versionOf(p.dir) !== version);
      throw new Error(
        `an agent never reached v${version}; its log:\n${readFileSync(`${behind.dir}.log`, "utf8").slice(-3000)}`,
      );
    }
    await sleep(100);
  }
  return performance.now();
}

const port = await freePort();
const state = mkdtempSync(join(tmpdir(), "mreg-bench-rollout-"));
const server = await startRegistry({
  port,
  state,
  extra: ["--var", `WATCH_RELAY_SHARDS:${values.shards}`, "--var", "RESOLVE_TTL_S:0"],
});
const base = `http://127.0.0.1:${port}`;
const admin = apiClient(base, mintToken("read write promote admin"));
const results = {};
try {
  const versions = await readyVersions(admin, "m", ["weights one", "weights two"]);
  const reporter = mintToken("read report", "fleet");

  if (Number(values.nodes) > 0) {
    await admin.aliases.set("m", "production", { version: versions[0] });
    const opened = performance.now();
    const fleet = await openNodes({
      base: await workerOrigin(server, port),
      token: reporter,
      model: "m",
      alias: "production",
      count: Number(values.nodes),
      reportEveryMs: Number(values["report-every"]) * 1000,
      switchDelayMs: Number(values["switch-delay"]),
      byPost: Number(values["by-post"]),
    });
    await fleet.until((n) => n.version === versions[0] && n.state === "serving", 10 * 60_000);
    const openS = (performance.now() - opened) / 1000;
    // The fleet view counts every node before the rollout starts, so its first hold really waits for them.
    const deadline = Date.now() + 10 * 60_000;
    while ((await admin.fleet.get("m", "production")).reporting < Number(values.nodes)) {
      if (Date.now() > deadline) throw new Error("the fleet view never counted every node");
      await sleep(200);
    }
    const load = loadavg()[0];
    const run = await runRollout(admin, "production", versions);
    await fleet.until((n) => n.version === versions[1], 10 * 60_000);
    const lastSwitch = fleet.lastSwitchTo(versions[1]);
    results.nodes = {
      nodes: Number(values.nodes),
      open_s: openS.toFixed(0),
      load_1m: load.toFixed(1),
      rollout_s: (run.wall / 1000).toFixed(1),
      holds_s: steps.reduce((s, x) => s + x.hold_s, 0),
      steps: stepFigures(run.rollout),
      converged_after_last_switch_ms: ms(run.converged - lastSwitch),
      alias_values: run.path,
      reports_sent: fleet.reportsSent(),
      reports_refused: fleet.reportsRefused(),
      counts: fleet.counts(),
    };
    fleet.close();
    console.error(JSON.stringify(results.nodes));
  }

  if (Number(values.agents) > 0) {
    await admin.aliases.set("m", "canary", { version: versions[0] });
    const procs = startAgents(base, reporter, Number(values.agents), "registry://m@canary");
    await untilAgents(procs, versions[0], 5 * 60_000);
    const deadline = Date.now() + 5 * 60_000;
    while ((await admin.fleet.get("m", "canary")).reporting < procs.length) {
      if (Date.now() > deadline) throw new Error("the fleet view never counted every agent");
      await sleep(200);
    }
    const load = loadavg()[0];
    // When each agent's `current` first points at v2, sampled every 50 ms while the rollout runs.
    const onV2 = new Map();
    const sampler = setInterval(() => {
      for (const p of procs) if (!onV2.has(p) && versionOf(p.dir) === versions[1]) onV2.set(p, performance.now());
    }, 50);
    const run = await runRollout(admin, "canary", versions);
    await untilAgents(procs, versions[1], 5 * 60_000);
    await sleep(100);
    clearInterval(sampler);
    const allOn = Math.max(...onV2.values());
    results.agents = {
      agents: procs.length,
      load_1m: load.toFixed(1),
      rollout_s: (run.wall / 1000).toFixed(1),
      holds_s: steps.reduce((s, x) => s + x.hold_s, 0),
      steps: stepFigures(run.rollout),
      last_agent_on_v2_after_last_step_ms: ms(allOn - run.seen.get(steps.length)),
      converged_after_last_agent_ms: ms(run.converged - allOn),
      alias_values: run.path,
    };
    for (const p of procs) p.child.kill("SIGTERM");
    console.error(JSON.stringify(results.agents));
  }
} finally {
  await server.stop();
  rmSync(state, { recursive: true, force: true });
}

const table = (r) =>
  [
    "| step | weight | waited for the fleet | next step after the hold ended | reporting at the hold | share serving it |",
    "|---|---|---|---|---|---|",
    ...r.steps.map(
      (s) =>
        `| ${s.step} | ${s.weight}% | ${s.fleet_wait_ms} ms | ${s.late_after_hold_ms} ms | ${s.reporting ?? "-"} | ${s.share === null ? "-" : Number(s.share).toFixed(3)} |`,
    ),
  ].join("\n");
if (results.nodes) {
  const r = results.nodes;
  console.log(
    `\n${r.nodes} simulated nodes (opened in ${r.open_s} s, load ${r.load_1m}): rollout ${r.rollout_s} s for ${r.holds_s} s of holds; fleet view converged ${r.converged_after_last_switch_ms} ms after the last node switched; alias history: ${r.alias_values.entries} step values, ${r.alias_values.bad} not a step's; ${r.reports_sent} reports, ${r.reports_refused} refused\n${table(r)}`,
  );
}
if (results.agents) {
  const r = results.agents;
  console.log(
    `\n${r.agents} mreg agents (load ${r.load_1m}): rollout ${r.rollout_s} s for ${r.holds_s} s of holds; the last agent on v2 ${r.last_agent_on_v2_after_last_step_ms} ms after the last step was seen applied; fleet view converged ${r.converged_after_last_agent_ms} ms after the last agent's switch; alias history: ${r.alias_values.entries} step values, ${r.alias_values.bad} not a step's\n${table(r)}`,
  );
}
console.log(`\n${JSON.stringify(results)}`);
