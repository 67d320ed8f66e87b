#!/usr/bin/env node
// bench/fleet: how fast an alias change reaches a fleet, against `npm start`.
//   node bench/fleet.mjs [--watchers 5000] [--changes 10] [--shards 16,1] [--agents 0] [--via-proxy]
// For each relay setting in --shards (WATCH_RELAY_SHARDS; 1 puts every socket on one relay,
// as one object held them all before relays): a server, one model with two ready versions,
// --watchers WebSocket watchers of production (each with its own routing key, opened 100 at
// a time), then --changes alias swaps one after the other. For each change: the time from the
// moment its PUT is sent to each watcher's message (an upper bound on the time from the
// acknowledgement, which the watchers often beat); reported as p50/p99/max over all
// (watcher, change) pairs, and per change the time to the last watcher told, also after the ack.
// With --agents N (after the watchers): N `mreg agent` processes follow the alias into their
// own directories; each change is timed from its acknowledgement to the last agent's switch
// (its `current` link pointing at the new version).
//
// With --nodes N (issue 30), instead: N simulated serving nodes (./fleet-nodes.mjs) on their own
// watch sockets, reporting over them on every change and every --report-every seconds, and
// --changes alias swaps. For each: how long after the last node switched the fleet view
// (GET .../fleet, polled every 50 ms) says `converged`; the relays' calls into the model's object
// per second (the Fleet's `summaries` counter, sampled every second, against its `relays`),
// while the alias changes and in --steady seconds of periodic reports alone; and GET .../fleet
// latency (--gets requests, 4 at a time) with every node reporting.
//   node bench/fleet.mjs --nodes 10000 --by-post 1000 --shards 16 [--changes 5] [--report-every 30] [--steady 60] [--gets 400]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startAgents, versionOf } from "./agents.mjs";
import { openNodes } from "./fleet-nodes.mjs";
import { apiClient, freePort, mintToken, readyVersions, root, startRegistry, workerOrigin } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    watchers: { type: "string", default: "5000" },
    changes: { type: "string", default: "10" },
    shards: { type: "string", default: "16,1" },
    agents: { type: "string", default: "0" },
    nodes: { type: "string", default: "0" },
    "report-every": { type: "string", default: "30" },
    steady: { type: "string", default: "60" },
    gets: { type: "string", default: "400" },
    // Nodes (of --nodes) that report by POST, learning of changes from one shared socket: a local
    // server holds about 9,000 sockets (see README), so 10,000 nodes are 9,000 sockets and 1,000 of these.
    "by-post": { type: "string", default: "0" },
    // Open the watchers through wrangler dev's proxy (the public port) instead of at the Worker's
    // own workerd; the proxy runs out of file descriptors near 4,500 sockets here (see workerOrigin).
    "via-proxy": { type: "boolean", default: false },
  },
});
const watchers = Number(values.watchers);
const changes = Number(values.changes);
const agents = Number(values.agents);

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens `count` watchers, `batch` at a time (a socket the local server drops while opening is
 * tried again, up to 5 times); each records when it heard each generation.
 */
async function openWatchers(base, token, count, batch = 100) {
  const heard = Array.from({ length: count }, () => new Map());
  const sockets = [];
  /** Close codes and reasons seen, so a fleet that shrinks while it opens says why. */
  const closes = new Map();
  const open = (n, attempt = 1) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base.replace("http", "ws")}/v1/models/m/aliases/production/watch?key=node-${n}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      let current = false;
      ws.on("message", (data) => {
        const m = JSON.parse(String(data));
        if (!heard[n].has(m.generation)) heard[n].set(m.generation, performance.now());
        if (m.event === "current") {
          current = true;
          resolve(undefined);
        }
      });
      ws.on("close", (code, reason) => {
        const why = `${code} ${reason}`;
        closes.set(why, (closes.get(why) ?? 0) + 1);
      });
      ws.on("error", (err) => {
        if (current) return;
        if (attempt >= 5) return reject(err);
        setTimeout(() => open(n, attempt + 1).then(resolve, reject), 200 * attempt);
      });
      sockets.push(ws);
    });
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => open(i + j)));
    if ((i + batch) % 1000 === 0)
      console.error(`${i + batch} watchers open; closed so far: ${JSON.stringify(Object.fromEntries(closes))}`);
  }
  return { heard, close: () => sockets.forEach((ws) => ws.terminate()) };
}

