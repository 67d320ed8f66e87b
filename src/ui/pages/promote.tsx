/** Promotion: the gate's dry run first, then a confirmed post; a refusal shows every check. */
import type { GateCheck, GateResult, Version } from "../../client/types";
import { Csrf, Layout, MetricList, modelHref, Notice, versionHref, type PageContext } from "../components";

export function GateChecks({ result }: { result: { checks: GateCheck[] } }) {
  if (result.checks.length === 0) return <p class="muted">The policy has no checks.</p>;
  return (
    <table class="checks">
      <thead>
        <tr>
          <th>Check</th>
          <th>Result</th>
          <th>Expected</th>
          <th>Actual</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        {result.checks.map((c) => (
          <tr data-check={c.check} data-passed={String(c.passed)}>
            <td class="mono">{c.check}</td>
            <td class={c.passed ? "pass" : "fail"}>{c.passed ? "pass" : "FAIL"}</td>
            <td class="mono">{c.expected}</td>
            <td class="mono">{c.actual === undefined ? "—" : JSON.stringify(c.actual)}</td>
            <td>{c.detail ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export interface PromoteView {
  model: string;
  alias: string;
  version: Version;
  /** The dry run, or null when no gate covers the alias. */
  dryRun: GateResult | null;
  /** A refused promotion's checks (409 gate_failed), or another refusal's message. */
  refused?: { detail: string; checks: GateCheck[] | undefined };
}

export function PromotePage({ page, view }: { page: PageContext; view: PromoteView }) {
  const { model, alias, version } = view;
  return (
    <Layout title={`Promote ${model} v${version.version} to ${alias}`} page={page}>
      <h1>
        Promote <a href={versionHref(model, version.version)}>{`${model} v${version.version}`}</a> to{" "}
        <span class="badge alias">{alias}</span>
      </h1>
      <p>
        Status {version.status}, stage {version.stage}. Metrics: <MetricList metrics={version.metrics} />
      </p>
      {view.refused && (
        <Notice kind="bad">
          <strong>Promotion refused:</strong> {view.refused.detail}
        </Notice>
      )}
      {view.refused?.checks && <GateChecks result={{ checks: view.refused.checks }} />}
      <h2>Gate dry run</h2>
      {view.dryRun === null ? (
        <p class="muted">{`No gate covers '${alias}': any ready version may be promoted.`}</p>
      ) : (
        <>
          <p>
            {view.dryRun.passed ? (
              <span class="ok">The gate passes.</span>
            ) : (
              <span class="bad">The gate would refuse this promotion.</span>
            )}
          </p>
          <GateChecks result={view.dryRun} />
        </>
      )}
      {page.csrf && (
        <form method="post" action={`${modelHref(model)}/promote`} class="filters" aria-label="Confirm promotion">
          <Csrf token={page.csrf} />
          <input type="hidden" name="alias" value={alias} />
          <input type="hidden" name="version" value={String(version.version)} />
          <label>
            Reason
            <input name="reason" size={40} />
          </label>
          <button type="submit" class="primary">{`Set ${alias} → v${version.version}`}</button>
        </form>
      )}
      <p>
        <a href={modelHref(model)}>← back to {model}</a>
      </p>
    </Layout>
  );
}
