/**
 * An alias's rollback form on the Model page. Each button says what it does as the alias's
 * change in words ("Roll back: production serves v2 instead of v3"); right after a rollback
 * the button that would put back the version just rolled away from says so ("Undo the
 * rollback: …"), so it cannot be read as one more step back. Beside each target, that
 * version's recent time in the alias: when it came, when and how it left.
 */
import type { Alias, HistoryEntry } from "../client/types";
import { Csrf, Time, type PageContext } from "./components";
import { aliasValueText } from "./words";

/** The versions an alias held before its current value, newest first: where a rollback may go. */
export function earlierHolders(
  alias: Alias,
  history: HistoryEntry[],
): { previous: HistoryEntry | null; others: number[] } {
  const previous = history[1] ?? null;
  const now = new Set(alias.split ? alias.split.map((s) => s.version) : alias.version === null ? [] : [alias.version]);
  const others: number[] = [];
  for (const h of history.slice(1)) {
    if (h.version === null || h.split || now.has(h.version) || others.includes(h.version)) continue;
    if (previous && previous.version === h.version && !previous.split) continue;
    others.push(h.version);
  }
  return { previous: previous && (previous.version !== null || previous.split) ? previous : null, others };
}

/**
 * What a rollback button says. `undo`: the alias's last change was a rollback away from this
 * very target, so pressing it reverses that rollback.
 */
export function rollbackLabel(alias: string, current: string, target: string, undo: boolean): string {
  return undo
    ? `Undo the rollback: ${alias} serves ${target} again instead of ${current}`
    : `Roll back: ${alias} serves ${target} instead of ${current}`;
}

/** A version's stays in the alias, newest first: the entry that brought it, and the one that replaced it (null: it holds it now). */
export function staysOf(
  version: number,
  history: HistoryEntry[],
): { from: HistoryEntry; until: HistoryEntry | null }[] {
  const stays: { from: HistoryEntry; until: HistoryEntry | null }[] = [];
  history.forEach((h, i) => {
    if (h.version === version && !h.split) stays.push({ from: h, until: i === 0 ? null : history[i - 1]! });
  });
  return stays;
}

const verb = (h: HistoryEntry) => (h.action === "rollback" ? "rolled back" : h.action === "set" ? "set" : h.action);

/** The last two stays of `version` in the alias, in words with times to the second. */
function RecentStays({ version, history }: { version: number; history: HistoryEntry[] }) {
  const stays = staysOf(version, history).slice(0, 2);
  if (stays.length === 0) return null;
  return (
    <ul class="stays" aria-label={`Recent history of v${version}`}>
      {stays.map(({ from, until }) => (
        <li>
          {`v${version}: `}
          <Time at={from.at} />
          {` ${verb(from)} by ${from.actor}`}
          {from.reason && ` (“${from.reason}”)`}
          {until ? (
            <>
              {"; left "}
              <Time at={until.at} />
              {` when ${until.actor} ${until.action === "rollback" ? "rolled back" : until.action === "delete" ? "deleted the alias" : `${verb(until)} ${aliasValueText(until)}`}`}
              {until.reason && ` (“${until.reason}”)`}
            </>
          ) : (
            "; serving now"
          )}
        </li>
      ))}
    </ul>
  );
}

export function RollbackForm({
  page,
  action,
  alias,
  history,
}: {
  page: PageContext;
  action: string;
  alias: Alias;
  history: HistoryEntry[];
}) {
  if (!page.csrf) return null;
  const { previous, others } = earlierHolders(alias, history);
  if (!previous && others.length === 0) return <span class="muted">Nothing earlier to roll back to. </span>;
  const current = aliasValueText(alias);
  // The last change was a rollback, and `previous` is what it rolled away from.
  const undoing = history[0]?.action === "rollback";
  return (
    <form method="post" action={action} class="rollback" aria-label={`Roll back ${alias.alias}`}>
      <Csrf token={page.csrf} />
      <div class="inline">
        <label>
          Reason
          <input name="reason" required size={18} />
        </label>
        <label class="check">
          <input type="checkbox" name="confirm" value="yes" required /> confirm
        </label>
      </div>
      {previous && (
        <div class="target">
          {previous.split ? (
            // No `to_version`: the API goes back to the value before the current one, split and all.
            <button type="submit" class="danger">
              {rollbackLabel(alias.alias, current, aliasValueText(previous), undoing)}
            </button>
          ) : (
            <button type="submit" class="danger" name="to_version" value={String(previous.version)}>
              {rollbackLabel(alias.alias, current, `v${previous.version}`, undoing)}
            </button>
          )}
          {previous.version !== null && !previous.split && <RecentStays version={previous.version} history={history} />}
        </div>
      )}
      {others.length > 0 && (
        <details class="more">
          <summary>{previous ? "an earlier version…" : "roll back to…"}</summary>
          {others.map((v) => (
            <div class="target">
              <button type="submit" class="danger" name="to_version" value={String(v)}>
                {rollbackLabel(alias.alias, current, `v${v}`, false)}
              </button>
              <RecentStays version={v} history={history} />
            </div>
          ))}
        </details>
      )}
    </form>
  );
}
