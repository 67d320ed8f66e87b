/**
 * The OCI distribution protocol's push side (docs/oci.md "Pushing"), worded for skopeo, ORAS,
 * `@sigstore/oci` and registry-to-registry copies. An adapter only: blob uploads go through
 * the blob session service (src/artifacts/blob-sessions.ts), a manifest through the model
 * service (a ready version made from held blobs, or an attachment kept), a tag through the
 * alias service (its gate decides, as for `PUT .../aliases/{alias}`); the bytes of a kept
 * manifest through src/artifacts/stored-manifests.ts. What this module decides is only what
 * the request says in OCI's words: which upload, which range, which digest, which tag.
 */
import { isReserved } from "../../domain/alias";
import { toHex } from "../../domain/ids";
import { DIGEST, manifestReference, repositoryModel } from "../../domain/oci";
import {
  chunkRange,
  isRefusal,
  MAX_MANIFEST_BYTES,
  parsePushedManifest,
  storedManifest,
  uploadRange,
  versionFiles,
  type PushedManifest,
  type StoredBlob,
  type StoredManifest,
} from "../../domain/oci-push";
import { BUNDLE_MEDIA_TYPES, MAX_BUNDLE_BYTES } from "../../domain/oms/bundle";
import type { Principal } from "../../auth/principal";
import type { AppContext } from "../../http/app-env";
import { overBodyLimit } from "../../http/body-limit";
import { readCappedBytes } from "../../http/validation";
import { queryDb } from "../../db/session";
import {
  abandonBlobSession,
  appendChunk,
  blobSessionStatus,
  finishBlobSession,
  heldBlobSize,
  mountBlob,
  openBlobSession,
  putBlob,
  type BlobWriter,
} from "../../artifacts/blob-sessions";
import { putManifestBytes } from "../../artifacts/stored-manifests";
import { readBlobText } from "../../artifacts/blob-text";
import { addSignature } from "../../signing/service";
import { VersionStore } from "../../models/version-store";
import { attachManifest, createReadyVersion, deleteAttachment, type ModelWriter } from "../../models/service";
import { OciManifestStore } from "../../models/oci-store";
import { setAlias } from "../../aliases/service";
import type { BlobSession } from "../../domain/blob-session";
import { caller, permits } from "../caller";
import { OCI_WORDING, OciError, pushError, type PushContext } from "./errors";
import { appendStreamed } from "./streamed-body";

/** The caller, allowed to write `model` (a push needs `write`). */
async function pusher(c: AppContext, model: string): Promise<Principal> {
  return caller(c, OCI_WORDING, { scope: "write", access: "write", model });
}

const blobWriter = (c: AppContext, principal: Principal, model: string): BlobWriter => ({
  env: c.env,
  db: queryDb(c),
  principal,
  model,
});

/** Runs a push route's work, wording the seams' errors for its context. */
async function worded<T>(context: PushContext, work: () => Promise<T>, location?: string): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw pushError(err, context, location);
  }
}

const uploadLocation = (model: string, id: string) => `/v2/${model}/blobs/uploads/${id}`;
const blobLocation = (model: string, digest: string) => `/v2/${model}/blobs/${digest}`;

/** An upload's answer: where to send the next chunk, and how far it got. */
function uploadAnswer(model: string, session: BlobSession, status: 202 | 204): Response {
  return new Response(null, {
    status,
    headers: {
      location: uploadLocation(model, session.id),
      range: uploadRange(session.offset),
      "docker-upload-uuid": session.id,
      "content-length": "0",
    },
  });
}

function blobCreated(model: string, digest: string): Response {
  return new Response(null, {
    status: 201,
    headers: { location: blobLocation(model, digest), "docker-content-digest": digest, "content-length": "0" },
  });
}

/** A `sha256:<hex>` digest from a URL, else DIGEST_INVALID. */
export function digestOf(text: string | null | undefined): string {
  if (text === null || text === undefined || !DIGEST.test(text))
    throw new OciError(400, "DIGEST_INVALID", "provided digest is not a sha256 digest", {}, { digest: text ?? null });
  return text;
}

