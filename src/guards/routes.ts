/** Routes of API.md "Gates, approvals and guards" for guards and production signals. */
import { z } from "zod";
import { skipWriteBookmark } from "../db/session";
import { ANONYMOUS_NODE, Guard, GuardBody, MAX_NODE_NAME, MAX_SIGNAL_COUNT, SignalValue } from "../domain/guard";
import { MAX_METRIC_NAME, MAX_SIGNAL_METRICS } from "../domain/signal-limits";
import { config, type Env } from "../env";
import { ALIAS_PARAM, defineRoute, MODEL_PARAM } from "../http/api";
import { AliasParams, SettableAliasParams } from "../aliases/schemas";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import { signals, type SignalBatch } from "./coalesce";
import { forgetGuards, guardsOf, type GuardedAlias } from "../caches/guard-directory";

export const SignalBody = z.strictObject({
  version: z.number().int().positive(),
  node: z
    .string()
    .min(1)
    .max(MAX_NODE_NAME)
    .optional()
    .describe(
      "The node that measured these metrics (the agent sends its `--key`); signals that name none count as one anonymous node",
    ),
  metrics: z
    .record(z.string().min(1).max(MAX_METRIC_NAME), SignalValue.describe("Finite, with magnitude at most 1e12"))
    .refine(
      (m) => Object.keys(m).length >= 1 && Object.keys(m).length <= MAX_SIGNAL_METRICS,
      `1 to ${MAX_SIGNAL_METRICS} metrics`,
    ),
  count: z.number().int().min(1).max(MAX_SIGNAL_COUNT).default(1),
});

export const guardRoutes = [
  defineRoute({
    method: "put",
    path: "/v1/models/{model}/aliases/{alias}/guard",
    operationId: "setGuard",
    summary: "Guard an alias: roll it back when a production metric breaks a bound",
    description:
      "When the signals for a version the alias serves (for a split: any member, each with its own window) inside the last `window_s` number at least `min_samples`, came from at least `min_nodes` distinct nodes (`node`; signals naming none count as one node), and their mean breaks `min`/`max`, the alias is rolled back to its previous value at once (audited as `rollback` by actor `guard`, watchers get event `guard`). Setting a guard starts its window afresh; setting or removing one needs the token's `aliases` grant for the alias (a guard can move it). Other isolates may drop signals for a new guard for up to `SIGNAL_GUARDS_TTL_S` (see postSignals).",
    tag: "Gates",
    scope: "admin",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: SettableAliasParams,
    body: GuardBody,
    responses: { 200: { description: "The guard", schema: Guard } },
    errors: ["validation_failed", "not_found", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      const guard = unwrap(
        await modelState(c.env, params.model).setGuard({
          ...actorFor(params.model, principal),
          alias: params.alias,
          policy: body,
        }),
      );
      forgetGuards(params.model);
      return c.json(guard);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/aliases/{alias}/guard",
    operationId: "getGuard",
    summary: "An alias's guard and its current window",
    description:
      "`window` is the alias's window over the last `window_s` (for a split: all members together, `version` null); `windows` holds each served version's own window, which is what the guard trips on: for a split, any member whose window breaks the bound takes the alias back to its previous value.",
    tag: "Gates",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: AliasParams,
    responses: { 200: { description: "The guard", schema: Guard } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      return c.json(
        unwrap(await modelState(c.env, params.model).getGuard({ model: params.model, alias: params.alias })),
      );
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/aliases/{alias}/guard",
    operationId: "deleteGuard",
    summary: "Remove an alias's guard",
    tag: "Gates",
    scope: "admin",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: AliasParams,
    responses: { 204: { description: "Removed" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      unwrap(
        await modelState(c.env, params.model).deleteGuard({
          ...actorFor(params.model, principal),
          alias: params.alias,
        }),
      );
      forgetGuards(params.model);
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/aliases/{alias}/signals",
    operationId: "postSignals",
    summary: "Report production metrics of the version a serving node served",
    description:
      "`count` (default 1, up to 100,000) says the metrics are the mean of that many samples the node aggregated itself; `node` names the node that measured them (the guard's `min_nodes` counts distinct nodes; signals without it count as one anonymous node); values must be finite with magnitude at most 1e12. Needs the token's `aliases` grant for the alias (a signal can move it). " +
      "202 means queued, not counted. Signals no guard counts are dropped at the Worker and never reach the model's Durable Object: for an alias without a guard, for a version the alias does not serve, and metrics other than the guard's. " +
      "Each isolate learns the model's guards (the aliases, the versions they serve, the metric) from the Durable Object and trusts that for `SIGNAL_GUARDS_TTL_S` (default 5): a signal for an alias whose guard was just set, or for a version just promoted into it, through another isolate may be dropped for up to that long. " +
      "What one isolate receives for an alias within `SIGNAL_COALESCE_MS` (default 1000) reaches the Durable Object as one batch, weighted per version, which checks everything again.",
    tag: "Gates",
    scope: "report",
    subject: { model: MODEL_PARAM, aliases: ALIAS_PARAM },
    params: AliasParams,
    body: SignalBody,
    responses: { 202: { description: "Queued" } },
    errors: ["validation_failed", "unsupported_media_type"],
    async handler(c, { params, body }) {
      // The serving path's write: it skips the primary round trip for a bookmark (a rollback it
      // may trigger is a serving event, read back over watch, not through D1).
      skipWriteBookmark(c);
      const cfg = config(c.env);
      const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
      const guard = await guardFor(c.env, params.model, params.alias, cfg.SIGNAL_GUARDS_TTL_S, waitUntil);
      const value = guard && Object.hasOwn(body.metrics, guard.metric) ? body.metrics[guard.metric] : undefined;
      if (!guard || value === undefined || !guard.versions.includes(body.version)) return c.body(null, 202);
      const signal = {
        model: params.model,
        alias: params.alias,
        metric: guard.metric,
        version: body.version,
        value,
        count: body.count,
        node: body.node ?? ANONYMOUS_NODE,
        minNodes: guard.min_nodes,
      };
      await signals.add(signal, cfg.SIGNAL_COALESCE_MS, waitUntil, (batch) => sendBatch(c.env, batch));
      return c.body(null, 202);
    },
  }),
];

/** The alias's guard as this isolate knows it; null (the signal is dropped) when there is none, or ModelState cannot say. */
async function guardFor(
  env: Env,
  model: string,
  alias: string,
  ttlS: number,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<GuardedAlias | null> {
  try {
    const guards = await guardsOf(model, { ttlS, waitUntil }, () => modelState(env, model).guardedAliases());
    return guards.get(alias) ?? null;
  } catch (err) {
    // Signals are telemetry: when the object cannot be asked, it could not count them either.
    console.warn(`signals for ${model}@${alias} dropped: its guards cannot be read`, err);
    return null;
  }
}

/** A rollback the batch causes is forgotten from this isolate's caches by the stub (src/model-writes/stub.ts). */
async function sendBatch(env: Env, batch: SignalBatch): Promise<void> {
  await modelState(env, batch.model).signal(batch);
}
