/**
 * The model card renders in bounded time whatever the README holds: every input of the
 * pathological corpus (test/markdown-corpus.ts `renderCases`: up to 256 KiB, the largest card
 * the version page renders, and for shapes over the renderer's work budget the largest that
 * still renders as Markdown) costs per byte at most MAX_RATIO times what prose costs, both
 * timed here inside workerd, where the page runs. A ratio and not milliseconds: load from
 * elsewhere on the machine slows both alike, while a parser that is superlinear on an input
 * is off by a factor that grows with its size. The budget in milliseconds (100 ms for any
 * card) is bench/markdown.mjs's to measure.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ModelCard } from "../src/ui/model-card";
import { byteLength, MAX_INPUT, prose, renderCases } from "./markdown-corpus";

/**
 * Per byte, the costliest inputs (dense markup at the edge of the renderer's work budget, and
 * YAML alias fan-out) cost about 100 times what prose costs; a superlinear parser costs
 * thousands of times more on inputs of these sizes. CORPUS_RATIOS=1 npx vitest run --project
 * workers test/markdown-pathological.test.ts prints them.
 */
const MAX_RATIO = 500;
const TRIES = 5;

/** The whole card as the version page renders it: front matter, metadata table, Markdown body. */
const render = async (source: string): Promise<string> => String(await ModelCard({ source }).toString());

/** Milliseconds to render `source` `times` times in a row, and the HTML. */
async function timed(source: string, times: number): Promise<{ ms: number; html: string }> {
  const start = performance.now();
  let html = "";
  for (let i = 0; i < times; i++) html = await render(source);
  return { ms: performance.now() - start, html };
}

/**
 * What rendering `input` costs per byte against prose of its size: the lowest ratio of up to
 * TRIES, each the input and the prose timed one after the other, stopping at the first within
 * MAX_RATIO (noise cannot make a superlinear input look linear: it is too far off). Small
 * inputs are rendered as many times as make up MAX_INPUT bytes, and the prose as many times as
 * take about as long as the input (up to a second), so that both measurements span alike
 * stretches of a busy machine: a short one may fit between two preemptions, a long one never
 * does, and the ratio of the two would then be the machine's load.
 */
async function costAgainstProse(input: string): Promise<{ ratio: number; html: string }> {
  const baseline = prose(byteLength(input));
  const times = Math.max(1, Math.floor(MAX_INPUT / byteLength(input)));
  let run = await timed(input, times);
  const proseOnce = (await timed(baseline, times)).ms;
  const proseTimes = times * Math.max(1, Math.round(Math.min(run.ms, 1000) / Math.max(proseOnce, 1)));
  let ratio = Infinity;
  for (let t = 0; t < TRIES && ratio > MAX_RATIO; t++) {
    if (t > 0) run = await timed(input, times);
    const proseMs = (await timed(baseline, proseTimes)).ms;
    // At least the clock's tick (1 ms): a ratio against nothing says nothing.
    ratio = Math.min(ratio, run.ms / times / (Math.max(proseMs, 1) / proseTimes));
  }
  return { ratio, html: run.html };
}

describe("model card rendering on a pathological corpus", () => {
  it(`renders every input of up to 256 KiB at most ${MAX_RATIO} times as slowly per byte as prose`, async () => {
    await render(prose(MAX_INPUT)); // JIT warm-up, not measured
    const failures: string[] = [];
    const ratios: string[] = [];
    for (const [name, input] of renderCases()) {
      let result: Awaited<ReturnType<typeof costAgainstProse>>;
      try {
        result = await costAgainstProse(input);
      } catch (e) {
        failures.push(`${name}: threw ${String(e)}`);
        continue;
      }
      ratios.push(`${result.ratio.toFixed(1).padStart(6)}x  ${name}`);
      if (result.ratio > MAX_RATIO) failures.push(`${name}: ${result.ratio.toFixed(0)} times prose per byte`);
      // Output stays proportional to input: no expansion bomb reaches the page.
      if (result.html.length > 16 * input.length + 64 * 1024)
        failures.push(`${name}: ${result.html.length} characters of HTML from ${input.length}`);
    }
    if (env.CORPUS_RATIOS) console.log(ratios.join("\n"));
    expect(failures, failures.join("\n")).toEqual([]);
  }, 1_200_000);
});
