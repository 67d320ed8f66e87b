/** The types of ./npm-start.mjs, for the TypeScript tests that import it. */
import type { ChildProcess } from "node:child_process";

export declare const root: string;
export declare function freePort(): Promise<number>;
export declare const SERVER_ARGS: readonly string[];
export declare function npmStartArgs(port: number, state: string, extra?: readonly string[]): string[];

export interface Group {
  child: ChildProcess;
  pid: number | undefined;
  output(): string;
  running(): boolean;
  signal(signal: NodeJS.Signals): boolean;
}

export declare function spawnGroup(
  command: string,
  args: readonly string[],
  options?: { cwd?: string; env?: NodeJS.ProcessEnv; keepChars?: number },
): Group;

export declare function waitForHealth(
  group: Group,
  url: string,
  options?: { timeoutMs?: number; everyMs?: number; requestTimeoutMs?: number; ready?: (res: Response) => boolean },
): Promise<"up" | "exited" | "timeout">;
