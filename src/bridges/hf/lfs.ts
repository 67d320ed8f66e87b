/**
 * The Hub's LFS transfer, as `huggingface_hub` (`lfs.py`) and `@huggingface/hub`
 * (`lib/commit.ts`) speak it, over mreg's blob uploads (src/artifacts/blob-uploads.ts):
 *
 * - `POST /{repo}.git/info/lfs/objects/batch`: for each object, nothing (the caller holds the
 *   bytes), one `PUT` (`basic`, up to MAX_SINGLE_PUT and never past the zone's body limit,
 *   src/http/body-limit.ts), or HF's `multipart` transfer: a header
 *   with `chunk_size` and one URL per part (`00001`, …), and a completion URL the client
 *   POSTs `{oid, parts: [{partNumber, etag}]}` to. R2 multipart underneath.
 * - The URLs are mreg's and carry their own credential (src/auth/capability.ts), since the
 *   clients send no `Authorization` to them: each signs one object or part of one model, its
 *   size, the actor, an expiry (never past the token's) and the token's id, so a revoked
 *   token's URLs stop working too. They survive a restart of the registry (the key is a
 *   secret, the upload's state in the model's ModelState), so a client retrying a part after
 *   a crash (Python's `http_backoff`) finds it where it was.
 */
import { signCapability, type Capability } from "../../auth/capability";
import type { Principal } from "../../auth/principal";
import {
  completeBlobUpload,
  blobUpload,
  planBlobUploads,
  putBlob,
  receiveBlobPart,
  type BlobWanted,
} from "../../artifacts/blob-uploads";
import { untilVerified } from "../../artifacts/verify-wait";
import { queryDb, skipWriteBookmark } from "../../db/session";
import { ProblemError } from "../../domain/problem";
import { timestamp } from "../../domain/ids";
import { isSha256Algo, LfsBatchRequest, ObjectSize, partKey, Sha256Oid, writeTarget } from "../../domain/hub-write";
import { config } from "../../env";
import type { AppContext } from "../../http/app-env";
import { overBodyLimit } from "../../http/body-limit";
import { MAX_JSON_BYTES, parseWith, readCapped, readJsonBody } from "../../http/validation";
import { z } from "zod";
import { capabilityHolder, granted } from "../caller";
import { HUB_WORDING, HubError, repoNotFound } from "./errors";
import { modelOf, writer } from "./revision";

const LFS_JSON = "application/vnd.git-lfs+json";
const PURPOSE = { object: "hf-lfs-object", part: "hf-lfs-part", complete: "hf-lfs-complete" } as const;

/** An upload URL lives an hour, longer for a file that takes longer at 10 MiB/s; never past the token's expiry or the upload's. */
function expiryOf(principal: Principal, size: number, uploadExpires: string | null, uploadTtlS: number): number {
  const nowS = Math.floor(Date.now() / 1000);
  const wanted = nowS + Math.min(uploadTtlS, Math.max(3600, Math.ceil(size / (10 * 1024 * 1024))));
  const limits = [wanted];
  if (principal.expiresAt !== undefined) limits.push(Math.floor(principal.expiresAt / 1000));
  if (uploadExpires !== null) limits.push(Math.floor(Date.parse(uploadExpires) / 1000));
  return Math.min(...limits);
}

/** A signed URL under `/{model}.git/info/lfs/`. */
async function href(c: AppContext, path: string, cap: Capability, extra: Record<string, string> = {}): Promise<string> {
  const url = new URL(`/${cap.fields[0]}.git/info/lfs/${path}`, c.req.url);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  url.searchParams.set("exp", String(cap.expires));
  if (cap.tokenId !== null) url.searchParams.set("tid", cap.tokenId);
  url.searchParams.set("sig", await signCapability(c.env, cap));
  return url.toString();
}

/** Past the zone's limit, the platform would refuse the body: the way around it, in the Hub's terms. */
const TAKE_MULTIPART = "take the 'multipart' transfer";

/**
 * Why an object of `size` bytes cannot go in one `PUT` (the `basic` transfer), or null: over
 * the zone's body limit (docs/operations.md "9. Limits: what a deployment meets"), or over
 * MAX_SINGLE_PUT (never above that limit, but it may be set lower).
 */
