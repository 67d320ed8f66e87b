/**
 * What the CLI prints. Results go to stdout (JSON with --json, else text and tables);
 * everything else (progress, notes, errors) to stderr, so `mreg … --json | jq` always reads
 * clean JSON.
 */
import type { Writable } from "node:stream";
import { formatSelected, select, type Selector } from "./select";

export class Output {
  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
    private readonly out: Writable & { isTTY?: boolean } = process.stdout,
    readonly err: Writable & { isTTY?: boolean; columns?: number } = process.stderr,
    /** `--jq`: print only these fields of the JSON. */
    private readonly selector?: Selector,
  ) {}

  /** Whether stderr is a terminal that can take a redrawn progress bar. */
  get tty(): boolean {
    return this.err.isTTY === true && process.env.TERM !== "dumb";
  }

  /** The command's result: `value` as JSON, or `text()` for people. */
  result(value: unknown, text: () => string): void {
    if (this.selector) {
      const picked = formatSelected(select(this.selector, value));
      if (picked) this.out.write(picked + "\n");
    } else if (this.json) this.out.write(JSON.stringify(value, null, 2) + "\n");
    else {
      const t = text();
      if (t) this.out.write(t.endsWith("\n") ? t : t + "\n");
    }
  }

  /** One JSON object per line (watch): a stream a script can read as it comes. */
  line(value: unknown, text: () => string): void {
    if (this.selector) this.out.write(formatSelected(select(this.selector, value)) + "\n");
    else this.out.write((this.json ? JSON.stringify(value) : text()) + "\n");
  }

  /** A note for people on stderr (never in the way of stdout); --quiet drops it. */
  note(message: string): void {
    if (!this.quiet) this.err.write(message + "\n");
  }

  /** An error message on stderr, whatever --quiet says. */
  error(message: string): void {
    this.err.write(message + "\n");
  }

  /** The error as JSON on stdout (with --json), so scripts parse one stream. */
  errorJson(value: unknown): void {
    this.out.write(JSON.stringify({ error: value }, null, 2) + "\n");
  }
}

/** Left-aligned columns; `—` for empty cells. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined || c === "" ? "—" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [fmt(headers), ...cells.map(fmt)].join("\n");
}

/** `key: value` lines, aligned. */
export function fields(entries: [string, unknown][]): string {
  const width = Math.max(...entries.map(([k]) => k.length)) + 1;
  return entries
    .map(
      ([k, v]) =>
        `${`${k}:`.padEnd(width)} ${v === null || v === undefined || v === "" ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v)}`,
    )
    .join("\n");
}

export { bytes } from "../domain/bytes-text";

export const kv = (m: Record<string, unknown> | null | undefined) =>
  m && Object.keys(m).length
    ? Object.entries(m)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ")
    : "";

export function ago(iso: string | null | undefined): string {
  if (!iso) return "";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return iso.slice(0, 10);
}
