/**
 * Multipart files larger than one invocation may read are verified over several (docs/operations.md
 * "9. Limits: what a deployment meets"; src/artifacts/verify-steps.ts): `complete` answers `verifying` at once, each step hashes
 * at most VERIFY_BYTES_PER_STEP through the resumable SHA-256 and saves its state on the upload,
 * and the file is attached only when every byte hashed right.
 *
 * The steps here are taken by the test itself, one call each, with the first step's message sent
 * to a real queue no consumer reads (the dead-letter queue), so what each step did is counted
 * exactly; the last test goes through the routes and the real `mreg-verify` consumer.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { verifyStep, type StepReport } from "../src/artifacts/verify-steps";
import { finishUpload, receivePart, startUpload } from "../src/artifacts/upload-workflow";
import { blobKey } from "../src/artifacts/keys";
import { Visibility } from "../src/db/visibility";
import type { VerifyMessage } from "../src/domain/queue-message";
import type { Env } from "../src/env";
import { modelState, unwrap } from "../src/model-writes/stub";
import type { ModelState } from "../src/state/model-state";
import { bytesOf, createModel, createVersion, json, modelStub } from "./helpers";
import { until } from "./until";

const MiB = 1024 * 1024;
const STEP = 64 * MiB;

/** Steps of 64 MiB, parts of 64 MiB; the first step's message goes where nothing consumes it. */
const stepEnv = {
  ...env,
  VERIFY_BYTES_PER_STEP: String(STEP),
  UPLOAD_PART_SIZE: String(64 * MiB),
  VERIFY: env.DELIVERIES_DLQ,
} as unknown as Env;

/** Part `n` of a file: generated here, never stored in the repository (one 1 MiB block, varied per MiB). */
function partBytes(seed: number, n: number, length: number): Uint8Array {
  const block = bytesOf(MiB, seed);
  const out = new Uint8Array(length);
  for (let off = 0, i = 0; off < length; off += MiB, i++) {
    const piece = block.subarray(0, Math.min(MiB, length - off));
    out.set(piece, off);
    // Every MiB differs from the others: its first 8 bytes say which part and MiB it is.
    new DataView(out.buffer).setUint32(off, n);
    if (off + 8 <= length) new DataView(out.buffer).setUint32(off + 4, i);
  }
  return out;
}

function fixed(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const stream = new FixedLengthStream(bytes.byteLength);
  const writer = stream.writable.getWriter();
  void writer.write(bytes).then(() => writer.close());
  return stream.readable;
}

/** Opens an upload of `size` bytes (declaring `declared`, else the true sha256) and sends every part. */
async function uploadParts(model: string, size: number, seed: number, declared?: string) {
  await createModel(model);
  const version = (await createVersion(model)).version as number;
  // The sha256 of the bytes the parts will carry, hashed as they are generated.
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  const parts: Uint8Array[] = [];
  const count = Math.ceil(size / (64 * MiB));
  for (let n = 1; n <= count; n++) {
    const bytes = partBytes(seed, n, Math.min(64 * MiB, size - (n - 1) * 64 * MiB));
    await writer.write(bytes);
    parts.push(bytes);
  }
  await writer.close();
  const sha256 = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const who = { model, actor: "trainer", at: new Date().toISOString() };
  const started = await startUpload(stepEnv, env.DB, who, Visibility.EVERY, {
    version,
    path: "model.gguf",
    size,
    sha256: declared ?? sha256,
  });
  if (!("upload" in started)) throw new Error("expected an upload");
  const upload = started.upload;
  expect(upload.part_size).toBe(64 * MiB);
  for (let n = 1; n <= count; n++) {
    const bytes = parts[n - 1]!;
    parts[n - 1] = new Uint8Array(0); // let the memory go as the parts are sent
    await receivePart(stepEnv, { model, version, uploadId: upload.upload_id, part: n }, bytes.byteLength, fixed(bytes));
  }
  const message: VerifyMessage = { kind: "verify", model, version, upload_id: upload.upload_id };
  return { version, sha256, upload, who, message };
}

/** Takes steps until one does not leave more to hash. */
async function stepsToEnd(message: VerifyMessage): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (;;) {
    const report = await verifyStep(stepEnv, message);
    reports.push(report);
    if (report.outcome !== "continue") return reports;
  }
}

