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
// `byPost` of the nodes (the last ones) stand for serving stacks that do not run the agent:
// they report by `POST .../nodes` instead, and learn of a change from one shared watch socket,
// each then resolving the alias with its own key (`GET .../aliases/{alias}?key=`). A local
// server holds about 9,000 sockets at most (its workerd is capped at 20,000 file descriptors and
// spends about two per socket: bench/README.md), so a fleet beyond that needs some of these.
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
 * @param {number} [o.byPost]           how many of the nodes (the last ones) report by POST instead of a socket of their own (default 0)
 * @param {string} [o.postBase]         the origin POSTs and resolves go to (default `base`)
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
  byPost = 0,
  postBase = base,
}) {
  const aliasPath = `/v1/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias)}`;
  const url = `${base.replace(/^http/, "ws")}${aliasPath}/watch`;
  const auth = { authorization: `Bearer ${token}` };
  let postsFailed = 0;
  let closed = false;
  let sent = 0;
  let reportsRefused = 0;
  /** Close codes and reasons seen, so a fleet that shrinks says why. */
  const closes = new Map();

  const nodes = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${i}`,
    /** Reports by POST (and follows through the shared socket) rather than over a socket of its own. */
    posts: i >= count - byPost,
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
    /** When its next periodic report is due (performance.now(); 0: it has not reported yet). */
    dueAt: 0,
    ws: null,
    /** A pending simulated switch. */
    timer: null,
  }));

  /** POSTs waiting for one of the few connections they share, so 1,000 nodes do not open 1,000 sockets. */
  const posting = [];
  let postsInFlight = 0;
  const POSTS_AT_ONCE = 8;
  function pumpPosts() {
    while (postsInFlight < POSTS_AT_ONCE && posting.length > 0) {
      const body = posting.shift();
      postsInFlight++;
      fetch(`${postBase}${aliasPath}/nodes`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status !== 202) postsFailed++;
        })
        .catch(() => postsFailed++)
        .finally(() => {
          postsInFlight--;
          pumpPosts();
        });
    }
  }

  function report(node) {
    const body = { version: node.version, state: node.state, target: node.target, labels: node.labels };
    if (node.reason !== undefined) body.reason = node.reason;
    body.agent = "bench-node/1";
    if (node.posts) {
      posting.push({ node: node.name, ...body });
      pumpPosts();
    } else {
      const ws = node.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({ type: "report", ...body }));
    }
    sent++;
    // The first periodic report falls anywhere in the period, so nodes opened together do not all report together.
    node.dueAt = performance.now() + (node.dueAt === 0 ? Math.random() : 1) * reportEveryMs;
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
    onValue(node, m.generation, m.version ?? null, m.event === "current");
  }

  /** The alias names `want` for this node (at `generation`); `fresh`: the first word after a (re)connect. */
  function onValue(node, generation, want, fresh) {
    if (!node.heard.has(generation)) node.heard.set(generation, performance.now());
    if (want === node.target && node.state !== "syncing") {
      // Nothing new for this node (another member of a split moved, or the same value again):
      // the first message after a (re)connect still gets its report.
      if (fresh) report(node);
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

  // Periodic reports from the first node's first report on: a node opened early must not go
  // stale while the rest of a large fleet is still opening.
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const n of nodes) if (n.dueAt !== 0 && n.dueAt <= now) report(n);
  }, 100);

  // The POSTing nodes: one socket tells them all of a change; each resolves with its own key.
  const posters = nodes.filter((n) => n.posts);
  let follower = null;
  if (posters.length > 0) {
    let seen = -1;
    const resolveAll = async (generation) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: POSTS_AT_ONCE }, async () => {
          while (next < posters.length) {
            const node = posters[next++];
            try {
              const res = await fetch(`${postBase}${aliasPath}?key=${encodeURIComponent(node.name)}`, {
                headers: auth,
              });
              const r = await res.json();
              if (res.ok) onValue(node, Math.max(generation, r.generation), r.version ?? null, generation === -1);
              else postsFailed++;
            } catch {
              postsFailed++;
            }
          }
        }),
      );
    };
    follower = await new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: auth });
      ws.on("message", (data) => {
        const m = JSON.parse(String(data));
        if (typeof m.generation !== "number" || m.generation <= seen) return;
        const first = seen === -1;
        seen = m.generation;
        const done = resolveAll(first ? -1 : m.generation);
        if (first) done.then(() => resolve(ws), reject);
      });
      ws.on("error", (err) => reject(err));
    });
    log(`${posters.length} nodes report by POST`);
  }
  const socketNodes = nodes.filter((n) => !n.posts);
  for (let i = 0; i < socketNodes.length; i += batch) {
    await Promise.all(socketNodes.slice(i, i + batch).map((n) => connect(n)));
    if ((i + batch) % 1000 === 0 || i + batch >= socketNodes.length)
      log(
        `${Math.min(i + batch, socketNodes.length)} sockets open; closed so far: ${JSON.stringify(Object.fromEntries(closes))}`,
      );
  }

  return {
    nodes,
    /** Reports sent so far (socket messages). */
    reportsSent: () => sent,
    /** Reports the registry refused (`report_refused`, or a POST or resolve not answered as it should): a bench expects none. */
    reportsRefused: () => reportsRefused + postsFailed,
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
      follower?.terminate();
      for (const n of nodes) {
        if (n.timer) clearTimeout(n.timer);
        n.ws?.terminate();
      }
    },
  };
}
