/** Request and response schemas of docs/reference.md "Files". */
import { z } from "zod";
import { FilePath } from "../domain/file-path";
import { File, VersionParams } from "../models/schemas";

export const Sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, "must be 64 hex digits")
  .transform((s) => s.toLowerCase());

export const FileParams = VersionParams.extend({ path: FilePath });

export const UploadParams = VersionParams.extend({ upload_id: z.uuid() });

export const PartParams = UploadParams.extend({
  n: z
    .string()
    .regex(/^[1-9][0-9]{0,4}$/, "must be a part number from 1")
    .transform(Number),
});

/** R2 objects reach about 5 TiB. */
const MAX_FILE_SIZE = 5 * 1024 ** 4;

export const CreateUploadBody = z.strictObject({
  path: FilePath,
  size: z.number().int().min(1).max(MAX_FILE_SIZE),
  sha256: Sha256Hex,
});

export const UploadPartBody = z
  .object({ part: z.number().int(), size: z.number().int(), etag: z.string() })
  .meta({ id: "UploadPart" });

export const Upload = z
  .object({
    upload_id: z.string(),
    path: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    part_size: z.number().int(),
    part_count: z.number().int(),
    parts: z.array(UploadPartBody),
    status: z.enum(["open", "verifying", "completed", "failed", "aborted"]),
    expires_at: z.string(),
    /** Once `completed`: the file it attached. */
    file: File.optional(),
  })
  .meta({ id: "Upload" });

export const FileList = z.object({ items: z.array(File) });

export { File };
