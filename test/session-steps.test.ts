/**
 * A blob session larger than one invocation may hash (VERIFY_BYTES_PER_STEP) is verified in steps
 * (src/artifacts/session-steps.ts) while its final `PUT ?digest=` waits for the verdict
 * (src/artifacts/verify-wait.ts): 201 once every byte hashed right, DIGEST_INVALID with nothing
 * registered when they did not, 503 UNAVAILABLE when the wait ran out (the blob appears anyway).
 *
 * Most steps here are taken by the test itself, one call each, with the first step's message sent
 * to a queue no consumer reads (the dead-letter queue), so what each step did is counted exactly;
 * the last test goes through the real `mreg-verify` consumer.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SESSION_PREFIX } from "../src/artifacts/keys";
import { verifySessionStep } from "../src/artifacts/session-steps";
import type { StepReport } from "../src/artifacts/verify-steps";
import type { VerifyMessage } from "../src/domain/queue-message";
import type { Env } from "../src/env";
import { bytesOf, call, createModel, modelStub, sha256Of } from "./helpers";
import { until } from "./until";

const MiB = 1024 * 1024;
const STEP = 16 * MiB;
/** Steps of 16 MiB (the setting's least); their messages go where nothing consumes them. */
const stepSettings = {
  VERIFY_BYTES_PER_STEP: String(STEP),
  VERIFY: env.DELIVERIES_DLQ,
} as unknown as Partial<Env>;
const stepEnv = { ...env, ...stepSettings } as Env;
type Errors = { errors: { code: string }[] };

/** Opens a session of `bytes` sent in two PATCHes; answers its id, Location and the steps' message. */
async function sent(model: string, bytes: Uint8Array) {
  await createModel(model);
  const start = await call("POST", `/v2/${model}/blobs/uploads/`);
  let location = start.headers.get("location")!;
  const half = Math.floor(bytes.byteLength / 2);
  for (const chunk of [bytes.subarray(0, half), bytes.subarray(half)]) {
    const res = await call("PATCH", location, {
      rawBody: chunk,
      headers: { "content-length": String(chunk.byteLength) },
    });
    expect(res.status, await res.clone().text()).toBe(202);
    location = res.headers.get("location")!;
  }
  const id = location.split("/").pop()!;
  const message: VerifyMessage = { kind: "verify", model, version: 0, upload_id: id, session: true };
  return { id, location, message };
}

const sessionOf = async (model: string, id: string) => {
  const found = await modelStub(model).blobSession({ model, id });
  if (!found.ok) throw new Error(`no session ${id}`);
  return found.value;
};

/** Waits for the PUT to have made the session `verifying`. */
const verifying = (model: string, id: string) =>
  until(async () => (await sessionOf(model, id)).status === "verifying", `session ${id} verifying`);

async function stepsToEnd(message: VerifyMessage): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (;;) {
    const report = await verifySessionStep(stepEnv, message);
    reports.push(report);
    if (report.outcome !== "continue") return reports;
  }
}

const rowOf = (sha256: string) =>
  env.DB.prepare("SELECT r2_key FROM blobs WHERE sha256 = ?").bind(sha256).first<{ r2_key: string | null }>();

async function keysUnder(prefix: string): Promise<string[]> {
  return (await env.ARTIFACTS.list({ prefix })).objects.map((o) => o.key);
}

