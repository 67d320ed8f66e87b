/** GET /v1/audit: who did what, when, newest first. */
import { z } from "zod";
import { visibilityOf } from "../auth/principal";
import { orm, queryDb } from "../db/session";
import { ModelName } from "../domain/names";
import { defineRoute } from "../http/api";
import { decodeCursor, encodeCursor, PageQuery, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { readAuditSpanning } from "./archive";
import { readAudit } from "./store";

const Timestamp = z.iso.datetime({ offset: true });

const AuditQuery = PageQuery.extend({
  model: ModelName.optional(),
  alias: z
    .string()
    .min(1)
    .max(64)
    .transform((a) => a.toLowerCase())
    .optional(),
  actor: z.string().min(1).max(256).optional(),
  action: z.string().min(1).max(64).optional(),
  since: Timestamp.optional(),
  until: Timestamp.optional(),
});

export const AuditEvent = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.string().describe("The token's `sub`"),
    token: z
      .string()
      .optional()
      .describe("The id (`jti`) of the minted token the write was made with; absent for tokens without one"),
    action: z.string(),
    model: z.string(),
    version: z.number().int().optional(),
    alias: z.string().optional(),
    from: z.unknown().optional(),
    to: z.unknown().optional(),
    reason: z.string().optional(),
    detail: z.unknown().optional(),
  })
  .meta({ id: "AuditEvent" });

const AuditCursor = z.object({ id: z.string().min(1) });

/** Instants compare as text only in one form: the stored one (UTC, milliseconds). */
const normalize = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

export const auditRoutes = [
  defineRoute({
    method: "get",
    path: "/v1/audit",
    operationId: "listAudit",
    summary: "The audit log, newest first",
    description:
      "Filters combine: `model`, `alias`, `actor`, `action`, `since` (inclusive) and `until` (exclusive). A token with a `models` claim sees only those models' events.",
    tag: "Audit",
    scope: "read",
    query: AuditQuery,
    responses: { 200: { description: "A page of events", schema: pageOf(AuditEvent) } },
    errors: ["validation_failed"],
    async handler(c, { query, principal }) {
      const before = query.cursor ? decodeCursor(query.cursor, AuditCursor).id : undefined;
      const db = orm(queryDb(c));
      const read = await readAuditSpanning(c.env.ARTIFACTS, (f) => readAudit(db, f), {
        model: query.model,
        alias: query.alias,
        actor: query.actor,
        action: query.action,
        since: normalize(query.since),
        until: normalize(query.until),
        visibility: visibilityOf(principal),
        before,
        limit: query.limit,
      });
      const page = toPage(
        read.events,
        query.limit,
        (e) => ({ id: e.id }),
        (e) => e,
      );
      // The archive's read stopped before it filled the page: the next one goes on below where it stopped.
      if (read.cutAt !== undefined && page.next_cursor === null) page.next_cursor = encodeCursor({ id: read.cutAt });
      return c.json(page);
    },
  }),
];
