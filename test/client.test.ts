/**
 * The typed client inside workerd: the same code users run in a Worker, talking to the real
 * app through its fetch handler. Multipart with parts in flight and resume, streams of known
 * length (FixedLengthStream), problem+json as MregError, the D1 bookmark, SHA-256.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MregClient, MregError, Sha256, bytesSource, paginate, sha256OfStream, type ByteSource } from "../src/client";
import { hsToken } from "./helpers";
import { bundleText, signingKeyPem } from "./oms-fixtures";
import { fixtureVersion } from "./signing-helpers";

const MiB = 1024 * 1024;
const appFetch = (input: string | URL | Request, init?: RequestInit) => exports.default.fetch(new Request(input, init));

async function client(scope = "read write promote approve admin", sub = "alice", fetchImpl = appFetch) {
  return new MregClient({ url: "http://mreg.test", token: await hsToken({ sub, scope }), fetch: fetchImpl });
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

async function hex(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** A source that hands out streams (not byte arrays), as Node files do: exercises FixedLengthStream. */
const streamSource = (bytes: Uint8Array<ArrayBuffer>): ByteSource => ({
  size: bytes.length,
  slice: (start, end) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = start; at < end; at += 256 * 1024) c.enqueue(bytes.slice(at, Math.min(end, at + 256 * 1024)));
        c.close();
      },
    }),
});