describe("a multipart file larger than one step's budget", () => {
  it(
    "a 1 GiB file: complete answers verifying at once, 16 steps of 64 MiB verify it, then the file appears",
    { timeout: 1_200_000 },
    async () => {
      const model = "vs-gib";
      const size = 1024 * MiB;
      const { version, sha256, upload, who, message } = await uploadParts(model, size, 3);

      const done = await finishUpload(stepEnv, env.DB, who, Visibility.EVERY, {
        version,
        uploadId: upload.upload_id,
      });
      expect("verifying" in done && done.verifying.status).toBe("verifying");
      // Nothing attached yet; the version cannot be finalized while its upload is verifying.
      const before = await json("GET", `/v1/models/${model}/versions/${version}/uploads/${upload.upload_id}`);
      expect(before.body.status).toBe("verifying");
      expect(before.body.file).toBeUndefined();
      expect((await json("GET", `/v1/models/${model}/versions/${version}/files`)).body.items).toEqual([]);
      expect((await json("POST", `/v1/models/${model}/versions/${version}/finalize`)).status).toBe(409);
      // A repeated complete answers the verifying upload again (202).
      const again = await json("POST", `/v1/models/${model}/versions/${version}/uploads/${upload.upload_id}/complete`, {
        body: {},
      });
      expect(again.status).toBe(202);
      expect(again.body.status).toBe("verifying");

      const reports = await stepsToEnd(message);
      expect(reports.map((r) => r.bytes)).toEqual(Array.from({ length: 16 }, () => STEP));
      expect(reports.slice(0, -1).every((r) => r.outcome === "continue")).toBe(true);
      expect(reports.at(-1)!.outcome).toBe("completed");
      // 16 MiB ranges: 4 reads a step.
      expect(Math.max(...reports.map((r) => r.reads))).toBe(4);

      const after = await json("GET", `/v1/models/${model}/versions/${version}/uploads/${upload.upload_id}`);
      expect(after.body.status).toBe("completed");
      expect(after.body.file).toEqual({ path: "model.gguf", size, sha256 });
      expect((await json("GET", `/v1/models/${model}/versions/${version}/files`)).body.items).toEqual([
        { path: "model.gguf", size, sha256 },
      ]);
      const record = unwrap(await modelState(env, model).getUpload({ model, version, uploadId: upload.upload_id }));
      expect(record.verify).toMatchObject({ offset: size, steps: 16, largest_step: STEP, largest_calls: 4 });
      // A step delivered again after the end does nothing.
      expect(await verifyStep(stepEnv, message)).toEqual({ bytes: 0, reads: 0, outcome: "idle" });
      const blob = await env.DB.prepare("SELECT size FROM blobs WHERE sha256 = ?")
        .bind(sha256)
        .first<{ size: number }>();
      expect(blob?.size).toBe(size);
    },
  );

  it("a step delivered twice counts once, and the object restarted between steps goes on from the saved state", async () => {
    const model = "vs-crash";
    const size = 200 * MiB;
    const { version, sha256, upload, who, message } = await uploadParts(model, size, 5);
    const done = await finishUpload(stepEnv, env.DB, who, Visibility.EVERY, { version, uploadId: upload.upload_id });
    expect("verifying" in done).toBe(true);

    expect((await verifyStep(stepEnv, message)).outcome).toBe("continue");
    // The same step twice at once (a message delivered again): both read, one saves.
    const twice = await Promise.all([verifyStep(stepEnv, message), verifyStep(stepEnv, message)]);
    expect(twice.map((r) => r.outcome).sort()).toEqual(["continue", "idle"]);
    // The model's object dies between steps: its SQLite keeps the saved state.
    await evictDurableObject(modelStub(model));
    const rest = await stepsToEnd(message);
    expect(rest.map((r) => r.bytes)).toEqual([STEP, 8 * MiB]);
    expect(rest.at(-1)!.outcome).toBe("completed");

    const record = unwrap(await modelState(env, model).getUpload({ model, version, uploadId: upload.upload_id }));
    expect(record.verify).toMatchObject({ offset: size, steps: 4 });
    expect((await json("GET", `/v1/models/${model}/versions/${version}/files`)).body.items).toEqual([
      { path: "model.gguf", size, sha256 },
    ]);
    const adds = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE model = ? AND action = 'file.add'")
      .bind(model)
      .first<{ n: number }>();
    expect(adds?.n).toBe(1);
  });

  it("bytes that do not hash to the declared sha256 fail the upload after the last step, and nothing is attached or kept", async () => {
    const model = "vs-lie";
    const size = 100 * MiB;
    const declared = "ab".repeat(32);
    const { version, upload, who, message } = await uploadParts(model, size, 7, declared);
    const done = await finishUpload(stepEnv, env.DB, who, Visibility.EVERY, { version, uploadId: upload.upload_id });
    expect("verifying" in done).toBe(true);
    const reports = await stepsToEnd(message);
    expect(reports.map((r) => r.bytes)).toEqual([STEP, 36 * MiB]);
    expect(reports.at(-1)!.outcome).toBe("failed");

    const after = await json("GET", `/v1/models/${model}/versions/${version}/uploads/${upload.upload_id}`);
    expect(after.body.status).toBe("failed");
    expect((await json("GET", `/v1/models/${model}/versions/${version}/files`)).body.items).toEqual([]);
    expect(await env.ARTIFACTS.head(blobKey(declared))).toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM blobs WHERE sha256 = ?").bind(declared).first()).toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM blob_leases WHERE sha256 = ?").bind(declared).first()).toBeNull();
    const fails = await env.DB.prepare(
      "SELECT count(*) AS n FROM audit_events WHERE model = ? AND action = 'upload.fail'",
    )
      .bind(model)
      .first<{ n: number }>();
    expect(fails?.n).toBe(1);
  });
});

