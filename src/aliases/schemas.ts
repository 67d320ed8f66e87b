/** Request and response schemas of API.md "Aliases" and the `stage` route. */
import { z } from "zod";
import { AliasName, MAX_SPLIT_ENTRIES, SettableAliasName, SplitShown } from "../domain/alias";
import { ModelParams, Stage } from "../models/schemas";

export { Alias } from "../domain/alias";
export { Resolution } from "../domain/resolution";

const Reason = z.string().max(1024);
const VersionRef = z.number().int().positive();

export const AliasParams = ModelParams.extend({ alias: AliasName });
export const SettableAliasParams = ModelParams.extend({ alias: SettableAliasName });

const SplitEntry = z.strictObject({ version: VersionRef, weight: z.number().positive() });
const Split = z
  .array(SplitEntry)
  .min(1)
  .max(MAX_SPLIT_ENTRIES)
  .refine((s) => new Set(s.map((e) => e.version)).size === s.length, "each version at most once");

export const PutAliasBody = z
  .strictObject({
    version: VersionRef.optional(),
    split: Split.optional(),
    reason: Reason.optional(),
    expected_generation: z.number().int().min(0).optional(),
  })
  .refine((b) => (b.version === undefined) !== (b.split === undefined), "give exactly one of version and split");

export const DeleteAliasQuery = z.object({ reason: Reason.optional() });

export const RollbackBody = z.strictObject({ to_version: VersionRef.optional(), reason: Reason.optional() });

export const SwapBody = z.strictObject({
  aliases: z.tuple([SettableAliasName, SettableAliasName]).refine(([a, b]) => a !== b, "two different aliases"),
  reason: Reason.optional(),
});

export const StageBody = z.strictObject({
  stage: Stage,
  archive_existing: z.boolean().default(false),
  reason: Reason.optional(),
});

export const ResolveQuery = z.object({ key: z.string().min(1).max(256).optional() });
export const ResolveUriQuery = ResolveQuery.extend({ uri: z.string().min(1).max(512) });

export const HistoryEntry = z
  .object({
    generation: z.number().int(),
    version: z.number().int().nullable(),
    split: SplitShown,
    action: z.enum(["set", "delete", "rollback", "swap"]),
    actor: z.string(),
    reason: z.string().nullable(),
    at: z.string(),
  })
  .meta({ id: "AliasHistoryEntry" });
