/**
 * The referrers index (OCI 1.1) and the signatures it lists however they arrived (docs/oci.md
 * "Referrers and signatures"): the attachments pushed with a `subject` (D1's kept manifests),
 * and, for each signature of the subject's version that no pushed attachment carries (one
 * uploaded through `/v1`, or one whose attachment was deleted), the manifest `@sigstore/oci`
 * would have pushed for it (src/domain/oci-referrers.ts), with its bundle served as a blob.
 *
 * Those manifests are computed on every read, never stored: their bytes are made of what never
 * changes (the bundle, the signature's `created_at`, the version's manifest), so every read,
 * isolate and restart answers the same digest, and a deleted signature, version or model takes
 * its manifest with it, with nothing to clean up. The price is paid by a `GET` of one by
 * digest, which nothing stored indexes: the colo remembers the digests its index listed, and
 * otherwise computes the manifests of the model's newest signatures (up to
 * MAX_SEARCHED_SIGNATURES), once per colo for each set of them (Cache API entries, hints
 * only). An adapter only: signatures through the signing service, versions'
 * manifests through ./manifests.ts, kept manifests through their store.
 */
import type { Principal } from "../../auth/principal";
import { manifestBytes } from "../../artifacts/stored-manifests";
import { queryDb } from "../../db/session";
import { isRefusal, parsePushedManifest, referrersIndex, INDEX_MEDIA_TYPE } from "../../domain/oci-push";
import {
  bundleFacts,
  signatureReferrer,
  type ManifestDescriptor,
  type SignatureReferrer,
} from "../../domain/oci-referrers";
import { BUNDLE_MEDIA_TYPES } from "../../domain/oms/bundle";
import { sha256Hex } from "../../domain/ids";
import type { Signature } from "../../domain/signature";
import type { AppContext } from "../../http/app-env";
import { ModelStore } from "../../models/model-store";
import { OciManifestStore, type KeptManifest } from "../../models/oci-store";
import { heldSignatureBundle, newestSignatures, signatureBundleBytes, versionSignatures } from "../../signing/service";
import { nameUnknown } from "./errors";
import { manifestOfVersion, versionOfManifestDigest, type ServedManifest } from "./manifests";
import { digestOf } from "./push";

/**
 * Signatures a `GET` of an unindexed manifest digest computes at most (newest versions first):
 * each costs one R2 read of its bundle, each version up to three D1 queries for its manifest
 * (pushed, else its row and files), so one such request stays under the 1,000 D1 queries and
 * subrequests a Worker invocation may make.
 */
export const MAX_SEARCHED_SIGNATURES = 200;

type SignatureOfVersion = Signature & { version: number };

/** The sha256s of the bundles these attachments carry as Sigstore signatures (their one layer, as the push path keeps them). */
async function attachedBundles(c: AppContext, attachments: readonly KeptManifest[]): Promise<Set<string>> {
  const bundles = new Set<string>();
  const signatures = attachments.filter((a) => BUNDLE_MEDIA_TYPES.includes(a.artifactType));
  for (const kept of signatures) {
    const bytes = await manifestBytes(c.env.ARTIFACTS, kept.digest.slice("sha256:".length));
    if (bytes === null) continue;
    const parsed = parsePushedManifest(bytes, null);
    if (isRefusal(parsed)) continue;
    for (const layer of parsed.layers) bundles.add(layer.digest.slice("sha256:".length));
  }
  return bundles;
}

/** The referrer manifest of one signature of the version whose manifest is `subject`; null when its bundle is gone (deleted meanwhile). */
async function referrerOfSignature(
  c: AppContext,
  signature: Signature,
  subject: ManifestDescriptor,
): Promise<SignatureReferrer | null> {
  const bytes = await signatureBundleBytes(c.env, signature.bundle_sha256);
  if (bytes === null) return null;
  return signatureReferrer({
    bundle: {
      sha256: signature.bundle_sha256,
      size: bytes.byteLength,
      ...bundleFacts(new TextDecoder().decode(bytes)),
    },
    createdAt: signature.created_at,
    subject,
  });
}

