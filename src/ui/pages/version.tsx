/**
 * The Version page: files, signatures (who signed, which registered key vouches, when it was
 * verified), lineage graph, params, metrics, tags, approvals, the dry-run gate result for every
 * gated target, and a `README.md` rendered as the model card (up to a size cap).
 */
import { hasScope } from "../../auth/principal";
import type { Approval, GateResult, LineageGraph, LineageNode, Signature, Version } from "../../client/types";
import { signerLabel } from "../../domain/signature";
import {
  bytes,
  Csrf,
  downloadsText,
  fileHref,
  KeyValues,
  Layout,
  modelHref,
  Sha,
  Tags,
  Time,
  TopNotice,
  versionHref,
  type PageContext,
  type PageNotice,
} from "../components";
import { pairsText } from "../forms";
import { LineageSvg } from "../lineage-svg";
import { MAX_CARD_BYTES, ModelCard } from "../model-card";
import { GateChecks } from "./promote";

export interface VersionView {
  version: Version;
  lineage: LineageGraph;
  approvals: Approval[];
  signatures: Signature[];
  /** The registered signing keys' names by id (a key deleted since vouches for nothing, so is never asked for). */
  keyNames: Record<string, string>;
  gates: { target: string; result: GateResult }[];
  /** The version's README.md: its text, or null when it is over MAX_CARD_BYTES. */
  card: { path: string; size: number; source: string | null } | null;
  notice: PageNotice | null;
  /** The edit form as last sent, when its save was refused (so nothing typed is lost). */
  edit?: { description: string; tags: string; metrics: string };
}

function EditVersion({ page, view }: { page: PageContext; view: VersionView }) {
  if (!page.csrf || !hasScope(page.principal, "write")) return null;
  const v = view.version;
  const values = view.edit ?? {
    description: v.description ?? "",
    tags: pairsText(v.tags),
    metrics: pairsText(v.metrics),
  };
  return (
    <details open={view.edit !== undefined}>
      <summary>Edit description, tags and metrics</summary>
      <form method="post" action={`${versionHref(v.model, v.version)}/edit`} class="edit" aria-label="Edit version">
        <Csrf token={page.csrf} />
        <label>
          Description
          <textarea name="description" rows={4}>
            {values.description}
          </textarea>
        </label>
        <label>
          Version tags (key=value, one a line)
          <textarea name="tags" rows={4}>
            {values.tags}
          </textarea>
        </label>
        <label>
          Metrics (name=number, one a line)
          <textarea name="metrics" rows={4}>
            {values.metrics}
          </textarea>
        </label>
        <p class="actions">
          <button type="submit" class="primary">
            Save
          </button>{" "}
          <span class="muted">
            Removing a line deletes that tag or metric. Gates read metrics: a change is audited like one through the
            API.
          </span>
        </p>
      </form>
    </details>
  );
}

