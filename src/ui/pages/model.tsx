/**
 * The Model page: what each alias serves (splits as bars), each alias's history, the
 * versions, gates and guards; and, for a session with `promote`, the actions an on-call
 * engineer needs: promote (via the gate dry run), roll back, delete an alias.
 */
import { hasScope } from "../../auth/principal";
import type { Alias, Gate, Guard, HistoryEntry, Model, Version } from "../../client/types";
import { MetricPlot, metricNames } from "../plot";
import { AliasValue, Csrf, Layout, MetricList, modelHref, Tags, Time, versionHref, type PageContext } from "../components";

export interface ModelView {
  model: Model;
  aliases: Alias[];
  history: Record<string, HistoryEntry[]>;
  versions: Version[];
  gates: Gate[];
  guards: Guard[];
  /** The metric plotted across versions (`?metric=`), or the first there is. */
  metric: string | null;
}

function AliasActions({ page, model, alias, gated }: { page: PageContext; model: string; alias: Alias; gated: boolean }) {
  if (!page.csrf || !hasScope(page.principal, "promote")) return null;
  // A gated alias is deleted by admins only (its gate then compares with the last holder).
  const mayDelete = !gated || hasScope(page.principal, "admin");
  const base = `${modelHref(model)}/aliases/${encodeURIComponent(alias.alias)}`;
  return (
    <div>
      <form method="post" action={`${base}/rollback`} class="inline" aria-label={`Roll back ${alias.alias}`}>
        <Csrf token={page.csrf} />
        <label>
          Reason
          <input name="reason" required size={18} />
        </label>
        <label class="check">
          <input type="checkbox" name="confirm" value="yes" required /> confirm
        </label>
        <button type="submit" class="danger">
          Roll back
        </button>
      </form>
      {mayDelete && (
        <form method="post" action={`${base}/delete`} class="inline" aria-label={`Delete alias ${alias.alias}`}>
          <Csrf token={page.csrf} />
          <label class="check">
            <input type="checkbox" name="confirm" value="yes" required /> confirm
          </label>
          <button type="submit" class="danger">
            Delete alias
          </button>
        </form>
      )}
    </div>
  );
}

function Timeline({ entries }: { entries: HistoryEntry[] }) {
  if (entries.length === 0) return <p class="muted">No history.</p>;
  return (
    <ol class="timeline">
      {entries.map((h) => (
        <li class={h.action === "rollback" ? "rollback" : undefined}>
          <Time at={h.at} /> <strong>{h.action === "rollback" ? "⟲ rollback" : h.action}</strong> → <AliasValue version={h.version} split={h.split} /> by{" "}
          <span class="mono">{h.actor}</span>
          {h.reason && <span class="muted">{` — ${h.reason}`}</span>} <span class="muted">{`(gen ${h.generation})`}</span>
        </li>
      ))}
    </ol>
  );
}

export function ModelPage({ page, view }: { page: PageContext; view: ModelView }) {
  const { model, aliases, versions } = view;
  const canPromote = page.csrf !== null && hasScope(page.principal, "promote");
  const ready = versions.filter((v) => v.status === "ready");
  return (
    <Layout title={model.name} page={page} model={model.name}>
      <h1>
        {model.name} <span class="badge">{model.kind}</span>
      </h1>
      {model.description && <p>{model.description}</p>}
      <p>
        <Tags tags={model.tags} /> <span class="muted">created by {model.created_by}</span> <Time at={model.created_at} />
      </p>

      <h2>
        Aliases <span id="live" class="muted" aria-live="polite"></span>
      </h2>
      {aliases.length === 0 ? (
        <p class="muted">No aliases set.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Alias</th>
              <th>Serves</th>
              <th>Updated</th>
              {canPromote && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {aliases.map((a) => (
              <tr data-watch-alias={a.alias} data-generation={String(a.generation)} data-version={a.version === null ? "" : String(a.version)}>
                <th scope="row">{a.alias}</th>
                <td data-alias-value="">
                  <AliasValue version={a.version} split={a.split} />
                </td>
                <td>
                  <Time at={a.updated_at} /> by <span class="mono">{a.updated_by}</span>
                </td>
                {canPromote && (
                  <td>
                    <AliasActions page={page} model={model.name} alias={a} gated={view.gates.some((g) => g.target === a.alias)} />
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

      <h2>History</h2>
      <div class="grid">
        {aliases.map((a) => (
          <section aria-label={`History of ${a.alias}`}>
            <h3>{a.alias}</h3>
            <Timeline entries={view.history[a.alias] ?? []} />
          </section>
        ))}
      </div>

      <h2>Versions</h2>
      <table>
        <thead>
          <tr>
            <th>Version</th>
            <th>Status</th>
            <th>Stage</th>
            <th>Aliases</th>
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
              <td>{v.stage}</td>
              <td>
                {v.aliases.map((a) => (
                  <span class="badge alias">{a}</span>
                ))}
              </td>
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

      {view.metric !== null && (
        <section aria-label="Metric across versions">
          <h2>Metric across versions</h2>
          <form method="get" action={modelHref(model.name)} class="filters">
            <label>
              Metric
              <select name="metric">
                {metricNames(versions).map((m) => (
                  <option value={m} selected={m === view.metric}>
                    {m}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit">Plot</button>
          </form>
          <MetricPlot versions={versions} aliases={aliases} name={view.metric} />
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
              <th>Policy</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {view.gates.map((g) => (
              <tr>
                <th scope="row">{g.target}</th>
                <td>
                  <pre>{JSON.stringify(g.policy, null, 2)}</pre>
                </td>
                <td>
                  <Time at={g.updated_at} /> by <span class="mono">{g.updated_by}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Guards</h2>
      {view.guards.length === 0 ? (
        <p class="muted">No guards.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Alias</th>
              <th>Rule</th>
              <th>Live window</th>
            </tr>
          </thead>
          <tbody>
            {view.guards.map((g) => (
              <tr>
                <th scope="row">{g.alias}</th>
                <td class="mono">{`${g.metric}${g.min !== null ? ` ≥ ${g.min}` : ""}${g.max !== null ? ` ≤ ${g.max}` : ""} over ${g.window_s}s, ≥ ${g.min_samples} samples`}</td>
                <td class="mono">
                  {(g.windows.length > 1 ? g.windows : [g.window])
                    .map((w) => `v${w.version ?? "—"}: ${w.samples} samples, mean ${w.mean ?? "—"}`)
                    .join("; ")}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