/** The request's declared body length; a body without one is refused (the spec requires it for every chunk). */
function bodyLength(c: AppContext): number {
  const length = streamedOrLength(c);
  if (length === null)
    throw new OciError(400, "SIZE_INVALID", "Content-Length required", {}, "Send the blob with a Content-Length");
  return length;
}

/**
 * The body's declared length, or null for a body sent without one (`Transfer-Encoding: chunked`),
 * which a chunk's doors take as it streams (./streamed-body.ts).
 */
function streamedOrLength(c: AppContext): number | null {
  const header = c.req.header("content-length");
  if (header === undefined) {
    // A request with no body at all has nothing to declare.
    return c.req.raw.body === null ? 0 : null;
  }
  if (!/^[0-9]{1,16}$/.test(header))
    throw new OciError(400, "SIZE_INVALID", "invalid Content-Length", {}, { "content-length": header });
  return Number(header);
}

/**
 * Refuses, before a byte is read, a body the zone would refuse on a deployment (`ZONE_BODY_LIMIT`,
 * docs/operations.md "9. Limits: what a deployment meets"): SIZE_INVALID naming the limit and the
 * way around it, since the platform's own 413 would tell a client neither. A whole blob or a
 * whole-blob `PATCH` over it goes in chunks instead (docs/oci.md "Pushing").
 */
async function refuseOverBodyLimit(c: AppContext, model: string, length: number): Promise<void> {
  const over = overBodyLimit(c.env, length, howToChunk(model));
  if (!over) return;
  await c.req.raw.body?.cancel().catch(() => undefined);
  throw new OciError(400, "SIZE_INVALID", over.message, {}, { limit: over.limit, length: over.length });
}

/** The way around the zone's body limit, in OCI's terms. */
const howToChunk = (model: string) =>
  `push it in chunks: POST /v2/${model}/blobs/uploads/ opens an upload, each PATCH sends a chunk under the limit with Content-Range, PUT ?digest= ends it`;

const bodyOf = (c: AppContext): ReadableStream<Uint8Array> => c.req.raw.body ?? new Response(new Uint8Array(0)).body!;

/** An upload id as mreg makes them; anything else names no upload. */
function sessionId(text: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text))
    throw new OciError(400, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {}, { upload: text });
  return text;
}

// ---- blob uploads ---------------------------------------------------------------------------

/**
 * `POST /v2/{model}/blobs/uploads/`: a mount (`?mount=&from=`, 201 without bytes when the
 * caller may read `from` and it holds them), a whole blob (`?digest=` with the bytes, 201), or
 * a session for chunks (202 with its Location).
 */
export async function startUpload(c: AppContext, model: string): Promise<Response> {
  const principal = await pusher(c, model);
  const w = blobWriter(c, principal, model);
  const query = new URL(c.req.url).searchParams;
  const mount = query.get("mount");
  const from = query.get("from");
  return worded("upload", async () => {
    if (mount !== null && from !== null && DIGEST.test(mount)) {
      const source = repositoryModel(from);
      // A source the caller may not read, or that lacks the bytes, is an ordinary upload (202), as the spec says.
      if (source !== null && permits(principal, { scope: "read", model: source })) {
        const size = await mountBlob(w, source, mount.slice("sha256:".length));
        if (size !== null) {
          await c.req.raw.body?.cancel();
          return blobCreated(model, mount);
        }
      }
    }
    const digest = query.get("digest");
    if (digest !== null) {
      const declared = digestOf(digest);
      const length = bodyLength(c);
      await refuseOverBodyLimit(c, model, length);
      const held = await putBlob(w, declared.slice("sha256:".length), bodyOf(c), length);
      return blobCreated(model, `sha256:${held.sha256}`);
    }
    await c.req.raw.body?.cancel();
    return uploadAnswer(model, await openBlobSession(w), 202);
  });
}

