/** Small pieces every page uses: the frame, times, digests, sizes, split bars, CSRF fields. */
import type { Child, PropsWithChildren } from "hono/jsx";
import type { Principal } from "../auth/principal";
import type { SplitEntry } from "../client/types";
import { CSS, SCRIPT } from "./assets";

export interface PageContext {
  principal: Principal;
  /** The session's CSRF token; null for an anonymous public read (no forms then). */
  csrf: string | null;
  /** Signed in with a pasted token (may sign out), rather than through Cloudflare Access. */
  canSignOut: boolean;
}

export function Layout(props: PropsWithChildren<{ title: string; page: PageContext | null; model?: string }>) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · mreg`}</title>
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body data-model={props.model}>
        <header class="top">
          <a href="/">mreg</a>
          <nav aria-label="Main">
            <a href="/">Models</a> · <a href="/audit">Audit</a>
          </nav>
          {props.page && (
            <div class="who">
              <span>
                {props.page.principal.sub} <span class="muted">({[...props.page.principal.scopes].join(" ")})</span>
              </span>
              {props.page.canSignOut && props.page.csrf && (
                <form method="post" action="/sign-out" class="inline">
                  <Csrf token={props.page.csrf} />
                  <button type="submit">Sign out</button>
                </form>
              )}
            </div>
          )}
        </header>
        <main>{props.children}</main>
        <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
  );
}

export const Csrf = ({ token }: { token: string }) => <input type="hidden" name="csrf" value={token} />;

/**
 * A timestamp, short enough not to wrap: `2026-12-01 05:19 UTC` in the markup (readable
 * without script), the reader's zone once the script runs; the full time to the second in
 * the title.
 */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  // To the second, with its zone: audit rows a few seconds apart must read apart. The page's
  // script shows it in the reader's zone, with UTC and the local time on hover.
  const utc = `${at
    .replace("T", " ")
    .replace(/\.\d+Z$/, "")
    .replace(/Z$/, "")} UTC`;
  return (
    <time datetime={at} title={utc}>
      {utc}
    </time>
  );
}

/** A sha256 shown by its first 12 hex digits, the whole in the title and a copy button. */
export function Sha({ value }: { value: string | null | undefined }) {
  if (!value) return <span class="muted">—</span>;
  const hex = value.replace(/^sha256:/, "");
  return (
    <span class="mono">
      <abbr title={value}>{hex.slice(0, 12)}</abbr>{" "}
      <button type="button" class="copy" data-copy={value} aria-label={`Copy ${value}`}>
        copy
      </button>
    </span>
  );
}

export { bytes } from "../domain/bytes-text";

/** What an alias serves: `v3`, or a split as proportional bars; each version links to its page when `model` is given. */
export function AliasValue({
  version,
  split,
  model,
}: {
  version: number | null;
  split: SplitEntry[] | null;
  model?: string;
}) {
  const label = (v: number, text: string) => (model === undefined ? text : <a href={versionHref(model, v)}>{text}</a>);
  if (split && split.length > 0) {
    return (
      <div class="bar" role="img" aria-label={split.map((s) => `v${s.version} ${s.weight}%`).join(", ")}>
        {split.map((s) => (
          <span style={`width:${s.weight}%`}>{label(s.version, `v${s.version} ${s.weight}%`)}</span>
        ))}
      </div>
    );
  }
  return <span>{version === null ? "(unset)" : label(version, `v${version}`)}</span>;
}

export function Tags({ tags }: { tags: Record<string, string> }) {
  const entries = Object.entries(tags);
  if (entries.length === 0) return <span class="muted">—</span>;
  return (
    <span>
      {entries.map(([k, v]) => (
        <span class="badge">{`${k}=${v}`}</span>
      ))}
    </span>
  );
}

export function KeyValues({ values, empty }: { values: Record<string, unknown>; empty: string }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return <p class="muted">{empty}</p>;
  return (
    <table>
      <tbody>
        {entries.map(([k, v]) => (
          <tr>
            <th scope="row">{k}</th>
            <td class="mono">{typeof v === "string" ? v : JSON.stringify(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What a page says at its top after an action: done, or refused with why and what to do. */
export interface PageNotice {
  kind: "ok" | "bad";
  text: string;
  /** For a refusal: what to do about it. */
  advice?: string;
}

export function TopNotice({ notice }: { notice: PageNotice | null | undefined }) {
  if (!notice) return null;
  return (
    <Notice kind={notice.kind}>
      <strong>{notice.kind === "ok" ? "Done: " : "Refused: "}</strong>
      {notice.text}
      {notice.advice && <p class="advice">{notice.advice}</p>}
    </Notice>
  );
}

export function Notice({ kind, children }: PropsWithChildren<{ kind: "ok" | "bad" | "info" }>) {
  return (
    <div class={`notice ${kind === "info" ? "" : kind}`} role={kind === "bad" ? "alert" : "status"}>
      {children}
    </div>
  );
}

// Four significant digits without trailing zeros: 0.9, 0.9624, 31.
export const metric = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));

export function MetricList({ metrics }: { metrics: Record<string, number> }): Child {
  const entries = Object.entries(metrics);
  if (entries.length === 0) return <span class="muted">—</span>;
  return <span class="mono">{entries.map(([k, v]) => `${k}=${metric(v)}`).join("  ")}</span>;
}

export const downloadsText = (n: number): string => `${n.toLocaleString("en-US")} download${n === 1 ? "" : "s"}`;

/** Path segments for links: encoded so a model or file name cannot change the route. */
export const modelHref = (model: string) => `/m/${encodeURIComponent(model)}`;
export const versionHref = (model: string, version: number) => `${modelHref(model)}/v/${version}`;
export const fileHref = (model: string, version: number, path: string) =>
  `${versionHref(model, version)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
