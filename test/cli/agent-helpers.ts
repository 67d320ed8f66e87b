/** Running `mreg agent` as a real process, asking it how it is, and reading its directory the way a model server would. */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, request, type OutgoingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile, realpath } from "node:fs/promises";
import { basename, join } from "node:path";
import { bin, root } from "./helpers";

export interface RunningAgent {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  /** Its local HTTP, from the line it logs when it starts. */
  url: string;
  exited: Promise<number | null>;
  status(): Promise<Status>;
  metric(name: string): Promise<number>;
  /** SIGTERM, and its exit code. */
  stop(): Promise<number | null>;
}

export interface Status {
  version: number | null;
  digest: string | null;
  since: string | null;
  target: { version: number | null; generation: number } | null;
  in_sync: boolean;
  degraded: boolean;
  reasons: string[];
  registry_reachable: boolean | null;
  registry_via: "watch" | "poll" | null;
  last_error: { at: string; message: string } | null;
  retry: { version: number; kind: string; attempts: number; reason: string } | null;
  sync: { version: number; bytes_total: number; bytes_done: number } | null;
  versions: number[];
  key: string | null;
}

/** Starts `mreg agent <uri> --dir <dir> …` on a free local port (text logs on stderr); `node` picks the Node that runs it. */
export async function startAgent(
  env: NodeJS.ProcessEnv,
  uri: string,
  dir: string,
  args: string[] = [],
  node = process.execPath,
): Promise<RunningAgent> {
  const child = spawn(node, [bin, "agent", uri, "--dir", dir, "--listen", "127.0.0.1:0", ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (out.stdout += d));
  child.stderr!.on("data", (d) => (out.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let url: string | undefined;
  await until(async () => {
    url = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out.stderr)?.[1];
    if (!url && child.exitCode !== null) throw new Error(`mreg agent exited ${child.exitCode}:\n${out.stderr}`);
    return url !== undefined;
  }, "the agent to listen");
  const base = url!;
  const agent: RunningAgent = {
    child,
    out,
    url: base,
    exited,
    status: async () => (await (await fetch(`${base}/status`)).json()) as Status,
    metric: async (name) => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const value = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1];
      if (value === undefined) throw new Error(`no ${name} in /metrics:\n${text}`);
      return Number(value);
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
  return agent;
}

/** Polls `condition` until it holds (no tight timing: the machine may be loaded). */
export async function until(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for the agent's status to satisfy `test`; the last status seen is in the error. */
export async function untilStatus(
  agent: RunningAgent,
  test: (s: Status) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<Status> {
  let last: Status | undefined;
  try {
    await until(async () => test((last = await agent.status())), what, timeoutMs);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}; last status: ${JSON.stringify(last)}\nagent stderr:\n${agent.out.stderr}`,
    );
  }
  return last!;
}

/** The local credential the agent keeping `dir` wrote for its model server (null before it wrote one). */
export function signalsToken(dir: string): string | null {
  const file = join(dir, ".agent", "signals.token");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : null;
}

/**
 * POSTs a signal to an agent as any local client could, headers and all (`host` and
 * `origin` too, which fetch will not let a caller choose); answers the status and body.
 */
export function postSignal(
  agentUrl: string,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL("/signals", agentUrl);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers },
      },
      (res) => {
        let answer = "";
        res.on("data", (d) => (answer += d));
        res.on("end", () =>
          resolve({ status: res.statusCode!, body: answer ? (JSON.parse(answer) as Record<string, unknown>) : {} }),
        );
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await files(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * A model server's view of `<dir>/current`, in a loop until stopped: resolve the link once,
 * then read every file of that version and check it against the version's own list (paths
 * and sha256). A partial or mixed version, or a dangling link, is a violation. A version
 * removed (--keep) while being read is skipped: the reader resolved it before it went, and
 * then found it gone whole.
 */
export function readerLoop(dir: string, expected: Map<number, Map<string, string>>, pauseMs = 5) {
  const seen = new Map<number, number>();
  const violations: string[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, pauseMs));
      let real: string;
      try {
        real = await realpath(join(dir, "current"));
      } catch (err) {
        if (seen.size > 0) violations.push(`current did not resolve: ${(err as Error).message}`);
        continue;
      }
      const version = Number(/^v(\d+)$/.exec(basename(real))?.[1]);
      const want = expected.get(version);
      if (!want) {
        violations.push(`current → ${real}, not a known version`);
        continue;
      }
      try {
        const listed = await files(real);
        if (listed.join("\n") !== [...want.keys()].sort().join("\n"))
          violations.push(`v${version} lists ${listed.join(",")}, expected ${[...want.keys()].sort().join(",")}`);
        for (const [path, sha] of want) {
          const got = sha256(await readFile(join(real, ...path.split("/"))));
          if (got !== sha) violations.push(`v${version}/${path}: sha256 ${got}, expected ${sha}`);
        }
        seen.set(version, (seen.get(version) ?? 0) + 1);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT" && !existsSync(real)) continue;
        violations.push(`reading v${version}: ${(err as Error).message}`);
      }
    }
  })();
  return {
    seen,
    violations,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/**
 * An HTTP proxy to `target` that refuses WebSocket upgrades (502), as some proxies do; it
 * notes when each upgrade was tried and how conditional GETs were answered.
 */
export async function noSocketProxy(target: string) {
  const to = new URL(target);
  const upgrades: number[] = [];
  const conditional: number[] = [];
  const server = createServer((req, res) => {
    const upstream = request(
      {
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: to.host },
      },
      (up) => {
        if (req.headers["if-none-match"]) conditional.push(up.statusCode!);
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on("upgrade", (_req, socket) => {
    upgrades.push(Date.now());
    socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upgrades,
    /** Conditional GETs answered 304. */
    notModified: () => conditional.filter((s) => s === 304).length,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