function basicRefusal(c: AppContext, size: number): string | null {
  const over = overBodyLimit(c.env, size, TAKE_MULTIPART);
  if (over) return `${over.message}, which this request does not offer`;
  const limit = config(c.env).MAX_SINGLE_PUT;
  return size > limit ? `Objects over ${limit} bytes ${TAKE_MULTIPART}, which this request does not offer` : null;
}

type BatchObject =
  | { oid: string; size: number; authenticated?: boolean; actions?: Record<string, unknown> }
  | { oid: string; size: number; error: { code: number; message: string } };

/** The batch API: how each object is to be sent, if at all. */
async function batch(c: AppContext, repo: string[]): Promise<Response> {
  const model = modelOf(c, repo);
  const principal = await writer(c, model);
  const body = parseWith(LfsBatchRequest, await readJsonBody(c.req.raw), "LFS batch request");
  if (body.operation !== "upload")
    throw new HubError(400, "This registry's LFS API takes uploads; download files through /resolve/");
  if (!isSha256Algo(body.hash_algo)) throw new HubError(409, `Objects are named by sha256 here, not ${body.hash_algo}`);
  if (body.ref?.name) {
    const target = writeTarget(body.ref.name);
    if ("refused" in target) throw new HubError(400, target.refused);
    if (target.kind === "alias") granted(principal, HUB_WORDING, { scope: "promote", model, aliases: [target.alias] });
  }
  const cfg = config(c.env);
  const multipart = (body.transfers ?? ["basic"]).includes("multipart");
  const objects: BatchObject[] = body.objects.map((o) => ({ oid: o.oid, size: o.size }));
  // Objects that can be sent at all (a valid name and size, a transfer for their size) are planned; the rest get their error.
  const wanted: { at: number; blob: BlobWanted }[] = [];
  body.objects.forEach((o, at) => {
    const problem = !Sha256Oid.safeParse(o.oid).success
      ? "oid must be a sha256: 64 lower-case hex digits"
      : !ObjectSize.safeParse(o.size).success
        ? "size must be a byte count up to 5 TiB"
        : !multipart
          ? basicRefusal(c, o.size)
          : null;
    if (problem) objects[at] = { oid: o.oid, size: o.size, error: { code: 422, message: problem } };
    else wanted.push({ at, blob: { sha256: o.oid, size: o.size } });
  });
  const plans = await planBlobUploads(
    { env: c.env, db: queryDb(c), principal, model },
    wanted.map((w) => w.blob),
  );
  const tokenId = principal.tokenId ?? null;
  let anyMultipart = false;
  for (const [i, plan] of plans.entries()) {
    const { at, blob } = wanted[i]!;
    const base = { oid: blob.sha256, size: blob.size };
    if (plan.kind === "held") {
      objects[at] = { ...base, authenticated: true };
    } else if (plan.kind === "refused") {
      objects[at] = { ...base, error: { code: plan.problem.status, message: plan.problem.detail } };
    } else if (plan.kind === "single") {
      // Single means at most MAX_SINGLE_PUT, which the Worker never lets past the zone's limit (src/env.ts).
      const expires = expiryOf(principal, blob.size, null, cfg.UPLOAD_TTL_S);
      const cap = {
        purpose: PURPOSE.object,
        fields: [model, blob.sha256, String(blob.size), principal.sub],
        expires,
        tokenId,
      };
      objects[at] = {
        ...base,
        authenticated: true,
        actions: {
          upload: {
            href: await href(c, `objects/${blob.sha256}`, cap, { size: String(blob.size), actor: principal.sub }),
            expires_at: new Date(expires * 1000).toISOString(),
          },
        },
      };
    } else {
      anyMultipart = true;
      const { upload } = plan;
      const expires = expiryOf(principal, blob.size, upload.expires_at, cfg.UPLOAD_TTL_S);
      const header: Record<string, string> = { chunk_size: String(upload.part_size) };
      for (let n = 1; n <= upload.part_count; n++) {
        const cap = { purpose: PURPOSE.part, fields: [model, upload.upload_id, String(n)], expires, tokenId };
        header[partKey(n)] = await href(c, `uploads/${upload.upload_id}/${n}`, cap);
      }
      const done = { purpose: PURPOSE.complete, fields: [model, upload.upload_id], expires, tokenId };
      objects[at] = {
        ...base,
        authenticated: true,
        actions: {
          upload: {
            href: await href(c, `uploads/${upload.upload_id}`, done),
            header,
            expires_at: new Date(expires * 1000).toISOString(),
          },
        },
      };
    }
  }
  return new Response(JSON.stringify({ transfer: anyMultipart ? "multipart" : "basic", objects }), {
    headers: { "content-type": LFS_JSON },
  });
}