function Signatures({ view }: { view: VersionView }) {
  const v = view.version;
  if (view.signatures.length === 0)
    return (
      <p class="muted">
        {v.status === "ready"
          ? "Not signed. Sign it with `mreg sign` or upload a model.sig (docs/signing.md)."
          : "Signatures come once the version is ready."}
      </p>
    );
  return (
    <table aria-label="Signatures">
      <thead>
        <tr>
          <th>Signer</th>
          <th>Trusted by</th>
          <th>Verified</th>
          <th>Bundle</th>
        </tr>
      </thead>
      <tbody>
        {view.signatures.map((s) => (
          <tr data-signature={s.id} data-trusted={String(s.trusted_by.length > 0)}>
            <td>
              <span class="badge">{s.signer.kind}</span> <span class="mono">{signerLabel(s.signer)}</span>
            </td>
            <td>
              {s.trusted_by.length === 0 ? (
                <span class="warn">no registered key: valid, untrusted</span>
              ) : (
                s.trusted_by.map((id) => <span class="badge ok">{view.keyNames[id] ?? id}</span>)
              )}
            </td>
            <td>
              <Time at={s.verified_at} /> <span class="muted">(uploaded by </span>
              <span class="mono">{s.created_by}</span>
              <span class="muted">)</span>
            </td>
            <td>
              <a href={`${versionHref(v.model, v.version)}/signatures/${s.id}`} download="model.sig">
                model.sig
              </a>{" "}
              <Sha value={s.bundle_sha256} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LineageTable({ graph }: { graph: LineageGraph }) {
  const nodes = [...graph.nodes].sort((a, b) => a.distance - b.distance);
  const relation = (d: number) => (d === 0 ? "this version" : d < 0 ? `upstream ${-d}` : `downstream ${d}`);
  return (
    <section aria-label="Lineage graph">
      <LineageSvg graph={graph} />
      <table class="lineage">
        <thead>
          <tr>
            <th>Relation</th>
            <th>Version</th>
            <th>Status</th>
            <th>Aliases</th>
            <th>Git sha</th>
            <th>Run</th>
            <th>Datasets</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => {
            if ("redacted" in n) {
              return (
                <tr>
                  <td>{relation(n.distance)}</td>
                  <td colspan={6} class="muted">
                    (a version this session may not see)
                  </td>
                </tr>
              );
            }
            const node: LineageNode = n;
            return (
              <tr data-distance={String(node.distance)}>
                <td>{relation(node.distance)}</td>
                <td>
                  {node.distance === 0 ? (
                    <strong>{`${node.model} v${node.version}`}</strong>
                  ) : (
                    <a href={versionHref(node.model, node.version)}>{`${node.model} v${node.version}`}</a>
                  )}
                </td>
                <td>{node.status}</td>
                <td>
                  {node.aliases.map((a) => (
                    <span class="badge alias">{a}</span>
                  ))}
                </td>
                <td class="mono">{node.git_sha ? node.git_sha.slice(0, 12) : "—"}</td>
                <td class="mono">{node.run_id ?? "—"}</td>
                <td>
                  {node.datasets.map((d) => (
                    <div class="mono">{`${d.uri}${d.snapshot ? `@${d.snapshot}` : ""}`}</div>
                  ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {graph.edges.length > 0 && (
        <p class="muted">
          {graph.edges
            .map(
              (e) =>
                `${"redacted" in e.from ? "…" : `${e.from.model} v${e.from.version}`} → ${"redacted" in e.to ? "…" : `${e.to.model} v${e.to.version}`}`,
            )
            .join(" · ")}
        </p>
      )}
      {graph.truncated && <p class="muted">The graph is deeper than shown.</p>}
    </section>
  );
}

export function VersionPage({ page, view }: { page: PageContext; view: VersionView }) {
  const v = view.version;
  const lineage = v.lineage;
  const canApprove = page.csrf !== null && hasScope(page.principal, "approve");
  return (
    <Layout title={`${v.model} v${v.version}`} page={page}>
      <TopNotice notice={view.notice} />
      <h1>
        <a href={modelHref(v.model)}>{v.model}</a> {`v${v.version}`} <span class="badge">{v.status}</span>
        {v.stage !== "none" && <span class="badge">{`stage: ${v.stage}`}</span>}
        {v.aliases.map((a) => (
          <span class="badge alias">{a}</span>
        ))}
      </h1>
      {v.description && <p>{v.description}</p>}
      <p>
        Created <Time at={v.created_at} /> by <span class="mono">{v.created_by}</span>; ready <Time at={v.ready_at} />.
        Digest <Sha value={v.digest} />. <span data-downloads={String(v.downloads)}>{downloadsText(v.downloads)}</span>
      </p>
      <EditVersion page={page} view={view} />

      <h2>Files</h2>
      {v.files.length === 0 ? (
        <p class="muted">No files.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Path</th>
              <th>Size</th>
              <th>sha256</th>
            </tr>
          </thead>
          <tbody>
            {v.files.map((f) => (
              <tr>
                <td>
                  <a href={fileHref(v.model, v.version, f.path)} download>
                    {f.path}
                  </a>
                </td>
                <td>{bytes(f.size)}</td>
                <td>
                  <Sha value={f.sha256} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Signatures</h2>
      <Signatures view={view} />

      {view.card !== null && (
        <>
          <h2>Model card</h2>
          {view.card.source === null ? (
            <p class="muted">{`${view.card.path} (${view.card.size} bytes) is over the ${bytes(MAX_CARD_BYTES)} the page renders; download it above.`}</p>
          ) : (
            <ModelCard source={view.card.source} />
          )}
        </>
      )}

      <h2>Lineage</h2>
      <p>
        {lineage.git_sha && (
          <span>
            git <span class="mono">{lineage.git_sha}</span>
            {lineage.git_repo && <span class="muted">{` (${lineage.git_repo})`}</span>}.{" "}
          </span>
        )}
        {lineage.run_id && (
          <span>
            run{" "}
            {lineage.run_url && /^https?:\/\//.test(lineage.run_url) ? (
              <a href={lineage.run_url} rel="noopener nofollow">
                {lineage.run_id}
              </a>
            ) : (
              <span class="mono">{lineage.run_id}</span>
            )}
            .{" "}
          </span>
        )}
        {lineage.framework && (
          <span>{`framework ${lineage.framework.name}${lineage.framework.version ? ` ${lineage.framework.version}` : ""}.`}</span>
        )}
      </p>
      {(lineage.datasets ?? []).length > 0 && (
        <ul>
          {(lineage.datasets ?? []).map((d) => (
            <li class="mono">
              {d.uri}
              {d.snapshot && ` @ ${d.snapshot}`}
              {d.digest && ` (${d.digest.slice(0, 19)})`}
            </li>
          ))}
        </ul>
      )}
      <LineageTable graph={view.lineage} />

      <div class="grid">
        <section>
          <h2>Params</h2>
          <KeyValues values={lineage.params ?? {}} empty="No params." />
        </section>
        <section>
          <h2>Metrics</h2>
          <KeyValues values={v.metrics} empty="No metrics." />
        </section>
        <section>
          <h2>Version tags</h2>
          <Tags tags={v.tags} />
        </section>
      </div>

      <h2>Gates (dry run)</h2>
      {view.gates.length === 0 && <p class="muted">This model has no gates.</p>}
      {view.gates.map((g) => (
        <section aria-label={`Gate ${g.target}`}>
          <h3>
            {g.target}: {g.result.passed ? <span class="ok">passes</span> : <span class="bad">would refuse</span>}
          </h3>
          <GateChecks result={g.result} />
        </section>
      ))}

      <h2>Approvals</h2>
      {view.approvals.length === 0 ? (
        <p class="muted">No approvals.</p>
      ) : (
        <ul>
          {view.approvals.map((a) => (
            <li>
              <strong>{a.target}</strong> by <span class="mono">{a.approver}</span> <Time at={a.at} />
              {a.comment && <span class="muted">{` — ${a.comment}`}</span>}
            </li>
          ))}
        </ul>
      )}
      {canApprove && page.csrf && (
        <form method="post" action={`${versionHref(v.model, v.version)}/approve`} class="filters" aria-label="Approve">
          <Csrf token={page.csrf} />
          <label>
            Target
            <input name="target" required list="gate-targets" value={view.gates[0]?.target ?? ""} />
          </label>
          <datalist id="gate-targets">
            {view.gates.map((g) => (
              <option value={g.target} />
            ))}
          </datalist>
          <label>
            Comment
            <input name="comment" size={30} />
          </label>
          <button type="submit" class="primary">
            Approve
          </button>
        </form>
      )}
    </Layout>
  );
}
