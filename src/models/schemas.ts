/**
 * Request and response schemas of the Models and Versions routes (docs/reference.md
 * "Models" and "Versions"). Routes validate with them and the OpenAPI document is generated
 * from them.
 */
import { z } from "zod";
import { MAX_METRICS, MAX_PATCH_KEYS } from "../domain/limits";
import { File } from "../domain/manifest";
import { ModelName, TagKey, TagPatch, Tags, VersionNumber } from "../domain/names";
import { splitTagPair, TAG_PAIR_HINT } from "../domain/tag-pair";
import { fitsLineageCap, Lineage, LINEAGE_CAP_MESSAGE, LineageFields } from "../domain/version";
import { PageQuery } from "../http/cursor";

export { File, Lineage };

const Timestamp = z.string().meta({ format: "date-time", example: "2026-11-27T04:05:06.789Z" });
const Description = z.string().max(4096);
const MetricName = z.string().min(1).max(128);
/** JSON has no NaN or Infinity, but 1e999 parses to Infinity: z.number() refuses it. */
const MetricValue = z.number();

export const ModelKind = z.enum(["model", "prompt", "config"]);

// ---- models -------------------------------------------------------------------------------

export const ModelParams = z.object({ model: ModelName });

export const CreateModelBody = z.strictObject({
  name: ModelName,
  kind: ModelKind.default("model"),
  description: Description.nullable().optional(),
  tags: Tags.default({}),
});

export const PatchModelBody = z.strictObject({
  description: Description.nullable().optional(),
  tags: TagPatch.optional(),
});

/** `tag=key=value` or `tag=key:value` (src/domain/tag-pair.ts), repeatable; every given pair must match. */
const TagFilter = z
  .union([z.string(), z.array(z.string()).max(10)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(
    z.array(
      z
        .string()
        .transform((s, ctx) => {
          const pair = splitTagPair(s);
          if (pair) return pair;
          ctx.addIssue({ code: "custom", message: `must be ${TAG_PAIR_HINT}` });
          return z.NEVER;
        })
        .pipe(z.object({ key: TagKey, value: z.string() })),
    ),
  )
  .meta({ description: "A tag as key=value or key:value (repeatable; every one must match)" });

export const ListModelsQuery = PageQuery.extend({
  prefix: z.string().max(128).optional(),
  kind: ModelKind.optional(),
  tag: TagFilter.optional(),
});

export const Model = z
  .object({
    name: z.string(),
    kind: ModelKind,
    description: z.string().nullable(),
    tags: z.record(z.string(), z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
    created_by: z.string(),
    latest_version: z.number().int().nullable(),
    aliases: z.record(z.string(), z.number().int()),
  })
  .meta({ id: "Model" });

// ---- versions -----------------------------------------------------------------------------

export const VersionParams = z.object({ model: ModelName, version: VersionNumber });

/**
 * A lineage patch: the given top-level fields replace the old ones; `null` removes one. The
 * patch itself must fit the cap here; the merged lineage is checked by applyVersionPatch.
 */
const LineagePatch = z
  .strictObject({
    run_id: LineageFields.run_id.nullable().optional(),
    run_url: LineageFields.run_url.nullable().optional(),
    source: LineageFields.source.nullable().optional(),
    git_repo: LineageFields.git_repo.nullable().optional(),
    git_sha: LineageFields.git_sha.nullable().optional(),
    datasets: LineageFields.datasets.nullable().optional(),
    params: LineageFields.params.nullable().optional(),
    parents: LineageFields.parents.nullable().optional(),
    framework: LineageFields.framework.nullable().optional(),
    signature: LineageFields.signature.nullable().optional(),
  })
  .refine(fitsLineageCap, LINEAGE_CAP_MESSAGE);

const Metrics = z
  .record(MetricName, MetricValue)
  .refine((m) => Object.keys(m).length <= MAX_METRICS, `at most ${MAX_METRICS} metrics`);

export const CreateVersionBody = z.strictObject({
  description: Description.nullable().optional(),
  tags: Tags.default({}),
  metrics: Metrics.default({}),
  lineage: Lineage.default({}),
});

export const PatchVersionBody = z.strictObject({
  description: Description.nullable().optional(),
  tags: TagPatch.optional(),
  metrics: z
    .record(MetricName, MetricValue.nullable())
    // The stored map's cap (MAX_METRICS) is checked after merging, by applyVersionPatch.
    .refine((m) => Object.keys(m).length <= MAX_PATCH_KEYS, `at most ${MAX_PATCH_KEYS} keys per patch`)
    .optional(),
  lineage: LineagePatch.optional(),
});

export const VersionStatus = z.enum(["pending", "ready", "failed"]);
export const Stage = z.enum(["none", "staging", "production", "archived"]);

export const ListVersionsQuery = PageQuery.extend({
  status: VersionStatus.optional(),
  stage: Stage.optional(),
  tag: TagFilter.optional(),
});

export const Version = z
  .object({
    model: z.string(),
    version: z.number().int(),
    status: VersionStatus,
    stage: Stage,
    description: z.string().nullable(),
    tags: z.record(z.string(), z.string()),
    metrics: z.record(z.string(), z.number()),
    lineage: Lineage,
    files: z.array(File),
    digest: z.string().nullable(),
    aliases: z.array(z.string()),
    created_at: Timestamp,
    created_by: z.string(),
    updated_at: Timestamp,
    ready_at: Timestamp.nullable(),
    downloads: z.number().int().meta({
      description:
        "Downloads of the version's files: answers through /v1 or the Hugging Face bridge that sent a file's last byte, one per request (a header read or a one-byte probe is none; a download in ranges is one); counted a few seconds behind",
    }),
  })
  .meta({ id: "Version" });

export const IDEMPOTENCY_KEY = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

export type ModelBody = z.infer<typeof Model>;
export type VersionBody = z.infer<typeof Version>;