/** The capability a signed URL's query says it carries, for the object or upload its path names. */
function capabilityOf(c: AppContext, purpose: string, fields: string[]): { cap: Capability; signature: string } {
  const query = new URL(c.req.url).searchParams;
  const expires = Number(query.get("exp"));
  const signature = query.get("sig");
  if (!Number.isSafeInteger(expires) || !signature) throw new HubError(403, "This URL carries no valid signature");
  return { cap: { purpose, fields, expires, tokenId: query.get("tid") }, signature };
}

/** `Content-Length`, which R2 needs to stream a body (Python and Node both send it). */
function lengthOf(c: AppContext): number {
  const header = c.req.header("content-length");
  if (header === undefined || !/^\d{1,15}$/.test(header))
    throw new HubError(411, "Content-Length is required: send the bytes with a known length");
  return Number(header);
}

const bodyOf = (c: AppContext) => c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (ctl) => ctl.close() });

/** `PUT` of a whole object (the `basic` transfer). */
async function putObject(c: AppContext, model: string, oid: string): Promise<Response> {
  const query = new URL(c.req.url).searchParams;
  const size = query.get("size") ?? "";
  const actor = query.get("actor") ?? "";
  const { cap, signature } = capabilityOf(c, PURPOSE.object, [model, oid, size, actor]);
  await capabilityHolder(c, cap, signature);
  const length = lengthOf(c);
  // Refused before a byte is read: the zone would refuse such a body on a deployment (a URL
  // handed out before the limit was lowered, or a client sending more than the object).
  const over = overBodyLimit(c.env, length, TAKE_MULTIPART);
  if (over) {
    await c.req.raw.body?.cancel().catch(() => undefined);
    throw new HubError(413, over.message);
  }
  const who = { model, actor, ...(cap.tokenId !== null ? { token: cap.tokenId } : {}), at: timestamp() };
  await putBlob(c.env, queryDb(c), who, { sha256: oid, size: Number(size) }, bodyOf(c), length);
  return new Response(null, { status: 200, headers: { etag: `"${oid}"`, "access-control-expose-headers": "ETag" } });
}

/** `PUT` of one part of a multipart upload: answers R2's `ETag`, which the client sends back on completion. */
async function putPart(c: AppContext, model: string, uploadId: string, part: number): Promise<Response> {
  const { cap, signature } = capabilityOf(c, PURPOSE.part, [model, uploadId, String(part)]);
  await capabilityHolder(c, cap, signature);
  // A part changes nothing in D1: no fresh bookmark needed.
  skipWriteBookmark(c);
  const recorded = await receiveBlobPart(c.env, { model, uploadId, part }, lengthOf(c), bodyOf(c));
  return new Response(null, {
    status: 200,
    headers: { etag: `"${recorded.etag.replace(/"/g, "")}"`, "access-control-expose-headers": "ETag" },
  });
}

const CompletionBody = z.object({ oid: z.string().max(128).optional() });

/** A body read as JSON whatever its declared type (the clients declare git-lfs+json; an empty one is `{}`). */
function parseJson(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HubError(400, "The completion body is not JSON: send {oid, parts}");
  }
}