describe("client in a Worker", () => {
  it("creates, uploads multipart with parts in flight, finalizes, downloads ranges", async () => {
    const mreg = await client();
    await mreg.models.create({ name: "c-multi", tags: { team: "risk" } });
    const v = await mreg.versions.create("c-multi", { metrics: { auc: 0.9 } }, { idempotencyKey: "k-1" });
    const again = await mreg.versions.create("c-multi", { metrics: { auc: 0.9 } }, { idempotencyKey: "k-1" });
    expect(again.version).toBe(v.version);

    const bytes = randomBytes(11 * MiB + 123);
    const sha256 = await hex(bytes);
    const progress: number[] = [];
    const result = await mreg.upload("c-multi", v.version, "weights/model.bin", streamSource(bytes), {
      sha256,
      multipartThreshold: MiB,
      parallel: 3,
      onProgress: ({ sent }) => progress.push(sent),
    });
    expect(result).toMatchObject({ method: "multipart", bytesSent: bytes.length, bytesSkipped: 0 });
    expect(result.file).toMatchObject({ path: "weights/model.bin", size: bytes.length, sha256 });
    expect(progress.at(-1)).toBe(bytes.length);

    const small = new TextEncoder().encode('{"threshold": 0.7}\n');
    const single = await mreg.upload("c-multi", v.version, "config.json", bytesSource(small), {
      sha256: await hex(small),
    });
    expect(single.method).toBe("single");

    const ready = await mreg.versions.finalize("c-multi", v.version);
    expect(ready.status).toBe("ready");
    // A repeated finalize (a retry after a lost answer) answers the ready version.
    expect((await mreg.versions.finalize("c-multi", v.version)).digest).toBe(ready.digest);

    const part = await mreg.files.download("c-multi", v.version, "weights/model.bin", {
      range: { start: 5 * MiB, end: 5 * MiB + 9 },
    });
    expect(part).toMatchObject({
      status: 206,
      size: bytes.length,
      length: 10,
      range: { start: 5 * MiB, end: 5 * MiB + 9 },
      sha256,
    });
    expect(new Uint8Array(await new Response(part.body).arrayBuffer())).toEqual(bytes.subarray(5 * MiB, 5 * MiB + 10));
    const whole = await mreg.files.download("c-multi", v.version, "weights/model.bin");
    expect(await sha256OfStream(whole.body!)).toBe(sha256);
    const cached = await mreg.files.download("c-multi", v.version, "weights/model.bin", { ifNoneMatch: sha256 });
    expect(cached.status).toBe(304);
  });

  it("resumes an upload: only the parts the server lacks are sent", async () => {
    const mreg = await client();
    await mreg.models.create({ name: "c-resume" });
    const { version } = await mreg.versions.create("c-resume");
    const bytes = randomBytes(12 * MiB);
    const sha256 = await hex(bytes);
    const created = await mreg.uploads.create("c-resume", version, { path: "w.bin", size: bytes.length, sha256 });
    const upload = created.upload!;
    await mreg.uploads.putPart("c-resume", version, upload.upload_id, 2, {
      body: () => bytes.subarray(upload.part_size, 2 * upload.part_size),
      length: upload.part_size,
    });

    const result = await mreg.upload("c-resume", version, "w.bin", bytesSource(bytes), {
      sha256,
      resumeUploadId: upload.upload_id,
    });
    expect(result.uploadId).toBe(upload.upload_id);
    expect(result.bytesSkipped).toBe(upload.part_size);
    expect(result.bytesSent).toBe(bytes.length - upload.part_size);
    expect(result.file.sha256).toBe(sha256);
  });

  it("turns problem+json into MregError: gate checks, validation errors, 404s", async () => {
    const admin = await client();
    await admin.models.create({ name: "c-gates" });
    const { version } = await admin.versions.create("c-gates", { metrics: { auc: 0.5 } });
    await admin.upload("c-gates", version, "m.bin", bytesSource(new Uint8Array([1, 2, 3])), {
      sha256: await hex(new Uint8Array([1, 2, 3])),
    });
    await admin.versions.finalize("c-gates", version);
    await admin.gates.set("c-gates", "production", { metrics: [{ name: "auc", min: 0.9 }] });

    const refused = await admin.aliases.set("c-gates", "production", { version }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MregError);
    const err = refused as MregError;
    expect(err).toMatchObject({ status: 409, code: "gate_failed" });
    expect(err.checks?.map((c) => [c.check, c.passed])).toEqual([["metrics.auc", false]]);
    expect(err.requestId).toBeTruthy();

    const invalid = (await admin.models.create({ name: "Upper" }).catch((e: unknown) => e)) as MregError;
    expect(invalid.code).toBe("validation_failed");
    expect(invalid.errors?.[0]?.path).toBe("name");
    const missing = (await admin.models.get("c-nothing").catch((e: unknown) => e)) as MregError;
    expect(missing).toMatchObject({ status: 404, code: "not_found" });
  });

  it("moves aliases: set, resolve, history, rollback, swap; pages with paginate()", async () => {
    const mreg = await client();
    await mreg.models.create({ name: "c-alias" });
    for (let i = 1; i <= 3; i++) {
      const { version } = await mreg.versions.create("c-alias");
      const body = new Uint8Array([i]);
      await mreg.upload("c-alias", version, "m.bin", bytesSource(body), { sha256: await hex(body) });
      await mreg.versions.finalize("c-alias", version);
      await mreg.aliases.set("c-alias", "production", { version, reason: `v${i}` });
    }
    expect((await mreg.resolve("registry://c-alias@production")).version).toBe(3);
    expect((await mreg.aliases.rollback("c-alias", "production", { reason: "page" })).version).toBe(2);
    await mreg.aliases.set("c-alias", "challenger", { version: 1 });
    const [production, challenger] = await mreg.aliases.swap("c-alias", ["production", "challenger"]);
    expect([production.version, challenger.version]).toEqual([1, 2]);
    const actions: string[] = [];
    for await (const h of paginate((cursor) => mreg.aliases.history("c-alias", "production", { limit: 2, cursor })))
      actions.push(h.action);
    expect(actions).toEqual(["swap", "rollback", "set", "set", "set"]);
    const versions: number[] = [];
    for await (const v of paginate((cursor) => mreg.versions.list("c-alias", { limit: 2, cursor })))
      versions.push(v.version);
    expect(versions).toEqual([3, 2, 1]);
  });

  it("runs a rollout: start, get, pause, resume, abort; refusals as MregError", async () => {
    const mreg = await client();
    await mreg.models.create({ name: "c-rollout" });
    for (let i = 1; i <= 2; i++) {
      const { version } = await mreg.versions.create("c-rollout");
      const body = new Uint8Array([i]);
      await mreg.upload("c-rollout", version, "m.bin", bytesSource(body), { sha256: await hex(body) });
      await mreg.versions.finalize("c-rollout", version);
    }
    await mreg.aliases.set("c-rollout", "production", { version: 1 });
    const steps = [
      { weight: 20, hold_s: 3600 },
      { weight: 100, hold_s: 0 },
    ];
    const started = await mreg.rollouts.start("c-rollout", "production", { version: 2, steps, reason: "canary" });
    expect(started).toMatchObject({ from: 1, to: 2, step: 1, state: "running", min_fleet: 0.9, reason: "canary" });
    expect((await mreg.rollouts.get("c-rollout", "production")).id).toBe(started.id);
    const busy = await mreg.rollouts.start("c-rollout", "production", { version: 2, steps }).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(MregError);
    expect((busy as MregError).code).toBe("conflict");
    expect((await mreg.rollouts.pause("c-rollout", "production", { reason: "look" })).state).toBe("paused");
    expect((await mreg.rollouts.resume("c-rollout", "production")).state).toBe("running");
    const aborted = await mreg.rollouts.abort("c-rollout", "production", { reason: "no" });
    expect(aborted).toMatchObject({ state: "aborted", reason: "no" });
    expect((await mreg.resolve("registry://c-rollout@production")).version).toBe(1);
    const none = await mreg.rollouts.get("c-rollout", "staging").catch((e: unknown) => e);
    expect((none as MregError).status).toBe(404);
  });

  it("sends back the newest x-mreg-bookmark it saw (one client, one D1 session)", async () => {
    // Shaped as D1's, since the server refuses anything else.
    const bookmark = (n: number) => `00000000-${String(n).padStart(8, "0")}-00000000-${"0".repeat(32)}`;
    const seen: (string | null)[] = [];
    let n = 0;
    const withBookmarks = async (input: string | URL | Request, init?: RequestInit) => {
      const req = new Request(input, init);
      seen.push(req.headers.get("x-mreg-bookmark"));
      const res = await appFetch(req);
      const headers = new Headers(res.headers);
      headers.set("x-mreg-bookmark", bookmark(++n));
      return new Response(res.body, { status: res.status, headers });
    };
    const mreg = await client(undefined, undefined, withBookmarks);
    await mreg.models.create({ name: "c-bookmark" });
    await mreg.models.get("c-bookmark");
    await mreg.models.list();
    expect(seen).toEqual([null, bookmark(1), bookmark(2)]);
    expect(mreg.bookmark).toBe(bookmark(3));
    const other = new MregClient({ url: "http://mreg.test", fetch: withBookmarks, bookmark: mreg.bookmark });
    await other.health();
    expect(seen.at(-1)).toBe(bookmark(3));
  });

  it("hashes incrementally in plain TypeScript exactly as Web Crypto does", async () => {
    for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_001]) {
      const bytes = randomBytes(size);
      const h = new Sha256();
      // Uneven pieces cross the 64-byte block boundary at every offset.
      for (let at = 0, step = 1; at < size; at += step, step = ((step * 7) % 97) + 1)
        h.update(bytes.subarray(at, Math.min(size, at + step)));
      expect(h.digestHex()).toBe(await hex(bytes));
    }
  });
});

