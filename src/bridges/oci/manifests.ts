/**
 * Which manifest an OCI reference names, and its bytes: a tag through the resolve service
 * (which says whether the model or only the tag is missing), a digest through one indexed
 * read of the version store. A version whose manifest digest D1 lacks (made ready before the
 * column existed) has the model's ModelState record it, through the model service: the bridge
 * writes nothing itself.
 */
import type { Principal } from "../../auth/principal";
import { queryDb } from "../../db/session";
import { buildManifest, MANIFEST_MEDIA_TYPE, type BuiltManifest, type TagReference } from "../../domain/oci";
import { manifestBytes } from "../../artifacts/stored-manifests";
import { OciManifestStore, type KeptManifest } from "../../models/oci-store";
import { resolutionFor, resolutionOfHeaviest, type Resolution } from "../../domain/resolution";
import type { AppContext } from "../../http/app-env";
import { ProblemError } from "../../domain/problem";
import { ModelStore } from "../../models/model-store";
import { recordOciDigests } from "../../models/service";
import { VersionStore } from "../../models/version-store";
import { lookup, requestContext } from "../../resolve/service";
import { manifestUnknown, nameUnknown, type OciError } from "./errors";

/** Versions whose manifest digests one backfill step asks the model's object for. */
const BACKFILL_PAGE = 90;
/** Steps one miss may run: a bound on the request, should some row never fill. */
const BACKFILL_STEPS = 100;

/** A manifest as a pull answers it: its bytes, digest and media type. */
export interface ServedManifest {
  bytes: Uint8Array;
  digest: string;
  mediaType: string;
}

const served = (built: BuiltManifest): ServedManifest => ({
  bytes: new TextEncoder().encode(built.body),
  digest: built.digest,
  mediaType: MANIFEST_MEDIA_TYPE,
});

/** A pushed manifest's bytes as they were pushed (a kept manifest always has them: they are written first). */
async function keptBytes(c: AppContext, kept: KeptManifest): Promise<ServedManifest> {
  const bytes = await manifestBytes(c.env.ARTIFACTS, kept.digest.slice("sha256:".length));
  if (bytes === null) throw new Error(`the bytes of kept manifest ${kept.digest} are missing`);
  return { bytes, digest: kept.digest, mediaType: kept.mediaType };
}

/** What a miss that no resolution answered means: the model itself is unknown (NAME_UNKNOWN), or only the thing asked for. */
export async function missing(c: AppContext, model: string, miss: OciError): Promise<OciError> {
  return (await new ModelStore(queryDb(c)).exists(model)) ? miss : nameUnknown(model);
}

/** The version a tag names now, through the resolve service (the per-colo cache); a split picks by `x-mreg-key`, else its heaviest member. */
async function atTag(c: AppContext, model: string, tag: string, reference: TagReference): Promise<Resolution> {
  const resolved = await lookup(requestContext(c), model, reference);
  if (resolved.kind === "no_model") throw nameUnknown(model);
  if (resolved.kind === "no_revision") throw manifestUnknown(tag);
  const key = c.req.header("x-mreg-key");
  const resolution = key ? resolutionFor(resolved.state, key) : resolutionOfHeaviest(resolved.state);
  if (resolution.digest === null) throw manifestUnknown(tag);
  return resolution;
}

/**
 * The manifest of the version a tag names: its files from the resolution, its `ready_at` from
 * one primary-key read. A version whose digest D1 lacks has the model's object record it, after
 * the answer.
 */
export async function manifestOfTag(
  c: AppContext,
  principal: Principal,
  model: string,
  tag: string,
  reference: TagReference,
): Promise<ServedManifest> {
  const resolution = await atTag(c, model, tag, reference);
  // A version made by a push answers the very bytes pushed.
  const pushed = await new OciManifestStore(queryDb(c)).ofVersion(model, resolution.version);
  if (pushed) return keptBytes(c, pushed);
  const row = await new VersionStore(queryDb(c)).manifestRow(model, resolution.version);
  if (!row || row.status !== "ready" || row.readyAt === null || row.digest === null) {
    // The model's object says ready, D1 does not yet: its projection is behind (the flush is retried).
    throw new ProblemError(
      "unavailable",
      `Version ${resolution.version} of '${model}' is being recorded; try again`,
      {},
      { "retry-after": "1" },
    );
  }
  const built = await buildManifest({
    model,
    version: resolution.version,
    digest: row.digest,
    readyAt: row.readyAt,
    files: resolution.files,
  });
  if (row.ociDigest === null) {
    const recording = recordOciDigests({ env: c.env, principal, model }, [resolution.version]);
    c.executionCtx.waitUntil(
      recording.catch((err: unknown) =>
        console.error(`OCI manifest digest of ${model} v${resolution.version} not recorded`, err),
      ),
    );
  } else if (row.ociDigest !== built.digest)
    console.error(`OCI manifest of ${model} v${resolution.version}: built ${built.digest}, recorded ${row.ociDigest}`);
  return served(built);
}

/** The manifest with this digest: one indexed read to its version (after a one-time backfill of versions older than the column). */
export async function manifestOfDigest(
  c: AppContext,
  principal: Principal,
  model: string,
  digest: string,
): Promise<ServedManifest> {
  // A pushed manifest (a version's own, or an attachment) is kept by its digest.
  const kept = await new OciManifestStore(queryDb(c)).get(model, digest);
  if (kept) return keptBytes(c, kept);
  const versions = new VersionStore(queryDb(c));
  let version = await versions.versionOfManifest(model, digest);
  if (version === null) version = (await backfill(c, principal, model)).get(digest) ?? null;
  if (version === null) throw await missing(c, model, manifestUnknown(digest));
  const record = await versions.get(model, version);
  if (!record || record.status !== "ready" || record.digest === null || record.ready_at === null)
    throw manifestUnknown(digest);
  const built = await buildManifest({
    model,
    version,
    digest: record.digest,
    readyAt: record.ready_at,
    files: record.files,
  });
  if (built.digest !== digest) {
    console.error(`OCI manifest of ${model} v${version}: built ${built.digest}, recorded ${digest}`);
    throw manifestUnknown(digest);
  }
  return served(built);
}

/**
 * Has the model's object record the manifest digest of every ready version D1 shows without
 * one (made ready before migration 0011 added the column, which cannot hash JSON in SQL), and
 * answers them (digest → version), so no read of D1 after the write is needed. Once a model is
 * filled this is one indexed read that finds nothing.
 */
async function backfill(c: AppContext, principal: Principal, model: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const versions = new VersionStore(queryDb(c));
  let before: number | undefined;
  for (let step = 0; step < BACKFILL_STEPS; step++) {
    const lacking = await versions.withoutManifestDigest(model, before, BACKFILL_PAGE);
    if (lacking.length === 0) break;
    for (const { version, digest } of await recordOciDigests({ env: c.env, principal, model }, lacking))
      found.set(digest, version);
    if (lacking.length < BACKFILL_PAGE) break;
    before = lacking[lacking.length - 1];
  }
  return found;
}
