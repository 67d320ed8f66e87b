/**
 * Invariant 8, rollouts (issue 30, item 4; docs/chaos.md): what the campaign's rollouts
 * left, read back from the audit (every rollout's start, steps and end, by `detail.rollout`),
 * the alias histories (ModelState's values at each step's generation) and each alias's
 * rollout. The oracle of a step's value is written out here, not imported from the server:
 *   - a rollout never skips a step: its `rollout.step` events, in generation order, are
 *     steps 1, 2, …, k, each once, and it ends (completed or aborted) at step k;
 *   - it never leaves the alias at a weight its steps do not name: each step's history entry
 *     is the split `[{from, 100 − w}, {to, w}]` (w = 100: plain `to`) of that step's weight,
 *     and a running or paused rollout's alias holds its step's value, at its generation;
 *   - it resumes after a restart: with the clients held, every running rollout completes by
 *     itself (no node reports, so each hold starts with its step), waited for, never timed.
 */
import {
  MregError,
  type Alias,
  type AuditEvent,
  type HistoryEntry,
  type MregClient,
  type Rollout,
} from "../../src/client";
import type { Tally } from "./checker";
import type { World } from "./model";

/** The aliases the workload starts rollouts on (canary also gets splits and guard trips, which end them). */
export const ROLLOUT_ALIASES = ["production", "challenger", "canary"] as const;

interface Value {
  version: number | null;
  split: { version: number; weight: number }[] | null;
}

/** A step's value for the alias, split members in version order (the comparison ignores their order). */
function stepValue(from: number, to: number, weight: number): string {
  const value: Value =
    weight === 100
      ? { version: to, split: null }
      : {
          version: null,
          split: [
            { version: from, weight: 100 - weight },
            { version: to, weight },
          ],
        };
  return valueKey(value);
}

function valueKey(v: Value): string {
  const split = v.split ? [...v.split].sort((a, b) => a.version - b.version) : null;
  return JSON.stringify({ version: v.version, split });
}

const detailOf = (e: AuditEvent) => (e.detail ?? {}) as Record<string, unknown>;
const num = (x: unknown) => (typeof x === "number" ? x : undefined);

/** A model's alias's rollout, or null when it never had one (or the model is gone). */
async function rolloutOf(api: MregClient, model: string, alias: string): Promise<Rollout | null> {
  try {
    return await api.rollouts.get(model, alias);
  } catch (err) {
    if (err instanceof MregError && err.code === "not_found") return null;
    throw err;
  }
}

/** Invariant 8 for one model, from what the checker read of it. */
export async function checkRollouts(
  api: MregClient,
  tally: Tally,
  read: {
    name: string;
    aliases: Alias[];
    histories: Map<string, HistoryEntry[]>;
    audit: AuditEvent[];
    /** The model was deleted at least once: its histories went with it. */
    deleted: boolean;
  },
): Promise<void> {
  const needle = `/models/${read.name}`;
  const byRollout = new Map<string, AuditEvent[]>();
  for (const e of read.audit) {
    if (!e.action.startsWith("rollout.")) continue;
    const id = detailOf(e).rollout;
    if (typeof id !== "string") {
      tally.expect("8", false, () => `${read.name}: audit ${e.action} ${e.id} names no rollout`, needle);
      continue;
    }
    byRollout.set(id, [...(byRollout.get(id) ?? []), e]);
  }
  const historyAt = new Map<number, HistoryEntry>();
  for (const entries of read.histories.values()) for (const h of entries) historyAt.set(h.generation, h);

  const started = new Map<string, { from: number; to: number; steps: { weight: number }[]; alias: string }>();
  for (const [id, events] of byRollout) {
    const start = events.find((e) => e.action === "rollout.start");
    // The start is audited in the transaction of step 1: there is no step without it.
    if (!tally.expect("8", start !== undefined, () => `${read.name}: rollout ${id} has events but no start`, needle))
      continue;
    const from = num((start!.from as Value | undefined)?.version);
    const to = num((start!.to as Value | undefined)?.version);
    const steps = detailOf(start!).steps as { weight: number }[] | undefined;
    const alias = start!.alias ?? "?";
    if (from === undefined || to === undefined || !Array.isArray(steps)) {
      tally.expect("8", false, () => `${read.name}: rollout ${id}'s start names no from, to or steps`, needle);
      continue;
    }
    started.set(id, { from, to, steps, alias });
    const rneedle = `${needle}/aliases/${alias}`;

    // Never skips a step: 1, 2, …, k in generation order.
    const stepEvents = events
      .filter((e) => e.action === "rollout.step")
      .sort((a, b) => (num(detailOf(a).generation) ?? 0) - (num(detailOf(b).generation) ?? 0));
    const numbers = stepEvents.map((e) => num(detailOf(e).step));
    const k = numbers.length;
    tally.expect(
      "8",
      k >= 1 && k <= steps.length && numbers.every((n, i) => n === i + 1),
      () => `${read.name}@${alias}: rollout ${id} applied steps ${JSON.stringify(numbers)} of ${steps.length}`,
      rneedle,
    );

    // Never at a weight its steps do not name: each step's event and its history entry.
    for (const e of stepEvents) {
      const n = num(detailOf(e).step) ?? 0;
      const weight = steps[n - 1]?.weight;
      tally.expect(
        "8",
        weight !== undefined && num(detailOf(e).weight) === weight,
        () => `${read.name}@${alias}: rollout ${id} step ${n} audited at weight ${String(detailOf(e).weight)}`,
        rneedle,
      );
      const g = num(detailOf(e).generation);
      const h = g === undefined ? undefined : historyAt.get(g);
      if (read.deleted || weight === undefined) continue;
      tally.expect(
        "8",
        h !== undefined && valueKey(h) === stepValue(from, to, weight),
        () =>
          `${read.name}@${alias}: rollout ${id} step ${n} (weight ${weight}) left the alias at ${h ? valueKey(h) : "no history entry"} (generation ${g})`,
        rneedle,
      );
    }

    // One end at most, at the step last applied; completion only after the last step.
    const ends = events.filter((e) => e.action === "rollout.complete" || e.action === "rollout.abort");
    tally.expect(
      "8",
      ends.length <= 1 &&
        ends.every((e) => num(detailOf(e).step) === k) &&
        ends.every((e) => e.action !== "rollout.complete" || k === steps.length),
      () =>
        `${read.name}@${alias}: rollout ${id} ended ${JSON.stringify(ends.map((e) => [e.action, detailOf(e).step]))} after ${k} of ${steps.length} steps`,
      rneedle,
    );
  }

  // The alias of a running or paused rollout holds that rollout's step, at its generation.
  for (const alias of ROLLOUT_ALIASES) {
    const r = await rolloutOf(api, read.name, alias);
    if (!r || (r.state !== "running" && r.state !== "paused")) continue;
    const now = read.aliases.find((a) => a.alias === alias);
    const weight = r.steps[r.step - 1]?.weight;
    const rneedle = `${needle}/aliases/${alias}`;
    tally.expect(
      "8",
      now !== undefined &&
        weight !== undefined &&
        valueKey(now) === stepValue(r.from, r.to, weight) &&
        now.generation === r.generation,
      () =>
        `${read.name}@${alias}: ${r.state} rollout ${r.id} at step ${r.step} (weight ${weight}) but the alias holds ${now ? `${valueKey(now)} at generation ${now.generation}` : "nothing"} (rollout generation ${r.generation})`,
      rneedle,
    );
    const audited = started.get(r.id);
    if (audited)
      tally.expect(
        "8",
        byRollout.get(r.id)!.filter((e) => e.action === "rollout.step").length === r.step,
        () => `${read.name}@${alias}: rollout ${r.id} is at step ${r.step}, its audit says otherwise`,
        rneedle,
      );
  }
}