describe("a step's message lost with a crashed invocation", () => {
  it("the model's alarm sends it again once the verification has not moved for a while, and the consumer finishes from the saved state", async () => {
    const model = "vs-lost";
    const size = 100 * MiB;
    const { version, sha256, upload, who, message } = await uploadParts(model, size, 9);
    const done = await finishUpload(stepEnv, env.DB, who, Visibility.EVERY, { version, uploadId: upload.upload_id });
    expect("verifying" in done).toBe(true);
    // One step is taken; the message it sends for the next goes where nothing reads it: lost.
    expect(await verifyStep(stepEnv, message)).toMatchObject({ bytes: STEP, outcome: "continue" });
    // Five minutes and more without progress (the object's clock cannot be moved: the record is aged).
    const raw = modelStub(model);
    await runInDurableObject(raw, (instance: ModelState) =>
      (instance as unknown as { ctx: DurableObjectState }).ctx.storage.sql.exec(
        "UPDATE uploads SET record = json_set(record, '$.verify.updated_at', ?) WHERE upload_id = ?",
        new Date(Date.now() - 10 * 60_000).toISOString(),
        upload.upload_id,
      ),
    );
    expect(await runDurableObjectAlarm(raw)).toBe(true);
    // The real mreg-verify consumer (64 MiB a step in vitest.config.ts) takes the rest.
    const ended = await until(
      async () => {
        const got = await json("GET", `/v1/models/${model}/versions/${version}/uploads/${upload.upload_id}`);
        return got.body.status === "verifying" ? undefined : got.body;
      },
      "the re-sent step to finish the verification",
      { timeoutMs: 300_000, intervalMs: 200 },
    );
    expect(ended.status).toBe("completed");
    expect(ended.file).toEqual({ path: "model.gguf", size, sha256 });
    const record = unwrap(await modelState(env, model).getUpload({ model, version, uploadId: upload.upload_id }));
    expect(record.verify).toMatchObject({ offset: size, steps: 2, largest_step: STEP });
  });
});

describe("through the routes and the mreg-verify queue", () => {
  it("complete answers 202 verifying; the queue's consumer verifies it; GET upload ends completed with the file", async () => {
    // VERIFY_BYTES_PER_STEP is 64 MiB in vitest.config.ts; parts are 5 MiB there.
    const model = "vs-route";
    await createModel(model);
    const version = (await createVersion(model)).version as number;
    const size = 70 * MiB + 3;
    const data = bytesOf(size, 11);
    const sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const base = `/v1/models/${model}/versions/${version}/uploads`;
    const created = await json("POST", base, { body: { path: "big.bin", size, sha256 } });
    expect(created.status).toBe(201);
    const { upload_id, part_size, part_count } = created.body;
    for (let n = 1; n <= part_count; n++) {
      const put = await json("PUT", `${base}/${upload_id}/parts/${n}`, {
        rawBody: data.slice((n - 1) * part_size, Math.min(size, n * part_size)),
      });
      expect(put.status).toBe(200);
    }
    const complete = await json("POST", `${base}/${upload_id}/complete`, { body: {} });
    expect(complete.status).toBe(202);
    expect(complete.body).toMatchObject({ upload_id, status: "verifying" });
    const ended = await until(
      async () => {
        const got = await json("GET", `${base}/${upload_id}`);
        return got.body.status === "verifying" ? undefined : got.body;
      },
      "the upload's verification to end",
      { timeoutMs: 300_000, intervalMs: 200 },
    );
    expect(ended.status).toBe("completed");
    expect(ended.file).toEqual({ path: "big.bin", size, sha256 });
    const again = await json("POST", `${base}/${upload_id}/complete`, { body: {} });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ path: "big.bin", size, sha256 });
  });
});
