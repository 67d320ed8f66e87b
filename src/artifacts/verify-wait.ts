/**
 * A request that waits for a verification carried over several invocations (./verify-steps.ts)
 * to end, for clients that need the object complete in the answer to their completion call.
 *
 * The wait spends almost no CPU: a deployed Worker is bound by CPU time, not by wall-clock time
 * while its client stays connected (docs/operations.md "9. Limits: what a deployment meets"), and
 * a pause between looks is neither. Each look is one subrequest, and the pauses grow, so a wait of
 * minutes costs some dozens of them. The steps do not depend on the wait: a client that goes away
 * leaves the verification to finish on its queue.
 */

export interface WaitOptions {
  /** How long to wait at most, from the first look. */
  waitMs: number;
  /** The first pause between two looks; each next one is half as long again, up to `maxPauseMs`. */
  firstPauseMs?: number;
  maxPauseMs?: number;
}

/**
 * Looks (`look`) until what it sees has `ended`, or `waitMs` has passed: the last thing seen, and
 * whether it had ended. A look that fails (the object that answers it restarting) is tried again
 * at the next; only the last one's failure is thrown.
 */
export async function untilVerified<T>(
  look: () => Promise<T>,
  ended: (seen: T) => boolean,
  options: WaitOptions,
): Promise<{ seen: T; ended: boolean }> {
  const deadline = Date.now() + options.waitMs;
  const maxPause = options.maxPauseMs ?? 5_000;
  let pause = Math.min(options.firstPauseMs ?? 250, maxPause);
  for (;;) {
    const last = Date.now() >= deadline;
    try {
      const seen = await look();
      if (ended(seen) || last) return { seen, ended: ended(seen) };
    } catch (err) {
      if (last) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))));
    pause = Math.min(Math.ceil(pause * 1.5), maxPause);
  }
}
