/**
 * Where an OCI attachment becomes a signature (docs/oci.md "Referrers"): an attachment of
 * type `application/vnd.dev.sigstore.bundle.v0.3+json` whose one layer is an OMS bundle is,
 * once checked as `POST .../versions/{v}/signatures` checks one, a signature of the version
 * its subject names. The signatures service (issue 29, src/signatures/) is being built beside
 * this bridge: this one function is where it is called, so the attachment store lands now and
 * the check joins it at merge. Until then it finds the signed version and reads the bundle,
 * which is all the check needs from the push.
 */
import { readBlobText } from "../../artifacts/blob-text";
import { queryDb } from "../../db/session";
import type { Descriptor, StoredManifest } from "../../domain/oci-push";
import type { AppContext } from "../../http/app-env";
import type { ModelWriter } from "../../models/service";
import { VersionStore } from "../../models/version-store";

/** A bundle larger than this is no OMS signature (they are a few KiB); it stays a plain attachment. */
const MAX_BUNDLE_BYTES = 1024 * 1024;

/** What a signature attachment carries for the signatures service: the version its subject names, and the bundle's JSON text. */
export interface SignatureCandidate {
  version: number;
  bundle: string;
}

/**
 * Called once for each new signature attachment, after it is kept. Answers the candidate (the
 * subject's version and the bundle), or null when the subject names no version of this model
 * yet or the layer is no text bundle: the attachment stays in the referrers index either way.
 */
export async function onSignatureAttachment(
  c: AppContext,
  w: ModelWriter,
  attachment: StoredManifest,
  layer: Descriptor,
): Promise<SignatureCandidate | null> {
  if (attachment.subject === null || layer.size > MAX_BUNDLE_BYTES) return null;
  const version = await new VersionStore(queryDb(c)).versionOfManifest(w.model, attachment.subject);
  if (version === null) return null;
  const text = await readBlobText(c.env.ARTIFACTS, layer.digest.slice("sha256:".length), MAX_BUNDLE_BYTES);
  if (text.kind !== "text") return null;
  return { version, bundle: text.text };
}
