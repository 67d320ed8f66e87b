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
import type { ManifestDescriptor } from "../../domain/oci-referrers";
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

/**
 * The manifest with this digest that a push kept or a version is built as: a pushed one by
 * its digest, a version's built one by one indexed read to its version (after a one-time
 * backfill of versions older than the column). Null when neither (a signature's referrer
 * manifest is ./referrers.ts's).
 */
export async function manifestOfDigest(
  c: AppContext,
  principal: Principal,
  model: string,
  digest: string,
): Promise<ServedManifest | null> {
  // A pushed manifest (a version's own, or an attachment) is kept by its digest.
  const kept = await new OciManifestStore(queryDb(c)).get(model, digest);
  if (kept) return keptBytes(c, kept);
  const built = await builtManifestOfDigest(c, principal, model, digest);
  return built && served(built);
}

/** The built manifest (of a version no push made) with this digest; null when no version's is. */
async function builtManifestOfDigest(
  c: AppContext,
  principal: Principal,
  model: string,
  digest: string,
): Promise<BuiltManifest | null> {
  const version = await versionOfBuiltDigest(c, principal, model, digest);
  if (version === null) return null;
  const manifest = await builtManifestOf(c, model, version);
  if (manifest === null) return null;
  if (manifest.digest !== digest) {
    console.error(`OCI manifest of ${model} v${version}: built ${manifest.digest}, recorded ${digest}`);
    return null;
  }
  return manifest;
}

/** The version D1 records this built manifest digest for (after the one-time backfill); null when none. */
async function versionOfBuiltDigest(
  c: AppContext,
  principal: Principal,
  model: string,
  digest: string,
): Promise<number | null> {
  const version = await new VersionStore(queryDb(c)).versionOfManifest(model, digest);
  return version ?? (await backfill(c, principal, model)).get(digest) ?? null;
}

/** A ready version's built manifest, from its D1 record; null when D1 shows it not ready. */
async function builtManifestOf(c: AppContext, model: string, version: number): Promise<BuiltManifest | null> {
  const record = await new VersionStore(queryDb(c)).get(model, version);
  if (!record || record.status !== "ready" || record.digest === null || record.ready_at === null) return null;
  return buildManifest({ model, version, digest: record.digest, readyAt: record.ready_at, files: record.files });
}

/**
 * The version whose manifest (the one pushed, else the one built) has this digest, by indexed
 * reads only; null when the digest names no version's manifest (an attachment, or nothing).
 * The subject of a version's referrers.
 */
export async function versionOfManifestDigest(
  c: AppContext,
  principal: Principal,
  model: string,
  digest: string,
): Promise<number | null> {
  const kept = await new OciManifestStore(queryDb(c)).get(model, digest);
  if (kept) return kept.version;
  return versionOfBuiltDigest(c, principal, model, digest);
}

/**
 * The descriptor of a ready version's manifest as pulls answer it (the one pushed, else the
 * one built: its files read and its JSON hashed); null when D1 shows it not ready.
 */
export async function manifestOfVersion(
  c: AppContext,
  model: string,
  version: number,
): Promise<ManifestDescriptor | null> {
  const pushed = await new OciManifestStore(queryDb(c)).ofVersion(model, version);
  if (pushed) return { mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size };
  const built = await builtManifestOf(c, model, version);
  return (
    built && {
      mediaType: MANIFEST_MEDIA_TYPE,
      digest: built.digest,
      size: new TextEncoder().encode(built.body).byteLength,
    }
  );
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
