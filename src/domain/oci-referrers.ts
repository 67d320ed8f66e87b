/**
 * The referrer manifest of a signature that did not arrive over OCI (uploaded through `/v1`):
 * what `@sigstore/oci`'s `attachArtifactToImage` would have pushed for it, so every signature
 * of a version is listed in the referrers index and fetchable by digest (docs/oci.md
 * "Referrers and signatures"). Pure.
 *
 * Its bytes are computed, never stored, so they must be the same on every read: they are made
 * only of what cannot change once the signature exists (its bundle's bytes, its `created_at`,
 * and the manifest of its version, itself fixed forever), with a fixed field order and no
 * whitespace. Trust (`trusted_by`) is not in them: it changes when keys are registered or
 * deleted. Changing anything here changes every such digest handed out: don't.
 */
import { sha256Hex } from "./ids";
import { BUNDLE_MEDIA_TYPES, parseBundle } from "./oms/bundle";
import { utf8Decode } from "./oms/bytes";
import { isRefusal } from "./oms/problem";
import { ANNOTATION, EMPTY_CONFIG, EMPTY_DIGEST, EMPTY_MEDIA_TYPE, MANIFEST_MEDIA_TYPE } from "./oci";

/** A descriptor as the image spec writes it, fields in `@sigstore/oci`'s order. */
export interface ManifestDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** What a referrer manifest says of a bundle: its own media type, and the in-toto predicate its envelope signs. */
export interface BundleFacts {
  mediaType: string;
  /** The Statement's `predicateType` (`https://model_signing/signature/v1.0` for OMS); null when it names none. */
  predicateType: string | null;
}

/** What a signature's referrer manifest is made of. */
export interface SignatureReferrerSource {
  /** The bundle: its sha256 (hex), its size in bytes, and what it says of itself. */
  bundle: BundleFacts & { sha256: string; size: number };
  /** The signature's `created_at`, the manifest's `org.opencontainers.image.created`. */
  createdAt: string;
  /** The version's manifest, as pulls answer it. */
  subject: ManifestDescriptor;
}

/** A computed referrer manifest: its bytes (UTF-8 JSON), digest and what the referrers index lists of it. */
export interface SignatureReferrer {
  body: string;
  digest: string;
  size: number;
  mediaType: string;
  artifactType: string;
  annotations: Record<string, string>;
}

/** The annotations Sigstore's clients add to a bundle's referrer (GitHub's `attest`, cosign's bundle format), which tools filter on. */
export const BUNDLE_ANNOTATION = {
  content: "dev.sigstore.bundle.content",
  predicateType: "dev.sigstore.bundle.predicateType",
} as const;

/**
 * What a stored bundle (verified when it was stored: an OMS bundle) says of itself: its
 * `mediaType`, one of the v0.3 spellings the verifier accepts (the contract's spelling should
 * it name another), and its envelope's predicate type.
 */
export function bundleFacts(bundleText: string): BundleFacts {
  let json: unknown;
  try {
    json = JSON.parse(bundleText);
  } catch {
    return { mediaType: BUNDLE_MEDIA_TYPES[0]!, predicateType: null };
  }
  const bundle = parseBundle(json);
  if (isRefusal(bundle)) return { mediaType: BUNDLE_MEDIA_TYPES[0]!, predicateType: null };
  let predicateType: string | null = null;
  try {
    const statement: unknown = JSON.parse(utf8Decode(bundle.envelope.payload) ?? "");
    if (statement !== null && typeof statement === "object" && "predicateType" in statement) {
      const named = (statement as { predicateType: unknown }).predicateType;
      if (typeof named === "string") predicateType = named;
    }
  } catch {
    // An envelope whose payload is not JSON names no predicate.
  }
  return { mediaType: bundle.mediaType, predicateType };
}

/**
 * The manifest `@sigstore/oci`'s `attachArtifactToImage` pushes for a bundle (sigstore-js
 * `packages/oci/src/image.ts`, `buildManifest`), called as GitHub's `attest` calls it:
 * `artifactType` and the one layer's `mediaType` the bundle's own media type, the empty
 * config, the version's manifest as `subject`, and the annotations
 * `org.opencontainers.image.created` (the client writes the time of the push; here, the
 * signature's), `dev.sigstore.bundle.content: dsse-envelope` and the envelope's predicate type.
 */
export async function signatureReferrer(source: SignatureReferrerSource): Promise<SignatureReferrer> {
  const annotations: Record<string, string> = {
    [ANNOTATION.created]: source.createdAt,
    [BUNDLE_ANNOTATION.content]: "dsse-envelope",
    ...(source.bundle.predicateType !== null ? { [BUNDLE_ANNOTATION.predicateType]: source.bundle.predicateType } : {}),
  };
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: source.bundle.mediaType,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: EMPTY_CONFIG.length },
    layers: [
      { mediaType: source.bundle.mediaType, digest: `sha256:${source.bundle.sha256}`, size: source.bundle.size },
    ],
    subject: { mediaType: source.subject.mediaType, digest: source.subject.digest, size: source.subject.size },
    annotations,
  });
  return {
    body,
    digest: `sha256:${await sha256Hex(body)}`,
    size: new TextEncoder().encode(body).byteLength,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: source.bundle.mediaType,
    annotations,
  };
}