describe("a blob session over VERIFY_BYTES_PER_STEP", () => {
  it("is verified in steps while its PUT waits, then answers 201; the blob lies where it was uploaded", async () => {
    const model = "ss-steps";
    const bytes = bytesOf(40 * MiB + 1234, 3);
    const sha256 = await sha256Of(bytes);
    const { id, location, message } = await sent(model, bytes);
    const put = call("PUT", `${location}?digest=sha256:${sha256}`, { settings: stepSettings });
    await verifying(model, id);
    // Its bytes are assembled: no chunk more, and nothing held yet.
    const more = await call("PATCH", location, { rawBody: new Uint8Array(5), headers: { "content-length": "5" } });
    expect(((await more.json()) as Errors).errors[0]!.code).toBe("BLOB_UPLOAD_INVALID");
    expect((await call("HEAD", `/v2/${model}/blobs/sha256:${sha256}`)).status).toBe(404);

    const reports = await stepsToEnd(message);
    expect(reports.map((r) => r.outcome)).toEqual(["continue", "continue", "completed"]);
    for (const r of reports) expect(r.bytes).toBeLessThanOrEqual(STEP);
    expect(reports.reduce((n, r) => n + r.bytes, 0)).toBe(bytes.byteLength);
    const res = await put;
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get("docker-content-digest")).toBe(`sha256:${sha256}`);
    expect((await sessionOf(model, id)).verify?.steps).toBe(3);
    expect((await rowOf(sha256))?.r2_key).toBe(`${SESSION_PREFIX}${id}`);
    expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([`${SESSION_PREFIX}${id}`]);
    expect((await call("HEAD", `/v2/${model}/blobs/sha256:${sha256}`)).status).toBe(200);
    const got = await call("GET", `/v2/${model}/blobs/sha256:${sha256}`);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
  });

  it("whose bytes lie about their digest fails at the last step, with nothing registered and nothing left", async () => {
    const model = "ss-liar";
    const bytes = bytesOf(20 * MiB, 4);
    const claimed = await sha256Of(bytesOf(20 * MiB, 5));
    const { id, location, message } = await sent(model, bytes);
    const put = call("PUT", `${location}?digest=sha256:${claimed}`, { settings: stepSettings });
    await verifying(model, id);
    expect((await stepsToEnd(message)).map((r) => r.outcome)).toEqual(["continue", "failed"]);
    const res = await put;
    expect(res.status).toBe(400);
    expect(((await res.json()) as Errors).errors[0]!.code).toBe("DIGEST_INVALID");
    expect((await sessionOf(model, id)).status).toBe("failed");
    expect(await rowOf(claimed)).toBeNull();
    expect(await rowOf(await sha256Of(bytes))).toBeNull();
    expect(await keysUnder(`${SESSION_PREFIX}${id}`)).toEqual([]);
    expect((await call("HEAD", `/v2/${model}/blobs/sha256:${claimed}`)).status).toBe(404);
  });

  it("goes on from the saved state across a restart of the model's object, and a step delivered twice counts once", async () => {
    const model = "ss-restart";
    const bytes = bytesOf(40 * MiB + 7, 6);
    const sha256 = await sha256Of(bytes);
    const { id, location, message } = await sent(model, bytes);
    const put = call("PUT", `${location}?digest=sha256:${sha256}`, { settings: stepSettings });
    await verifying(model, id);
    expect((await verifySessionStep(stepEnv, message)).outcome).toBe("continue");
    await evictDurableObject(modelStub(model));
    expect((await sessionOf(model, id)).verify?.offset).toBe(STEP);
    // The same step twice at once: one saves, the other learns it lost and stops.
    const twice = await Promise.all([verifySessionStep(stepEnv, message), verifySessionStep(stepEnv, message)]);
    expect(twice.map((r) => r.outcome).sort()).toEqual(["continue", "idle"]);
    expect((await sessionOf(model, id)).verify?.offset).toBe(2 * STEP);
    expect((await stepsToEnd(message)).map((r) => r.outcome)).toEqual(["completed"]);
    expect((await put).status).toBe(201);
    expect((await sessionOf(model, id)).verify?.steps).toBe(3);
    expect(new Uint8Array(await (await call("GET", `/v2/${model}/blobs/sha256:${sha256}`)).arrayBuffer())).toEqual(
      bytes,
    );
  });

  it("sent in one chunk ends at once without steps (hashed as it streamed in), however large", async () => {
    const model = "ss-inline";
    await createModel(model);
    const bytes = bytesOf(20 * MiB + 9, 8);
    const sha256 = await sha256Of(bytes);
    const start = await call("POST", `/v2/${model}/blobs/uploads/`);
    const patched = await call("PATCH", start.headers.get("location")!, {
      rawBody: bytes,
      headers: { "content-length": String(bytes.byteLength) },
    });
    expect(patched.status, await patched.clone().text()).toBe(202);
    const location = patched.headers.get("location")!;
    const id = location.split("/").pop()!;
    // Steps would go where nothing consumes them, and the PUT would not wait for them (503).
    const res = await call("PUT", `${location}?digest=sha256:${sha256}`, {
      settings: { ...stepSettings, VERIFY_WAIT_S: "0" } as Partial<Env>,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const session = await sessionOf(model, id);
    expect(session.status).toBe("completed");
    expect(session.verify).toBeUndefined();
    expect((await rowOf(sha256))?.r2_key).toBe(`${SESSION_PREFIX}${id}`);
    const got = await call("GET", `/v2/${model}/blobs/sha256:${sha256}`);
    expect(await sha256Of(await got.arrayBuffer())).toBe(sha256);
  });

  it("answers 503 UNAVAILABLE when its wait runs out; the real consumer finishes, HEAD finds the blob and the PUT again answers 201", async () => {
    const model = "ss-wait";
    const bytes = bytesOf(20 * MiB + 3, 7);
    const sha256 = await sha256Of(bytes);
    const { location } = await sent(model, bytes);
    const settings: Partial<Env> = { VERIFY_BYTES_PER_STEP: String(STEP), VERIFY_WAIT_S: "0" };
    const res = await call("PUT", `${location}?digest=sha256:${sha256}`, { settings });
    expect(res.status).toBe(503);
    expect(((await res.json()) as Errors).errors[0]!.code).toBe("UNAVAILABLE");
    expect(res.headers.get("retry-after")).toBeTruthy();
    await until(
      async () => (await call("HEAD", `/v2/${model}/blobs/sha256:${sha256}`)).status === 200,
      "the blob verified by the consumer",
    );
    const again = await call("PUT", `${location}?digest=sha256:${sha256}`, { settings });
    expect(again.status, await again.clone().text()).toBe(201);
    const other = await call("PUT", `${location}?digest=sha256:${"0".repeat(64)}`, { settings });
    expect(((await other.json()) as Errors).errors[0]!.code).toBe("DIGEST_INVALID");
  });
});
