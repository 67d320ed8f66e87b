/**
 * Progress of a transfer. On a terminal: one redrawn line with a bar, bytes, rate and ETA.
 * Elsewhere (CI logs, pipes): a plain line at every tenth of the way, so a log shows that
 * a long push is alive without a line per chunk. Written here rather than taken from a
 * library: it is sixty lines, and the libraries bring colours and dependencies this needs not.
 */
import { bytes, type Output } from "./output";

export interface Progress {
  /** Bytes done so far (absolute). */
  update(done: number): void;
  /** Ends the display with a summary line. */
  finish(summary?: string): void;
}

const REDRAW_MS = 100;
const RATE_WINDOW_MS = 3000;

export function progress(out: Output, label: string, total: number, start = 0): Progress {
  if (out.quiet) return { update() {}, finish() {} };
  const began = Date.now();
  const samples: { at: number; done: number }[] = [{ at: began, done: start }];
  let done = start;
  let lastDraw = 0;
  let lastTenth = Math.floor((start / Math.max(total, 1)) * 10);

  const rate = () => {
    const now = Date.now();
    while (samples.length > 2 && now - samples[0]!.at > RATE_WINDOW_MS) samples.shift();
    const first = samples[0]!;
    const seconds = (now - first.at) / 1000;
    return seconds > 0.2 ? (done - first.done) / seconds : 0;
  };

  const draw = () => {
    const r = rate();
    const pct = total > 0 ? Math.min(1, done / total) : 1;
    const eta = r > 0 ? formatDuration((total - done) / r) : "--:--";
    const stats = `${(pct * 100).toFixed(0).padStart(3)}%  ${bytes(done)}/${bytes(total)}  ${bytes(Math.round(r))}/s  ETA ${eta}`;
    const columns = out.err.columns ?? 80;
    const name = label.length > 30 ? `…${label.slice(-29)}` : label;
    const barWidth = Math.max(10, Math.min(40, columns - name.length - stats.length - 6));
    const filled = Math.round(pct * barWidth);
    out.err.write(`\r\x1b[2K${name} [${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${stats}`);
  };

  return {
    update(n) {
      done = n;
      const now = Date.now();
      samples.push({ at: now, done });
      if (out.tty) {
        if (now - lastDraw >= REDRAW_MS) {
          lastDraw = now;
          draw();
        }
        return;
      }
      const tenth = Math.floor((done / Math.max(total, 1)) * 10);
      if (tenth > lastTenth && done < total) {
        lastTenth = tenth;
        const r = rate();
        out.err.write(
          `${label}: ${Math.floor((done / total) * 100)}% (${bytes(done)} of ${bytes(total)}${r > 0 ? `, ${bytes(Math.round(r))}/s` : ""})\n`,
        );
      }
    },
    finish(summary) {
      const seconds = (Date.now() - began) / 1000;
      const moved = done - start;
      const line =
        summary ??
        `${label}: ${bytes(total)} done in ${seconds.toFixed(1)} s${moved > 0 && seconds > 0 ? ` (${bytes(Math.round(moved / seconds))}/s)` : ""}`;
      out.err.write(out.tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    },
  };
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
