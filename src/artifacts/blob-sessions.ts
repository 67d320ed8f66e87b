/**
 * Blob uploads not tied to a version (src/domain/blob-session.ts): bytes sent to a model
 * whole or in chunks of any size, verified against the digest named at the end, then held by
 * the model as a loose blob (for `UPLOAD_TTL_S`) until something names them as a file (a
 * version made from held blobs, src/models/service.ts `createReadyVersion`). The OCI bridge's
 * blob uploads are these; nothing here is OCI's.
 *
 * What happens, in which order, between the model's ModelState (which decides who writes the
 * next chunk, at which offset, and what the session holds), R2 (parts in a staging multipart
 * upload, the bytes past the last full part in a scratch object) and D1's blob registry:
 * - a chunk claims the session (one writer at a time; a chunk that starts anywhere but the
 *   session's end is refused), is cut into parts of `part_size` (all equal but the last, as R2
 *   needs) with the previous scratch bytes in front, and records what it wrote;
 * - the session's first chunk is hashed natively as it streams into R2, and the model records
 *   its sha256 on the session (a later chunk, which cannot extend that hash, clears it);
 * - the end assembles the parts (the scratch bytes as the last one) at the session's key and
 *   registers it as the blob where it lies (the `blobs` row names the key, so the bytes are
 *   written once); a session smaller than one part is its one scratch object, registered the
 *   same way. When the recorded hash covers every byte (one chunk, none in the final request)
 *   the declared digest is compared with it and nothing is read back (`settleVerifiedAt`);
 *   otherwise the assembled object is read once through SHA-256 against it (src/artifacts/bytes.ts
 *   `adoptAssembled`), in steps when large. Bytes that do not hash to the digest are never
 *   registered, and the session fails;
 * - a request that dies mid-chunk leaves the session as it was (its claim runs out, the parts
 *   it wrote are overwritten by the next chunk's); abandoned sessions are aborted by the
 *   scheduled cleanup after `UPLOAD_TTL_S`, which later deletes what they left under
 *   `sessions/` that no `blobs` row names (src/artifacts/keys.ts);
 * - an end that dies after R2 assembled the parts but before the row was written leaves the
 *   session open: a repeated end finds the parts assembled and goes on; a session never ended
 *   leaves an object no row names, which the cleanup deletes. One that dies after the row was
 *   written loses nothing: the blob is registered (unreferenced, so collected after
 *   BLOB_GC_GRACE_S unless a repeated end holds it for the model).
 */
import { requireAuthorized } from "../auth/authorize";
import type { Principal } from "../auth/principal";
import type { D1Handle } from "../db/session";
import {
  holdMs,
  takesFirstBytes,
  wholeHash,
  type BlobSession,
  type BlobSessionPart,
  type BlobSessionView,
} from "../domain/blob-session";
import { timestamp } from "../domain/ids";
import { ProblemError } from "../domain/problem";
import { R2_MAX_PARTS } from "../domain/upload";
import { cutChunk } from "../domain/oci-push";
import { config, type Env } from "../env";
import { abortR2Uploads } from "../model-writes/r2-aborts";
import { sendSessionVerifyStep } from "../queue/verify";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import { OciManifestStore } from "../models/oci-store";
import { VersionStore } from "../models/version-store";
import { BlobStore } from "./blob-store";
import { adoptAssembled, settleVerifiedAt, storeSingle } from "./bytes";
import { sessionKey, sessionTailKey } from "./keys";
import { Sha256Stream } from "./sha256-stream";
import { untilVerified } from "./verify-wait";

/** Who uploads, to which model. */
export interface BlobWriter {
  env: Env;
  db: D1Handle;
  principal: Principal;
  model: string;
}

const granted = (w: BlobWriter) => requireAuthorized(w.principal, { scope: "write", model: w.model });

const expiry = (w: BlobWriter, at: string) =>
  new Date(Date.parse(at) + config(w.env).UPLOAD_TTL_S * 1000).toISOString();

