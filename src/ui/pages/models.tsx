/** The Models page: search by name prefix, kind and tag; each row with its aliases and latest version. */
import type { Model, Page } from "../../client/types";
import { Layout, modelHref, Tags, Time, versionHref, type PageContext } from "../components";

export interface ModelsQuery {
  prefix: string;
  kind: string;
  tag: string;
  cursor: string;
}

export function ModelsPage({ page, query, models }: { page: PageContext; query: ModelsQuery; models: Page<Model> }) {
  const next = new URLSearchParams({
    ...(query.prefix && { prefix: query.prefix }),
    ...(query.kind && { kind: query.kind }),
    ...(query.tag && { tag: query.tag }),
  });
  if (models.next_cursor) next.set("cursor", models.next_cursor);
  return (
    <Layout title="Models" page={page}>
      <h1>Models</h1>
      <form method="get" action="/" class="filters" role="search">
        <label>
          Name prefix
          <input name="prefix" value={query.prefix} autofocus />
        </label>
        <label>
          Kind
          <select name="kind">
            {["", "model", "prompt", "config"].map((k) => (
              <option value={k} selected={query.kind === k}>
                {k || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model tag (key=value)
          <input name="tag" value={query.tag} placeholder="team=fraud" />
        </label>
        <button type="submit">Search</button>
      </form>
      <p class="muted hint">
        The tag search looks at <strong>model</strong> tags (<code>mreg models update --tag</code>,{" "}
        <code>mreg push --model-tag</code>). A version's own tags (<code>mreg push --tag</code>) are on its model's
        page, and <code>mreg versions ls &lt;model&gt; --tag</code> finds them.
      </p>
      {models.items.length === 0 ? (
        <p class="muted">No models match.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Aliases</th>
              <th>Latest</th>
              <th>Model tags</th>
              <th>Description</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {models.items.map((m) => (
              <tr>
                <td>
                  <a href={modelHref(m.name)}>{m.name}</a>
                </td>
                <td>{m.kind}</td>
                <td>
                  {Object.entries(m.aliases).map(([alias, v]) => (
                    <a class="badge alias" href={versionHref(m.name, v)}>{`${alias} → v${v}`}</a>
                  ))}
                </td>
                <td>
                  {m.latest_version === null ? (
                    <span class="muted">—</span>
                  ) : (
                    <a href={versionHref(m.name, m.latest_version)}>{`v${m.latest_version}`}</a>
                  )}
                </td>
                <td>
                  <Tags tags={m.tags} />
                </td>
                <td>{m.description ?? ""}</td>
                <td>
                  <Time at={m.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {models.next_cursor && <a href={`/?${next.toString()}`}>Next page →</a>}
    </Layout>
  );
}
