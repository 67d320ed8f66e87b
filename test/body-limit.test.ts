/**
 * The zone's request body limit (docs/operations.md "9. Limits: what a deployment meets"): Cloudflare refuses a body past it
 * before the Worker runs, so no upload door may offer or take one. `/v1` single PUTs and parts
 * stay under it by configuration, and the bridges ask `overBodyLimit` (src/http/body-limit.ts).
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { config, type Env } from "../src/env";
import { bodyTooLarge, overBodyLimit } from "../src/http/body-limit";
import { createModel, createVersion, json } from "./helpers";

const MB = 1_000_000;

describe("the zone's body limit", () => {
  it("by default a /v1 single PUT and a part stay under 100 MB, the limit of Free and Pro zones", () => {
    const defaults = config({ DB: env.DB } as unknown as Env);
    expect(defaults.ZONE_BODY_LIMIT).toBe(100 * MB);
    expect(defaults.MAX_SINGLE_PUT).toBeLessThanOrEqual(100 * MB);
    expect(defaults.UPLOAD_PART_SIZE).toBeLessThanOrEqual(100 * MB);
  });

  it("refuses a single PUT or part size the zone would refuse", () => {
    expect(() => config({ ...env, MAX_SINGLE_PUT: undefined, ZONE_BODY_LIMIT: String(50 * MB) })).toThrow(
      /MAX_SINGLE_PUT .* is over ZONE_BODY_LIMIT/,
    );
    expect(() =>
      config({
        ...env,
        MAX_SINGLE_PUT: "0",
        UPLOAD_PART_SIZE: String(64 * 1024 * 1024),
        ZONE_BODY_LIMIT: String(60 * MB),
      }),
    ).toThrow(/UPLOAD_PART_SIZE .* is over ZONE_BODY_LIMIT/);
    // A Business zone takes 200 MB; the settings themselves stay at most 95 MiB.
    expect(config({ ...env, ZONE_BODY_LIMIT: String(200 * MB) }).ZONE_BODY_LIMIT).toBe(200 * MB);
  });

  it("says whether a body is over the limit, naming the limit and the way around it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5 * 1024 * 1024, max: 5_000_000_000 }),
        fc.nat({ max: 6_000_000_000 }),
        (limit, length) => {
          const over = overBodyLimit(
            { ...env, MAX_SINGLE_PUT: "0", ZONE_BODY_LIMIT: String(limit) } as Env,
            length,
            "send it in chunks",
          );
          if (length <= limit) return over === null;
          const problem = bodyTooLarge(over!);
          return (
            over!.limit === limit &&
            over!.message.includes(String(limit)) &&
            over!.message.includes("send it in chunks") &&
            problem.code === "payload_too_large"
          );
        },
      ),
    );
  });

  it("a /v1 single PUT past MAX_SINGLE_PUT is 413 naming the limit and multipart", async () => {
    await createModel("bl-put");
    const version = (await createVersion("bl-put")).version as number;
    const limit = config(env).MAX_SINGLE_PUT;
    const res = await json("PUT", `/v1/models/bl-put/versions/${version}/files/big.bin`, {
      rawBody: new Uint8Array(limit + 1),
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("payload_too_large");
    expect(res.body.detail).toContain(String(limit));
    expect(res.body.detail).toContain("multipart");
  });
});
