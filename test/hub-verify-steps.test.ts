/**
 * The Hub's LFS multipart completion of an object larger than one invocation verifies
 * (VERIFY_BYTES_PER_STEP; docs/operations.md "9. Limits: what a deployment meets"): the parts are
 * assembled, the bytes hashed in steps on the `mreg-verify` queue (src/artifacts/verify-steps.ts),
 * and the completion waits for them (src/artifacts/verify-wait.ts), because both clients commit
 * right after a 2xx. Steps of 16 MiB here; the first step's message goes to a queue nothing
 * consumes, so the test takes each step itself and counts them.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { blobUpload } from "../src/artifacts/blob-uploads";
import { blobKey } from "../src/artifacts/keys";
import { verifyStep, type StepReport } from "../src/artifacts/verify-steps";
import { BLOB_UPLOAD_VERSION } from "../src/domain/upload";
import type { VerifyMessage } from "../src/domain/queue-message";
import type { Env } from "../src/env";
import { bytesOf, call, createModel, hsToken, json, modelStub, sha256Of } from "./helpers";
import { until } from "./until";

const MiB = 1024 * 1024;
const STEP = 16 * MiB;

/** Steps of 16 MiB whose messages nothing consumes; `wait` is how long the completion waits for them. */
const stepSettings = (waitS: number): Partial<Env> => ({
  VERIFY_BYTES_PER_STEP: String(STEP),
  VERIFY: env.DELIVERIES_DLQ as unknown as Env["VERIFY"],
  VERIFY_WAIT_S: String(waitS),
});
const stepEnv = { ...env, ...stepSettings(600) } as Env;

/** A request to a URL the registry handed out (it carries its own credential), run with `settings` if given. */
function fetchUrl(url: string, init: { method: string; body?: BodyInit }, settings?: Partial<Env>): Promise<Response> {
  const { pathname, search } = new URL(url);
  return call(init.method, `${pathname}${search}`, {
    token: null,
    ...(init.body !== undefined ? { rawBody: init.body } : {}),
    ...(settings ? { settings } : {}),
  });
}

let token: Promise<string> | undefined;
const hfToken = async () => `hf_${await (token ??= hsToken({ sub: "trainer" }))}`;

