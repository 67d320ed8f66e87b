/**
 * Issue 33, item 7: a download counts when a file's last byte is sent, once per request. A
 * GGUF reader's header reads (ranged GETs from byte 0 that stop short of the end) count
 * nothing; a download in ranges counts once; a client that stops early counts nothing. On
 * every route that counts: /v1, the Hugging Face bridge's resolve, and the web UI's file link.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sendsLastByte } from "../src/artifacts/download";
import { call, createModel, hsToken, json, modelStub, readyVersion } from "./helpers";
import { until } from "./until";

const SIZE = 4096;
const bytes = new Uint8Array(SIZE).map((_, i) => i % 251);
/** Large enough to arrive in several chunks, so a reader can stop before its end. */
const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 253);

async function uiCookie(): Promise<string> {
  const token = await hsToken({ sub: "dl-reader", scope: "read" });
  const res = await exports.default.fetch(
    new Request("http://127.0.0.1:8787/sign-in", {
      method: "POST",
      body: new URLSearchParams({ token, next: "/" }),
      headers: { "content-type": "application/x-www-form-urlencoded" },
      redirect: "manual",
    }),
  );
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

/**
 * Fires the model's alarm until the version shows `n` downloads or more, then says how many it
 * shows. Each check of "nothing counted" is followed by a whole download, so it waits for that
 * one's count (which comes after the earlier requests') rather than for a time.
 */
async function downloadsReach(model: string, version: number, n: number): Promise<number> {
  let seen = -1;
  await until(
    async () => {
      await runDurableObjectAlarm(modelStub(model));
      seen = (await json("GET", `/v1/models/${model}/versions/${version}`)).body.downloads as number;
      return seen >= n;
    },
    () => `${n} downloads of ${model} v${version} (${seen} so far)`,
  );
  return seen;
}

describe("sendsLastByte", () => {
  it("is true exactly for answers that end at the file's last byte, never a one-byte probe", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1 << 20 }), fc.nat(), fc.nat(), (size, a, b) => {
        const offset = a % size;
        const length = 1 + (b % (size - offset));
        expect(sendsLastByte(size, 206, offset, length)).toBe(length > 1 && offset + length === size);
        expect(sendsLastByte(size, 200, 0, size)).toBe(true);
      }),
    );
    expect(sendsLastByte(1, 206, 0, 1)).toBe(false);
    expect(sendsLastByte(0, 200, 0, 0)).toBe(true);
  });
});

describe("download counts", () => {
  for (const route of ["v1", "hub", "ui"] as const) {
    it(`counts on ${route}: header reads nothing, ranges once, whole files once, an early stop nothing`, async () => {
      const model = `dlc-${route}`;
      await createModel(model);
      const v = (await readyVersion(model, { "model.gguf": bytes, "big.bin": big })).version as number;
      await json("PUT", `/v1/models/${model}/aliases/production`, { body: { version: v } });
      const cookie = route === "ui" ? await uiCookie() : "";
      const get = (headers: Record<string, string> = {}, path = "model.gguf") => {
        if (route === "v1") return call("GET", `/v1/models/${model}/versions/${v}/files/${path}`, { headers });
        if (route === "hub") return call("GET", `/${model}/resolve/production/${path}`, { headers });
        return call("GET", `/m/${model}/v/${v}/files/${path}`, { token: null, headers: { ...headers, cookie } });
      };
      const read = async (range?: string) => {
        const res = await get(range ? { range } : {});
        expect(res.status).toBe(range ? 206 : 200);
        return new Uint8Array(await res.arrayBuffer());
      };

      // The web UI's file link answers the whole file whatever the Range: its reads are whole.
      const ranged = route !== "ui";
      let counted = 0;

      if (ranged) {
        // A GGUF reader: the header, in growing ranges from byte 0, none reaching the end.
        for (const end of [0, 255, 1023, 2047]) expect((await read(`bytes=0-${end}`)).length).toBe(end + 1);
        // A download in two ranges (mreg pull, a resumed curl): one.
        await read("bytes=0-2047");
        expect(await read("bytes=2048-")).toEqual(bytes.slice(2048));
        expect(await downloadsReach(model, v, 1)).toBe(1);
        // A suffix range that ends the file: one more.
        await read("bytes=-100");
        counted = 2;
      }
      // A whole GET: one.
      expect(await read()).toEqual(bytes);
      expect(await downloadsReach(model, v, counted + 1)).toBe(counted + 1);

      // A client that stops before the end, a HEAD, a one-byte probe: nothing; then one whole GET.
      const early = await get({}, "big.bin");
      const reader = early.body!.getReader();
      const chunk = await reader.read();
      expect(chunk.value!.length).toBeLessThan(big.length);
      await reader.cancel();
      expect((await call("HEAD", `/v1/models/${model}/versions/${v}/files/model.gguf`)).status).toBe(200);
      if (ranged) await read("bytes=0-0");
      await read();
      expect(await downloadsReach(model, v, counted + 2)).toBe(counted + 2);
    });
  }
});
