/**
 * Defects the hostile-input fuzzer (test/fuzz.test.ts, `npm run fuzz`) found, each pinned
 * by the request that showed it.
 */
import { describe, expect, it } from "vitest";
import { call, createModel, createVersion, json, readyVersion } from "./helpers";

describe("a path with a line or paragraph separator (U+2028, U+2029)", () => {
  // They are not control characters: docs/reference.md "Names" allows them in file paths.
  // Hono's `{.+}` parameters stopped at them (a JavaScript `.` matches no line terminator), so
  // the route did not match at all.
  it("is a file path like any other", async () => {
    await createModel("sep");
    const { version } = await createVersion("sep");
    const path = "notes%E2%80%A8a%E2%80%A9b.txt";
    const put = await json("PUT", `/v1/models/sep/versions/${version}/files/${path}`, { rawBody: "hello" });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    expect(put.body.path).toBe("notes\u2028a\u2029b.txt");
    const get = await call("GET", `/v1/models/sep/versions/${version}/files/${path}`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe("hello");
  });

  it("reaches the Hugging Face bridge, which answers in its own dialect", async () => {
    await createModel("sep-hub");
    await readyVersion("sep-hub", { "a.txt": new TextEncoder().encode("a") });
    const info = await call("GET", "/api/models/%E2%80%A8%E2%80%A9");
    expect(info.status).toBe(404);
    expect(info.headers.get("x-error-code")).toBe("RepoNotFound");
    const file = await call("GET", "/sep-hub/resolve/v1/a%E2%80%A8.txt");
    expect(file.status).toBe(404);
    expect(file.headers.get("x-error-code")).toBe("EntryNotFound");
  });
});

describe("the Hugging Face bridge's /api/models/ with no repo id", () => {
  // `/api/models/` matched no route, so the app's problem+json 404 answered a Hub client.
  it("is RepoNotFound in the Hub's dialect", async () => {
    for (const method of ["GET", "POST"]) {
      const res = await call(method, "/api/models/?expand=x");
      expect(res.status, method).toBe(404);
      expect(res.headers.get("x-error-code")).toBe("RepoNotFound");
      expect(await res.json()).toEqual({ error: "Repository not found" });
    }
  });
});
