// Shared pieces of the benchmarks: starting the registry (or another wrangler dev server),
// minting a token, a typed client for the API calls, sampling the RSS of the workerd
// processes, streaming a file region over HTTP (the baseline Worker's upload, which is not
// the registry's API). Servers start the way every test server does (test/e2e/npm-start.mjs).
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { bytesSource, MregClient } from "../dist/client.mjs";
import { freePort, npmStartArgs, root, SERVER_ARGS, spawnGroup, waitForHealth } from "../test/e2e/npm-start.mjs";

export { freePort, root, SERVER_ARGS };

// A bench stopped by Ctrl-C, `timeout` or a crash must not leave wrangler and workerd behind
// (they run detached, in their own group, so they would outlive it): a signal becomes an exit,
// on which test/e2e/npm-start.mjs kills every server's group still alive.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1)));
}

/**
 * Starts a server (a command that serves on `port`), waits until `healthPath` answers below
 * 500, returns a stopper. Wrangler commands take SERVER_ARGS (`--inspector-port 0`) from the
 * caller; `startRegistry` is the registry's own start.
 */
export async function startServer(command, args, { cwd = root, port, healthPath = "/healthz", log }) {
  const group = spawnGroup(command, args, { cwd });
  const health = await waitForHealth(group, `http://127.0.0.1:${port}${healthPath}`, {
    everyMs: 300,
    ready: (res) => res.status < 500,
  });
  if (health !== "up") {
    group.signal("SIGKILL");
    throw new Error(
      health === "exited" ? `${command} exited:\n${group.output()}` : `no answer on port ${port}:\n${group.output()}`,
    );
  }
  return {
    /** The server's process group (it was spawned detached): what cpuOfGroup() sums and workerdPids() searches. */
    pid: group.pid,
    output: group.output,
    async stop() {
      if (log) log(group.output());
      if (!group.signal("SIGTERM")) return;
      await new Promise((r) => {
        const timer = setTimeout(() => {
          group.signal("SIGKILL");
          r();
        }, 10_000);
        group.child.on("exit", () => {
          clearTimeout(timer);
          r();
        });
        if (!group.running()) {
          clearTimeout(timer);
          r();
        }
      });
    },
  };
}

/** The registry: `npm start` on `port` with its state in `state`, and `extra` flags for wrangler (`--var K:V`). */
export function startRegistry({ port, state, extra = [], log }) {
  return startServer("npm", npmStartArgs(port, state, extra), { port, log });
}

/**
 * The typed client (src/client, built to dist/client.mjs by `npm ci` or `npm run build:cli`)
 * for `base` with a token: the benchmarks call the API the way users' code does.
 */
export function apiClient(base, token) {
  return new MregClient({ url: base, token });
}

/** Creates `model` with one ready version per text (its one file, `model.bin`, holds the text); answers their numbers. */
export async function readyVersions(admin, model, texts) {
  await admin.models.create({ name: model });
  const versions = [];
  for (const text of texts) {
    const { version } = await admin.versions.create(model);
    const bytes = new TextEncoder().encode(text);
    await admin.upload(model, version, "model.bin", bytesSource(bytes), {
      sha256: createHash("sha256").update(bytes).digest("hex"),
    });
    await admin.versions.finalize(model, version);
    versions.push(version);
  }
  return versions;
}

export function mintToken(scope = "read write admin", sub = "bench") {
  return execFileSync("node", [join(root, "scripts", "token.mjs"), "--sub", sub, "--scope", scope], {
    encoding: "utf8",
  }).trim();
}

/** pid → { ppid, comm } for every process, read from /proc. */
function processes() {
  const all = new Map();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      all.set(Number(pid), {
        comm: stat.slice(stat.indexOf("(") + 1, close),
        ppid: Number(fields[1]),
        cpuTicks: Number(fields[11]) + Number(fields[12]), // utime + stime
      });
    } catch {
      // the process ended between listing and reading
    }
  }
  return all;
}