/**
 * The referrer manifests of `version`'s signatures that no attachment of its manifest carries,
 * when `digest` is that manifest as pulls answer it (computed only when there is one to list).
 */
async function signatureReferrers(
  c: AppContext,
  model: string,
  version: number,
  digest: string,
  attachments: readonly KeptManifest[],
): Promise<{ referrer: SignatureReferrer; signature: Signature }[]> {
  const signatures = await versionSignatures(queryDb(c), model, version);
  if (signatures.length === 0) return [];
  const attached = await attachedBundles(c, attachments);
  const unattached = signatures.filter((s) => !attached.has(s.bundle_sha256));
  if (unattached.length === 0) return [];
  const subject = await manifestOfVersion(c, model, version);
  if (subject === null || subject.digest !== digest) return [];
  const made = await Promise.all(unattached.map((s) => referrerOfSignature(c, s, subject)));
  return unattached.flatMap((signature, i) => (made[i] ? [{ referrer: made[i], signature }] : []));
}

/**
 * `GET /v2/{model}/referrers/{digest}?artifactType=`: the attachments whose subject is
 * `digest`, and when it is a version's manifest, that version's signatures' manifests, as an
 * OCI image index (always 200; an unknown digest has none). The caller may read the model.
 */
export async function referrers(
  c: AppContext,
  principal: Principal,
  model: string,
  digestText: string,
): Promise<Response> {
  const digest = digestOf(digestText);
  const db = queryDb(c);
  if (!(await new ModelStore(db).exists(model))) throw nameUnknown(model);
  const artifactType = new URL(c.req.url).searchParams.get("artifactType");
  const [attachments, version] = await Promise.all([
    new OciManifestStore(db).referrers(model, digest),
    versionOfManifestDigest(c, principal, model, digest),
  ]);
  const signed = version === null ? [] : await signatureReferrers(c, model, version, digest, attachments);
  // What a client lists it fetches next, by digest: this colo remembers which signature each is.
  if (version !== null)
    for (const { referrer, signature } of signed)
      remember(c, listedKey(model, referrer.digest), { version, id: signature.id });
  const body = referrersIndex(
    [...attachments, ...signed.map(({ referrer }) => ({ ...referrer, subject: digest }))],
    artifactType,
  );
  return new Response(c.req.method === "HEAD" ? null : body, {
    status: 200,
    headers: {
      "content-type": INDEX_MEDIA_TYPE,
      "content-length": String(new TextEncoder().encode(body).byteLength),
      ...(artifactType !== null ? { "oci-filters-applied": "artifactType" } : {}),
    },
  });
}

/** Which signature a referrer digest is. */
interface Named {
  version: number;
  id: string;
}

/** Which signature (by version and id) each referrer digest of a set of a model's signatures is. */
type DigestMap = Record<string, Named>;

/** How long a colo keeps what it remembers: a set of signatures that changed is another key, so this only bounds the space. */
const REMEMBERED_TTL_S = 86_400;

const cacheBase = (model: string) => `https://oci-referrers.mreg.invalid/${encodeURIComponent(model)}`;
/** Where a colo keeps which signature a referrer digest it listed is. */
const listedKey = (model: string, digest: string) => `${cacheBase(model)}/listed/${digest}`;
/** Where a colo keeps a model's DigestMap for one set of its signatures (`fingerprint` names the set). */
const digestMapKey = (model: string, fingerprint: string) => `${cacheBase(model)}/set/${fingerprint}`;

/** Keeps `value` in this colo's cache under `key`, after the answer (a cache that fails costs only time later). */
function remember(c: AppContext, key: string, value: unknown): void {
  const stored = Response.json(value, { headers: { "cache-control": `max-age=${REMEMBERED_TTL_S}` } });
  c.executionCtx.waitUntil(
    caches.default.put(key, stored).catch((err: unknown) => console.error(`${key} not cached`, err)),
  );
}

async function remembered<T>(key: string): Promise<T | null> {
  const hit = await caches.default.match(key).catch(() => undefined);
  return hit ? ((await hit.json()) as T) : null;
}

