/**
 * A model page's rollouts (docs/rollouts.md): for each alias with a running or paused rollout,
 * where it stands (the step in force and its weight, when the next step comes or that it waits
 * for the fleet, who started it and why, every step) and, for a session with `promote`, its
 * pause, resume and abort buttons (the UI's form flow: CSRF, post, redirect, the record of
 * what was done). A rollout that has ended shows as one line, until another starts.
 */
import { hasScope } from "../auth/principal";
import type { Rollout } from "../client/types";
import { Csrf, modelHref, Time, type PageContext } from "./components";

const holdText = (s: number) =>
  s === 0 ? "no hold" : s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`;

function NextStep({ rollout }: { rollout: Rollout }) {
  if (rollout.state === "paused") return <span>paused: the step's hold stopped</span>;
  if (rollout.next_at === null)
    return <span>{`waiting for ${Math.round(rollout.min_fleet * 100)}% of the reporting nodes to serve it`}</span>;
  return (
    <span>
      {rollout.step < rollout.steps.length ? `step ${rollout.step + 1} at ` : "completes at "}
      <Time at={rollout.next_at} />
    </span>
  );
}

function Actions({ page, rollout }: { page: PageContext; rollout: Rollout }) {
  if (!page.csrf || !hasScope(page.principal, "promote")) return null;
  const base = `${modelHref(rollout.model)}/aliases/${encodeURIComponent(rollout.alias)}/rollout`;
  return (
    <div>
      {rollout.state === "running" ? (
        <form
          method="post"
          action={`${base}/pause`}
          class="inline"
          aria-label={`Pause the rollout of ${rollout.alias}`}
        >
          <Csrf token={page.csrf} />
          <label>
            Reason
            <input name="reason" size={18} />
          </label>
          <button type="submit">Pause</button>
        </form>
      ) : (
        <form
          method="post"
          action={`${base}/resume`}
          class="inline"
          aria-label={`Resume the rollout of ${rollout.alias}`}
        >
          <Csrf token={page.csrf} />
          <button type="submit" class="primary">
            Resume
          </button>
        </form>
      )}
      <form method="post" action={`${base}/abort`} class="inline" aria-label={`Abort the rollout of ${rollout.alias}`}>
        <Csrf token={page.csrf} />
        <label>
          Reason
          <input name="reason" required size={18} />
        </label>
        <label class="check">
          <input type="checkbox" name="confirm" value="yes" required /> confirm
        </label>
        <button type="submit" class="danger">{`Abort: back to v${rollout.from}`}</button>
      </form>
    </div>
  );
}

function Active({ page, rollout }: { page: PageContext; rollout: Rollout }) {
  const weight = rollout.steps[rollout.step - 1]?.weight ?? 0;
  return (
    <section aria-label={`Rollout of ${rollout.alias}`} data-rollout={rollout.alias} data-state={rollout.state}>
      <h3>
        {`${rollout.alias}: v${rollout.from} → v${rollout.to}, step ${rollout.step} of ${rollout.steps.length} (v${rollout.to} at ${weight}%)`}{" "}
        <span class={rollout.state === "paused" ? "badge warn" : "badge"}>{rollout.state}</span>
      </h3>
      <p>
        Next: <NextStep rollout={rollout} />. Started <Time at={rollout.started_at} /> by{" "}
        <span class="mono">{rollout.started_by}</span>
        {rollout.reason ? <span class="reason">{` “${rollout.reason}”`}</span> : null}
      </p>
      <ol class="timeline">
        {rollout.steps.map((s, i) => {
          const n = i + 1;
          const now = n === rollout.step;
          return (
            <li class={now ? "current" : undefined} data-step={String(n)}>
              {`v${rollout.to} at ${s.weight}%, ${holdText(s.hold_s)}`}
              {n < rollout.step ? " — done" : now ? (rollout.hold_started_at ? " — holding" : " — in force") : ""}
            </li>
          );
        })}
      </ol>
      <Actions page={page} rollout={rollout} />
    </section>
  );
}

/** The model's rollouts: the active ones in full, the last ended one of each alias as a line. */
export function Rollouts({ page, rollouts }: { page: PageContext; rollouts: Rollout[] }) {
  if (rollouts.length === 0) return null;
  const active = rollouts.filter((r) => r.state === "running" || r.state === "paused");
  const ended = rollouts.filter((r) => r.state === "completed" || r.state === "aborted");
  return (
    <section aria-label="Rollouts">
      <h2>Rollouts</h2>
      {active.map((r) => (
        <Active page={page} rollout={r} />
      ))}
      {ended.length > 0 && (
        <ul class="rules">
          {ended.map((r) => (
            <li data-rollout={r.alias} data-state={r.state}>
              {`${r.alias}: the rollout v${r.from} → v${r.to} ${r.state} at step ${r.step} of ${r.steps.length}`}
              {r.state === "aborted" && r.reason ? ` (${r.reason})` : ""},{" "}
              <Time at={r.history.at(-1)?.at ?? r.step_started_at} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
