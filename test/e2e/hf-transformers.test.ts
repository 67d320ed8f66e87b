/**
 * transformers.js (`@huggingface/transformers`) loading a model from mreg by alias, as a
 * Node serving process would: `env.remoteHost` is the registry, `env.cacheDir` a temporary
 * directory, and the token rides on `env.fetch` (the library sends HF_TOKEN to the Hub's own
 * hosts only). The weights are the small ONNX model `@ricky0123/vad-web` ships, run on
 * onnxruntime-node's bundled CPU build; the answer must equal that of the same file opened
 * directly with onnxruntime-node, so the bytes mreg served are the bytes that were published.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AutoConfig, AutoModel, env, Tensor } from "@huggingface/transformers";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base, createModel, hfToken, ONNX_PATH, onnxBytes, publish, setAlias, type Published } from "./hf";

const MODEL = "tjs-vad";
const config = (rate: number) => `{"model_type": "silero-vad", "sampling_rate": ${rate}}\n`;
const requested: string[] = [];
const cacheDirs: string[] = [];
let v1: Published;
let v2: Published;

function freshCache(): string {
  const dir = mkdtempSync(join(tmpdir(), "mreg-tjs-cache-"));
  cacheDirs.push(dir);
  return dir;
}

/** A 512-sample frame of a 440 Hz tone at 16 kHz, and the model's zero state. */
const frame = Float32Array.from({ length: 512 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16_000));
const state = new Float32Array(2 * 128);

beforeAll(async () => {
  await createModel(MODEL);
  v1 = await publish(MODEL, { "config.json": config(16_000), "onnx/model.onnx": onnxBytes() });
  v2 = await publish(MODEL, { "config.json": config(8_000), "onnx/model.onnx": onnxBytes() });
  await setAlias(MODEL, "production", v1.version);

  const authorization = `Bearer ${hfToken("read")}`;
  env.remoteHost = `${base()}/`;
  env.allowLocalModels = false;
  env.cacheDir = freshCache();
  env.fetch = (input: string | URL, init?: RequestInit) => {
    requested.push(String(input));
    const headers = new Headers(init?.headers);
    headers.set("authorization", authorization);
    return fetch(input, { ...init, headers });
  };
});

afterAll(() => {
  for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
});

describe("transformers.js against mreg", () => {
  it("loads the config and the ONNX model by alias and runs it", async () => {
    const loaded = await AutoConfig.from_pretrained(`mreg/${MODEL}`, { revision: "production" });
    expect((loaded as unknown as { sampling_rate: number }).sampling_rate).toBe(16_000);

    const model = await AutoModel.from_pretrained(`mreg/${MODEL}`, {
      revision: "production",
      dtype: "fp32",
      device: "cpu",
    });
    const out = (await model({
      input: new Tensor("float32", frame, [1, 512]),
      state: new Tensor("float32", state, [2, 1, 128]),
      sr: new Tensor("int64", BigInt64Array.from([16_000n]), []),
    })) as Record<string, Tensor>;
    await model.dispose();

    const direct = await ort.InferenceSession.create(ONNX_PATH);
    const expected = await direct.run({
      input: new ort.Tensor("float32", frame, [1, 512]),
      state: new ort.Tensor("float32", state, [2, 1, 128]),
      sr: new ort.Tensor("int64", BigInt64Array.from([16_000n]), []),
    });
    await direct.release();
    expect(out.output!.dims).toEqual([1, 1]);
    expect(Array.from(out.output!.data as Float32Array)).toEqual(Array.from(expected.output!.data as Float32Array));
    expect(Array.from(out.stateN!.data as Float32Array)).toEqual(Array.from(expected.stateN!.data as Float32Array));

    // Everything came from mreg's resolve route at the alias, and landed in the temporary cache.
    expect(requested.length).toBeGreaterThan(0);
    for (const url of requested) expect(url.startsWith(`${base()}/mreg/${MODEL}/resolve/production/`), url).toBe(true);
    expect(requested).toContain(`${base()}/mreg/${MODEL}/resolve/production/onnx/model.onnx`);
    expect(
      readFileSync(join(env.cacheDir!, "mreg", MODEL, "production", "onnx", "model.onnx")).equals(
        Buffer.from(v1.files.get("onnx/model.onnx")!),
      ),
    ).toBe(true);
  });

  it("caches by revision name: a moved alias is seen with a fresh cache, a pinned commit never goes stale", async () => {
    await setAlias(MODEL, "production", v2.version);
    const rate = async (revision: string) =>
      ((await AutoConfig.from_pretrained(MODEL, { revision })) as unknown as { sampling_rate: number }).sampling_rate;

    env.cacheDir = freshCache();
    expect(await rate("production")).toBe(8_000);
    expect(await rate(v1.commit)).toBe(16_000);
    expect(await rate(v2.commit)).toBe(8_000);

    // The same cache after the alias moves back: transformers.js answers from its entry for "production".
    await setAlias(MODEL, "production", v1.version);
    const before = requested.length;
    expect(await rate("production")).toBe(8_000);
    expect(requested.length).toBe(before);
  });
});