/** Opens a session for bytes to come. */
export async function openBlobSession(w: BlobWriter): Promise<BlobSession> {
  granted(w);
  const actor = actorFor(w.model, w.principal);
  const id = crypto.randomUUID();
  const session: BlobSession = {
    id,
    model: w.model,
    status: "open",
    offset: 0,
    part_size: config(w.env).UPLOAD_PART_SIZE,
    r2_key: sessionKey(id),
    r2_upload_id: null,
    tail_key: null,
    tail_size: 0,
    holder: null,
    held_until: null,
    sha256: null,
    created_at: actor.at,
    created_by: actor.actor,
    expires_at: expiry(w, actor.at),
  };
  return unwrap(await modelState(w.env, w.model).openBlobSession({ ...actor, session }));
}

/** The session as it stands (how many bytes it holds). */
export async function blobSessionStatus(w: BlobWriter, id: string): Promise<BlobSessionView> {
  granted(w);
  return unwrap(await modelState(w.env, w.model).blobSession({ model: w.model, id }));
}

/**
 * Reads consecutive sections of exactly the lengths asked from a sequence of streams (the
 * scratch bytes, then the request body), each a stream R2 can take (its length known).
 */
class Sections {
  private leftover: Uint8Array | null = null;
  /** Why a section could not be filled (the body was shorter than it said), once one was not. */
  failure: ProblemError | null = null;

  constructor(private readonly readers: ReadableStreamDefaultReader<Uint8Array>[]) {}

  private async next(): Promise<Uint8Array | null> {
    if (this.leftover) {
      const chunk = this.leftover;
      this.leftover = null;
      return chunk;
    }
    while (this.readers.length > 0) {
      const { done, value } = await this.readers[0]!.read();
      if (done) this.readers.shift();
      else if (value.byteLength > 0) return value;
    }
    return null;
  }

  /** The next `length` bytes as a stream of known length; it errors if the sources end first. */
  section(length: number): ReadableStream<Uint8Array> {
    let remaining = length;
    const source = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (remaining === 0) return controller.close();
        const chunk = await this.next();
        if (chunk === null) {
          this.failure = new ProblemError("validation_failed", `The body ended ${remaining} bytes before its length`);
          return controller.error(this.failure);
        }
        if (chunk.byteLength > remaining) this.leftover = chunk.subarray(remaining);
        const taken = chunk.byteLength > remaining ? chunk.subarray(0, remaining) : chunk;
        remaining -= taken.byteLength;
        controller.enqueue(taken);
        if (remaining === 0) controller.close();
      },
    });
    return source.pipeThrough(new FixedLengthStream(length));
  }

  /** Whether every source is spent. */
  async spent(): Promise<boolean> {
    return (await this.next()) === null;
  }
}

/**
 * What a chunk wrote to R2: the parts it completed and the bytes past them; and, for the session's
 * first bytes, what they hashed to on their way (null for any other chunk).
 */
interface ChunkWritten {
  r2UploadId: string | null;
  parts: BlobSessionPart[];
  tail: { key: string | null; size: number };
  sha256: string | null;
}

