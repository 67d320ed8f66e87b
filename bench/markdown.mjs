#!/usr/bin/env node
// The model card's render budget: every input of the pathological corpus
// (test/markdown-corpus.ts `renderCases`, up to 256 KiB) rendered as the version page renders
// it (src/ui/model-card.tsx: front matter, metadata table, Markdown body), against 100 ms.
//   npm run bench:markdown [-- --tries 5 --budget 100 --top 15]
// Node runs V8 as workerd does; the renderer and the corpus are bundled with esbuild, as
// bench/fuzz.mjs bundles the fuzzer. Each input is timed alone, the fastest of --tries, after
// a warm-up; reports the costliest --top inputs, prose of 256 KiB for scale, and every input
// over the budget (exit 1 if any). test/markdown-pathological.test.ts holds the same inputs to
// a multiple of prose's cost per byte, which a busy machine cannot fail; this is the budget in
// milliseconds, for a quiet one.
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { root } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    tries: { type: "string", default: "5" },
    budget: { type: "string", default: "100" },
    top: { type: "string", default: "15" },
  },
});
const tries = Number(values.tries);
const budgetMs = Number(values.budget);

const work = mkdtempSync(join(tmpdir(), "mreg-bench-markdown-"));
try {
  await build({
    stdin: {
      contents:
        'export { renderCases, prose, MAX_INPUT } from "./test/markdown-corpus"; export { ModelCard } from "./src/ui/model-card";',
      resolveDir: root,
      loader: "ts",
    },
    outfile: join(work, "cards.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    jsx: "automatic",
    jsxImportSource: "hono/jsx",
    logLevel: "warning",
  });
  const { renderCases, prose, MAX_INPUT, ModelCard } = await import(pathToFileURL(join(work, "cards.mjs")).href);
  const render = async (source) => String(await ModelCard({ source }).toString());
  const best = async (source) => {
    let ms = Infinity;
    for (let t = 0; t < tries; t++) {
      const start = performance.now();
      await render(source);
      ms = Math.min(ms, performance.now() - start);
    }
    return ms;
  };

  for (let i = 0; i < 20; i++) await render(prose(MAX_INPUT)); // JIT warm-up
  const proseMs = await best(prose(MAX_INPUT));
  const timings = [];
  for (const [name, input] of renderCases()) timings.push({ name, ms: await best(input) });
  timings.sort((a, b) => b.ms - a.ms);

  console.log(
    `${timings.length} inputs, the fastest of ${tries} tries each; prose of 256 KiB: ${proseMs.toFixed(1)} ms\n`,
  );
  console.log("| ms | input |\n|---|---|");
  for (const t of timings.slice(0, Number(values.top))) console.log(`| ${t.ms.toFixed(1)} | ${t.name} |`);
  const over = timings.filter((t) => t.ms >= budgetMs);
  console.log(
    over.length === 0
      ? `\nevery input under ${budgetMs} ms`
      : `\n${over.length} over ${budgetMs} ms:\n${over.map((t) => `  ${t.ms.toFixed(1)} ms  ${t.name}`).join("\n")}`,
  );
  process.exitCode = over.length === 0 ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
