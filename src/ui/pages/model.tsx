/**
 * The Model page: what each alias serves (splits as bars, every version a link), what its
 * fleet runs (docs/fleet.md: counts per version and state, the refused nodes and why, how long
 * since the change) and its last change, each alias's history, the versions, metric plots, gates as rules and guards; for a
 * session with `promote`, the actions an on-call engineer needs (promote via the gate dry
 * run, roll back to a named earlier version, delete an alias), and for `write`, editing the
 * description and tags. After an action the page says at its top what happened, or why it
 * was refused and what to do.
 */
import { hasScope } from "../../auth/principal";
import type { Alias, Fleet, FleetNode, Gate, Guard, HistoryEntry, Model, Rollout, Version } from "../../client/types";
import { fleetSentence, sinceWords } from "../../domain/fleet-words";
import { pairsText } from "../forms";
import { MetricPlots, metricNames } from "../plot";
import {
  AliasValue,
  Csrf,
  Layout,
  MetricList,
  modelHref,
  Tags,
  Time,
  TopNotice,
  versionHref,
  type PageContext,
  type PageNotice,
} from "../components";
import { Rollouts } from "../rollout-panel";
import { DangerZone } from "../danger-zone";
import { RollbackForm } from "../rollback";
import { guardText, guardWindowText, policyRules } from "../words";

export interface ModelView {
  model: Model;
  aliases: Alias[];
  history: Record<string, HistoryEntry[]>;
  /** Each alias's fleet, and the first of its refused nodes (name order). */
  fleets: Record<string, { fleet: Fleet; refused: FleetNode[] }>;
  versions: Version[];
  /** Per version shown: how many signatures it has, and how many of them a registered key vouches for. */
  signed: Record<number, { signatures: number; trusted: number }>;
  gates: Gate[];
  guards: Guard[];
  /** Each alias's rollout: the running one, else the last that ran. */
  rollouts: Rollout[];
  /** The metrics plotted across versions (`?metric=`, repeated), or all there are. */
  metrics: string[];
  notice: PageNotice | null;
  /** The edit form as last sent, when its save was refused (so nothing typed is lost). */
  edit?: { description: string; tags: string };
}

/** Whether a version is signed: "trusted" when a registered key vouches for a signature of it. */
function SignedCell({ signed }: { signed: { signatures: number; trusted: number } | undefined }) {
  if (!signed || signed.signatures === 0)
    return (
      <td class="muted" data-signed="none">
        —
      </td>
    );
  const count = `${signed.signatures} signature${signed.signatures === 1 ? "" : "s"}`;
  return signed.trusted > 0 ? (
    <td class="ok" data-signed="trusted">{`✓ trusted (${count})`}</td>
  ) : (
    <td class="warn" data-signed="untrusted">{`untrusted (${count})`}</td>
  );
}

/** What an alias's fleet runs: "480 nodes on v7, 20 on v6 (20 refused)", converged or not, since when, and who refused why. */
function FleetSummary({ view }: { view: { fleet: Fleet; refused: FleetNode[] } | undefined }) {
  const f = view?.fleet;
  if (!f || f.nodes === 0) return <span class="muted">no node reports</span>;
  const since = f.since_change_s === null ? "" : ` · ${sinceWords(f.since_change_s)} since the change`;
  return (
    <div data-fleet="">
      <div>{fleetSentence(f)}</div>
      {f.reporting === 0 ? (
        <div class="warn">{`every node stale (${f.nodes} not heard from for NODE_TTL_S)`}</div>
      ) : f.converged ? (
        <div class="ok">{`converged${since}`}</div>
      ) : (
        <div class={f.refused > 0 ? "bad" : "warn"}>
          {`${f.in_step} of ${f.reporting} in step, ${f.lagging} lagging, ${f.refused} refused${since}`}
        </div>
      )}
      {view.refused.length > 0 && (
        <ul class="refused" aria-label="Refused nodes">
          {view.refused.map((n) => (
            <li>
              <span class="mono">{n.node}</span>
              {` on ${n.version === null ? "nothing" : `v${n.version}`}`}
              {n.target !== null && ` refused v${n.target}`}
              {n.reason && <span class="muted">{`: ${n.reason}`}</span>}
            </li>
          ))}
          {f.refused > view.refused.length && <li class="muted">{`and ${f.refused - view.refused.length} more`}</li>}
        </ul>
      )}
    </div>
  );
}