/**
 * The referrer digests of these signatures (the model's newest), computed one version at a
 * time, or this colo's copy from the last time the same set was computed: the bytes of each
 * manifest are fixed, so the map of a set never changes, and a set that changes (a signature
 * added or deleted) is another key.
 */
async function digestMap(c: AppContext, model: string, signatures: readonly SignatureOfVersion[]): Promise<DigestMap> {
  const fingerprint = await sha256Hex(
    JSON.stringify(signatures.map((s) => [s.id, s.version, s.bundle_sha256, s.created_at])),
  );
  const key = digestMapKey(model, fingerprint);
  const cached = await remembered<DigestMap>(key);
  if (cached) return cached;
  const map: DigestMap = {};
  const byVersion = new Map<number, SignatureOfVersion[]>();
  for (const s of signatures) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s]);
  for (const [version, ofVersion] of byVersion) {
    const subject = await manifestOfVersion(c, model, version);
    if (subject === null) continue;
    const made = await Promise.all(ofVersion.map((s) => referrerOfSignature(c, s, subject)));
    made.forEach((m, i) => {
      if (m !== null) map[m.digest] = { version, id: ofVersion[i]!.id };
    });
  }
  remember(c, key, map);
  return map;
}

/** The referrer manifest of this signature when its digest is `digest` and no attachment carries it (computed again: what named it was a hint). */
async function answered(c: AppContext, model: string, digest: string, signature: SignatureOfVersion) {
  const subject = await manifestOfVersion(c, model, signature.version);
  if (subject === null) return null;
  const made = await referrerOfSignature(c, signature, subject);
  if (made === null || made.digest !== digest) return null;
  // A signature an attachment carries is listed (and answered) as that attachment, not as this.
  const attachments = await new OciManifestStore(queryDb(c)).referrers(model, subject.digest);
  if ((await attachedBundles(c, attachments)).has(signature.bundle_sha256)) return null;
  return { bytes: new TextEncoder().encode(made.body), digest: made.digest, mediaType: made.mediaType };
}

/**
 * The referrer manifest of a signature of `model` with this digest, as the index lists it;
 * null when none has it. Nothing stored indexes these digests. This colo may remember the one
 * its referrers index listed under this digest (what a client lists it fetches next);
 * otherwise the model's newest signatures (MAX_SEARCHED_SIGNATURES) are computed, once per
 * colo for each set of them (`digestMap`, which also answers a digest that is nobody's). What
 * either names is computed again before it is answered.
 */
export async function signatureReferrerOfDigest(
  c: AppContext,
  model: string,
  digest: string,
): Promise<ServedManifest | null> {
  const db = queryDb(c);
  const listed = await remembered<Named>(listedKey(model, digest));
  if (listed) {
    const signature = (await versionSignatures(db, model, listed.version)).find((s) => s.id === listed.id);
    const answer = signature && (await answered(c, model, digest, { ...signature, version: listed.version }));
    if (answer) return answer;
  }
  const signatures = await newestSignatures(db, model, MAX_SEARCHED_SIGNATURES);
  if (signatures.length === 0) return null;
  const named = (await digestMap(c, model, signatures))[digest];
  const signature = named && signatures.find((s) => s.id === named.id && s.version === named.version);
  return signature ? answered(c, model, digest, signature) : null;
}

/**
 * `GET|HEAD /v2/{model}/blobs/{digest}` of a bundle a signature of `model` holds (the layer
 * of its referrer manifest), whole (a bundle is at most 4 MiB: no ranges); null when none
 * holds it.
 */
export async function signatureBundleBlob(
  c: AppContext,
  model: string,
  sha256: string,
  headers: Headers,
): Promise<Response | null> {
  const object = await heldSignatureBundle(c.env, queryDb(c), model, sha256);
  if (object === null) return null;
  headers.delete("accept-ranges");
  headers.set("content-type", "application/octet-stream");
  headers.set("content-length", String(object.size));
  if (c.req.method === "HEAD") {
    await object.body.cancel();
    return new Response(null, { status: 200, headers });
  }
  return new Response(object.body, { status: 200, headers });
}
