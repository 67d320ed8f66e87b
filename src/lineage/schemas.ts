/** Request and response schemas of the lineage routes (they drive validation and OpenAPI). */
import { z } from "zod";
import { ModelName } from "../domain/names";
import { parseModelUri } from "../domain/uri";
import { PageQuery } from "../http/cursor";
import { File, VersionStatus } from "../models/schemas";

export const DEFAULT_DEPTH = 3;
export const MAX_DEPTH = 10;

export const Depth = z.coerce.number().int().min(1).max(MAX_DEPTH);

export const LineageQuery = z.object({ depth: Depth.default(DEFAULT_DEPTH) });

export const LookupQuery = PageQuery.extend({
  dataset: z.string().min(1).max(2048).optional(),
  snapshot: z.string().min(1).max(256).optional(),
  git_sha: z
    .string()
    .regex(/^[0-9a-fA-F]{4,64}$/, "must be a hex commit id")
    .optional(),
  run_id: z.string().min(1).max(256).optional(),
}).superRefine((q, ctx) => {
  const given = (["dataset", "git_sha", "run_id"] as const).filter((k) => q[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({
      code: "custom",
      path: given.length === 0 ? ["dataset"] : [given[1]!],
      message: "give exactly one of dataset, git_sha, run_id",
    });
  }
  if (q.snapshot !== undefined && q.dataset === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["snapshot"],
      message: "snapshot narrows a dataset lookup: give dataset too",
    });
  }
});

export const LookupCursor = z.object({ at: z.string().min(1).max(64), m: ModelName, v: z.number().int().positive() });

/**
 * A side of a diff: a version number of the path's model, or a `registry://<model>/<n>` URI
 * (URL-encoded), which must then name that same model.
 */
export const VersionRef = z.string().transform((value, ctx) => {
  if (/^[1-9][0-9]{0,8}$/.test(value)) return { model: undefined, version: Number(value) };
  const uri = parseModelUri(value);
  if (uri?.version !== undefined) return { model: uri.model, version: uri.version };
  ctx.addIssue({ code: "custom", message: "a version number or registry://<model>/<version>" });
  return z.NEVER;
});

export const DiffParams = z.object({ model: ModelName, a: VersionRef, b: VersionRef });

const Dataset = z.object({ uri: z.string(), snapshot: z.string().optional(), digest: z.string().optional() });

const VisibleNode = z.object({
  model: z.string(),
  version: z.number().int(),
  status: z.enum(["pending", "ready", "failed", "deleted"]),
  stage: z.string().nullable(),
  aliases: z.array(z.string()),
  created_at: z.string().nullable(),
  created_by: z.string().nullable(),
  digest: z.string().nullable(),
  run_id: z.string().nullable(),
  run_url: z.string().nullable(),
  git_repo: z.string().nullable(),
  git_sha: z.string().nullable(),
  datasets: z.array(Dataset),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  metrics: z.record(z.string(), z.number()),
  distance: z
    .number()
    .int()
    .describe("0 for the root, -n for n steps upstream (ancestors), +n downstream (descendants)"),
});

const Redacted = z.object({
  model: z.null(),
  version: z.null(),
  redacted: z.literal(true),
  ref: z.string().describe("Opaque, per response: which edges meet at this node"),
});

const Endpoint = z.union([z.object({ model: z.string(), version: z.number().int() }), Redacted]);

export const LineageGraph = z
  .object({
    root: z.object({ model: z.string(), version: z.number().int() }),
    depth: z.number().int(),
    nodes: z.array(z.union([VisibleNode, Redacted.extend({ distance: z.number().int() })])),
    edges: z.array(
      z.object({ from: Endpoint, to: Endpoint, relation: z.literal("parent") }).describe("`from` is a parent of `to`"),
    ),
    datasets: z.array(z.object({ uri: z.string(), snapshot: z.string().nullable(), digest: z.string().nullable() })),
    truncated: z.boolean(),
  })
  .meta({ id: "LineageGraph" });

export const LookupItem = z
  .object({
    model: z.string(),
    version: z.number().int(),
    status: VersionStatus,
    stage: z.string(),
    aliases: z.array(z.string()),
    created_at: z.string(),
  })
  .meta({ id: "LineageLookupItem" });

const MapDiff = <T extends z.ZodType>(value: T) =>
  z.object({
    added: z.record(z.string(), value),
    removed: z.record(z.string(), value),
    changed: z.record(z.string(), z.object({ from: value, to: value })),
  });

export const VersionDiff = z
  .object({
    model: z.string(),
    from: z.number().int(),
    to: z.number().int(),
    files: z.object({
      added: z.array(File),
      removed: z.array(File),
      changed: z.array(
        z.object({
          path: z.string(),
          from_sha256: z.string(),
          to_sha256: z.string(),
          from_size: z.number().int(),
          to_size: z.number().int(),
          diff: z.string().optional().describe("Unified diff, for UTF-8 text files up to 1 MiB on both sides"),
          diff_omitted: z.enum(["binary", "too_large", "budget", "unreadable"]).optional(),
        }),
      ),
    }),
    params: MapDiff(z.unknown()),
    metrics: MapDiff(z.number()),
    tags: MapDiff(z.string()),
    lineage: MapDiff(z.unknown()).describe("Lineage fields other than params"),
  })
  .meta({ id: "VersionDiff" });

export const IncludeQuery = z.object({
  include: z
    .enum(["lineage"])
    .optional()
    .describe("`lineage`: add the version's lineage graph, its Version and the Alias record"),
  depth: Depth.default(MAX_DEPTH).describe("Depth of the lineage graph with include=lineage (default 10)"),
});
