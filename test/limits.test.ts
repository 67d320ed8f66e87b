/**
 * The contract's input limits (API.md Conventions): a tags map holds at most 256 keys after
 * merging (keys 1..128 characters, values up to 4,096), metrics at most 256 keys, `lineage`
 * at most 256 KiB serialized, any JSON value at most 32 levels deep. Exceeding one is a 400
 * `validation_failed`, never a 500.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { applyVersionPatch, type VersionRecord } from "../src/domain/version";
import { createModel, createVersion, json } from "./helpers";

/** `count` entries `${prefix}0..`, each with `value`. */
function entries<T>(prefix: string, count: number, value: T): Record<string, T> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, value]));
}

/** A value nested `levels` deep, counting the outermost object as level 1. */
function nested(levels: number): unknown {
  let value: unknown = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

function expectValidation(res: { status: number; body: Record<string, any> }, path: string) {
  // reason: problem bodies
  expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(400);
  expect(res.body.code).toBe("validation_failed");
  expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
}

describe("tags", () => {
  it("accepts 256 model tags, a 128-character key and a 4,096-character value at create, not 257", async () => {
    // 256 values of 4,096 would not fit the 1 MiB body cap: one long key and value, 255 short.
    const tags = { ...entries("k", 255, "v"), ["k".repeat(128)]: "v".repeat(4096) };
    const ok = await json("POST", "/v1/models", { body: { name: "lim-create", tags } });
    expect(ok.status).toBe(201);
    expect(Object.keys(ok.body.tags)).toHaveLength(256);
    expectValidation(
      await json("POST", "/v1/models", { body: { name: "lim-create-2", tags: entries("k", 257, "v") } }),
      "tags",
    );
    expectValidation(
      await json("POST", "/v1/models", { body: { name: "lim-create-3", tags: { k: "v".repeat(4097) } } }),
      "tags.k",
    );
    const longKey = await json("POST", "/v1/models", {
      body: { name: "lim-create-4", tags: { ["k".repeat(129)]: "v" } },
    });
    expect(longKey.status).toBe(400);
    expect(longKey.body.errors[0].path).toMatch(/^tags/);
  });

  it("caps a model's tags at 256 after merging: PATCHes up to 256 pass, the one past it is 400 and changes nothing", async () => {
    await createModel("lim-model-merge");
    // 2 × 100 + 56 = 256 across three patches.
    for (const [prefix, count] of [
      ["a", 100],
      ["b", 100],
      ["c", 56],
    ] as const) {
      const res = await json("PATCH", "/v1/models/lim-model-merge", { body: { tags: entries(prefix, count, "x") } });
      expect(res.status).toBe(200);
    }
    const full = await json("GET", "/v1/models/lim-model-merge");
    expect(Object.keys(full.body.tags)).toHaveLength(256);
    // Overwriting an existing key does not add one.
    expect((await json("PATCH", "/v1/models/lim-model-merge", { body: { tags: { a0: "y" } } })).status).toBe(200);

    const over = await json("PATCH", "/v1/models/lim-model-merge", {
      body: { tags: { d0: "x" }, description: "not applied" },
    });
    expectValidation(over, "tags");
    expect(over.body.errors[0].message).toMatch(/256/);
    const after = await json("GET", "/v1/models/lim-model-merge");
    expect(after.body.tags).toEqual({ ...full.body.tags, a0: "y" });
    expect(after.body.description).toBeNull();
    // A refused patch is not audited.
    const audited = await env.DB.prepare(
      "SELECT count(*) AS n FROM audit_events WHERE model = ? AND action = 'model.update'",
    )
      .bind("lim-model-merge")
      .first<{ n: number }>();
    expect(audited!.n).toBe(4);

    // Deleting one key in the same patch makes room for the new one.
    const swap = await json("PATCH", "/v1/models/lim-model-merge", { body: { tags: { a1: null, d0: "x" } } });
    expect(swap.status).toBe(200);
    expect(Object.keys(swap.body.tags)).toHaveLength(256);
    expect(swap.body.tags).toMatchObject({ d0: "x" });
    expect(swap.body.tags.a1).toBeUndefined();
  });

  it("keeps 30 patches of 100 new tags from growing a model without bound", async () => {
    await createModel("lim-model-30");
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++)
      statuses.push(
        (await json("PATCH", "/v1/models/lim-model-30", { body: { tags: entries(`p${i}-`, 100, "x") } })).status,
      );
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(2).every((s) => s === 400)).toBe(true);
    expect(Object.keys((await json("GET", "/v1/models/lim-model-30")).body.tags)).toHaveLength(200);
  });

  it("caps a version's tags at 256 after merging", async () => {
    await createModel("lim-version-tags");
    expectValidation(
      await json("POST", "/v1/models/lim-version-tags/versions", { body: { tags: entries("k", 257, "v") } }),
      "tags",
    );
    const v = await createVersion("lim-version-tags", { tags: entries("a", 200, "x") });
    const path = `/v1/models/lim-version-tags/versions/${v.version}`;
    expect((await json("PATCH", path, { body: { tags: entries("b", 56, "x") } })).status).toBe(200);
    const over = await json("PATCH", path, { body: { tags: { c0: "x" }, metrics: { auc: 0.9 } } });
    expectValidation(over, "tags");
    expect(over.body.errors[0].message).toMatch(/256/);
    const after = await json("GET", path);
    expect(Object.keys(after.body.tags)).toHaveLength(256);
    expect(after.body.metrics).toEqual({});
  });
});

