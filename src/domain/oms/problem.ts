/**
 * What a signature check reports when it refuses: which check failed and why, in words a
 * person can act on. The pure readers (DER, X.509, bundle, statement) throw `OmsFailure`
 * inside and answer `{problem}` at their edge, so a caller never sees a throw of another
 * kind for bad input; a throw of another kind is a bug.
 */

/**
 * The checks, in the order a bundle meets them: its JSON shape (`envelope`), the key that
 * signed it (`key`), the DSSE signature (`signature`), the certificate path (`chain`), the
 * Rekor entry (`tlog`), the embedded certificate timestamps (`sct`), the operator's Sigstore
 * trusted root (`trusted_root`), the OMS statement (`statement`), the version's files (`files`).
 */
export type Check =
  "envelope" | "key" | "signature" | "chain" | "tlog" | "sct" | "trusted_root" | "statement" | "files";

export interface Problem {
  readonly check: Check;
  readonly detail: string;
}

/** The failure variant every reader answers instead of throwing. */
export interface Refusal {
  readonly problem: Problem;
}

export class OmsFailure extends Error {
  constructor(
    readonly check: Check,
    readonly detail: string,
  ) {
    super(`${check}: ${detail}`);
    this.name = "OmsFailure";
  }
}

export function fail(check: Check, detail: string): never {
  throw new OmsFailure(check, detail);
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && "problem" in value;
}

/** Runs a reader, turning its OmsFailure into `{problem}`; anything else (a bug) propagates. */
export function attempt<T>(read: () => T): T | Refusal {
  try {
    return read();
  } catch (error) {
    if (error instanceof OmsFailure) return { problem: { check: error.check, detail: error.detail } };
    throw error;
  }
}
