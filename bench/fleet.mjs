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
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { bytesSource } from "../dist/client.mjs";
import { apiClient, freePort, mintToken, root, startServer, workerOrigin } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    watchers: { type: "string", default: "5000" },
    changes: { type: "string", default: "10" },
    shards: { type: "string", default: "16,1" },
    agents: { type: "string", default: "0" },
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

/** Every agent started, so a bench stopped early takes them down too. */
const allAgents = [];
process.on("exit", () => allAgents.forEach((child) => child.kill("SIGKILL")));

async function startAgents(base, token, count) {
  const procs = [];
  for (let i = 0; i < count; i++) {
    const dir = mkdtempSync(join(tmpdir(), "mreg-bench-agent-"));
    // Its log goes to a file: a pipe nobody reads would fill and stall the agent.
    const log = openSync(`${dir}.log`, "w");
    const child = spawn(
      process.execPath,
      [
        join(root, "dist", "mreg.mjs"),
        "agent",
        "registry://m@production",
        "--dir",
        join(dir, "node"),
        "--key",
        `agent-${i}`,
        "--listen",
        "off",
      ],
      {
        env: { ...process.env, MREG_URL: base, MREG_TOKEN: token },
        stdio: ["ignore", log, log],
      },
    );
    closeSync(log);
    allAgents.push(child);
    procs.push({ child, dir });
  }
  return procs;
}

const versionOf = (dir) => {
  try {
    return Number(/v(\d+)$/.exec(readlinkSync(join(dir, "node", "current")))?.[1]);
  } catch {
    return null;
  }
};

async function run(shards) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "mreg-bench-fleet-"));
  const server = await startServer(
    "npm",
    [
      "start",
      "--",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--var",
      `WATCH_RELAY_SHARDS:${shards}`,
      "--var",
      "RESOLVE_TTL_S:0",
    ],
    { port },
  );
  const base = `http://127.0.0.1:${port}`;
  const admin = apiClient(base, mintToken("read write promote admin"));
  const read = mintToken("read report", "fleet");
  try {
    await admin.models.create({ name: "m" });
    const versions = [];
    for (const text of ["weights one", "weights two"]) {
      const { version } = await admin.versions.create("m");
      const bytes = new TextEncoder().encode(text);
      await admin.upload("m", version, "model.bin", bytesSource(bytes), {
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
      await admin.versions.finalize("m", version);
      versions.push(version);
    }
    await admin.aliases.set("m", "production", { version: versions[0] });
    const opened = performance.now();
    const watchBase = values["via-proxy"] ? base : await workerOrigin(server, port);
    const fleet = await openWatchers(watchBase, read, watchers);
    const openS = (performance.now() - opened) / 1000;
    const procs =
      agents > 0 && shards === Number(values.shards.split(",")[0]) ? await startAgents(base, read, agents) : [];
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
  } finally {
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

execFileSync(process.execPath, [join(root, "scripts", "build-cli.mjs")], { stdio: "inherit" });
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
