// Shared pieces of the benchmarks: starting a wrangler dev server, minting a token, a typed
// client for the API calls, sampling the RSS of the workerd processes, streaming a file
// region over HTTP (the baseline Worker's upload, which is not the registry's API).
import { spawn, execFileSync } from "node:child_process";
import { createReadStream, readdirSync, readFileSync, readlinkSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MregClient } from "../dist/client.mjs";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Process groups of the servers still running: killed when the bench itself is stopped. */
const liveGroups = new Set();
const killLiveGroups = () => {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {}
  }
  liveGroups.clear();
};
// A bench stopped by Ctrl-C, `timeout` or a crash must not leave wrangler and workerd behind
// (they run detached, in their own group, so they would outlive it).
process.on("exit", killLiveGroups);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killLiveGroups();
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
  });
}

/** Starts a server (a command that serves on `port`), waits for `healthPath`, returns a stopper. */
export async function startServer(command, args, { cwd = root, port, healthPath = "/healthz", log }) {
  const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  liveGroups.add(child.pid);
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited:\n${output}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}${healthPath}`);
      if (res.status < 500) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`no answer on port ${port}:\n${output}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    /** The server's process group (it was spawned detached): what cpuOfGroup() sums and workerdPids() searches. */
    pid: child.pid,
    output: () => output,
    async stop() {
      if (log) log(output);
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return;
      }
      liveGroups.delete(child.pid);
      await new Promise((r) => {
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {}
          r();
        }, 10_000);
        child.on("exit", () => {
          clearTimeout(timer);
          r();
        });
      });
    },
  };
}

/**
 * The typed client (src/client, built to dist/client.mjs by `npm ci` or `npm run build:cli`)
 * for `base` with a token: the benchmarks call the API the way users' code does.
 */
export function apiClient(base, token) {
  return new MregClient({ url: base, token });
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

/** A port nobody listens on right now (other benchmarks may run on fixed ones). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
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