/**
 * A tags map whose JSON text is exactly `bytes` bytes of UTF-8: values of 3-byte "€" (up to
 * 4,000 characters each, under the 4,096 cap), the last one padded with ASCII to the exact size.
 */
function tagsOfBytes(bytes: number, prefix = "t"): Record<string, string> {
  const size = (t: Record<string, string>) => new TextEncoder().encode(JSON.stringify(t)).byteLength;
  const tags: Record<string, string> = {};
  // Each value at most 4,000 characters; stop once ASCII padding under that size can finish the job.
  for (let i = 0; bytes - size(tags) > 4000; i++)
    tags[`${prefix}${i}`] = "€".repeat(Math.min(4000, Math.floor((bytes - size(tags) - 3000) / 3)));
  tags[`${prefix}-pad`] = "";
  tags[`${prefix}-pad`] = "x".repeat(bytes - size(tags));
  expect(size(tags)).toBe(bytes);
  return tags;
}

describe("tags: 64 KiB serialized", () => {
  it("accepts a model's and a version's tags of exactly 64 KiB at create, not a byte more (bytes, not characters)", async () => {
    const edge = tagsOfBytes(64 * 1024);
    expect((await json("POST", "/v1/models", { body: { name: "lim-bytes", tags: edge } })).status).toBe(201);
    expectValidation(
      await json("POST", "/v1/models", { body: { name: "lim-bytes-2", tags: tagsOfBytes(64 * 1024 + 1) } }),
      "tags",
    );
    expect((await json("POST", "/v1/models/lim-bytes/versions", { body: { tags: edge } })).status).toBe(201);
    const over = await json("POST", "/v1/models/lim-bytes/versions", { body: { tags: tagsOfBytes(64 * 1024 + 1) } });
    expectValidation(over, "tags");
    expect(over.body.errors[0].message).toMatch(/65536 bytes/);
  });

  it("caps tags at 64 KiB after merging: four multibyte patches cannot build a multi-megabyte record", async () => {
    await createModel("lim-bytes-merge");
    const v = await createVersion("lim-bytes-merge", {});
    const versionPath = `/v1/models/lim-bytes-merge/versions/${v.version}`;
    for (const path of ["/v1/models/lim-bytes-merge", versionPath]) {
      // Two patches that merge to exactly the cap (two maps' texts lose a pair of braces and gain a comma), then one byte more.
      const half = tagsOfBytes(32 * 1024, "a");
      expect((await json("PATCH", path, { body: { tags: half } })).status).toBe(200);
      const rest = tagsOfBytes(32 * 1024 + 1, "b");
      expect((await json("PATCH", path, { body: { tags: rest } })).status, path).toBe(200);
      const stored = (await json("GET", path)).body.tags;
      expect(new TextEncoder().encode(JSON.stringify(stored)).byteLength).toBe(64 * 1024);
      expectValidation(await json("PATCH", path, { body: { tags: { c: "x" } } }), "tags");
      // The patches of the report: 64 values of 4,096 three-byte characters, four times.
      const heavy = (i: number) =>
        Object.fromEntries(Array.from({ length: 64 }, (_, k) => [`h${i}-${k}`, "€".repeat(4096)]));
      for (let i = 0; i < 4; i++)
        expectValidation(
          await json("PATCH", path, {
            body: { tags: { ...heavy(i), ...Object.fromEntries(Object.keys(stored).map((k) => [k, null])) } },
          }),
          "tags",
        );
      expect((await json("GET", path)).body.tags).toEqual(stored);
      // Deleting keys makes room again.
      expect(
        (
          await json("PATCH", path, {
            body: { tags: { ...Object.fromEntries(Object.keys(rest).map((k) => [k, null])), c: "x" } },
          })
        ).status,
      ).toBe(200);
    }
  });
});