function LastChange({ entry }: { entry: HistoryEntry | undefined }) {
  if (!entry) return <span class="muted">—</span>;
  return (
    <span>
      <Time at={entry.at} /> {entry.action === "rollback" ? "⟲ rollback" : entry.action} by{" "}
      <span class="mono">{entry.actor}</span>
      {entry.reason ? <div class="reason">{`“${entry.reason}”`}</div> : <div class="muted">no reason given</div>}
    </span>
  );
}

function Timeline({ model, entries }: { model: string; entries: HistoryEntry[] }) {
  if (entries.length === 0) return <p class="muted">No history.</p>;
  return (
    <ol class="timeline">
      {entries.map((h) => (
        <li class={h.action === "rollback" ? "rollback" : undefined}>
          <Time at={h.at} /> <strong>{h.action === "rollback" ? "⟲ rollback" : h.action}</strong> →{" "}
          <AliasValue version={h.version} split={h.split} model={model} /> by <span class="mono">{h.actor}</span>
          {h.reason && <span class="muted">{` — ${h.reason}`}</span>}{" "}
          <span class="muted">{`(gen ${h.generation})`}</span>
        </li>
      ))}
    </ol>
  );
}

function EditModel({ page, view }: { page: PageContext; view: ModelView }) {
  if (!page.csrf || !hasScope(page.principal, "write")) return null;
  const values = view.edit ?? { description: view.model.description ?? "", tags: pairsText(view.model.tags) };
  return (
    <details open={view.edit !== undefined}>
      <summary>Edit description and tags</summary>
      <form method="post" action={`${modelHref(view.model.name)}/edit`} class="edit" aria-label="Edit model">
        <Csrf token={page.csrf} />
        <label>
          Description
          <textarea name="description" rows={3}>
            {values.description}
          </textarea>
        </label>
        <label>
          Model tags (key=value, one a line; remove a line to delete the tag)
          <textarea name="tags" rows={3}>
            {values.tags}
          </textarea>
        </label>
        <p class="actions">
          <button type="submit" class="primary">
            Save
          </button>
        </p>
      </form>
    </details>
  );
}

