// bench/fleet-nodes: simulated serving nodes, each on its own watch socket, for the fleet benches.
//
// A node watches `model@alias` with its own routing key (`node-<i>`, or `${prefix}-<i>`),
// switches to whatever version the alias names for its key (a split member, for a split) after
// `switchDelayMs` (the time a real node would take to fetch and load it), and reports its state
// over the same socket, as `mreg agent` does (docs/fleet.md): on every change (syncing while it
// moves, serving or refused when it lands) and at least every `reportEveryMs`, the periodic
// reports spread evenly over the period so 10,000 nodes do not all report in the same tick.
// `refuse(node, version)` says a node refuses a version (its reason), as an agent's --check
// would: the node keeps serving what it had and reports `refused`.
//
// It records, per node, when it heard each generation and when it switched to each version, so
// a bench can time "the last node switched" against what the fleet view says. A socket the
// server closes is opened again (as the agent does), after a short back-off.
//
//   import { openNodes } from "./fleet-nodes.mjs";
//   const fleet = await openNodes({ base, token, model: "m", alias: "production", count: 10_000 });
//   await fleet.until((n) => n.version === 2);     // every node serves v2
//   fleet.lastSwitchTo(2);                         // performance.now() of the last node's switch to v2
//   fleet.close();
import WebSocket from "ws";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens `count` simulated nodes, `batch` at a time, and resolves once each has heard the
 * alias's current value (and sent its first report).
 *
 * @param {object} o
 * @param {string} o.base               http(s) origin the sockets open at (the Worker's own, see lib.mjs workerOrigin)
 * @param {string} o.token              a token with the `read` and `report` scopes (and the alias's grant)
 * @param {string} o.model
 * @param {string} o.alias
 * @param {number} o.count
 * @param {string} [o.prefix]           node names are `${prefix}-${i}` (default "node")
 * @param {number} [o.batch]            sockets opened at once (default 100)
 * @param {number} [o.reportEveryMs]    periodic report (default 30 000, the agent's default)
 * @param {number} [o.switchDelayMs]    how long a node takes to switch (default 0; each node draws 0..this)
 * @param {(i: number) => Record<string, string>} [o.labels]  each node's labels (default: zone z<i mod 4>)
 * @param {(node: string, version: number) => string | null} [o.refuse]  a reason refuses the version
 * @param {(line: string) => void} [o.log]  progress while opening (default: stderr)
 */
export async function openNodes({
  base,
  token,
  model,
  alias,
  count,
  prefix = "node",
  batch = 100,
  reportEveryMs = 30_000,
  switchDelayMs = 0,
  labels = (i) => ({ zone: `z${i % 4}` }),
  refuse = () => null,
  log = (line) => console.error(line),
}) {
  const url = `${base.replace(/^http/, "ws")}/v1/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias)}/watch`;
  let closed = false;
  let sent = 0;
  let reportsRefused = 0;
  /** Close codes and reasons seen, so a fleet that shrinks says why. */
  const closes = new Map();

  const nodes = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    labels: labels(i),
    /** What it serves (null: nothing yet). */
    version: null,
    /** What the alias names for it. */
    target: null,
    state: "syncing",
    reason: undefined,
    /** generation → performance.now() it was first heard. */
    heard: new Map(),
    /** version → performance.now() of its latest switch to it. */
    switched: new Map(),
    /** When its next periodic report is due (performance.now()). */
    dueAt: 0,
    ws: null,
    /** A pending simulated switch. */
    timer: null,
  }));

  function report(node) {
    const ws = node.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const body = { type: "report", version: node.version, state: node.state, target: node.target, labels: node.labels };
    if (node.reason !== undefined) body.reason = node.reason;
    ws.send(JSON.stringify({ ...body, agent: "bench-node/1" }));
    sent++;
    node.dueAt = performance.now() + reportEveryMs;
  }

  function land(node) {
    node.timer = null;
    const want = node.target;
    if (want === null || want === node.version) return;
    const why = refuse(node.name, want);
    if (why) {
      node.state = "refused";
      node.reason = why;
    } else {
      node.version = want;
      node.state = "serving";
      node.reason = undefined;
      node.switched.set(want, performance.now());
    }
    report(node);
  }

  function onMessage(node, data) {
    const m = JSON.parse(String(data));
    if (m.event === "report_refused") {
      reportsRefused++;
      return;
    }
    if (typeof m.generation !== "number") return;
    if (!node.heard.has(m.generation)) node.heard.set(m.generation, performance.now());
    const want = m.version ?? null;
    if (want === node.target && node.state !== "syncing") {
      // Nothing new for this node (another member of a split moved, or the same value again):
      // the first message after a (re)connect still gets its report.
      if (m.event === "current") report(node);
      return;
    }
    node.target = want;
    if (node.timer) clearTimeout(node.timer);
    if (want === null || want === node.version) {
      node.state = want === null ? "syncing" : "serving";
      node.reason = undefined;
      report(node);
      return;
    }
    node.state = "syncing";
    node.reason = undefined;
    report(node);
    const delay = switchDelayMs > 0 ? Math.random() * switchDelayMs : 0;
    if (delay === 0) land(node);
    else node.timer = setTimeout(() => land(node), delay);
  }

  /** Opens a node's socket; resolves at its first message (the alias's current value). */
  const connect = (node, attempt = 1) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}?key=${encodeURIComponent(node.name)}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      node.ws = ws;
      let opened = false;
      ws.on("message", (data) => {
        onMessage(node, data);
        if (!opened) {
          opened = true;
          resolve(undefined);
        }
      });
      ws.on("close", (code, reason) => {
        const why = `${code} ${reason}`;
        closes.set(why, (closes.get(why) ?? 0) + 1);
        if (opened && !closed)
          // As the agent does: open again, and report on the first message.
          setTimeout(() => !closed && connect(node).catch(() => {}), 500 + Math.random() * 1000);
      });
      ws.on("error", (err) => {
        if (opened || closed) return;
        if (attempt >= 5) return reject(err);
        setTimeout(() => connect(node, attempt + 1).then(resolve, reject), 200 * attempt);
      });
    });

  for (let i = 0; i < count; i += batch) {
    await Promise.all(nodes.slice(i, i + batch).map((n) => connect(n)));
    if ((i + batch) % 1000 === 0 || i + batch >= count)
      log(`${Math.min(i + batch, count)} nodes open; closed so far: ${JSON.stringify(Object.fromEntries(closes))}`);
  }
  // Spread the periodic reports over the period, as nodes started at different times would.
  const start = performance.now();
  nodes.forEach((n, i) => (n.dueAt = start + (reportEveryMs * i) / count));
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const n of nodes) if (n.dueAt <= now) report(n);
  }, 100);

  return {
    nodes,
    /** Reports sent so far (socket messages). */
    reportsSent: () => sent,
    /** Reports the registry refused (`report_refused`): a bench expects none. */
    reportsRefused: () => reportsRefused,
    closes: () => Object.fromEntries(closes),
    /** Resolves once `pred` holds for every node (or rejects after `timeoutMs`, saying how many lag). */
    async until(pred, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const behind = nodes.filter((n) => !pred(n)).length;
        if (behind === 0) return;
        if (Date.now() > deadline) throw new Error(`${behind} of ${count} nodes never got there`);
        await sleep(10);
      }
    },
    /** performance.now() at which the last node switched to `version` (NaN if one has not). */
    lastSwitchTo(version) {
      let last = -Infinity;
      for (const n of nodes) {
        const at = n.switched.get(version);
        if (at === undefined) return NaN;
        last = Math.max(last, at);
      }
      return last;
    },
    /** How many nodes serve each version, and how many refused. */
    counts() {
      const by = {};
      for (const n of nodes) {
        const key = `v${n.version}${n.state === "refused" ? " (refused)" : ""}`;
        by[key] = (by[key] ?? 0) + 1;
      }
      return by;
    },
    close() {
      closed = true;
      clearInterval(ticker);
      for (const n of nodes) {
        if (n.timer) clearTimeout(n.timer);
        n.ws?.terminate();
      }
    },
  };
}
