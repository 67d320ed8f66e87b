/**
 * Request and response schemas of docs/reference.md "Gates, approvals and guards" (gates and
 * approvals).
 */
import { z } from "zod";
import { SettableAliasName } from "../domain/alias";
import { GatePolicy } from "../domain/gate";
import { ModelParams, VersionParams } from "../models/schemas";

export { GateResult } from "../domain/gate";

/** A gate's target: an alias or a stage name (`production` covers both); never `latest` or `v<n>`. */
export const GateParams = ModelParams.extend({ target: SettableAliasName });

export const Gate = z
  .object({ target: z.string(), policy: GatePolicy, updated_at: z.string(), updated_by: z.string() })
  .meta({ id: "Gate" });

export const GateCheckBody = z.strictObject({ version: z.number().int().positive() });

export const ApprovalParams = VersionParams;

export const ApproveBody = z.strictObject({ target: SettableAliasName, comment: z.string().max(1024).optional() });

export const Approval = z
  .object({ target: z.string(), approver: z.string(), comment: z.string().nullable(), at: z.string() })
  .meta({ id: "Approval" });
