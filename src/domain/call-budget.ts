/**
 * The calls a scheduled job may make in one run. A deployed invocation may make only so many
 * subrequests (every R2, D1, Durable Object and queue call is one; D1 takes at most 1,000 queries
 * an invocation on Workers Paid), and the scheduled run is one invocation whatever the store
 * holds, so each job is given its share (src/cron/run.ts) and stops before a call it cannot afford;
 * what it leaves, the next run takes.
 */
export class CallBudget {
  private used = 0;

  constructor(readonly max: number) {}

  /** Calls made so far. */
  get spent(): number {
    return this.used;
  }

  /** Calls still allowed. */
  get left(): number {
    return Math.max(0, this.max - this.used);
  }

  /** Whether `n` more calls fit. */
  allows(n = 1): boolean {
    return this.used + n <= this.max;
  }

  /** Counts `n` calls made. */
  spend(n = 1): void {
    this.used += n;
  }
}
