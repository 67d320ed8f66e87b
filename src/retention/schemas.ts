/** Request and response schemas of API.md "Retention". */
import { z } from "zod";
import { DELETE_RULES, KEEP_REASONS, RetentionPolicy } from "../domain/retention";

const Timestamp = z.string().meta({ format: "date-time", example: "2026-11-27T04:05:06.789Z" });

export const ModelRetention = z
  .object({
    policy: RetentionPolicy,
    inherited: z
      .boolean()
      .meta({ description: "true: the model has no policy of its own, and this is the registry default" }),
    updated_at: Timestamp.nullable().meta({
      description: "when the policy shown was set (null: the default was never set)",
    }),
    updated_by: z.string().nullable(),
  })
  .meta({ id: "ModelRetention" });

export const PreviewBody = z.strictObject({
  policy: RetentionPolicy.optional().meta({ description: "the policy to try; default: the policy in force" }),
  at: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s).toISOString())
    .optional()
    .meta({ description: "evaluate as of this moment (ages grow, today's versions and aliases); default: now" }),
});

export const RetentionPreview = z
  .object({
    delete: z.array(
      z.object({
        version: z.number().int(),
        rule: z.enum(DELETE_RULES),
      }),
    ),
    keep: z.array(
      z.object({
        version: z.number().int(),
        reason: z.enum(KEEP_REASONS),
        detail: z.string().optional().meta({
          description:
            "the alias, the stage, or the child (`model/version`) naming the version as parent; left out for a child in a model the token may not read",
        }),
      }),
    ),
    policy: RetentionPolicy,
    source: z.enum(["request", "model", "default"]).meta({ description: "where the evaluated policy came from" }),
    at: Timestamp,
  })
  .meta({ id: "RetentionPreview" });
