/** Routes of API.md "Gates, approvals and guards" for guards and production signals. */
import { skipWriteBookmark } from "../db/session";
import { z } from "zod";
import { GuardBody, MAX_SIGNAL_COUNT, SignalValue } from "../domain/guard";
import { config } from "../env";
import { defineRoute } from "../http/api";
import { AliasParams, SettableAliasParams } from "../aliases/schemas";
import { actorFor, modelState, unwrap } from "../state/client";
import { coalesce } from "./coalesce";

const GuardWindow = z.object({
  version: z.number().nullable(),
  samples: z.number(),
  mean: z.number().nullable(),
  batches: z.number().describe("How many calls to the model's Durable Object brought these samples (how well isolates coalesce)"),
});

const Guard = z
  .object({
    model: z.string(),
    alias: z.string(),
    metric: z.string(),
    min: z.number().nullable(),
    max: z.number().nullable(),
    window_s: z.number().int(),
    min_samples: z.number().int(),
    updated_at: z.string(),
    updated_by: z.string(),
    window: GuardWindow.describe(
      "The alias's window over the last `window_s`: that of the version it serves; for a split, all members' signals together, with `version` null (as the Alias's). A guard trips on one member's window, never on this sum: see `windows`.",
    ),
    windows: z
      .array(GuardWindow.extend({ version: z.number() }))
      .describe("Each version the alias serves, with its own window, in the alias's order (one entry unless it is a split; none while the alias is not set)"),
  })
  .meta({ id: "Guard" });

const SignalBody = z.strictObject({
  version: z.number().int().positive(),
  metrics: z
    .record(z.string().min(1).max(128), SignalValue.describe("Finite, with magnitude at most 1e12"))
    .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 256, "1 to 256 metrics"),
  count: z.number().int().min(1).max(MAX_SIGNAL_COUNT).default(1),
});

export const guardRoutes = [
  defineRoute({
    method: "put",
    path: "/v1/models/{model}/aliases/{alias}/guard",
    operationId: "setGuard",
    summary: "Guard an alias: roll it back when a production metric breaks a bound",
    description:
      "When the signals for the alias's current version inside the last `window_s` number at least `min_samples` and their mean breaks `min`/`max`, the alias is rolled back to its previous value at once (audited as `rollback` by actor `guard`, watchers get event `guard`). Setting a guard starts its window afresh.",
    tag: "Gates",
    scope: "admin",
    params: SettableAliasParams,
    body: GuardBody,
    responses: { 200: { description: "The guard", schema: Guard } },
    errors: ["validation_failed", "not_found", "unsupported_media_type"],
    async handler(c, { params, body, principal }) {
      return c.json(unwrap(await modelState(c.env, params.model).setGuard({ ...actorFor(params.model, principal), alias: params.alias, policy: body })));
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
    params: AliasParams,
    responses: { 200: { description: "The guard", schema: Guard } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      return c.json(unwrap(await modelState(c.env, params.model).getGuard({ model: params.model, alias: params.alias })));
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/aliases/{alias}/guard",
    operationId: "deleteGuard",
    summary: "Remove an alias's guard",
    tag: "Gates",
    scope: "admin",
    params: AliasParams,
    responses: { 204: { description: "Removed" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      unwrap(await modelState(c.env, params.model).deleteGuard({ ...actorFor(params.model, principal), alias: params.alias }));
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "post",
    path: "/v1/models/{model}/aliases/{alias}/signals",
    operationId: "postSignals",
    summary: "Report production metrics of the version a serving node served",
    description:
      "`count` (default 1, up to 100,000) says the metrics are the mean of that many samples the node aggregated itself. Signals one isolate receives for an alias and version within `SIGNAL_COALESCE_MS` (default 1000) reach the model's Durable Object as one weighted batch. 202 means queued; signals for a version the alias no longer serves are ignored.",
    tag: "Gates",
    scope: "report",
    params: AliasParams,
    body: SignalBody,
    responses: { 202: { description: "Queued" } },
    errors: ["validation_failed", "unsupported_media_type"],
    async handler(c, { params, body }) {
      // The serving path's write: it skips the primary round trip for a bookmark (a rollback it
      // may trigger is a serving event, read back over watch, not through D1).
      skipWriteBookmark(c);
      const stub = modelState(c.env, params.model);
      await coalesce(
        `${params.model}\u0000${params.alias}\u0000${body.version}`,
        body.metrics,
        body.count,
        config(c.env).SIGNAL_COALESCE_MS,
        (p) => c.executionCtx.waitUntil(p),
        async (samples) => {
          await stub.signal({ model: params.model, alias: params.alias, version: body.version, samples });
        },
      );
      return c.body(null, 202);
    },
  }),
];