describe("client: signing keys and signatures", () => {
  it("registers a key, uploads, lists and fetches a bundle byte for byte, and deletes; refusals are MregErrors", async () => {
    const mreg = await client();
    await mreg.models.create({ name: "client-sig" });
    const version = await fixtureVersion("client-sig", "v1.0.1-elliptic-key");
    const key = await mreg.signingKeys.create({ name: "client-key", public_key: signingKeyPem });
    expect(key).toMatchObject({ name: "client-key", kind: "key", identity: null });
    expect((await mreg.signingKeys.list({ limit: 200 })).items.map((k) => k.id)).toContain(key.id);

    const text = `${bundleText("v1.0.1-elliptic-key")}\n`;
    const signature = await mreg.signatures.add("client-sig", version, text);
    expect(signature.trusted_by).toEqual([key.id]);
    expect(await mreg.signatures.add("client-sig", version, text)).toEqual(signature);
    expect(await mreg.signatures.list("client-sig", version)).toEqual([signature]);
    expect(await mreg.signatures.ofVersions("client-sig", [version, version + 1])).toEqual([{ ...signature, version }]);
    expect(await mreg.signatures.ofVersions("client-sig", [])).toEqual([]);
    expect(await mreg.signatures.bundle("client-sig", version, signature.id)).toBe(text);

    // A version whose signme-1 differs by one byte from what the bundle signs.
    const changed = await fixtureVersion("client-sig", "v1.0.1-elliptic-key", true);
    const invalid = await mreg.signatures.add("client-sig", changed, text).catch((e) => e);
    expect(invalid).toBeInstanceOf(MregError);
    expect(invalid).toMatchObject({ status: 422, code: "signature_invalid" });
    expect(invalid.detail).toMatch(/^files: .*signme-1/);
    await mreg.signatures.delete("client-sig", version, signature.id);
    expect(await mreg.signatures.list("client-sig", version)).toEqual([]);
    await mreg.signingKeys.delete(key.id);
    const gone = await mreg.signingKeys.delete(key.id).catch((e) => e);
    expect(gone).toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("client: a connection that dies mid-answer", () => {
  it("reports an MregError network_error, not the runtime's TypeError, when the body breaks off (found by test/chaos)", async () => {
    const broken = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"name": "half'));
            controller.error(new TypeError("terminated"));
          },
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      );
    const mreg = new MregClient({ url: "http://mreg.test", fetch: broken, retries: 0 });
    const err = await mreg.models.get("m").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MregError);
    expect(err).toMatchObject({ status: 0, code: "network_error" });
    // Starting an upload reads its answer itself (201 or 200 tell different things).
    const upload = await mreg.uploads
      .create("m", 1, { path: "a", size: 1, sha256: "0".repeat(64) })
      .catch((e: unknown) => e);
    expect(upload).toBeInstanceOf(MregError);
    expect(upload).toMatchObject({ status: 0, code: "network_error" });
  });
});
