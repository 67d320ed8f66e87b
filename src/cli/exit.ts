/**
 * Exit codes, documented in the README and stable: scripts branch on them.
 *   0 ok · 1 error · 2 usage · 3 gate refused · 4 conflict · 5 not found · 130 interrupted (Ctrl-C)
 */
import { MregError } from "../client/errors";

export const EXIT = { ok: 0, error: 1, usage: 2, gateRefused: 3, conflict: 4, notFound: 5, interrupted: 130 } as const;

/** A mistake in how the command was called: exit 2, with a pointer to the help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A failure the CLI found itself (a digest that does not match, a missing file): exit 1 unless given. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

/** A gate said no: the checks are the answer, and the exit code says so (3). */
export class GateRefused extends Error {}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof GateRefused) return EXIT.gateRefused;
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof MregError) {
    if (err.code === "gate_failed") return EXIT.gateRefused;
    if (err.code === "not_found" || err.status === 404) return EXIT.notFound;
    if (err.status === 409) return EXIT.conflict;
  }
  return EXIT.error;
}