/**
 * The workerd processes to measure: those descending from `rootPid` when given (the bench's
 * own server, so that other workerd processes on a shared machine do not count), else all.
 */
function workerdPids(rootPid) {
  const all = processes();
  const mine = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 32; p = all.get(p)?.ppid ?? 0, hops++) if (p === rootPid) return true;
    return false;
  };
  return [...all]
    .filter(([pid, p]) => p.comm === "workerd" && (rootPid === undefined || mine(pid)))
    .map(([pid, p]) => ({ pid, ...p }));
}

/** Sum of the resident set sizes of the workerd processes (see workerdPids), in bytes. */
export function workerdRss(rootPid) {
  let total = 0;
  for (const { pid } of workerdPids(rootPid)) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // the process ended between listing and reading
    }
  }
  return total;
}

/**
 * CPU time (user + system, ms) used so far by the live processes of a process group: the
 * server's wrangler, workerd and esbuild. Per request, it is a measure that other load on
 * the machine disturbs far less than requests/s or latency.
 */
export function cpuOfGroup(pgid) {
  const hz = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  let ticks = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after "(comm) ": state ppid pgrp ... utime(12th) stime(13th).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended between listing and reading
    }
  }
  return (ticks * 1000) / hz;
}

/** CPU seconds (user + system) the workerd processes (see workerdPids) have used so far. */
export function workerdCpuSeconds(rootPid) {
  return workerdPids(rootPid).reduce((sum, p) => sum + p.cpuTicks, 0) / 100; // USER_HZ
}

/** Samples workerd RSS every `everyMs` until stopped; returns the peak. */
export function rssSampler(everyMs = 100, rootPid) {
  let peak = workerdRss(rootPid);
  const timer = setInterval(() => {
    peak = Math.max(peak, workerdRss(rootPid));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, workerdRss(rootPid));
    },
  };
}

/** Streams bytes [start, start+length) of a file as a request body with Content-Length. */
export function sendFileRegion({ method, url, headers = {}, file, start, length }) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, "content-length": String(length) } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    if (length === 0) return req.end();
    createReadStream(file, { start, end: start + length - 1, highWaterMark: 1024 * 1024 }).pipe(req);
  });
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const fmtMiB = (bytes) => (bytes / MiB).toFixed(0);

/** The median of some figures. */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** `a / b` to two decimals: the same-run ratios the benchmarks report. */
export const ratio = (a, b) => +(a / b).toFixed(2);

/** Writes `size` bytes of incompressible data to `path` and returns its sha256. */
export function makeFile(path, size) {
  const block = randomBytes(64 * MiB);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let written = 0, i = 0; written < size; i++) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    chunk.writeUInt32LE(i, 0); // no two blocks alike
    writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  closeSync(fd);
  return hash.digest("hex");
}

/**
 * The address of the Worker's own workerd, past `wrangler dev`'s proxy: the other listening
 * port of the server's workerd processes that answers /healthz like the public one.
 * Why: locally every WebSocket through the dev proxy costs about 4 file descriptors in the
 * proxy's workerd (2 in the Worker's), and this machine caps a process at 20,000 (hard limit,
 * not raisable in the container), so the proxy stops near 4,500 sockets. A deployed Worker has
 * no such proxy; bench/fleet.mjs opens its sockets here to measure the relays, not the proxy.
 */
export async function workerOrigin(server, publicPort) {
  const inodes = new Set();
  for (const { pid } of workerdPids(server.pid)) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m) inodes.add(m[1]);
        } catch {}
      }
    } catch {}
  }
  const ports = new Set();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[1] local address (hex ip:port), f[3] state (0A = LISTEN), f[9] inode
    if (f[3] === "0A" && inodes.has(f[9])) ports.add(parseInt(f[1].split(":")[1], 16));
  }
  ports.delete(publicPort);
  for (const port of ports) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.text()).includes('"ok":true')) return `http://127.0.0.1:${port}`;
    } catch {}
  }
  throw new Error("no listening port of the server's workerd answers /healthz");
}