/** The running rollouts of the campaign's models, read through `api`. */
async function runningRollouts(api: MregClient, world: World): Promise<Rollout[]> {
  // All at once: a slow scan would see every short hold pass before it ends.
  const reads = [...world.models.values()]
    .filter((m) => m.exists !== false)
    .flatMap((m) =>
      ROLLOUT_ALIASES.map((alias) =>
        rolloutOf(api, m.name, alias).catch((err: unknown) => {
          // The model may be gone (deleted, or its create's answer was lost and it never was).
          if (err instanceof MregError && err.status > 0 && err.status < 500) return null;
          throw err;
        }),
      ),
    );
  return (await Promise.all(reads)).filter((r): r is Rollout => r?.state === "running");
}

/**
 * Waits, until `deadline` at most, for a moment when some rollout is running with its next
 * decision still ahead (its `next_at` at least half a second after the scan), so that a kill
 * now lands before that decision: answers those rollouts (none at the deadline).
 */
export async function untilRolloutRunning(api: MregClient, world: World, deadline: number): Promise<Rollout[]> {
  for (;;) {
    const running = await runningRollouts(api, world).catch(() => []);
    const scanned = Date.now();
    const ahead = running.filter((r) => r.next_at !== null && Date.parse(r.next_at) > scanned + 500);
    if (ahead.length > 0 || scanned > deadline) return ahead;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Invariant 8's "resumes after a restart", once settleRollouts found none running: each
 * rollout running at the kill with a decision still due went on after the restart, that is,
 * its object took a decision (a hold, a step, the completion) dated after `killedAt`. One a
 * request the kill caught in flight paused or aborted is excused. Answers how many went on.
 */
export async function checkResumed(
  api: MregClient,
  tally: Tally,
  atKill: Rollout[],
  killedAt: number,
): Promise<{ resumed: number; excused: string[] }> {
  let resumed = 0;
  const excused: string[] = [];
  for (const before of atKill) {
    const now = await rolloutOf(api, before.model, before.alias);
    if (now?.id !== before.id || now.state === "paused" || now.state === "aborted") {
      excused.push(
        `${before.model}@${before.alias}: rollout ${before.id} ${now?.id === before.id ? `${now.state}: ${now.reason}` : "replaced"}`,
      );
      continue;
    }
    const decisions = now.history.filter(
      (h) => Date.parse(h.at) >= killedAt && (h.event === "step" || h.event === "hold" || h.event === "completed"),
    );
    if (
      tally.expect(
        "8",
        decisions.length > 0,
        () =>
          `${now.model}@${now.alias}: rollout ${now.id} was running at the kill (step ${before.step}, next at ${before.next_at}) and is ${now.state} at step ${now.step} with no decision since`,
        `/models/${now.model}/aliases/${now.alias}`,
      )
    )
      resumed += 1;
  }
  return { resumed, excused };
}

/**
 * Waits until no rollout of the campaign's models is running (the clients are held, so only
 * the object's alarm moves them): each running one must complete by itself, after a restart
 * too. What still runs at `deadline` is a violation.
 */
export async function settleRollouts(api: MregClient, world: World, tally: Tally, deadline: number): Promise<void> {
  const running = () => runningRollouts(api, world);
  const first = await running();
  let left = first;
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    left = await running();
  }
  for (const r of left)
    tally.expect(
      "8",
      false,
      () =>
        `${r.model}@${r.alias}: rollout ${r.id} still running at step ${r.step} of ${r.steps.length} (next at ${r.next_at}) long after it was due`,
      `/models/${r.model}/aliases/${r.alias}`,
    );
  tally.ok("8", first.length - left.length);
}
