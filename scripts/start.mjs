#!/usr/bin/env node
// `npm start`: a working registry on 127.0.0.1 with local D1, R2 and Durable Objects.
// 1. copies .dev.vars.example to .dev.vars when missing (the development JWT_SECRET and
//    WEBHOOK_KEY), or adds the settings a .dev.vars from an older checkout lacks;
// 2. applies the D1 migrations to the local database;
// 3. runs `wrangler dev` in the foreground.
// Extra arguments go to both wrangler commands where they apply:
//   npm start -- --port 8788 --persist-to /tmp/mreg-state --var RESOLVE_TTL_S:0
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const args = process.argv.slice(2);

if (!existsSync(join(root, ".dev.vars"))) {
  copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
  console.log("created .dev.vars from .dev.vars.example");
} else {
  // A checkout from before a setting existed: add the example's new settings, keep the rest.
  const keyOf = (line) => /^([A-Z0-9_]+)=/.exec(line)?.[1];
  const have = new Set(readFileSync(join(root, ".dev.vars"), "utf8").split("\n").map(keyOf).filter(Boolean));
  const missing = readFileSync(join(root, ".dev.vars.example"), "utf8").split("\n").filter((line) => keyOf(line) && !have.has(keyOf(line)));
  if (missing.length > 0) {
    appendFileSync(join(root, ".dev.vars"), `\n${missing.join("\n")}\n`);
    console.log(`added ${missing.map(keyOf).join(", ")} to .dev.vars from .dev.vars.example`);
  }
}

// Only --persist-to matters to the migration step: it must write where wrangler dev reads.
const persistAt = args.indexOf("--persist-to");
const persist = persistAt >= 0 ? ["--persist-to", args[persistAt + 1]] : [];
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...persist], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, CI: "true" }, // no interactive confirmation prompt
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const hasFlag = (flag) => args.includes(flag);
const devArgs = ["dev", ...(hasFlag("--ip") ? [] : ["--ip", "127.0.0.1"]), ...(hasFlag("--port") ? [] : ["--port", "8787"]), ...args];
const dev = spawn(wrangler, devArgs, { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