/** `PATCH <location>`: a chunk at the upload's end (its `Content-Range`, when sent, must start there: 416 otherwise). */
export async function patchUpload(c: AppContext, model: string, idText: string): Promise<Response> {
  const principal = await pusher(c, model);
  const id = sessionId(idText);
  const range = chunkRange(c.req.header("content-range") ?? null);
  const declared = streamedOrLength(c);
  if (declared === null && range === null) {
    const session = await worded(
      "upload",
      () => appendStreamed(c.env, blobWriter(c, principal, model), id, null, bodyOf(c), howToChunk(model)),
      uploadLocation(model, id),
    );
    return uploadAnswer(model, session, 202);
  }
  // Without Content-Length, the Content-Range says the length (an invalid one is refused below).
  const length = declared ?? (range === null || range === "invalid" ? 0 : range.length);
  await refuseOverBodyLimit(c, model, length);
  if (range === "invalid" || (range !== null && range.length !== length))
    throw new OciError(
      400,
      "BLOB_UPLOAD_INVALID",
      "blob upload invalid",
      {},
      { "content-range": c.req.header("content-range"), "content-length": length },
    );
  const session = await worded(
    "upload",
    () => appendChunk(blobWriter(c, principal, model), id, range?.start ?? null, bodyOf(c), length),
    uploadLocation(model, id),
  );
  return uploadAnswer(model, session, 202);
}

/** `PUT <location>?digest=`: the last chunk (if any), then the bytes verified against the digest (201). */
export async function finishUpload(c: AppContext, model: string, idText: string): Promise<Response> {
  const principal = await pusher(c, model);
  const id = sessionId(idText);
  const digest = digestOf(new URL(c.req.url).searchParams.get("digest"));
  const w = blobWriter(c, principal, model);
  // A last chunk without a length is appended as a PATCH's would be, then the session ends.
  const length = streamedOrLength(c);
  if (length === null) await worded("upload", () => appendStreamed(c.env, w, id, null, bodyOf(c), howToChunk(model)));
  else await refuseOverBodyLimit(c, model, length);
  const held = await worded("upload", () =>
    finishBlobSession(w, id, digest.slice("sha256:".length), length ? { body: bodyOf(c), length } : null),
  );
  return blobCreated(model, `sha256:${held.sha256}`);
}

/** `GET <location>`: how far the upload got (204 with `Range`). */
export async function uploadStatus(c: AppContext, model: string, idText: string): Promise<Response> {
  const principal = await pusher(c, model);
  const id = sessionId(idText);
  const session = await worded("upload", () => blobSessionStatus(blobWriter(c, principal, model), id));
  if (session.status !== "open")
    throw new OciError(400, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {}, { status: session.status });
  return uploadAnswer(model, session, 204);
}

/** `DELETE <location>`: abandons the upload (204). */
export async function cancelUpload(c: AppContext, model: string, idText: string): Promise<Response> {
  const principal = await pusher(c, model);
  const id = sessionId(idText);
  await worded("upload", () => abandonBlobSession(blobWriter(c, principal, model), id));
  return new Response(null, { status: 204 });
}

// ---- manifests ------------------------------------------------------------------------------

/** The request body's bytes, refused past MAX_MANIFEST_BYTES before more is read. */
function manifestBody(c: AppContext): Promise<Uint8Array> {
  return readCappedBytes(
    c.req.raw,
    MAX_MANIFEST_BYTES,
    "Manifests",
    () => new OciError(400, "SIZE_INVALID", "manifest too large", {}, { max: MAX_MANIFEST_BYTES }),
  );
}

function manifestCreated(model: string, digest: string, subject: string | null): Response {
  return new Response(null, {
    status: 201,
    headers: {
      location: `/v2/${model}/manifests/${digest}`,
      "docker-content-digest": digest,
      "content-length": "0",
      ...(subject ? { "oci-subject": subject } : {}),
    },
  });
}

