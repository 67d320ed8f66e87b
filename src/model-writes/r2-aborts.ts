/**
 * The R2 work a ModelState write leaves to its caller: the object never touches R2, so a
 * write that closed multipart uploads (an upload aborted or expired, a version, a model or
 * retention's deletions) answers them (`R2Aborts`), and the Worker aborts them in R2 here.
 */
import type { R2Aborts } from "../state/model-state";

/** Aborts multipart uploads that ModelState has closed. Already-gone uploads are fine. */
export async function abortR2Uploads(bucket: R2Bucket, aborts: R2Aborts["aborts"]): Promise<void> {
  await Promise.all(
    aborts.map((a) =>
      bucket
        .resumeMultipartUpload(a.r2_key, a.r2_upload_id)
        .abort()
        .catch(() => undefined),
    ),
  );
}
