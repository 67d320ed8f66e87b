/** The audit log with the contract's filters, newest first, a page at a time; each change in words (./words.ts). */
import type { AuditEvent, Page } from "../../client/types";
import { Layout, modelHref, Time, versionHref, type PageContext } from "../components";
import { changeText } from "../words";

export const AUDIT_FILTERS = ["model", "alias", "actor", "action", "since", "until"] as const;
export type AuditFilters = Record<(typeof AUDIT_FILTERS)[number], string>;

export function AuditPage({
  page,
  filters,
  events,
}: {
  page: PageContext;
  filters: AuditFilters;
  events: Page<AuditEvent>;
}) {
  const next = new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== ""));
  if (events.next_cursor) next.set("cursor", events.next_cursor);
  return (
    <Layout title="Audit" page={page}>
      <h1>Audit log</h1>
      <form method="get" action="/audit" class="filters" role="search">
        {AUDIT_FILTERS.map((f) => (
          <label>
            {f}
            <input
              name={f}
              value={filters[f]}
              placeholder={f === "since" || f === "until" ? "2026-11-27T00:00:00Z" : undefined}
              size={f === "since" || f === "until" ? 22 : 14}
            />
          </label>
        ))}
        <button type="submit">Filter</button>
      </form>
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>Actor</th>
            <th>Action</th>
            <th>Model</th>
            <th>Version / alias</th>
            <th>Change</th>
          </tr>
        </thead>
        <tbody>
          {events.items.map((e) => (
            <tr>
              <td>
                <Time at={e.at} />
              </td>
              <td class="mono">{e.actor}</td>
              <td>{e.action}</td>
              <td class="nowrap">
                <a href={modelHref(e.model)}>{e.model}</a>
              </td>
              <td class="nowrap">
                {e.version !== undefined && <a href={versionHref(e.model, e.version)}>{`v${e.version}`}</a>}{" "}
                {e.alias ?? ""}
              </td>
              <td data-change="">{changeText(e)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.items.length === 0 && <p class="muted">No events match.</p>}
      {events.next_cursor && <a href={`/audit?${next.toString()}`}>Older →</a>}
    </Layout>
  );
}
