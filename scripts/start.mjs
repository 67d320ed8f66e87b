#!/usr/bin/env node
// `npm start`: a working registry on 127.0.0.1 with local D1, R2 and Durable Objects.
// 1. copies .dev.vars.example to .dev.vars when missing (the development JWT_SECRET and
//    WEBHOOK_KEY), or adds the settings a .dev.vars from an older checkout lacks;
// 2. applies the D1 migrations to the local database (its output shown only if it fails);
// 3. runs `wrangler dev`, waits for /healthz, and prints one block: the address, the web UI,
//    and the command that mints a token.
// Quiet by default: wrangler logs errors only. `--verbose` (or MREG_VERBOSE=1) shows
// everything, migration tables and request logs included; `--log-level <level>` goes to
// wrangler as given. Other arguments go to both wrangler commands where they apply:
//   npm start -- --port 8788 --persist-to /tmp/mreg-state --var RESOLVE_TTL_S:0
// Stopping: SIGINT, SIGTERM or SIGHUP to this process, or its parent going away, stops
// wrangler, which stops workerd. The parent matters because `npm start` runs this script
// under `sh -c`, and sh dies of the SIGTERM npm forwards without passing it on: without the
// watch below, `kill <npm's pid>` would leave wrangler and workerd running, orphaned.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const verbose = process.argv.includes("--verbose") || ["1", "true"].includes(process.env.MREG_VERBOSE ?? "");
const args = process.argv.slice(2).filter((a) => a !== "--verbose");
const valueOf = (flag) => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};

if (!existsSync(join(root, ".dev.vars"))) {
  copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
  console.log("created .dev.vars from .dev.vars.example");
} else {
  // A checkout from before a setting existed: add the example's new settings, keep the rest.
  const keyOf = (line) => /^([A-Z0-9_]+)=/.exec(line)?.[1];
  const have = new Set(readFileSync(join(root, ".dev.vars"), "utf8").split("\n").map(keyOf).filter(Boolean));
  const missing = readFileSync(join(root, ".dev.vars.example"), "utf8")
    .split("\n")
    .filter((line) => keyOf(line) && !have.has(keyOf(line)));
  if (missing.length > 0) {
    appendFileSync(join(root, ".dev.vars"), `\n${missing.join("\n")}\n`);
    console.log(`added ${missing.map(keyOf).join(", ")} to .dev.vars from .dev.vars.example`);
  }
}

// Only --persist-to matters to the migration step: it must write where wrangler dev reads.
const persistTo = valueOf("--persist-to");
const migrate = spawnSync(
  wrangler,
  ["d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])],
  {
    cwd: root,
    stdio: verbose ? "inherit" : "pipe",
    encoding: "utf8",
    env: { ...process.env, CI: "true" }, // no interactive confirmation prompt
  },
);
if (migrate.status !== 0) {
  if (!verbose) process.stderr.write(`${migrate.stdout ?? ""}${migrate.stderr ?? ""}`);
  console.error(`npm start: applying the D1 migrations failed (${migrate.error?.message ?? `exit ${migrate.status}`})`);
  process.exit(migrate.status || 1);
}

const ip = valueOf("--ip") ?? "127.0.0.1";
const port = valueOf("--port") ?? "8787";
const quiet = verbose || args.includes("--log-level") ? [] : ["--log-level", "error"];
const devArgs = [
  "dev",
  ...(args.includes("--ip") ? [] : ["--ip", ip]),
  ...(args.includes("--port") ? [] : ["--port", port]),
  ...quiet,
  ...args,
];
const dev = spawn(wrangler, devArgs, { cwd: root, stdio: "inherit" });

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  dev.kill(signal);
  // wrangler stops workerd when it exits; one that hangs is killed so nothing outlives us.
  setTimeout(() => dev.kill("SIGKILL"), 10_000).unref();
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => stop(signal));
const parent = process.ppid;
const parentWatch = setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    stop("SIGTERM");
  }
}, 500);
dev.on("exit", (code, signal) => {
  clearInterval(parentWatch);
  process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0)));
});

// Ready when /healthz answers; a wildcard --ip is reached through loopback.
const host = ip === "0.0.0.0" || ip === "::" || ip === "*" ? "127.0.0.1" : ip.includes(":") ? `[${ip}]` : ip;
const base = `http://${host}:${port}`;
for (;;) {
  if (stopping || dev.exitCode !== null) break;
  try {
    if ((await fetch(`${base}/healthz`)).ok) {
      ready();
      break;
    }
  } catch {
    // not listening yet
  }
  await new Promise((r) => setTimeout(r, 250));
}

function ready() {
  const state = persistTo ?? relative(process.cwd(), join(root, ".wrangler", "state"));
  console.log(
    [
      "",
      `mreg is running on ${base}`,
      `  web UI    ${base}/            (sign in with a token)`,
      `  API       ${base}/v1          (reference: ${base}/docs)`,
      `  a token   npx mreg token --sub you --scope admin    (the development helper: lasts 24 h; admin implies every scope)`,
      `  the CLI   npx mreg login --url ${base} --token "$(npx mreg token --sub you --scope admin)"`,
      `  state     ${state}    logs: npm start -- --verbose    stop: Ctrl-C`,
      "",
    ].join("\n"),
  );
}