/** The alias a push's tag moves, or null for a push by digest; `latest`, `v<n>` and non-alias tags are TAG_INVALID. */
function pushTag(referenceText: string): { digest: string } | { alias: string } {
  const reference = manifestReference(referenceText);
  if (reference.kind === "digest") return { digest: reference.digest };
  if (reference.kind === "invalid" && referenceText.startsWith("sha256:"))
    throw new OciError(400, "DIGEST_INVALID", "provided digest is not a sha256 digest", {}, { digest: referenceText });
  if (reference.kind === "tag" && reference.reference.kind === "alias" && !isReserved(reference.reference.alias))
    return { alias: reference.reference.alias };
  throw new OciError(
    400,
    "TAG_INVALID",
    "manifest tag did not match URI",
    {},
    {
      tag: referenceText,
      reason: "A pushed tag is an alias (lower-case letters, digits, _ and -); latest and v<n> name versions",
    },
  );
}

/**
 * `PUT /v2/{model}/manifests/{tag|digest}`: a manifest with a `subject` is kept as an
 * attachment (no version; answered with `OCI-Subject`); any other makes one ready version whose
 * files are its layers, and its tag (an alias) moves to it through the alias's gate.
 */
export async function putManifest(c: AppContext, model: string, referenceText: string): Promise<Response> {
  const principal = await pusher(c, model);
  const target = pushTag(referenceText);
  const bytes = await manifestBody(c);
  const parsed = parsePushedManifest(bytes, c.req.header("content-type") ?? null);
  if (isRefusal(parsed)) throw new OciError(400, parsed.code, parsed.message, {}, parsed.detail);
  const digest = `sha256:${toHex(await crypto.subtle.digest("SHA-256", bytes))}`;
  if ("digest" in target && target.digest !== digest)
    throw new OciError(
      400,
      "DIGEST_INVALID",
      "provided digest did not match uploaded content",
      {},
      { reference: target.digest, digest },
    );
  const w: ModelWriter = { env: c.env, principal, model };
  const kept = storedManifest(parsed, digest, bytes.byteLength);
  if (parsed.subject) {
    if ("alias" in target)
      throw new OciError(400, "TAG_INVALID", "manifest tag did not match URI", {}, "Push an attachment by its digest");
    return worded("manifest", () => attach(c, w, parsed, kept, bytes));
  }
  if ("alias" in target && !permits(principal, { scope: "promote", model, aliases: [target.alias] }))
    throw new OciError(
      403,
      "DENIED",
      "requested access to the resource is denied",
      {},
      {
        reason: `Moving the tag '${target.alias}' needs the 'promote' scope and that alias's grant; nothing was pushed`,
      },
    );
  const files = versionFiles(parsed);
  if (isRefusal(files)) throw new OciError(400, files.code, files.message, {}, files.detail);
  return worded("manifest", async () => {
    await putManifestBytes(c.env.ARTIFACTS, digest.slice("sha256:".length), bytes);
    const made = await createReadyVersion(w, {
      description: null,
      tags: {},
      metrics: {},
      lineage: { source: "oci" },
      files,
      manifest: kept,
    });
    if (made.kind === "unknown_blobs") throw blobsUnknown(made.blobs);
    if ("alias" in target)
      await setAlias(w, target.alias, { version: made.record.version, split: null }, { reason: "OCI push" });
    return manifestCreated(model, digest, null);
  });
}

const blobsUnknown = (blobs: { sha256: string; size: number }[]) =>
  new OciError(
    400,
    "MANIFEST_BLOB_UNKNOWN",
    "blob unknown to registry",
    {},
    { blobs: blobs.map((b) => ({ digest: `sha256:${b.sha256}`, size: b.size })) },
  );

