/** Two versions compared: files (text files as a coloured unified diff), params, metrics, tags. */
import type { MapDiff, VersionDiff } from "../../client/types";
import { Layout, modelHref, Sha, versionHref, type PageContext } from "../components";

const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function MapTable<T>({ title, diff }: { title: string; diff: MapDiff<T> }) {
  const rows = [
    ...Object.entries(diff.added).map(([k, v]) => ({ k, from: "", to: show(v), cls: "add" })),
    ...Object.entries(diff.removed).map(([k, v]) => ({ k, from: show(v), to: "", cls: "del" })),
    ...Object.entries(diff.changed).map(([k, v]) => ({ k, from: show(v.from), to: show(v.to), cls: "" })),
  ];
  return (
    <section>
      <h2>{title}</h2>
      {rows.length === 0 ? (
        <p class="muted">No differences.</p>
      ) : (
        <table class="diff">
          <thead>
            <tr>
              <th>Key</th>
              <th>From</th>
              <th>To</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr class={r.cls}>
                <th scope="row">{r.k}</th>
                <td class="mono">{r.from}</td>
                <td class="mono">{r.to}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function UnifiedDiff({ text }: { text: string }) {
  return (
    <pre class="diff" aria-label="Unified diff">
      {text.split("\n").map((line) => (
        <span
          class={
            line.startsWith("@@")
              ? "hunk"
              : line.startsWith("+") && !line.startsWith("+++")
                ? "add"
                : line.startsWith("-") && !line.startsWith("---")
                  ? "del"
                  : undefined
          }
        >
          {line}
        </span>
      ))}
    </pre>
  );
}

export function DiffPage({ page, diff }: { page: PageContext; diff: VersionDiff }) {
  const { model } = diff;
  return (
    <Layout title={`${model} v${diff.from} → v${diff.to}`} page={page}>
      <h1>
        <a href={modelHref(model)}>{model}</a>: <a href={versionHref(model, diff.from)}>{`v${diff.from}`}</a> →{" "}
        <a href={versionHref(model, diff.to)}>{`v${diff.to}`}</a>
      </h1>
      <h2>Files</h2>
      {diff.files.added.length + diff.files.removed.length + diff.files.changed.length === 0 && (
        <p class="muted">Same files.</p>
      )}
      <ul class="diff">
        {diff.files.added.map((f) => (
          <li class="add">
            + {f.path} <Sha value={f.sha256} />
          </li>
        ))}
        {diff.files.removed.map((f) => (
          <li class="del">
            − {f.path} <Sha value={f.sha256} />
          </li>
        ))}
      </ul>
      {diff.files.changed.map((f) => (
        <section aria-label={`Changes to ${f.path}`}>
          <h3 class="mono">{f.path}</h3>
          <p>
            <Sha value={f.from_sha256} /> → <Sha value={f.to_sha256} />
          </p>
          {f.diff !== undefined ? (
            <UnifiedDiff text={f.diff} />
          ) : (
            <p class="muted">{`No text diff (${f.diff_omitted ?? "binary"}).`}</p>
          )}
        </section>
      ))}
      <MapTable title="Params" diff={diff.params} />
      <MapTable title="Metrics" diff={diff.metrics} />
      <MapTable title="Tags" diff={diff.tags} />
      <MapTable title="Lineage" diff={diff.lineage} />
    </Layout>
  );
}