/**
 * The completion `POST`: every part there, the bytes verified, the object the model's. The parts'
 * ETags are the registry's own record.
 *
 * Both clients read only the status of this answer and commit right after it (`huggingface_hub`'s
 * `lfs.py` `_upload_multi_part`, `@huggingface/hub`'s `lib/commit.ts`), so a 2xx must mean the
 * object is there. An object larger than one invocation verifies (VERIFY_BYTES_PER_STEP) is
 * verified in steps on the queue while this request waits for them (src/artifacts/verify-wait.ts),
 * at most VERIFY_WAIT_S; past that it answers 503 with `Retry-After`, which Python's `http_backoff`
 * retries (each retry waits again), and the JavaScript client reports.
 */
async function complete(c: AppContext, model: string, uploadId: string): Promise<Response> {
  const { cap, signature } = capabilityOf(c, PURPOSE.complete, [model, uploadId]);
  await capabilityHolder(c, cap, signature);
  // `{oid, parts}`; the parts' ETags are not needed (the registry recorded each part as it came).
  const { oid } = parseWith(CompletionBody, parseJson(await readCapped(c.req.raw, MAX_JSON_BYTES)), "completion");
  const upload = await blobUpload(c.env, { model, uploadId });
  if (oid !== undefined && oid !== upload.sha256)
    throw new HubError(400, `This upload is of ${upload.sha256}, not ${oid}`);
  const who = {
    model,
    actor: upload.created_by,
    ...(cap.tokenId !== null ? { token: cap.tokenId } : {}),
    at: timestamp(),
  };
  const completed = await completeBlobUpload(c.env, queryDb(c), who, uploadId);
  if ("verifying" in completed) await verified(c, model, uploadId);
  return new Response(JSON.stringify({ oid: upload.sha256, size: upload.size }), {
    headers: { "content-type": LFS_JSON },
  });
}

/** Waits for the steps verifying a blob upload to end; throws unless they verified it. */
async function verified(c: AppContext, model: string, uploadId: string): Promise<void> {
  const waitS = config(c.env).VERIFY_WAIT_S;
  const { seen } = await untilVerified(
    () => blobUpload(c.env, { model, uploadId }),
    (u) => u.status !== "verifying",
    { waitMs: waitS * 1000 },
  );
  if (seen.status === "completed") return;
  if (seen.status === "verifying") {
    const hashed = seen.verify?.offset ?? 0;
    throw new HubError(
      503,
      `The object is still being verified (${hashed} of ${seen.size} bytes hashed after ${waitS} s); the verification goes on: send the completion again to wait for it`,
      undefined,
      { "retry-after": "5" },
    );
  }
  throw new ProblemError(
    "digest_mismatch",
    "The assembled bytes did not verify against the declared size and sha256 (or were replaced while they were verified); the upload failed and its bytes were removed: upload the file again",
    { expected: seen.sha256 },
  );
}

/** A path segment, percent-decoded; one that does not decode (not UTF-8) names no repo. */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw repoNotFound();
  }
}

/** What every LFS path holds, after the repo id. */
export const LFS_PATH = ".git/info/lfs/";

/**
 * The routes under `/{repo}.git/info/lfs/`: the batch API (the repo as the client names it),
 * and the signed URLs it hands out (`/{model}.git/…`).
 */
export async function lfsRoute(c: AppContext): Promise<Response> {
  const { pathname } = new URL(c.req.url);
  const at = pathname.indexOf(LFS_PATH);
  const repo = pathname.slice(1, at).split("/").map(decodedSegment);
  const rest = pathname.slice(at + LFS_PATH.length).split("/");
  const method = c.req.method;
  if (method === "POST" && rest.length === 2 && rest[0] === "objects" && rest[1] === "batch") return batch(c, repo);
  if (repo.length === 1) {
    const model = modelOf(c, repo);
    if (method === "PUT" && rest.length === 2 && rest[0] === "objects" && Sha256Oid.safeParse(rest[1]).success)
      return putObject(c, model, rest[1]!);
    if (rest[0] === "uploads" && rest.length === 3 && method === "PUT" && /^[1-9][0-9]{0,4}$/.test(rest[2]!))
      return putPart(c, model, rest[1]!, Number(rest[2]));
    if (rest[0] === "uploads" && rest.length === 2 && method === "POST") return complete(c, model, rest[1]!);
  }
  throw new HubError(404, `No LFS route for ${method} ${pathname}`, "RepoNotFound");
}