/** A server with WATCH_RELAY_SHARDS=`shards`, a model `m` with two ready versions and `production` on the first; `fn` runs against it. */
async function withServer(shards, fn) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "mreg-bench-fleet-"));
  const server = await startRegistry({
    port,
    state,
    extra: ["--var", `WATCH_RELAY_SHARDS:${shards}`, "--var", "RESOLVE_TTL_S:0"],
  });
  const base = `http://127.0.0.1:${port}`;
  const admin = apiClient(base, mintToken("read write promote admin"));
  try {
    const versions = await readyVersions(admin, "m", ["weights one", "weights two"]);
    await admin.aliases.set("m", "production", { version: versions[0] });
    return await fn({ server, port, base, admin, versions });
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

const run = (shards) =>
  withServer(shards, async ({ server, port, base, admin, versions }) => {
    const read = mintToken("read report", "fleet");
    const opened = performance.now();
    const watchBase = values["via-proxy"] ? base : await workerOrigin(server, port);
    const fleet = await openWatchers(watchBase, read, watchers);
    const openS = (performance.now() - opened) / 1000;
    const procs =
      agents > 0 && shards === Number(values.shards.split(",")[0])
        ? startAgents(base, read, agents, "registry://m@production")
        : [];
    if (procs.length) {
      const deadline = Date.now() + 60_000;
      while (procs.some((p) => versionOf(p.dir) !== versions[0]) && Date.now() < deadline) await sleep(100);
      const behind = procs.find((p) => versionOf(p.dir) !== versions[0]);
      if (behind)
        throw new Error(
          `an agent never reached v${versions[0]}; its log:\n${readFileSync(`${behind.dir}.log`, "utf8").slice(-3000)}`,
        );
    }
    const lat = [];
    const last = [];
    const lastAfterAck = [];
    const agentLast = [];
    for (let k = 0; k < changes; k++) {
      const to = versions[(k + 1) % 2];
      const sent = performance.now();
      const alias = await admin.aliases.set("m", "production", { version: to });
      const acked = performance.now();
      const deadline = Date.now() + 20_000;
      while (fleet.heard.some((h) => !h.has(alias.generation)) && Date.now() < deadline) await sleep(5);
      const times = fleet.heard.map((h) => (h.get(alias.generation) ?? NaN) - sent);
      const missing = times.filter(Number.isNaN).length;
      if (missing) throw new Error(`${missing} watchers never heard generation ${alias.generation}`);
      lat.push(...times);
      last.push(Math.max(...times));
      lastAfterAck.push(Math.max(...times) - (acked - sent));
      if (procs.length) {
        while (procs.some((p) => versionOf(p.dir) !== to) && Date.now() < deadline) await sleep(10);
        const behind = procs.find((p) => versionOf(p.dir) !== to);
        if (behind)
          throw new Error(
            `an agent never switched to v${to}; its log:\n${readFileSync(`${behind.dir}.log`, "utf8").slice(-3000)}`,
          );
        agentLast.push(performance.now() - acked);
      }
      await sleep(200);
    }
    fleet.close();
    for (const p of procs) {
      p.child.kill("SIGTERM");
      rmSync(p.dir, { recursive: true, force: true });
      rmSync(`${p.dir}.log`, { force: true });
    }
    const ms = (x) => Math.round(x);
    return {
      shards,
      watchers,
      changes,
      open_s: +openS.toFixed(1),
      p50_ms: ms(quantile(lat, 0.5)),
      p99_ms: ms(quantile(lat, 0.99)),
      max_ms: ms(Math.max(...lat)),
      last_watcher_p50_ms: ms(quantile(last, 0.5)),
      last_watcher_max_ms: ms(Math.max(...last)),
      last_after_ack_max_ms: ms(Math.max(...lastAfterAck)),
      ...(procs.length
        ? {
            agents: procs.length,
            agents_switched_p99_ms: ms(quantile(agentLast, 0.99)),
            agents_switched_max_ms: ms(Math.max(...agentLast)),
          }
        : {}),
    };
  });

/** Samples the Fleet every second; `window(from, to)` gives the summaries the model's object took per second in it. */
function summarySampler(get) {
  const samples = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const f = await get();
      samples.push({ at: performance.now(), summaries: f.summaries, relays: f.relays });
      await sleep(1000);
    }
  })();
  return {
    /**
     * Between `from` and `to` (performance.now()): the summaries taken per second over the whole
     * span (`mean_per_s`), the most over any 5 s in it (`max_5s_per_s`: a relay sending at its
     * limit, one a second, can fit 6 into 5 s), and the relays then.
     */
    window(from, to) {
      const inside = samples.filter((x) => x.at >= from && x.at <= to);
      const rate = (a, b) => (b.summaries - a.summaries) / ((b.at - a.at) / 1000);
      let max5 = 0;
      for (let i = 0; i < inside.length; i++) {
        const j = inside.findIndex((x) => x.at >= inside[i].at + 5000);
        if (j > i) max5 = Math.max(max5, rate(inside[i], inside[j]));
      }
      return {
        relays: Math.max(0, ...inside.map((x) => x.relays)),
        max_5s_per_s: +max5.toFixed(2),
        mean_per_s: inside.length > 1 ? +rate(inside[0], inside.at(-1)).toFixed(2) : NaN,
      };
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const runFleet = (shards) =>
  withServer(shards, async ({ server, port, base, admin, versions }) => {
    const count = Number(values.nodes);
    const token = mintToken("read report", "fleet");
    // Timed reads go where the sockets go: straight to the Worker's workerd unless --via-proxy
    // (deployed, nothing stands between a client and the Worker).
    const origin = values["via-proxy"] ? base : await workerOrigin(server, port);
    const read = (path) => async () => {
      const res = await fetch(`${origin}/v1/models/m/aliases/production${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    const get = read("/fleet");
    // The baseline the fleet view is held against, in the same run: reading the alias itself.
    const getAlias = read("");
    const opened = performance.now();
    const nodes = await openNodes({
      base: origin,
      token,
      model: "m",
      alias: "production",
      count,
      reportEveryMs: Number(values["report-every"]) * 1000,
      byPost: Number(values["by-post"]),
    });
    const openS = (performance.now() - opened) / 1000;
    try {
      const settle = async (generation) => {
        const deadline = Date.now() + 120_000;
        for (;;) {
          const f = await get();
          if (f.intended.generation === generation && f.converged && f.reporting === count) return f;
          if (Date.now() > deadline) throw new Error(`the fleet never converged: ${JSON.stringify(f)}`);
          await sleep(50);
        }
      };
      const first = await settle((await get()).intended.generation);
      console.error(`fleet of ${first.reporting} nodes converged on v${versions[0]}; ${first.relays} relays`);
      const sampler = summarySampler(get);
      await sleep(2000);
      const changesFrom = performance.now();
      // ms from the last node's switch to the first poll of the fleet view saying converged.
      const lag = [];
      for (let k = 0; k < changes; k++) {
        const to = versions[(k + 1) % 2];
        const alias = await admin.aliases.set("m", "production", { version: to });
        await nodes.until((n) => n.version === to, 60_000);
        await settle(alias.generation);
        const convergedAt = performance.now();
        lag.push(convergedAt - nodes.lastSwitchTo(to));
        console.error(`change ${k + 1}: converged ${Math.round(lag.at(-1))} ms after the last node switched`);
        await sleep(2000);
      }
      const changesTo = performance.now();
      // Periodic reports alone (nothing changes): what they cost the model's object.
      await sleep(Number(values.steady) * 1000);
      const steadyTo = performance.now();
      await sampler.stop();
      // GET .../fleet with every node reporting, 4 at a time, each alternating with a read of
      // the alias (the baseline) so both meet the same moments of the periodic reports.
      const latencies = [];
      const aliasLatencies = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next++ < Number(values.gets)) {
            for (const [fn, into] of [
              [get, latencies],
              [getAlias, aliasLatencies],
            ]) {
              const t0 = performance.now();
              await fn();
              into.push(performance.now() - t0);
            }
          }
        }),
      );
      const duringChanges = sampler.window(changesFrom, changesTo);
      const steady = sampler.window(changesTo, steadyTo);
      if (nodes.reportsRefused() > 0) throw new Error(`${nodes.reportsRefused()} reports refused`);
      const ms = (x) => Math.round(x);
      return {
        shards,
        nodes: count,
        by_post: Number(values["by-post"]),
        report_every_s: Number(values["report-every"]),
        open_s: +openS.toFixed(1),
        changes,
        converged_after_last_switch_p50_ms: ms(quantile(lag, 0.5)),
        converged_after_last_switch_max_ms: ms(Math.max(...lag)),
        relays: duringChanges.relays,
        summaries_per_s_changing_max_5s: duringChanges.max_5s_per_s,
        summaries_per_s_changing_mean: duringChanges.mean_per_s,
        summaries_per_s_steady_max_5s: steady.max_5s_per_s,
        summaries_per_s_steady_mean: steady.mean_per_s,
        reports_sent: nodes.reportsSent(),
        get_fleet_p50_ms: ms(quantile(latencies, 0.5)),
        get_fleet_p99_ms: ms(quantile(latencies, 0.99)),
        get_fleet_max_ms: ms(Math.max(...latencies)),
        get_alias_p50_ms: ms(quantile(aliasLatencies, 0.5)),
        get_alias_p99_ms: ms(quantile(aliasLatencies, 0.99)),
        closes: nodes.closes(),
      };
    } finally {
      nodes.close();
    }
  });

execFileSync(process.execPath, [join(root, "scripts", "build-cli.mjs")], { stdio: "inherit" });
if (Number(values.nodes) > 0) {
  const rows = [];
  for (const shards of values.shards.split(",").map(Number)) {
    const row = await runFleet(shards);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  console.log(
    "\n| relays | nodes: on sockets + by POST (report every) | sockets opened in | converged after the last node switched: p50 / max | summaries into the model's object per s, while changing: most in any 5 s / mean | steady: most in any 5 s / mean | GET .../fleet p50 / p99 / max | GET .../aliases/{alias} p50 / p99 |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.relays} (of ${r.shards}) | ${r.nodes - r.by_post} + ${r.by_post} (${r.report_every_s} s) | ${r.open_s} s | ${r.converged_after_last_switch_p50_ms} / ${r.converged_after_last_switch_max_ms} ms | ${r.summaries_per_s_changing_max_5s} / ${r.summaries_per_s_changing_mean} | ${r.summaries_per_s_steady_max_5s} / ${r.summaries_per_s_steady_mean} | ${r.get_fleet_p50_ms} / ${r.get_fleet_p99_ms} / ${r.get_fleet_max_ms} ms | ${r.get_alias_p50_ms} / ${r.get_alias_p99_ms} ms |`,
    );
  process.exit(0);
}
const rows = [];
for (const shards of values.shards.split(",").map(Number)) {
  const row = await run(shards);
  console.log(JSON.stringify(row));
  rows.push(row);
}
console.log(
  "\n| relays (WATCH_RELAY_SHARDS) | watchers | changes | sockets opened in | p50 | p99 | max | last watcher told: p50 / max | last watcher after the ack, max | agents: all switched after the ack, p99 / max |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.shards} | ${r.watchers} | ${r.changes} | ${r.open_s} s | ${r.p50_ms} ms | ${r.p99_ms} ms | ${r.max_ms} ms | ${r.last_watcher_p50_ms} / ${r.last_watcher_max_ms} ms | ${r.last_after_ack_max_ms} ms | ${r.agents ? `${r.agents}: ${r.agents_switched_p99_ms} / ${r.agents_switched_max_ms} ms` : "-"} |`,
  );
}
