/**
 * The OCI distribution protocol, as mreg answers it (docs/reference.md "OCI distribution
 * (pull)"): a version is an OCI artifact whose layers are its files, which are already sha256
 * blobs. Pure: the manifest's bytes, and what a repository name, a tag or a digest in a URL may
 * be.
 *
 * A manifest's bytes must never change for a version (its digest is what `oci:` layouts,
 * mirrors and `@sha256:` pulls pin), so they are built from data that is fixed once the
 * version is ready (model, version, ready_at, files) with a fixed field order and no
 * whitespace. Changing anything here changes every digest ever handed out: don't.
 */
import { sha256Hex } from "./ids";
import { comparePaths, type ManifestEntry } from "./manifest";
import { ModelName } from "./names";
import { parseReference, type Reference } from "./reference";

export const MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const ARTIFACT_TYPE = "application/vnd.mreg.model.v1";
export const LAYER_MEDIA_TYPE = "application/octet-stream";
export const EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
/** The empty config's bytes (`{}`) and their digest, as the image spec fixes them. */
export const EMPTY_CONFIG = "{}";
export const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/** The annotation keys; `org.opencontainers.image.*` are the image spec's pre-defined ones. */
export const ANNOTATION = {
  title: "org.opencontainers.image.title",
  created: "org.opencontainers.image.created",
  version: "org.opencontainers.image.version",
  model: "dev.mreg.model",
  uri: "dev.mreg.uri",
  digest: "dev.mreg.digest",
} as const;

/** What a ready version's manifest is built from: nothing here changes after `ready`. */
export interface ManifestSource {
  model: string;
  version: number;
  /** The version's `digest` (the hash of its file list). */
  digest: string;
  readyAt: string;
  files: readonly ManifestEntry[];
}

/**
 * The manifest's bytes (as text: JSON is UTF-8). Layers are the files sorted by their UTF-8
 * bytes, as the version digest sorts them; manifest annotations sorted by key.
 */
export function ociManifest(source: ManifestSource): string {
  const layers = [...source.files]
    .sort((a, b) => comparePaths(a.path, b.path))
    .map((f) => ({
      mediaType: LAYER_MEDIA_TYPE,
      digest: `sha256:${f.sha256}`,
      size: f.size,
      annotations: { [ANNOTATION.title]: f.path },
    }));
  const annotations = {
    [ANNOTATION.model]: source.model,
    [ANNOTATION.digest]: source.digest,
    [ANNOTATION.uri]: `registry://${source.model}/${source.version}`,
    [ANNOTATION.created]: source.readyAt,
    [ANNOTATION.version]: String(source.version),
  };
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: ARTIFACT_TYPE,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: EMPTY_CONFIG.length },
    layers,
    annotations: Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : 1))),
  });
}

/** A manifest's bytes and their digest. */
export interface BuiltManifest {
  body: string;
  digest: string;
}

/** The manifest and its digest: what the bridge serves, and what ModelState records for `@sha256:` pulls. */
export async function buildManifest(source: ManifestSource): Promise<BuiltManifest> {
  const body = ociManifest(source);
  return { body, digest: `sha256:${await sha256Hex(body)}` };
}

/** A sha256 digest as the URLs carry it; the only algorithm mreg stores. Bounded, so no input costs more than its length. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** A tag as the distribution spec allows it. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** The model a repository name names, or null (then NAME_UNKNOWN: only one-segment names exist here). */
export function repositoryModel(name: string): string | null {
  const parsed = ModelName.safeParse(name);
  return parsed.success ? parsed.data : null;
}

/** A tag's reference: never a commit (that is the Hub's spelling of a version). */
export type TagReference = Exclude<Reference, { kind: "commit" }>;

/**
 * Whether `name` is a repository name as the distribution spec's grammar allows it (path
 * components of lower-case alphanumerics joined by `.`, `_`, `__` or dashes). Its length is
 * checked first, and the pattern has one way to match any string, so it runs in linear time.
 */
export function isRepositoryName(name: string): boolean {
  return (
    name.length <= 255 &&
    /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(name)
  );
}

export type ManifestReference =
  | { kind: "digest"; digest: string }
  | { kind: "tag"; reference: TagReference }
  | { kind: "unknown_tag" }
  | { kind: "invalid" };

/**
 * What `/manifests/{reference}` names: a digest, or a tag that mreg resolves (an alias,
 * `latest`, `v<n>`). A well-formed tag that can be none of these (`1.0`) is unknown, not
 * invalid; a string that is no tag at all (nor a digest) is invalid.
 */
export function manifestReference(text: string): ManifestReference {
  if (text.startsWith("sha256:")) return DIGEST.test(text) ? { kind: "digest", digest: text } : { kind: "invalid" };
  if (!TAG.test(text)) return { kind: "invalid" };
  const reference = parseReference(text);
  return reference && reference.kind !== "commit" ? { kind: "tag", reference } : { kind: "unknown_tag" };
}

/**
 * A page of tags after `last` (exclusive), in the listed order, with whether more follow.
 * The distribution spec pages by "the last tag seen"; an unknown `last` starts after where it
 * would sort among tags of its kind, so a tag that vanished between pages skips nothing.
 */
export function tagsPage(
  tags: readonly string[],
  n: number | null,
  last: string | null,
): { tags: string[]; more: boolean } {
  let start = 0;
  if (last !== null) {
    const at = tags.indexOf(last);
    start = at >= 0 ? at + 1 : tags.findIndex((t) => tagOrder(t, last) > 0);
    if (start < 0) start = tags.length;
  }
  const rest = tags.slice(start);
  if (n === null) return { tags: rest, more: false };
  return { tags: rest.slice(0, n), more: rest.length > n };
}

/**
 * The order tags are listed in: names (aliases, stages) by name, then `v<n>` by number.
 * `tagsList` builds that order; `tagOrder` compares two tags in it.
 */
export function tagsList(names: Iterable<string>, versions: Iterable<number>): string[] {
  const byName = [...new Set(names)].filter((n) => versionTag(n) === null).sort();
  const byNumber = [...new Set(versions)].sort((a, b) => a - b).map((v) => `v${v}`);
  return [...byName, ...byNumber];
}

function versionTag(tag: string): number | null {
  const match = /^v([1-9][0-9]{0,8})$/.exec(tag);
  return match ? Number(match[1]) : null;
}

function tagOrder(a: string, b: string): number {
  const [x, y] = [versionTag(a), versionTag(b)];
  if (x !== null && y !== null) return x - y;
  if (x !== null) return 1;
  if (y !== null) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The scope the token endpoint is asked for (`repository:<name>:pull`, or `pull,push` on a
 * route that writes): the repository, so the challenge and the token name it. Anything else is ignored (a token is the caller's own).
 */
export function challengeScope(model: string, action: "pull" | "push" = "pull"): string {
  return `repository:${model}:${action === "push" ? "pull,push" : "pull"}`;
}
