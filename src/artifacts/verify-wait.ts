/**
 * Waiting, inside a request, for a verification carried over several invocations
 * (./verify-steps.ts) to settle: for clients whose protocol has no "accepted, poll later" answer
 * (an OCI client's final `PUT ?digest=` expects 201 Created). The request only polls the record
 * the steps save, at growing intervals: it spends almost no CPU (a deployed Worker is bound by
 * CPU time, not by wall time while its client is connected), and the steps go on whether it
 * waits or not: a client that goes away finds the result later.
 */

/** First pause between polls, and the longest: a few calls a minute while a large file verifies. */
const FIRST_POLL_MS = 250;
const LONGEST_POLL_MS = 5_000;

/**
 * Polls `settled` until it answers a verdict (anything but null) or `waitMs` has passed; answers
 * the verdict, or null when the wait ran out first. `settled` is asked at least once.
 */
export async function untilVerified<T>(settled: () => Promise<T | null>, waitMs: number): Promise<T | null> {
  const deadline = Date.now() + waitMs;
  for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 2, LONGEST_POLL_MS)) {
    const verdict = await settled();
    if (verdict !== null) return verdict;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
  }
}
