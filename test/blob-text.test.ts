/** Reading a blob as text by its sha256 (src/artifacts/blob-text.ts), as the lineage diff does. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readBlobText } from "../src/artifacts/blob-text";
import { blobKey } from "../src/artifacts/keys";
import { sha256Of } from "./helpers";

async function stored(bytes: Uint8Array | string): Promise<string> {
  const sha256 = await sha256Of(bytes);
  await env.ARTIFACTS.put(blobKey(sha256), bytes);
  return sha256;
}

describe("readBlobText", () => {
  it("reads UTF-8 text, and says binary for a NUL or invalid UTF-8", async () => {
    expect(await readBlobText(env, await stored("temperature: 0.2\n"), 1024)).toEqual({
      kind: "text",
      text: "temperature: 0.2\n",
    });
    expect(await readBlobText(env, await stored(new Uint8Array([0x61, 0, 0x62])), 1024)).toEqual({
      kind: "binary",
    });
    expect(await readBlobText(env, await stored(new Uint8Array([0xc3, 0x28])), 1024)).toEqual({
      kind: "binary",
    });
  });

  it("leaves a blob larger than the bound unread, and says missing for bytes R2 does not hold", async () => {
    const big = await stored("x".repeat(2048));
    expect(await readBlobText(env, big, 2047)).toEqual({ kind: "too_large" });
    expect(await readBlobText(env, big, 2048)).toEqual({ kind: "text", text: "x".repeat(2048) });
    expect(await readBlobText(env, "0".repeat(64), 1024)).toEqual({ kind: "missing" });
  });
});