async function batch(model: string, oid: string, size: number) {
  const res = await json("POST", `/${model}.git/info/lfs/objects/batch`, {
    token: await hfToken(),
    headers: { "content-type": "application/vnd.git-lfs+json" },
    body: { operation: "upload", transfers: ["basic", "multipart"], hash_algo: "sha256", objects: [{ oid, size }] },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.objects[0] as { actions?: { upload: { href: string; header: Record<string, string> } } };
}

/** Opens a multipart upload of `oid` and sends `bytes` as its parts; the completion is left to the test. */
async function sendParts(model: string, oid: string, bytes: Uint8Array) {
  await createModel(model);
  const action = (await batch(model, oid, bytes.byteLength)).actions!.upload;
  const size = Number(action.header.chunk_size);
  const parts: { partNumber: number; etag: string }[] = [];
  for (const key of Object.keys(action.header).filter((k) => /^\d+$/.test(k))) {
    const n = Number(key);
    const res = await fetchUrl(action.header[key]!, { method: "PUT", body: bytes.slice((n - 1) * size, n * size) });
    expect(res.status, await res.clone().text()).toBe(200);
    parts.push({ partNumber: n, etag: res.headers.get("etag")! });
  }
  const uploadId = new URL(action.href).pathname.split("/").at(-1)!;
  const message: VerifyMessage = { kind: "verify", model, version: BLOB_UPLOAD_VERSION, upload_id: uploadId };
  const completion = (settings: Partial<Env>) =>
    fetchUrl(action.href, { method: "POST", body: JSON.stringify({ oid, parts }) }, settings);
  return { uploadId, message, completion };
}

const status = async (model: string, uploadId: string) => (await blobUpload(env, { model, uploadId })).status;

/** Waits for the completion to have begun the verification, then takes every step: each one's report. */
async function stepsToEnd(model: string, message: VerifyMessage, between?: () => Promise<void>) {
  await until(async () => (await status(model, message.upload_id)) === "verifying", "the upload to be verifying");
  const reports: StepReport[] = [];
  for (;;) {
    const report = await verifyStep(stepEnv, message);
    reports.push(report);
    if (report.outcome !== "continue") return reports;
    await between?.();
  }
}

describe("the Hub's multipart completion of an object over VERIFY_BYTES_PER_STEP", () => {
  it("waits while the steps verify it, then answers 200 with the object the model's", async () => {
    const model = "hvs-steps";
    const size = 40 * MiB + 5;
    const bytes = bytesOf(size, 21);
    const oid = await sha256Of(bytes);
    const { uploadId, message, completion } = await sendParts(model, oid, bytes);

    const answer = completion(stepSettings(600));
    const reports = await stepsToEnd(model, message);
    expect(reports.map((r) => r.bytes)).toEqual([STEP, STEP, size - 2 * STEP]);
    expect(reports.map((r) => r.outcome)).toEqual(["continue", "continue", "completed"]);
    const res = await answer;
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({ oid, size });

    const record = await blobUpload(env, { model, uploadId });
    expect(record.status).toBe("completed");
    expect(record.verify).toMatchObject({ offset: size, steps: 3, largest_step: STEP });
    // Verified and the model's: asked again, the batch wants no bytes; a commit names it.
    expect((await batch(model, oid, size)).actions).toBeUndefined();
    const blob = await env.DB.prepare("SELECT size FROM blobs WHERE sha256 = ?").bind(oid).first<{ size: number }>();
    expect(blob?.size).toBe(size);
    const committed = await json("POST", `/api/models/${model}/commit/main`, {
      token: await hfToken(),
      headers: { "content-type": "application/x-ndjson" },
      rawBody: [
        { key: "header", value: { summary: "weights", description: "" } },
        { key: "lfsFile", value: { path: "model.gguf", algo: "sha256", oid, size } },
      ]
        .map((l) => JSON.stringify(l))
        .join("\n"),
    });
    expect(committed.status, JSON.stringify(committed.body)).toBe(200);
    // Completing it again answers it again, at once.
    expect((await completion(stepSettings(600))).status).toBe(200);
  });

  it("past VERIFY_WAIT_S answers 503 with Retry-After while the steps go on; the completion sent again gets 200", async () => {
    const model = "hvs-wait";
    const size = 20 * MiB + 3;
    const bytes = bytesOf(size, 23);
    const oid = await sha256Of(bytes);
    const { message, completion } = await sendParts(model, oid, bytes);

    const first = await completion(stepSettings(1));
    expect(first.status, await first.clone().text()).toBe(503);
    expect(first.headers.get("retry-after")).toBe("5");
    expect(first.headers.get("x-error-message")).toContain("still being verified");
    // Asked again meanwhile, the batch does not open a second upload of the bytes: it says why.
    const refused = await json("POST", `/${model}.git/info/lfs/objects/batch`, {
      token: await hfToken(),
      headers: { "content-type": "application/vnd.git-lfs+json" },
      body: { operation: "upload", transfers: ["multipart"], hash_algo: "sha256", objects: [{ oid, size }] },
    });
    expect(refused.body.objects[0].error).toMatchObject({ code: 409 });
    expect(refused.body.objects[0].error.message).toContain("being verified");
    // The verification did not stop with the answer: the steps finish it.
    const reports = await stepsToEnd(model, message);
    expect(reports.at(-1)!.outcome).toBe("completed");
    const again = await completion(stepSettings(1));
    expect(again.status, await again.clone().text()).toBe(200);
    expect((await batch(model, oid, size)).actions).toBeUndefined();
  });

  it("bytes that are not the declared oid fail after the last step: 422, nothing kept, nothing claimed", async () => {
    const model = "hvs-lie";
    const size = 36 * MiB;
    const oid = await sha256Of(bytesOf(size, 25));
    // The parts carry other bytes of the same size than the oid declared.
    const { uploadId, message, completion } = await sendParts(model, oid, bytesOf(size, 26));

    const answer = completion(stepSettings(600));
    const reports = await stepsToEnd(model, message);
    expect(reports.map((r) => r.bytes)).toEqual([STEP, STEP, 4 * MiB]);
    expect(reports.at(-1)!.outcome).toBe("failed");
    const res = await answer;
    expect(res.status, await res.clone().text()).toBe(422);
    expect(res.headers.get("x-error-message")).toContain("upload the file again");

    expect(await status(model, uploadId)).toBe("failed");
    expect(await env.ARTIFACTS.head(blobKey(oid))).toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM blobs WHERE sha256 = ?").bind(oid).first()).toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM blob_leases WHERE sha256 = ?").bind(oid).first()).toBeNull();
    // Not the model's: the batch asks for the bytes again.
    expect((await batch(model, oid, size)).actions).toBeDefined();
    const fails = await until(
      () =>
        env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE model = ? AND action = 'upload.fail'")
          .bind(model)
          .first<{ n: number }>()
          .then((r) => (r?.n ?? 0) > 0 && r),
      "the upload.fail event in D1",
    );
    expect(fails.n).toBe(1);
  });

  it("the model's object restarted between steps: the next step goes on from the saved state, and the waiting completion answers 200", async () => {
    const model = "hvs-restart";
    const size = 40 * MiB;
    const bytes = bytesOf(size, 27);
    const oid = await sha256Of(bytes);
    const { uploadId, message, completion } = await sendParts(model, oid, bytes);

    const answer = completion(stepSettings(600));
    const reports = await stepsToEnd(model, message, () => evictDurableObject(modelStub(model)));
    expect(reports.map((r) => r.bytes)).toEqual([STEP, STEP, 8 * MiB]);
    const res = await answer;
    expect(res.status, await res.clone().text()).toBe(200);
    const record = await blobUpload(env, { model, uploadId });
    expect(record.verify).toMatchObject({ offset: size, steps: 3 });
    expect((await batch(model, oid, size)).actions).toBeUndefined();
  });
});
