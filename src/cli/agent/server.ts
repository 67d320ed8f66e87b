/**
 * The agent's local HTTP (`--listen`, default 127.0.0.1:9464):
 *   GET  /healthz  200 once `current` points at a complete version, else 503 (a readiness probe)
 *   GET  /status   JSON: what is served, what the registry names, reachability, errors
 *   GET  /metrics  Prometheus text
 *   POST /signals  `{metrics: {k: number}, count?, version?}` from the model server: 202; 400
 *                  (problem+json with the failing fields) on anything the registry would refuse;
 *                  401/403 unless it comes from beside the agent with the local credential
 *                  (./local-auth.ts). A post is one sample unless `--trust-local-counts`.
 * The GETs stay open to any client (the kubelet probes the pod's address): they say what is
 * served, never a secret, and what they say passes through `redact` on its way out.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Agent, Log } from "./agent";
import { refusal, type LocalCredential } from "./local-auth";
import { metrics, status } from "./report";
import { parseSignalPost } from "./signals";

/** A post bigger than this is refused (413): 256 metrics with long names fit in a fraction of it. */
const MAX_BODY = 64 * 1024;

export interface Listening {
  url: string;
  close(): Promise<void>;
}

export interface ListenOptions {
  /** What a post to /signals must carry. */
  credential: LocalCredential;
  /** Take a post's `count` as the number of samples it stands for (else: one sample). */
  trustLocalCounts: boolean;
  /** Takes secrets out of what /status says. */
  redact: (text: string) => string;
  log: Log;
}

/** `host:port`, `:port` or a port; an IPv6 host in brackets. */
export function parseListen(value: string): { host: string; port: number } | null {
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(value.trim());
  if (!match) return null;
  const port = Number(match[3]);
  if (port > 65535) return null;
  return { host: match[1] ?? (match[2] || "127.0.0.1"), port };
}

function send(
  res: ServerResponse,
  statusCode: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(statusCode, { "content-type": type, "cache-control": "no-store", ...headers });
  res.end(body);
}

function problem(
  res: ServerResponse,
  statusCode: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  send(
    res,
    statusCode,
    "application/problem+json",
    JSON.stringify({ type: "about:blank", status: statusCode, code, detail, ...extra }),
    headers,
  );
}

/** The body, or null once it passed MAX_BODY (the rest is drained, not kept). */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function postSignals(
  agent: Agent,
  options: ListenOptions,
  told: Set<string>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const counters = agent.state.signals;
  const refused = refusal({ remoteAddress: req.socket.remoteAddress, headers: req.headers }, options.credential);
  if (refused) {
    counters.refused++;
    // Once per kind, so a misconfigured model server (or a prober) cannot flood the log.
    if (!told.has(refused.reason)) {
      told.add(refused.reason);
      options.log.warn(
        "signal_refused",
        { reason: refused.reason },
        `a post to /signals was refused (${refused.detail}); more like it are only counted (/status signals.refused)`,
      );
    }
    const challenge: Record<string, string> =
      refused.status === 401 ? { "www-authenticate": 'Bearer realm="mreg-agent"' } : {};
    return problem(res, refused.status, refused.code, refused.detail, {}, challenge);
  }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json")
    return problem(res, 415, "unsupported_media_type", "Send the signal as application/json");
  const text = await readBody(req);
  if (text === null) return problem(res, 413, "payload_too_large", `A post holds at most ${MAX_BODY} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return problem(res, 400, "validation_failed", "The body is not JSON");
  }
  const parsed = parseSignalPost(body);
  if (!parsed.ok) return problem(res, 400, "validation_failed", "The signal is not valid", { errors: parsed.errors });
  let post = parsed.value;
  if (post.count !== 1 && !options.trustLocalCounts) {
    // One local poster is one voice: its word for how many samples it saw is not taken.
    counters.countsIgnored++;
    if (!told.has("count")) {
      told.add("count");
      options.log.warn(
        "signal_count_ignored",
        { count: post.count },
        `a post to /signals said it stood for ${post.count} samples; it counts as one (--trust-local-counts takes a post's count)`,
      );
    }
    post = { ...post, count: 1 };
  }
  const added = agent.addSignal(post);
  if (added === "no_version")
    return problem(
      res,
      503,
      "unavailable",
      "No version is served yet, so the signal has no version to count for; send `version`",
      {},
      { "retry-after": "5" },
    );
  if (added === "full")
    return problem(
      res,
      503,
      "unavailable",
      "Too many distinct metrics or versions in this second's window",
      {},
      { "retry-after": "1" },
    );
  send(res, 202, "application/json", JSON.stringify({ accepted: true, samples: post.count }));
}

export function listen(
  agent: Agent,
  where: { host: string; port: number },
  options: ListenOptions,
): Promise<Listening> {
  const told = new Set<string>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const route = `${req.method} ${path}`;
    const now = Date.now();
    try {
      switch (route) {
        case "GET /healthz":
        case "HEAD /healthz":
          return agent.serving
            ? send(res, 200, "text/plain; charset=utf-8", `ok v${agent.state.current!.version}\n`)
            : send(res, 503, "text/plain; charset=utf-8", "no version yet\n");
        case "GET /status":
          return send(
            res,
            200,
            "application/json",
            options.redact(JSON.stringify(status(agent.state, now), null, 2)) + "\n",
          );
        case "GET /metrics":
          return send(res, 200, "text/plain; version=0.0.4; charset=utf-8", metrics(agent.state, now));
        case "POST /signals":
          postSignals(agent, options, told, req, res).catch((err: unknown) =>
            problem(res, 500, "internal", err instanceof Error ? err.message : String(err)),
          );
          return;
      }
      const allowed: Record<string, string> = {
        "/healthz": "GET, HEAD",
        "/status": "GET",
        "/metrics": "GET",
        "/signals": "POST",
      };
      if (path && allowed[path])
        return problem(res, 405, "method_not_allowed", `${path} takes ${allowed[path]}`, {}, { allow: allowed[path]! });
      return problem(
        res,
        404,
        "not_found",
        `No route ${path}: the agent answers /healthz, /status, /metrics and POST /signals`,
      );
    } catch (err) {
      return problem(res, 500, "internal", err instanceof Error ? err.message : String(err));
    }
  });
  // A model server that keeps its connection open must not hold up the agent's exit.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(where.port, where.host, () => {
      const address = server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve({
        url: `http://${host}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