async function writeChunk(
  bucket: R2Bucket,
  session: BlobSessionView,
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<ChunkWritten> {
  const { fullParts, remainder } = cutChunk(session.tail_size, length, session.part_size);
  if (session.parts.length + fullParts + (remainder > 0 ? 1 : 0) > R2_MAX_PARTS)
    throw new ProblemError(
      "payload_too_large",
      `A blob upload holds at most ${R2_MAX_PARTS} parts of ${session.part_size} bytes`,
    );
  const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  if (session.tail_key !== null) {
    const tail = await bucket.get(session.tail_key);
    if (!tail || tail.size !== session.tail_size)
      throw new Error(`blob upload ${session.id}: its scratch bytes ${session.tail_key} are missing`);
    readers.push(tail.body.getReader());
  }
  // The session's first bytes are hashed natively on their way into R2: an end finding this hash
  // covering every byte need not read them back. Any later chunk could not extend it.
  const hasher = takesFirstBytes(session, session.parts.length) ? new Sha256Stream() : null;
  readers.push((hasher ? hasher.tap(body) : body).getReader());
  const sections = new Sections(readers);
  let written: Omit<ChunkWritten, "sha256">;
  try {
    written = await writeSections(bucket, session, sections, length, fullParts, remainder);
  } catch (err) {
    // R2 words a stream's failure its own way: the reason the body gave is the one to tell.
    throw sections.failure ?? err;
  }
  // Every section was filled and the body was spent: the hash saw exactly the chunk's bytes.
  const sha256 = hasher && hasher.ended && hasher.bytes === length ? await hasher.hex() : null;
  return { ...written, sha256 };
}

async function writeSections(
  bucket: R2Bucket,
  session: BlobSessionView,
  sections: Sections,
  length: number,
  fullParts: number,
  remainder: number,
): Promise<Omit<ChunkWritten, "sha256">> {
  let r2UploadId = session.r2_upload_id;
  const parts: BlobSessionPart[] = [];
  if (fullParts > 0) {
    r2UploadId ??= (await bucket.createMultipartUpload(session.r2_key)).uploadId;
    const upload = bucket.resumeMultipartUpload(session.r2_key, r2UploadId);
    for (let i = 0; i < fullParts; i++) {
      const part = session.parts.length + 1 + i;
      const uploaded = await upload.uploadPart(part, sections.section(session.part_size));
      parts.push({ part, size: session.part_size, etag: uploaded.etag });
    }
  }
  let tail: ChunkWritten["tail"] = { key: null, size: 0 };
  if (remainder > 0) {
    const key = sessionTailKey(session.id, session.offset + length);
    await bucket.put(key, sections.section(remainder));
    tail = { key, size: remainder };
  }
  if (!(await sections.spent())) throw new ProblemError("validation_failed", "The body is longer than its length");
  return { r2UploadId, parts, tail };
}

/**
 * Runs `work` holding the session (claimed from `start`, or its end); lets it go if `work`
 * throws. What `work` answers is what it recorded.
 */
async function holding<T>(
  w: BlobWriter,
  id: string,
  start: number | null,
  length: number,
  work: (session: BlobSessionView, holder: string) => Promise<T>,
): Promise<T> {
  const state = modelState(w.env, w.model);
  const holder = crypto.randomUUID();
  const now = Date.now();
  const session = unwrap(
    await state.claimBlobSession({
      model: w.model,
      id,
      start,
      holder,
      until: timestamp(now + holdMs(length + config(w.env).UPLOAD_PART_SIZE)),
      now: timestamp(now),
    }),
  );
  try {
    return await work(session, holder);
  } catch (err) {
    await state.releaseBlobSession({ model: w.model, id, holder }).catch(() => undefined);
    throw err;
  }
}

/** Appends a chunk of `length` bytes at `start` (the session's end when null); answers the session after it. */
export async function appendChunk(
  w: BlobWriter,
  id: string,
  start: number | null,
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<BlobSession> {
  granted(w);
  try {
    return await holding(w, id, start, length, (session, holder) => appendHeld(w, session, holder, body, length));
  } finally {
    await body.cancel().catch(() => undefined);
  }
}

async function appendHeld(
  w: BlobWriter,
  session: BlobSessionView,
  holder: string,
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<BlobSession> {
  const written = await writeChunk(w.env.ARTIFACTS, session, body, length);
  const next = unwrap(
    await modelState(w.env, w.model).recordBlobChunk({
      model: w.model,
      id: session.id,
      holder,
      offset: session.offset + length,
      r2UploadId: written.r2UploadId,
      parts: written.parts,
      tail: written.tail,
      sha256: written.sha256,
    }),
  );
  // The scratch bytes went into this chunk's parts or its own scratch object.
  if (session.tail_key !== null && session.tail_key !== written.tail.key)
    await w.env.ARTIFACTS.delete(session.tail_key);
  return next;
}

/** The verified blob a session ended with. */
export interface HeldBlob {
  sha256: string;
  size: number;
}

/**
 * Ends a session: the last chunk (if any) appended, the bytes assembled and, if they hash to
 * `sha256`, registered as the blob where they lie and held by the model. Bytes that do not are
 * removed and the session fails (422 `digest_mismatch`).
 *
 * Bytes hashed as they arrived (one chunk, none here) are not read again, whatever their size.
 * Others over VERIFY_BYTES_PER_STEP are more than one invocation may hash: the session becomes
 * `verifying`, its steps go to the `mreg-verify` queue (./session-steps.ts), and this request
 * waits for their verdict (./verify-wait.ts) up to VERIFY_WAIT_S, then answers 503 `unavailable`
 * (the blob appears when the steps end). An end repeated while the session verifies waits again.
 */
export async function finishBlobSession(
  w: BlobWriter,
  id: string,
  sha256: string,
  last: { body: ReadableStream<Uint8Array>; length: number } | null,
): Promise<HeldBlob> {
  granted(w);
  const bucket = w.env.ARTIFACTS;
  const blobs = new BlobStore(w.db, w.model);
  const actor = actorFor(w.model, w.principal);
  const state = modelState(w.env, w.model);
  // The claim lasts as long as reading everything the session holds may take.
  const held = unwrap(await state.blobSession({ model: w.model, id }));
  let outcome: HeldBlob | "stepping";
  try {
    if (held.verify) outcome = "stepping";
    else
      outcome = await holding<HeldBlob | "stepping">(
        w,
        id,
        null,
        held.offset + (last?.length ?? 0),
        async (session, holder) => {
          const end = async (blob: HeldBlob | null) =>
            unwrap(await state.finishBlobSession({ ...actor, id, holder, blob, expiresAt: expiry(w, actor.at) }));
          const written = new Set(sessionObjects(session));
          // An end that died after registering the bytes (before the session ended): its verdict stands,
          // and the objects it registered are never touched again.
          const earlier = await blobs.registeredAt([...written]);
          if (earlier !== null) {
            if (earlier.sha256 !== sha256) {
              await end(null);
              throw digestRefused(sha256, earlier.sha256);
            }
            // Taken for this model again (its collection clock cleared), as a dedup takes a blob.
            await blobs.reuse(earlier.sha256, earlier.size);
            await end(earlier);
            return earlier;
          }
          let stored: Assembled;
          try {
            stored = await assemble(w, blobs, session, sha256, last, actor.at, written);
          } catch (err) {
            if (err instanceof ProblemError && err.code === "digest_mismatch") {
              await end(null);
              await removeSessionBytes(bucket, session, written, null);
            }
            throw err;
          }
          if ("stepping" in stored) {
            // The claim goes with the session's change.
            unwrap(
              await state.beginSessionVerify({
                model: w.model,
                id,
                holder,
                target: { sha256, ...stored.stepping },
                now: actor.at,
                by: { actor: actor.actor, ...(actor.token !== undefined ? { token: actor.token } : {}) },
              }),
            );
            // Lost with a crash here, the first step is sent by the model's alarm (src/state/model-state.ts).
            await sendSessionVerifyStep(w.env, { model: w.model, id }).catch((err: unknown) =>
              console.error("sending a session's first verification step failed; the model's alarm sends it", err),
            );
            // Only the assembled object is needed from here (left behind by a crash: the cleanup's).
            await removeSessionBytes(bucket, session, written, stored.stepping.key);
            return "stepping";
          }
          await end(stored.blob);
          await removeSessionBytes(bucket, session, written, stored.key);
          return stored.blob;
        },
      );
  } finally {
    await last?.body.cancel().catch(() => undefined);
  }
  return outcome === "stepping" ? verdict(w, id, sha256) : outcome;
}

const digestRefused = (declared: string, actual: string) =>
  new ProblemError("digest_mismatch", `The uploaded bytes hash to ${actual}, not ${declared}`, {
    expected: declared,
    actual,
  });

/**
 * How a session verified in steps ended, waited for up to VERIFY_WAIT_S: its blob, or the
 * refusal of bytes that did not hash to `sha256` (or of an end naming another digest than the
 * one being verified); 503 `unavailable` when the steps are still going.
 */
async function verdict(w: BlobWriter, id: string, sha256: string): Promise<HeldBlob> {
  const state = modelState(w.env, w.model);
  // A look that fails (the model's object restarting) is no verdict: the wait asks again.
  const { seen: session, ended } = await untilVerified(
    async () => unwrap(await state.blobSession({ model: w.model, id })),
    (now) => now.status !== "verifying",
    { waitMs: config(w.env).VERIFY_WAIT_S * 1000 },
  );
  if (!ended) {
    throw new ProblemError(
      "unavailable",
      `The blob's bytes are still being verified; once they are, HEAD of the blob sha256:${sha256} finds it (push again: an OCI client asks that first)`,
      { digest: `sha256:${sha256}` },
      { "retry-after": String(VERIFY_RETRY_AFTER_S) },
    );
  }
  const verified = session.verify;
  if (session.status !== "completed" || !verified || session.sha256 !== sha256)
    throw digestRefused(sha256, session.sha256 ?? "other bytes");
  return { sha256, size: verified.size };
}

/** What an unsettled end's 503 asks the client to wait before trying again. */
const VERIFY_RETRY_AFTER_S = 30;

/** The R2 objects a session may have written so far: its assembly's key and its scratch object. */
const sessionObjects = (session: BlobSession): string[] => [
  session.r2_key,
  ...(session.tail_key !== null ? [session.tail_key] : []),
];

/** An assembled session: its verified blob and the key it lies at (null: it went to, or joined, a blob elsewhere); or bytes too many to hash here. */
type Assembled = { blob: HeldBlob; key: string | null } | { stepping: { key: string; size: number } };

/**
 * Makes what the session holds (and the last chunk) the blob `sha256`, verified, or, when the
 * assembled bytes are more than one invocation may hash, answers where they lie. Every object it
 * writes is added to `written`.
 */
async function assemble(
  w: BlobWriter,
  blobs: BlobStore,
  session: BlobSessionView,
  sha256: string,
  last: { body: ReadableStream<Uint8Array>; length: number } | null,
  at: string,
  written: Set<string>,
): Promise<Assembled> {
  const bucket = w.env.ARTIFACTS;
  const lastLength = last?.length ?? 0;
  // Everything in one request (a PUT with the whole body, or nothing at all): straight to its address.
  if (session.offset === 0) {
    const body = last?.body ?? new Response(new Uint8Array(0)).body!;
    const bytes = await storeSingle(bucket, blobs, body, lastLength, sha256, at);
    return { blob: { sha256: bytes.sha256, size: bytes.size }, key: null };
  }
  let parts = session.parts;
  let tail = { key: session.tail_key, size: session.tail_size };
  let uploadId = session.r2_upload_id;
  if (last && lastLength > 0) {
    const chunk = await writeChunk(bucket, session, last.body, lastLength);
    parts = [...parts, ...chunk.parts];
    tail = chunk.tail;
    uploadId = chunk.r2UploadId;
    if (tail.key !== null) written.add(tail.key);
  }
  const size = session.offset + lastLength;
  // Every byte was hashed as it arrived (one chunk, none in this request): the digest named must be
  // that hash, and the bytes are not read back (nor assembled, when it is not).
  const streamed = lastLength === 0 ? wholeHash(session) : null;
  if (streamed !== null && streamed !== sha256) throw digestRefused(sha256, streamed);
  // Fewer bytes than one part: they are all in the scratch object, which becomes the blob.
  let key = tail.key!;
  if (uploadId !== null) {
    key = session.r2_key;
    const upload = bucket.resumeMultipartUpload(key, uploadId);
    try {
      if (tail.key !== null) {
        const scratch = await bucket.get(tail.key);
        if (!scratch || scratch.size !== tail.size) throw new Error(`blob upload ${session.id}: scratch bytes missing`);
        const uploaded = await upload.uploadPart(parts.length + 1, scratch.body);
        parts = [...parts, { part: parts.length + 1, size: tail.size, etag: uploaded.etag }];
      }
      await upload.complete(parts.map((p) => ({ partNumber: p.part, etag: p.etag })));
    } catch (err) {
      // A retried end after a crash that followed the assembly finds the parts assembled already.
      if ((await bucket.head(key))?.size !== size) throw err;
    }
  }
  if (streamed === null && size > config(w.env).VERIFY_BYTES_PER_STEP) return { stepping: { key, size } };
  const bytes =
    streamed === null
      ? await adoptAssembled(bucket, blobs, key, size, sha256, at)
      : await settleVerifiedAt(bucket, blobs, key, sha256, size, at);
  return { blob: { sha256: bytes.sha256, size: bytes.size }, key: bytes.deduplicated ? null : key };
}

/**
 * Removes a session's R2 bytes once it ended (its scratch objects, an assembly that did not
 * become the blob, an unfinished multipart upload), all but `blob`: the key the blob now lies at.
 */
async function removeSessionBytes(
  bucket: R2Bucket,
  session: BlobSession,
  written: Set<string>,
  blob: string | null,
): Promise<void> {
  const keys = [...written].filter((k) => k !== blob);
  if (keys.length > 0) await bucket.delete(keys).catch(() => undefined);
  if (session.r2_upload_id !== null && blob !== session.r2_key)
    await abortR2Uploads(bucket, [{ r2_key: session.r2_key, r2_upload_id: session.r2_upload_id }]).catch(
      () => undefined,
    );
}

/** Abandons a session: the model's object ends it, then its R2 parts are dropped. */
export async function abandonBlobSession(w: BlobWriter, id: string): Promise<void> {
  granted(w);
  const session = unwrap(await modelState(w.env, w.model).blobSession({ model: w.model, id }));
  const { aborts } = unwrap(
    await modelState(w.env, w.model).abandonBlobSession({ ...actorFor(w.model, w.principal), id }),
  );
  await abortR2Uploads(w.env.ARTIFACTS, aborts);
  if (session.tail_key) await w.env.ARTIFACTS.delete(session.tail_key);
}

/** Stores a whole blob sent in one request (`length` bytes that must hash to `sha256`) and holds it for the model. */
export async function putBlob(
  w: BlobWriter,
  sha256: string,
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<HeldBlob> {
  granted(w);
  const actor = actorFor(w.model, w.principal);
  const bytes = await storeSingle(w.env.ARTIFACTS, new BlobStore(w.db, w.model), body, length, sha256, actor.at);
  unwrap(
    await modelState(w.env, w.model).holdLooseBlob({
      ...actor,
      sha256: bytes.sha256,
      size: bytes.size,
      expiresAt: expiry(w, actor.at),
    }),
  );
  return { sha256: bytes.sha256, size: bytes.size };
}

/**
 * The size of bytes the model holds (a ready version's file, a kept manifest's blob, or a loose
 * blob uploaded to it), or null: what the model may serve and build manifests from.
 */
export async function heldBlobSize(env: Env, db: D1Handle, model: string, sha256: string): Promise<number | null> {
  return (
    (await new VersionStore(db).readyFileSize(model, sha256)) ??
    (await new OciManifestStore(db).blobSize(model, sha256)) ??
    (await modelState(env, model).heldBlobSize({ sha256, now: timestamp() }))
  );
}

/**
 * Mounts bytes of another model into this one without sending them: when the caller may read
 * `from` and a ready version of it (or a manifest it keeps) holds them, they are held by this
 * model as if uploaded (answers their size); null otherwise, and nothing changes.
 */
export async function mountBlob(w: BlobWriter, from: string, sha256: string): Promise<number | null> {
  granted(w);
  requireAuthorized(w.principal, { scope: "read", model: from });
  const size =
    (await new VersionStore(w.db).readyFileSize(from, sha256)) ??
    (await new OciManifestStore(w.db).blobSize(from, sha256));
  if (size === null) return null;
  // The registry's verified copy, taken for this reference (its collection clock cleared).
  if (!(await new BlobStore(w.db, w.model).reuse(sha256, size))) return null;
  const actor = actorFor(w.model, w.principal);
  unwrap(await modelState(w.env, w.model).holdLooseBlob({ ...actor, sha256, size, expiresAt: expiry(w, actor.at) }));
  return size;
}
