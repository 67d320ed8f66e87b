#!/usr/bin/env node
// The hostile-input fuzzer (test/fuzz/, the same code test/fuzz.test.ts runs inside workerd)
// against a real server, over HTTP, for long runs:
//   npm run fuzz -- --requests 100000 --seed 7                  # starts its own `npm start`
//   npm run fuzz -- --requests 20000 --url http://127.0.0.1:8787 --token <admin token>
// Without --url it starts `npm start` on a spare port with a throw-away persist dir and stops
// its process group at the end (and on failure, timeout or Ctrl-C). Without --token it signs
// an admin token with the development JWT_SECRET (.dev.vars), which also adds an expired token
// to the hostile credentials. Exits 1 on any finding; --out writes the whole report as JSON.
import { build } from "esbuild";
import http from "node:http";
import https from "node:https";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { parseArgs } from "node:util";
import { freePort, root, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "10000" },
    seed: { type: "string" },
    url: { type: "string" },
    token: { type: "string" },
    concurrency: { type: "string", default: "16" },
    minutes: { type: "string" },
    out: { type: "string" },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const requests = Number(values.requests);

function devSecret() {
  if (process.env.JWT_SECRET) return process.env.JWT_SECRET;
  for (const file of [".dev.vars", ".dev.vars.example"]) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const line = readFileSync(path, "utf8")
      .split("\n")
      .find((l) => l.startsWith("JWT_SECRET="));
    if (line)
      return line
        .slice("JWT_SECRET=".length)
        .trim()
        .replace(/^"(.*)"$/, "$1");
  }
  return undefined;
}

// The fuzzer is TypeScript (shared with the workers test): bundled once for Node here.
const work = mkdtempSync(join(tmpdir(), "mreg-fuzz-"));
await build({
  entryPoints: [join(root, "test/fuzz/fuzzer.ts")],
  outfile: join(work, "fuzzer.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  logLevel: "warning",
});
const { runFuzz, signHs256 } = await import(pathToFileURL(join(work, "fuzzer.mjs")).href);

let server;
const stop = async () => {
  await server?.stop();
  server = undefined;
  rmSync(work, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => void stop().then(() => process.exit(130)));
}

try {
  let base = values.url?.replace(/\/$/, "");
  if (!base) {
    const port = await freePort();
    server = await startServer(
      "node",
      [
        "scripts/start.mjs",
        "--port",
        String(port),
        "--persist-to",
        join(work, "state"),
        "--var",
        "ALLOW_HTTP_WEBHOOKS:true",
      ],
      { port },
    );
    base = `http://127.0.0.1:${port}`;
  }
  const secret = values.token ? undefined : devSecret();
  if (!values.token && !secret) throw new Error("no --token and no JWT_SECRET (.dev.vars) to sign one");
  const now = Math.floor(Date.now() / 1000);
  const admin =
    values.token ??
    (await signHs256(
      { sub: "fuzz", scope: "read write promote approve report admin", iat: now, exp: now + 86_400 },
      secret,
    ));

  const target = new URL(base);
  const transport = target.protocol === "https:" ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: Number(values.concurrency) });
  /** One request with the path exactly as generated (no URL normalisation on the way). */
  const send = (wire) =>
    new Promise((resolve, reject) => {
      const headers = { ...wire.headers };
      if (wire.body) headers["content-length"] = String(wire.body.length);
      const req = transport.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: wire.method,
          path: wire.target,
          headers,
          timeout: 60_000,
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers))
              for (const one of [v].flat()) if (one !== undefined) h.append(k, one);
            // A hostile Accept-Encoding gets a compressed answer: read it as a client would.
            let raw = Buffer.concat(chunks);
            const encoding = res.headers["content-encoding"];
            try {
              if (encoding === "gzip") raw = gunzipSync(raw);
              else if (encoding === "br") raw = brotliDecompressSync(raw);
              else if (encoding === "deflate") raw = inflateSync(raw);
            } catch {
              // Not what it says it is: judged as it came.
            }
            resolve({ status: res.statusCode, headers: h, body: raw.toString("utf8") });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout after 60 s")));
      req.on("error", (err) =>
        // The server closed on us: an answer nobody got counts as a 5xx, not as unsendable.
        err.code === "ECONNRESET" || err.message.startsWith("timeout")
          ? resolve({ status: 599, headers: new Headers({ "x-request-id": "-" }), body: String(err) })
          : reject(err),
      );
      req.end(wire.body);
    });

  console.log(`fuzz: seed ${seed}, ${requests} requests against ${base}`);
  const report = await runFuzz({
    send,
    admin,
    ...(secret ? { secret } : {}),
    seed,
    requests,
    concurrency: Number(values.concurrency),
    ...(values.minutes ? { budgetMs: Number(values.minutes) * 60_000 } : {}),
    log: (line) => console.log(line),
  });
  agent.destroy();
  if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
  const rate = (report.requests / (report.elapsedMs / 1000)).toFixed(0);
  console.log(
    `fuzz seed ${seed}: ${report.requests} requests (+${report.setupRequests} set-up, ${report.unsendable} unsendable) in ${(report.elapsedMs / 1000).toFixed(1)} s (${rate}/s) over ${Object.keys(report.routes).length} routes`,
  );
  console.log(`statuses ${JSON.stringify(report.statuses)}`);
  console.log(`codes ${JSON.stringify(report.codes)}`);
  console.log(`mutations ${JSON.stringify(report.mutations)}`);
  if (report.findings.length) {
    console.log(
      `${report.findings.length} findings (replay: --seed ${seed}; the example's index is the request number):`,
    );
    for (const f of report.findings) console.log(JSON.stringify(f));
    process.exitCode = 1;
  } else {
    console.log("0 findings: no 5xx, every 4xx in its protocol's error format");
  }
} catch (err) {
  console.error(err);
  if (server) console.error(server.output().slice(-4000));
  process.exitCode = 1;
} finally {
  await stop();
}
