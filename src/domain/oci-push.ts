/**
 * The OCI distribution protocol's push side, as mreg reads it (docs/oci.md "Pushing"). Pure:
 * what a pushed manifest may be and what it means (a version's files, or an attachment of
 * another manifest), how a chunked upload's bytes are cut into storage parts, what a
 * `Content-Range` says, and the referrers index's bytes.
 *
 * A pushed manifest is kept byte for byte (its digest is what the client pushed and what a
 * pull answers), so nothing here re-serializes one: it only reads it.
 */
import { z } from "zod";
import { filePathProblem } from "./file-path-rule";
import type { ManifestEntry } from "./manifest";
import { ANNOTATION, DIGEST, EMPTY_CONFIG, EMPTY_DIGEST, MANIFEST_MEDIA_TYPE } from "./oci";

/** Manifests larger than this are refused (413 would lose the distribution format; MANIFEST_INVALID says why). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
/** Docker's schema 2 manifest: the same shape, accepted from clients that convert to it. */
export const DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json";
/** ModelPack's (CNCF model-spec) per-layer path annotation, beside the image spec's title. */
export const MODELPACK_FILEPATH = "org.cncf.model.filepath";
/** Layers in a manifest at most: a bound on the work one PUT costs (a version holds at most this many files through OCI). */
export const MAX_LAYERS = 10_000;

const Digest = z.string().regex(DIGEST, "must be sha256:<64 lower-case hex>");
const Annotations = z.record(z.string(), z.string()).optional();

const Descriptor = z.object({
  mediaType: z.string().min(1).max(255),
  digest: Digest,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  annotations: Annotations,
  artifactType: z.string().max(255).optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

const PushedManifestShape = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE]).optional(),
  artifactType: z.string().min(1).max(255).optional(),
  config: Descriptor,
  layers: z.array(Descriptor).max(MAX_LAYERS),
  subject: Descriptor.optional(),
  annotations: Annotations,
});
export type PushedManifest = z.infer<typeof PushedManifestShape>;

/** What a manifest PUT is refused for, in the distribution spec's codes. */
export interface ManifestRefusal {
  code: "MANIFEST_INVALID" | "SIZE_INVALID";
  message: string;
  detail: unknown;
}

/** A blob a stored manifest needs besides its version's files: its config, and an attachment's layers. */
export interface StoredBlob {
  sha256: string;
  size: number;
}

/**
 * What mreg keeps of a pushed manifest (its bytes are in R2 under their digest): a fact of the
 * version it made, or an attachment of the manifest `subject` names.
 */
export interface StoredManifest {
  /** `sha256:<hex>` of the bytes as pushed. */
  digest: string;
  mediaType: string;
  size: number;
  /** The manifest's `artifactType`, else its config's media type (what the referrers index shows). */
  artifactType: string;
  /** The subject's digest, for an attachment; null for a version's manifest. */
  subject: string | null;
  annotations: Record<string, string>;
  /** The config and, for an attachment, its layers: blobs to keep and serve with it (the empty config is never stored). */
  blobs: StoredBlob[];
}

/**
 * Reads a manifest PUT's bytes: JSON of an OCI (or Docker schema 2) image manifest, whose
 * `mediaType` (when present) agrees with the request's Content-Type. Image indexes and
 * schema 1 are refused: an index names other manifests, which make no version.
 */
export function parsePushedManifest(bytes: Uint8Array, contentType: string | null): PushedManifest | ManifestRefusal {
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    return {
      code: "SIZE_INVALID",
      message: "manifest too large",
      detail: { size: bytes.byteLength, max: MAX_MANIFEST_BYTES },
    };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return { code: "MANIFEST_INVALID", message: "manifest invalid", detail: "The body is not UTF-8 JSON" };
  }
  const parsed = PushedManifestShape.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join("."), message: i.message }));
    return {
      code: "MANIFEST_INVALID",
      message: "manifest invalid",
      detail: { reason: "Not an OCI image manifest this registry stores", issues },
    };
  }
  const type = contentType?.split(";")[0]!.trim().toLowerCase() ?? "";
  const declared = parsed.data.mediaType;
  if (type !== "" && declared !== undefined && type !== declared)
    return {
      code: "MANIFEST_INVALID",
      message: "manifest invalid",
      detail: `Content-Type ${type} disagrees with the manifest's mediaType ${declared}`,
    };
  if (type !== "" && type !== MANIFEST_MEDIA_TYPE && type !== DOCKER_MANIFEST_MEDIA_TYPE)
    return {
      code: "MANIFEST_INVALID",
      message: "manifest invalid",
      detail: `Only image manifests are stored here, not ${type}`,
    };
  return parsed.data;
}

export const isRefusal = <T extends object>(x: T | ManifestRefusal): x is ManifestRefusal =>
  "code" in x && "message" in x;

const sha256Of = (digest: string) => digest.slice("sha256:".length);

/** The path a layer names: the image spec's title, else ModelPack's filepath; null when neither is there. */
export function layerPath(layer: Descriptor): string | null {
  return layer.annotations?.[ANNOTATION.title] ?? layer.annotations?.[MODELPACK_FILEPATH] ?? null;
}