describe("metrics", () => {
  it("accepts 256 metrics at create, not 257, and caps them at 256 after merging", async () => {
    await createModel("lim-metrics");
    expectValidation(
      await json("POST", "/v1/models/lim-metrics/versions", { body: { metrics: entries("m", 257, 1) } }),
      "metrics",
    );
    const v = await createVersion("lim-metrics", { metrics: entries("m", 256, 0.5) });
    expect(Object.keys(v.metrics)).toHaveLength(256);
    const path = `/v1/models/lim-metrics/versions/${v.version}`;
    expectValidation(await json("PATCH", path, { body: { metrics: { extra: 1 } } }), "metrics");
    expect((await json("PATCH", path, { body: { metrics: { m0: null, extra: 1 } } })).status).toBe(200);
  });
});

describe("lineage", () => {
  const big = (bytes: number) => ({ signature: { blob: "x".repeat(bytes) } });

  it("accepts lineage up to 256 KiB serialized and refuses more, at create and after a patch", async () => {
    await createModel("lim-lineage");
    // {"signature":{"blob":"…"}} is 25 bytes around the string.
    expect(
      (await json("POST", "/v1/models/lim-lineage/versions", { body: { lineage: big(256 * 1024 - 25) } })).status,
    ).toBe(201);
    expectValidation(
      await json("POST", "/v1/models/lim-lineage/versions", { body: { lineage: big(256 * 1024 - 24) } }),
      "lineage",
    );
    expectValidation(
      await json("POST", "/v1/models/lim-lineage/versions", { body: { lineage: big(300 * 1024) } }),
      "lineage",
    );

    // Two fields that each fit but not together.
    const v = await createVersion("lim-lineage", { lineage: { signature: { blob: "x".repeat(200 * 1024) } } });
    const path = `/v1/models/lim-lineage/versions/${v.version}`;
    const over = await json("PATCH", path, {
      body: {
        lineage: {
          params: { p: "y".repeat(4096) },
          datasets: Array.from({ length: 100 }, () => ({ uri: "z".repeat(2048) })),
        },
      },
    });
    expectValidation(over, "lineage");
    expect((await json("GET", path)).body.lineage.datasets).toBeUndefined();
  });
});

