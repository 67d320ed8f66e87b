/**
 * "Costs time linear in its input" without a clock budget: a parser or pattern is timed
 * against the cheapest linear work on the same input (one pass over its characters), in the
 * same test, and the ratio bounded. Load from elsewhere on the machine slows both alike; a
 * backtracking pattern or a quadratic loop on 100 KB is slower than a pass by a factor that
 * grows with the input (tens of thousands of times at 100 KB), far past LINEAR_BOUND. Linear
 * work that does more per character (tokens, allocations) stays within a few hundred.
 * Pure (no imports): the workers and CLI projects both use it.
 */
export const LINEAR_BOUND = 1000;

/** One pass over every character of `texts` that the JIT cannot skip. */
function scan(texts: readonly string[]): number {
  let h = 0;
  for (const text of texts) for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h;
}

/**
 * Milliseconds per run of `run`, repeated until `spanMs` have passed: workerd's clock ticks in
 * whole milliseconds, and a span that short may fall between two preemptions or not.
 */
function perRun(run: () => unknown, spanMs: number): { ms: number; spent: number } {
  const start = performance.now();
  let runs = 0;
  let spent = 0;
  do {
    run();
    runs++;
    spent = performance.now() - start;
  } while (spent < spanMs);
  return { ms: spent / runs, spent };
}

/**
 * How many times as long `work` takes as one pass over `texts` (the inputs it works on): the
 * lowest ratio of up to `tries`, stopping at the first within LINEAR_BOUND. Each try runs
 * `work` for at least 50 ms and the passes for as long as that took (up to a second): on a
 * busy machine a short measurement may fit between two preemptions while a long one never
 * does, and the ratio of the two would be the machine's load.
 */
export function costAgainstScan(work: () => unknown, texts: readonly string[], tries = 5): number {
  let sink = 0;
  const pass = () => (sink ^= scan(texts)); // kept in `sink`, so the JIT cannot drop it
  pass(); // warm-up
  let ratio = Infinity;
  for (let t = 0; t < tries && ratio > LINEAR_BOUND; t++) {
    const worked = perRun(work, 50);
    const passed = perRun(pass, Math.min(worked.spent, 1000));
    ratio = Math.min(ratio, worked.ms / passed.ms);
  }
  if (sink === 0.5) throw new Error("unreachable: keeps `sink` alive");
  return ratio;
}
