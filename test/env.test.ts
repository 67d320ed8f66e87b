import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { config } from "../src/env";

describe("config", () => {
  it("refuses a BLOB_GC_GRACE_S under 300 s and accepts 300", () => {
    // A fresh env object each time: config() remembers its answer per object.
    expect(() => config({ ...env, BLOB_GC_GRACE_S: "0" })).toThrow();
    expect(() => config({ ...env, BLOB_GC_GRACE_S: "299" })).toThrow();
    expect(config({ ...env, BLOB_GC_GRACE_S: "300" }).BLOB_GC_GRACE_S).toBe(300);
    expect(config({ ...env, BLOB_GC_GRACE_S: undefined }).BLOB_GC_GRACE_S).toBe(3600);
  });
});