/**
 * The files a version-making manifest names: one per layer, at its path. A missing or invalid
 * path, or two layers at one path, refuse it (MANIFEST_INVALID); paths no disk could hold side
 * by side (case or NFC twins) are refused by the model's object as it adds them.
 */
export function versionFiles(manifest: PushedManifest): ManifestEntry[] | ManifestRefusal {
  const files: ManifestEntry[] = [];
  const seen = new Set<string>();
  for (const [i, layer] of manifest.layers.entries()) {
    const path = layerPath(layer);
    const problem =
      path === null ? `names no path (${ANNOTATION.title} or ${MODELPACK_FILEPATH})` : filePathProblem(path);
    if (problem)
      return {
        code: "MANIFEST_INVALID",
        message: "manifest invalid",
        detail: { layer: i, ...(path === null ? {} : { path }), reason: problem },
      };
    if (seen.has(path!))
      return {
        code: "MANIFEST_INVALID",
        message: "manifest invalid",
        detail: { layer: i, path, reason: "two layers name this path" },
      };
    seen.add(path!);
    files.push({ path: path!, size: layer.size, sha256: sha256Of(layer.digest) });
  }
  if (files.length === 0)
    return {
      code: "MANIFEST_INVALID",
      message: "manifest invalid",
      detail: "A manifest that makes a version needs a layer",
    };
  return files;
}

/** The empty config (`{}`) needs no upload: every repository serves it. */
export const isEmptyConfig = (d: Descriptor) => d.digest === EMPTY_DIGEST && d.size === EMPTY_CONFIG.length;

/** What is kept of `manifest` (pushed as `bytes` with `digest`): an attachment keeps its layers as blobs, a version has them as files. */
export function storedManifest(manifest: PushedManifest, digest: string, size: number): StoredManifest {
  const blobs: StoredBlob[] = [];
  const add = (d: Descriptor) => {
    if (!isEmptyConfig(d) && !blobs.some((b) => b.sha256 === sha256Of(d.digest)))
      blobs.push({ sha256: sha256Of(d.digest), size: d.size });
  };
  add(manifest.config);
  if (manifest.subject) manifest.layers.forEach(add);
  return {
    digest,
    mediaType: manifest.mediaType ?? MANIFEST_MEDIA_TYPE,
    size,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    subject: manifest.subject?.digest ?? null,
    annotations: manifest.annotations ?? {},
    blobs,
  };
}

/** Every blob a pushed manifest needs held by the model: config (unless empty) and layers, each once. */
export function neededBlobs(manifest: PushedManifest): StoredBlob[] {
  const all = [manifest.config, ...manifest.layers].filter((d) => !isEmptyConfig(d));
  const seen = new Map<string, StoredBlob>();
  for (const d of all) if (!seen.has(d.digest)) seen.set(d.digest, { sha256: sha256Of(d.digest), size: d.size });
  return [...seen.values()];
}

// ---- chunked uploads ------------------------------------------------------------------------

/**
 * A PATCH's `Content-Range` (`<start>-<end>`, inclusive, as the distribution spec writes it;
 * `bytes ` tolerated before it): where the chunk says it starts and how long it is. Null when
 * the header is absent; "invalid" when it is malformed or ends before it starts.
 */
export function chunkRange(header: string | null): { start: number; length: number } | "invalid" | null {
  if (header === null) return null;
  const match = /^(?:bytes[ =])?([0-9]{1,16})-([0-9]{1,16})$/.exec(header.trim());
  if (!match) return "invalid";
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start || !Number.isSafeInteger(end)) return "invalid";
  return { start, length: end - start + 1 };
}

/** The `Range` header of an upload that holds `offset` bytes: `0-<last byte>`; `0-0` before the first. */
export const uploadRange = (offset: number) => `0-${Math.max(0, offset - 1)}`;

/**
 * How a chunk of `length` bytes, following `tail` bytes held since the last full part, is cut
 * into storage parts of `partSize` (all equal but the last, as R2 needs): how many full parts
 * it completes, and how many bytes remain after them (the next tail, under one part).
 */
export function cutChunk(tail: number, length: number, partSize: number): { fullParts: number; remainder: number } {
  const total = tail + length;
  const fullParts = Math.floor(total / partSize);
  return { fullParts, remainder: total - fullParts * partSize };
}

// ---- referrers ------------------------------------------------------------------------------

/** One entry of the referrers index: the attachment's descriptor as the spec writes it. */
export function referrerDescriptor(m: Omit<StoredManifest, "blobs">): Descriptor & { artifactType: string } {
  return {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    artifactType: m.artifactType,
    ...(Object.keys(m.annotations).length > 0 ? { annotations: m.annotations } : {}),
  };
}

/** The referrers index: the attachments of one subject (filtered by `artifactType` when asked), by digest. */
export function referrersIndex(
  attachments: readonly Omit<StoredManifest, "blobs">[],
  artifactType: string | null,
): string {
  const manifests = attachments
    .filter((m) => artifactType === null || m.artifactType === artifactType)
    .map(referrerDescriptor)
    .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests });
}
