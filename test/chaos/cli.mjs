#!/usr/bin/env node
// `npm run chaos -- --minutes N --seed S [--kills K] [--clients C] [--keep]`: the crash-and-load
// campaign of test/chaos (docs/chaos.md). The harness is TypeScript that imports the typed
// client from src/client; esbuild bundles it for Node (dependencies stay external), then it runs.
import { build } from "esbuild";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "2" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    kills: { type: "string" },
    clients: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const minutes = Number(values.minutes);
const seed = Number(values.seed);
if (!(minutes > 0) || !Number.isInteger(seed)) {
  console.error("usage: npm run chaos -- --minutes N --seed S [--kills K] [--clients C] [--keep]");
  process.exit(2);
}

const outdir = join(root, "node_modules", ".cache", "mreg-chaos");
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, "campaign.mjs");
await build({
  entryPoints: [join(here, "campaign.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  packages: "external",
  outfile,
  logLevel: "warning",
  // The harness finds the repository from its own directory, not the bundle's.
  define: { "import.meta.dirname": JSON.stringify(here) },
});
// Ctrl-C or a timeout: exit, so the campaign's exit hook kills the server's process group.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));
const { runCampaign } = await import(pathToFileURL(outfile).href);
let result;
try {
  result = await runCampaign({
    minutes,
    seed,
    kills: values.kills === undefined ? undefined : Number(values.kills),
    clients: values.clients === undefined ? undefined : Number(values.clients),
    keep: values.keep,
  });
} catch (err) {
  console.error(`chaos: the campaign itself failed (seed ${seed}):`, err?.stack ?? err);
  if (err?.serverOutput) console.error(`server output (end):\n${String(err.serverOutput).slice(-3000)}`);
  process.exit(2);
}
console.log(result.report);
process.exit(result.ok ? 0 : 1);