async function attach(
  c: AppContext,
  w: ModelWriter,
  manifest: PushedManifest,
  kept: StoredManifest,
  bytes: Uint8Array,
): Promise<Response> {
  if (BUNDLE_MEDIA_TYPES.includes(kept.artifactType)) await signatureOfAttachment(c, w, manifest, kept);
  await putManifestBytes(c.env.ARTIFACTS, kept.digest.slice("sha256:".length), bytes);
  const attached = await attachManifest(w, kept);
  if (attached.kind === "unknown_blobs") throw blobsUnknown(attached.blobs);
  return manifestCreated(w.model, kept.digest, kept.subject);
}

const bundleRefused = (reason: string, extra: Record<string, unknown> = {}) =>
  new OciError(400, "MANIFEST_INVALID", "manifest invalid", {}, { reason, ...extra });

/**
 * A Sigstore bundle attached to a version's manifest becomes that version's signature, checked
 * by the signature service as `POST .../signatures` checks it, before the attachment is kept:
 * a bundle that fails a check is refused (MANIFEST_INVALID naming the check) and nothing is
 * kept. The subject must be a ready version's manifest already, since the bundle is checked
 * against its files. An attachment kept already was checked when it was first pushed.
 */
async function signatureOfAttachment(
  c: AppContext,
  w: ModelWriter,
  manifest: PushedManifest,
  kept: StoredManifest,
): Promise<void> {
  const db = queryDb(c);
  if (await new OciManifestStore(db).get(w.model, kept.digest)) return;
  if (manifest.layers.length !== 1)
    throw bundleRefused(
      `A Sigstore bundle attachment has one layer, the bundle; this one has ${manifest.layers.length}`,
    );
  const layer = manifest.layers[0]!;
  const version = await new VersionStore(db).versionOfManifest(w.model, kept.subject!);
  if (version === null)
    throw bundleRefused(
      `The subject ${kept.subject} is not a ready version's manifest of '${w.model}': push the version first, then its signature (a bundle is checked against its version's files)`,
    );
  if (layer.size > MAX_BUNDLE_BYTES)
    throw bundleRefused(`A signature bundle is at most ${MAX_BUNDLE_BYTES} bytes`, { size: layer.size });
  // Blobs this model does not hold are MANIFEST_BLOB_UNKNOWN, as for any attachment, before a signature is kept.
  const unheld: StoredBlob[] = [];
  for (const blob of kept.blobs)
    if ((await heldBlobSize(c.env, db, w.model, blob.sha256)) !== blob.size) unheld.push(blob);
  if (unheld.length > 0) throw blobsUnknown(unheld);
  const bundle = await readBlobText(c.env, layer.digest.slice("sha256:".length), MAX_BUNDLE_BYTES);
  if (bundle.kind === "missing")
    throw blobsUnknown([{ sha256: layer.digest.slice("sha256:".length), size: layer.size }]);
  if (bundle.kind !== "text") throw bundleRefused("The bundle layer is not UTF-8 JSON", { check: "envelope" });
  await addSignature({ ...w, db }, version, new TextEncoder().encode(bundle.text));
}

/**
 * `DELETE /v2/{model}/manifests/{digest}`: removes an attachment (scope `admin`); anything else
 * (a version's manifest, a tag) is 405: versions are deleted through `/v1`.
 */
export async function deleteManifest(c: AppContext, model: string, referenceText: string): Promise<Response> {
  const principal = await caller(c, OCI_WORDING, { scope: "admin", access: "write", model });
  const reference = manifestReference(referenceText);
  const kept = reference.kind === "digest" ? await new OciManifestStore(queryDb(c)).get(model, reference.digest) : null;
  if (!kept || kept.subject === null)
    throw new OciError(
      405,
      "UNSUPPORTED",
      "the operation is unsupported",
      { allow: "GET, HEAD, PUT" },
      "Only an attachment is deleted here; a version is deleted through /v1",
    );
  await worded("manifest", () => deleteAttachment({ env: c.env, principal, model }, kept.digest));
  return new Response(null, { status: 202 });
}
