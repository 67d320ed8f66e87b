/**
 * What judges a staged version before `current` moves to it. Each judge sees the complete,
 * verified version in its own directory (`DIR/versions/v<n>`) while `current` still points at
 * the version served; the first refusal refuses the version, and the agent (./agent.ts) then
 * never points `current` at it: it keeps serving what it had, reports the node `refused` with
 * the reason, and looks at the version again only when the alias changes or `--retry-refused`
 * later (./plan.ts `recordRefusal`).
 *
 * Today's judge is `--check` (a shell command run like `--exec`, with the hooks' clean
 * environment, ./hooks.ts). Another judge of a staged version joins the list `judgesOf` makes;
 * the agent's one call, `judgeStaged`, stays as it is.
 */
import { runExec, type HookEnv, type HookResult } from "./hooks";

/** A version complete on disk that `current` does not point at yet. */
export interface Staged {
  version: number;
  /** The hooks' environment for it: MREG_DIR is the staged version's own directory. */
  env: HookEnv & Record<string, string>;
}

export interface Judge {
  /** Takes the version ({ok: true}) or refuses it, saying why; `write` takes what it prints, line by line. */
  judge(staged: Staged, write: (line: string) => void): Promise<HookResult>;
}

/** `--check CMD`: exit 0 takes the version; anything else (a code, a signal, the hook timeout) refuses it. */
export function checkCommand(command: string, timeoutMs: number): Judge {
  return { judge: (staged, write) => runExec(command, staged.env, timeoutMs, write, "--check") };
}

/** The judges the agent's flags ask for, in the order they run. */
export function judgesOf(config: { check: string | null; hookTimeoutMs: number }): Judge[] {
  return config.check ? [checkCommand(config.check, config.hookTimeoutMs)] : [];
}

/** Runs the judges one after the other; the first refusal is the verdict (and the rest do not run). */
export async function judgeStaged(
  judges: readonly Judge[],
  staged: Staged,
  write: (line: string) => void,
): Promise<HookResult> {
  for (const judge of judges) {
    const verdict = await judge.judge(staged, write);
    if (!verdict.ok) return verdict;
  }
  return { ok: true };
}
