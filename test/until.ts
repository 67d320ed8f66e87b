/**
 * Tests wait for a condition, never for a time. `until` polls `probe` until it returns a
 * truthy value, and returns that value. Its window only turns a hang into a failure that says
 * what never happened: it is generous because the suite runs on two cores shared with other
 * suites, where anything may take ten times as long as on an idle machine. A test that must
 * see something happen *within* a time checks the mechanism that bounds it instead (a
 * schedule, an alarm, a view's age; see test/tokens.test.ts), and speed is for bench/.
 * Pure (no imports): the workers, e2e and CLI projects all use it.
 */
export const POLL_WINDOW_MS = 60_000;

type Probe<T> = () => T | false | null | undefined | Promise<T | false | null | undefined>;

export async function until<T>(
  probe: Probe<T>,
  /** What never happened; a function to say what was seen instead when it gives up. */
  what: string | (() => string | Promise<string>),
  { timeoutMs = POLL_WINDOW_MS, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : await what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