export function ModelPage({ page, view }: { page: PageContext; view: ModelView }) {
  const { model, aliases, versions } = view;
  const canPromote = page.csrf !== null && hasScope(page.principal, "promote");
  const ready = versions.filter((v) => v.status === "ready");
  // Stages are an older workflow beside aliases: shown only for models that use them.
  const stages = versions.some((v) => v.stage !== "none");
  const names = metricNames(versions);
  return (
    <Layout title={model.name} page={page} model={model.name}>
      <TopNotice notice={view.notice} />
      <h1>
        {model.name} <span class="badge">{model.kind}</span>
      </h1>
      {model.description && <p>{model.description}</p>}
      <p>
        <span class="muted">Model tags:</span> <Tags tags={model.tags} />{" "}
        <span class="muted">created by {model.created_by}</span> <Time at={model.created_at} />
      </p>
      <EditModel page={page} view={view} />

      <h2>
        Aliases <span id="live" class="muted" aria-live="polite"></span>
      </h2>
      {aliases.length === 0 ? (
        <p class="muted">No aliases set.</p>
      ) : (
        <table class="aliases">
          <thead>
            <tr>
              <th>Alias</th>
              <th>Serves</th>
              <th>Fleet</th>
              <th>Last change</th>
              {canPromote && <th>Roll back</th>}
            </tr>
          </thead>
          <tbody>
            {aliases.map((a) => (
              <tr
                data-watch-alias={a.alias}
                data-generation={String(a.generation)}
                data-version={a.version === null ? "" : String(a.version)}
              >
                <th scope="row">{a.alias}</th>
                <td data-label="Serves" data-alias-value="">
                  <AliasValue version={a.version} split={a.split} model={model.name} />
                </td>
                <td data-label="Fleet">
                  <FleetSummary view={view.fleets[a.alias]} />
                </td>
                <td data-label="Last change" data-last-change="">
                  <LastChange entry={view.history[a.alias]?.[0]} />
                </td>
                {canPromote && (
                  <td data-label="Roll back">
                    <RollbackForm
                      page={page}
                      action={`${modelHref(model.name)}/aliases/${encodeURIComponent(a.alias)}/rollback`}
                      alias={a}
                      history={view.history[a.alias] ?? []}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canPromote && (
        <form method="get" action={`${modelHref(model.name)}/promote`} class="filters" aria-label="Promote">
          <label>
            Alias
            <input name="alias" required list="alias-names" placeholder="production" />
          </label>
          <datalist id="alias-names">
            {aliases.map((a) => (
              <option value={a.alias} />
            ))}
          </datalist>
          <label>
            Version
            <select name="version" required>
              {ready.map((v) => (
                <option value={String(v.version)}>{`v${v.version}`}</option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary">
            Promote… (check gates first)
          </button>
        </form>
      )}

      <Rollouts page={page} rollouts={view.rollouts} />

      <h2>History</h2>
      <div class="grid">
        {aliases.map((a) => (
          <section aria-label={`History of ${a.alias}`}>
            <h3>{a.alias}</h3>
            <Timeline model={model.name} entries={view.history[a.alias] ?? []} />
          </section>
        ))}
      </div>

      <h2>Versions</h2>
      <table>
        <thead>
          <tr>
            <th>Version</th>
            <th>Status</th>
            {stages && <th>Stage</th>}
            <th>Aliases</th>
            <th>Signed</th>
            <th>Metrics</th>
            <th>Downloads</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr>
              <td>
                <a href={versionHref(model.name, v.version)}>{`v${v.version}`}</a>
              </td>
              <td class={v.status === "failed" ? "bad" : v.status === "pending" ? "warn" : undefined}>{v.status}</td>
              {stages && <td>{v.stage === "none" ? "" : v.stage}</td>}
              <td>
                {v.aliases.map((a) => (
                  <span class="badge alias">{a}</span>
                ))}
              </td>
              <SignedCell signed={view.signed[v.version]} />
              <td>
                <MetricList metrics={v.metrics} />
              </td>
              <td class="num" data-downloads={String(v.downloads)}>
                {v.downloads.toLocaleString("en-US")}
              </td>
              <td>
                <Time at={v.created_at} /> by <span class="mono">{v.created_by}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {versions.length >= 2 && (
        <form method="get" action={`${modelHref(model.name)}/diff`} class="filters" aria-label="Compare versions">
          <label>
            From
            <select name="a">
              {versions.map((v, i) => (
                <option value={String(v.version)} selected={i === 1}>{`v${v.version}`}</option>
              ))}
            </select>
          </label>
          <label>
            To
            <select name="b">
              {versions.map((v, i) => (
                <option value={String(v.version)} selected={i === 0}>{`v${v.version}`}</option>
              ))}
            </select>
          </label>
          <button type="submit">Compare</button>
        </form>
      )}

      {names.length > 0 && (
        <section aria-label="Metrics across versions">
          <h2>Metrics across versions</h2>
          {names.length > 1 && (
            <form method="get" action={modelHref(model.name)} class="filters" aria-label="Choose metrics">
              {names.map((m) => (
                <label class="check">
                  <input type="checkbox" name="metric" value={m} checked={view.metrics.includes(m)} /> {m}
                </label>
              ))}
              <button type="submit">Plot</button>
            </form>
          )}
          <MetricPlots versions={versions} aliases={aliases} names={view.metrics} />
        </section>
      )}

      <h2>Gates</h2>
      {view.gates.length === 0 ? (
        <p class="muted">No gates: any ready version may be promoted.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Target</th>
              <th>A version may take it when</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {view.gates.map((g) => {
              const rules = policyRules(g.policy);
              return (
                <tr data-gate={g.target}>
                  <th scope="row">{g.target}</th>
                  <td>
                    {rules.length === 0 ? (
                      <span class="muted">no checks</span>
                    ) : (
                      <ul class="rules">
                        {rules.map((r) => (
                          <li>{r}</li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>
                    <Time at={g.updated_at} /> by <span class="mono">{g.updated_by}</span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}

      <h2>Guards</h2>
      {view.guards.length === 0 ? (
        <p class="muted">No guards.</p>
      ) : (
        <table class="aliases">
          <thead>
            <tr>
              <th>Alias</th>
              <th>Rolls back unless</th>
              <th>Live window</th>
            </tr>
          </thead>
          <tbody>
            {view.guards.map((g) => (
              <tr>
                <th scope="row">{g.alias}</th>
                <td>{guardText({ ...g })}</td>
                <td class="mono">{guardWindowText(g)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <DangerZone page={page} model={model.name} aliases={aliases} gates={view.gates} />
    </Layout>
  );
}
