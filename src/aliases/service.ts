/**
 * Alias and stage writes as every protocol makes them (`/v1`, and the MLflow bridge's
 * `set-registered-model-alias` or `transition-model-version-stage`): the grant, the one
 * ModelState call that decides and commits, and what follows. What a write moved is
 * forgotten from this isolate's caches by the ModelState stub itself (src/model-writes/stub.ts),
 * so no caller can skip it. Errors are ProblemErrors with the contract's codes; a bridge
 * words them in its own dialect.
 */
import { requireAuthorized } from "../auth/authorize";
import { hasScope, type Principal } from "../auth/principal";
import type { AliasValue } from "../domain/alias";
import type { Stage, VersionRecord } from "../domain/version";
import type { Env } from "../env";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import type { AliasBody, HistoryEntry } from "../state/alias-table";

/** Who moves what: the principal (its grants are checked here) and the model. */
export interface AliasWriter {
  env: Env;
  principal: Principal;
  model: string;
}

const granted = (w: AliasWriter, aliases: readonly string[]) =>
  requireAuthorized(w.principal, { scope: "promote", model: w.model, aliases });

/** Points `alias` at a ready version or a split (its gate decides, in the same step). */
export async function setAlias(
  w: AliasWriter,
  alias: string,
  value: AliasValue,
  opts: { reason: string | null; expectedGeneration?: number },
): Promise<AliasBody> {
  granted(w, [alias]);
  return unwrap(
    await modelState(w.env, w.model).setAlias({
      ...actorFor(w.model, w.principal),
      alias,
      value,
      reason: opts.reason,
      expectedGeneration: opts.expectedGeneration,
    }),
  );
}

/** Deletes `alias`; one with a gate needs `admin` too (decided in ModelState, with the gate). */
export async function deleteAlias(w: AliasWriter, alias: string, reason: string | null): Promise<void> {
  granted(w, [alias]);
  unwrap(
    await modelState(w.env, w.model).deleteAlias({
      ...actorFor(w.model, w.principal),
      alias,
      reason,
      admin: hasScope(w.principal, "admin"),
    }),
  );
}

/** Rolls `alias` back (to `toVersion`, or the value before its newest change); skips gates. */
export async function rollbackAlias(
  w: AliasWriter,
  alias: string,
  opts: { toVersion?: number; reason: string | null },
): Promise<AliasBody> {
  granted(w, [alias]);
  return unwrap(
    await modelState(w.env, w.model).rollbackAlias({
      ...actorFor(w.model, w.principal),
      alias,
      toVersion: opts.toVersion,
      reason: opts.reason,
    }),
  );
}

/** Exchanges two aliases' values in one step; each alias's gate decides on the value it receives. */
export async function swapAliases(
  w: AliasWriter,
  aliases: [string, string],
  reason: string | null,
): Promise<[AliasBody, AliasBody]> {
  granted(w, aliases);
  return unwrap(await modelState(w.env, w.model).swapAliases({ ...actorFor(w.model, w.principal), aliases, reason }));
}

/**
 * Moves a version to a stage. The stages a move touches depend on where the version is at
 * that moment, so their grants are checked inside ModelState, in the same step.
 */
export async function setStage(
  w: AliasWriter,
  version: number,
  stage: Stage,
  opts: { archiveExisting: boolean; reason: string | null },
): Promise<VersionRecord> {
  requireAuthorized(w.principal, { scope: "promote", model: w.model });
  return unwrap(
    await modelState(w.env, w.model).setStage({
      ...actorFor(w.model, w.principal),
      grants: w.principal.aliases,
      version,
      stage,
      archiveExisting: opts.archiveExisting,
      reason: opts.reason,
    }),
  );
}

/** An alias's changes, newest first, before generation `before` (every protocol that shows an alias's log reads it here). */
export async function aliasHistory(
  w: AliasWriter,
  alias: string,
  opts: { before?: number; limit: number },
): Promise<HistoryEntry[]> {
  requireAuthorized(w.principal, { scope: "read", model: w.model });
  return modelState(w.env, w.model).aliasHistory({ alias, before: opts.before, limit: opts.limit });
}
