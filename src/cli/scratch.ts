/**
 * A scratch folder for a command that stages bytes on disk (`import mlflow` holds each file
 * there between download and upload): `<os temp dir>/<prefix>-<pid>-<random>`, private
 * (mkdtemp makes it 0700), removed on every exit the process sees: the command's end, an
 * error, `process.exit`, SIGINT, SIGTERM, SIGHUP. A SIGKILL (or a power cut) leaves it, so
 * opening one first sweeps the folders of this prefix whose process no longer runs.
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The exit status of a process ended by each signal, as a shell reports it (128 + n). */
const SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type Signal = keyof typeof SIGNALS;

export class Scratch {
  private readonly onExit = () => this.remove();
  /** Node hands a signal's listener the signal's name. */
  private readonly onSignal = (signal: Signal) => {
    this.remove();
    this.interrupted(signal);
    process.exit(SIGNALS[signal]);
  };

  private constructor(
    readonly dir: string,
    private readonly interrupted: (signal: Signal) => void,
  ) {
    process.once("exit", this.onExit);
    for (const signal of Object.keys(SIGNALS)) process.once(signal, this.onSignal);
  }

  /** Sweeps what killed runs left, then makes this run's folder; `interrupted` speaks before a signal ends the process. */
  static open(prefix: string, interrupted: (signal: Signal) => void): Scratch {
    sweepScratch(prefix);
    return new Scratch(mkdtempSync(join(tmpdir(), `${prefix}-${process.pid}-`)), interrupted);
  }

  /** Removes the folder and the handlers: the command is over. */
  close(): void {
    this.remove();
    process.removeListener("exit", this.onExit);
    for (const signal of Object.keys(SIGNALS)) process.removeListener(signal, this.onSignal);
  }

  private remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Removes `<os temp dir>/<prefix>-<pid>-*` folders of processes that no longer run. Only
 * folders this user owns are touched (the temp dir may be shared; a link there is never
 * followed), and never one whose process still runs, whoever it is.
 */
export function sweepScratch(prefix: string): string[] {
  const swept: string[] = [];
  const uid = process.getuid?.();
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(`${prefix}-`)) continue;
    const pid = name.slice(prefix.length + 1).split("-")[0]!;
    if (!/^[1-9][0-9]{0,9}$/.test(pid) || isRunning(Number(pid))) continue;
    const path = join(tmpdir(), name);
    try {
      const s = lstatSync(path);
      if (!s.isDirectory() || (uid !== undefined && s.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      swept.push(path);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return swept;
}

/** Whether a process with this id exists (EPERM: it does, under another user). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