describe("JSON depth", () => {
  it("refuses a body nested 33 levels deep with 400, and accepts 32", async () => {
    await createModel("lim-depth");
    // body (1) → lineage (2) → signature (3) → 29 more levels = 32.
    const ok = await json("POST", "/v1/models/lim-depth/versions", {
      body: { lineage: { signature: nested(30) as object } },
    });
    expect(ok.status).toBe(201);
    const deep = await json("POST", "/v1/models/lim-depth/versions", {
      body: { lineage: { signature: nested(31) as object } },
    });
    expect(deep.status).toBe(400);
    expect(deep.body.code).toBe("validation_failed");
    expect(deep.body.errors[0].path).toBe(`lineage.signature${".a".repeat(30)}`);
    expect(deep.body.errors[0].message).toMatch(/32/);
  });

  it("answers 400, not 500, for arrays nested 100,000 deep on any JSON route", async () => {
    await createModel("lim-depth-2");
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    for (const [method, path, rawBody] of [
      ["POST", "/v1/models", deep],
      ["PATCH", "/v1/models/lim-depth-2", `{"tags":${deep}}`],
      ["POST", "/v1/models/lim-depth-2/versions", `{"lineage":{"signature":{"a":${deep}}}}`],
      ["PUT", "/v1/models/lim-depth-2/aliases/prod", deep],
    ] as const) {
      const res = await json(method, path, { rawBody, headers: { "content-type": "application/json" } });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });
});

describe("every other limit at its edge", () => {
  it("metric names of 128 characters pass, 129 do not; descriptions of 4,096 pass, 4,097 do not; alias names of 64 pass, 65 do not", async () => {
    await createModel("lim-edges");
    expect(
      (await json("POST", "/v1/models/lim-edges/versions", { body: { metrics: { ["m".repeat(128)]: 1 } } })).status,
    ).toBe(201);
    expect(
      (await json("POST", "/v1/models/lim-edges/versions", { body: { metrics: { ["m".repeat(129)]: 1 } } })).status,
    ).toBe(400);
    expect((await json("PATCH", "/v1/models/lim-edges", { body: { description: "é".repeat(4096) } })).status).toBe(200);
    expectValidation(
      await json("PATCH", "/v1/models/lim-edges", { body: { description: "é".repeat(4097) } }),
      "description",
    );
    const v = await createVersion("lim-edges", {});
    await json("PUT", `/v1/models/lim-edges/versions/${v.version}/files/f`, { rawBody: "x" });
    await json("POST", `/v1/models/lim-edges/versions/${v.version}/finalize`);
    expect(
      (await json("PUT", `/v1/models/lim-edges/aliases/${"a".repeat(64)}`, { body: { version: v.version } })).status,
    ).toBe(200);
    expectValidation(
      await json("PUT", `/v1/models/lim-edges/aliases/${"a".repeat(65)}`, { body: { version: v.version } }),
      "alias",
    );
  });

  it("reads a JSON body of exactly 1 MiB and refuses one byte more with 413", async () => {
    const body = (bytes: number) => {
      const shell = JSON.stringify({ name: "lim-body", description: "" });
      return JSON.stringify({ name: "lim-body", description: "x".repeat(bytes - shell.length) });
    };
    const edge = await json("POST", "/v1/models", {
      rawBody: body(1024 * 1024),
      headers: { "content-type": "application/json" },
    });
    // Read whole: refused for its description's length, not its size.
    expectValidation(edge, "description");
    const over = await json("POST", "/v1/models", {
      rawBody: body(1024 * 1024 + 1),
      headers: { "content-type": "application/json" },
    });
    expect(over.status).toBe(413);
    expect(over.body.code).toBe("payload_too_large");
  });
});

describe("applyVersionPatch limits", () => {
  const base: VersionRecord = {
    model: "m",
    version: 1,
    status: "pending",
    stage: "none",
    description: null,
    tags: entries("t", 256, "x"),
    metrics: entries("m", 256, 1),
    lineage: {},
    files: [],
    digest: null,
    created_at: "t0",
    created_by: "alice",
    updated_at: "t0",
    ready_at: null,
    revision: 1,
  };

  it("refuses a merge past 256 tags or metrics, and allows replacing and deleting", () => {
    expect(applyVersionPatch(base, { tags: { new: "x" } }, "t1")).toMatchObject({
      ok: false,
      reason: "too_large",
      path: "tags",
    });
    expect(applyVersionPatch(base, { metrics: { new: 1 } }, "t1")).toMatchObject({
      ok: false,
      reason: "too_large",
      path: "metrics",
    });
    expect(applyVersionPatch(base, { tags: { t0: "y", t1: null, new: "x" }, metrics: { m0: 2 } }, "t1").ok).toBe(true);
  });
});
