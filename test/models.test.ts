import { describe, expect, it } from "vitest";
import { call, createModel, createVersion, hsToken, json } from "./helpers";

describe("POST /v1/models", () => {
  it("creates a model with defaults and records the actor", async () => {
    const res = await json("POST", "/v1/models", { body: { name: "payment-fraud", tags: { team: "risk" } } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: "payment-fraud",
      kind: "model",
      description: null,
      tags: { team: "risk" },
      created_by: "alice",
      latest_version: null,
      aliases: {},
    });
    expect(res.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.headers.get("content-type")).toContain("application/json");
  });

  it("refuses a duplicate name with 409 already_exists", async () => {
    await createModel("dup");
    const res = await json("POST", "/v1/models", { body: { name: "dup" } });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("already_exists");
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it.each([
    ["upper case", "Payment-Fraud"],
    ["dot-dot", "a..b"],
    ["129 characters", "a".repeat(129)],
    ["unicode", "modèle"],
    ["leading dash", "-x"],
    ["slash", "a/b"],
    ["empty", ""],
  ])("rejects a name with %s (400)", async (_, name) => {
    const res = await json("POST", "/v1/models", { body: { name } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    expect(res.body.errors[0].path).toBe("name");
  });

  it("accepts a 128-character name", async () => {
    const res = await json("POST", "/v1/models", { body: { name: "a".repeat(128) } });
    expect(res.status).toBe(201);
  });

  it("rejects tags with non-string values", async () => {
    const res = await json("POST", "/v1/models", { body: { name: "tagged", tags: { n: 1, ok: "x" } } });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "tags.n" })]);
  });

  it("rejects unknown fields and a bad kind", async () => {
    expect((await json("POST", "/v1/models", { body: { name: "m1", colour: "red" } })).status).toBe(400);
    expect((await json("POST", "/v1/models", { body: { name: "m1", kind: "dataset" } })).status).toBe(400);
  });

  it("answers malformed and truncated JSON with 400 validation_failed", async () => {
    for (const raw of ['{"name": "x"', "{name: x}", "[1,", "nul"]) {
      const res = await call("POST", "/v1/models", { rawBody: raw, headers: { "content-type": "application/json" } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: "validation_failed", status: 400, type: "about:blank" });
    }
  });

  it("answers a non-JSON content type with 415", async () => {
    const res = await call("POST", "/v1/models", {
      rawBody: "name=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ code: "unsupported_media_type" });
  });

  it("answers a 2 MiB body with 413, declared or streamed", async () => {
    const big = JSON.stringify({ name: "big", description: "x".repeat(2 * 1024 * 1024) });
    const declared = await call("POST", "/v1/models", {
      rawBody: big,
      headers: { "content-type": "application/json" },
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ code: "payload_too_large" });
    // Without Content-Length the cap is enforced while reading.
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.slice(i, i + 65536));
        controller.close();
      },
    });
    const streamed = await call("POST", "/v1/models", {
      rawBody: stream,
      headers: { "content-type": "application/json" },
    });
    expect(streamed.status).toBe(413);
  });
});

describe("GET /v1/models", () => {
  // Storage is shared by the tests of a file: each test uses its own name prefix.
  it("filters by prefix, kind and tags, and pages with a keyset cursor", async () => {
    await createModel("l-fraud-a", { tags: { team: "risk", tier: "1" } });
    await createModel("l-fraud-b", { tags: { team: "risk" }, kind: "prompt" });
    await createModel("l-fraud-c", { tags: { team: "growth" } });
    await createModel("l-churn", { tags: { team: "risk" } });
    const names = (body: Record<string, any>) => (body.items as { name: string }[]).map((m) => m.name); // reason: JSON bodies

    expect(names((await json("GET", "/v1/models?prefix=l-fraud-")).body)).toEqual([
      "l-fraud-a",
      "l-fraud-b",
      "l-fraud-c",
    ]);
    expect(names((await json("GET", "/v1/models?prefix=l-&kind=prompt")).body)).toEqual(["l-fraud-b"]);
    expect(names((await json("GET", "/v1/models?prefix=l-&tag=team:risk&tag=tier:1")).body)).toEqual(["l-fraud-a"]);

    const first = await json("GET", "/v1/models?prefix=l-&limit=2");
    expect(names(first.body)).toEqual(["l-churn", "l-fraud-a"]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    // A model inserted before the cursor's position does not shift the next page.
    await createModel("l-aaa");
    const second = await json("GET", `/v1/models?prefix=l-&limit=2&cursor=${first.body.next_cursor}`);
    expect(names(second.body)).toEqual(["l-fraud-b", "l-fraud-c"]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("rejects a bad limit, kind, tag filter or cursor", async () => {
    for (const q of [
      "limit=0",
      "limit=201",
      "limit=x",
      "kind=other",
      "tag=novalue",
      "cursor=!!!",
      "cursor=eyJ4IjoxfQ",
    ]) {
      const res = await json("GET", `/v1/models?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("shows a token with a models claim only the models it matches", async () => {
    await createModel("g-fraud-x");
    await createModel("g-churn-x");
    const token = await hsToken({ scope: "read", models: ["g-fraud-*"] });
    const res = await json("GET", "/v1/models", { token });
    expect(res.body.items.map((m: { name: string }) => m.name)).toEqual(["g-fraud-x"]);
    const none = await hsToken({ scope: "read", models: [] });
    expect((await json("GET", "/v1/models", { token: none })).body.items).toEqual([]);
  });
});

describe("GET/PATCH/DELETE /v1/models/{model}", () => {
  it("gets a model with its latest version", async () => {
    await createModel("m");
    await createVersion("m");
    await createVersion("m");
    const res = await json("GET", "/v1/models/m");
    expect(res.status).toBe(200);
    expect(res.body.latest_version).toBe(2);
  });

  it("404s an unknown model and 400s a malformed name", async () => {
    expect((await json("GET", "/v1/models/nope")).body.code).toBe("not_found");
    expect((await json("GET", "/v1/models/NOPE")).status).toBe(400);
  });

  it("merges tags, deletes null keys, and sets the description", async () => {
    await createModel("p", { tags: { a: "1", b: "2" } });
    const res = await json("PATCH", "/v1/models/p", { body: { tags: { b: null, c: "3" }, description: "hello" } });
    expect(res.status).toBe(200);
    expect(res.body.tags).toEqual({ a: "1", c: "3" });
    expect(res.body.description).toBe("hello");
    expect(res.body.updated_at >= res.body.created_at).toBe(true);
    expect((await json("PATCH", "/v1/models/p", { body: { tags: { a: 5 } } })).status).toBe(400);
    expect((await json("PATCH", "/v1/models/ghost", { body: { description: "x" } })).status).toBe(404);
  });

  it("deletes a model with its versions (admin only)", async () => {
    await createModel("gone");
    await createVersion("gone");
    const writer = await hsToken({ scope: "read write" });
    const denied = await json("DELETE", "/v1/models/gone", { token: writer });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe("forbidden");
    const res = await call("DELETE", "/v1/models/gone");
    expect(res.status).toBe(204);
    expect((await json("GET", "/v1/models/gone")).status).toBe(404);
    expect((await json("DELETE", "/v1/models/gone")).status).toBe(404);
    // Re-created under the same name, it has no versions, and numbering goes on (never reused).
    await createModel("gone");
    expect((await json("GET", "/v1/models/gone")).body.latest_version).toBeNull();
    expect((await createVersion("gone")).version).toBe(2);
  });
});
