/**
 * Paths no disk can hold together (API.md "Names"): two paths of one version equal after
 * NFC and case folding (`Model.bin` and `model.bin`, NFC and NFD `café`) would land on one
 * file where case and normalisation are ignored, and a file where another path needs a
 * directory (`a` beside `a/b`) cannot be written anywhere. The version's ModelState refuses
 * the second in the same step that would attach it (400 `validation_failed`), so two racing
 * uploads of colliding paths cannot both land.
 */
import { runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { collidingPaths, pathCollisionKey } from "../src/domain/file-path-rule";
import { bytesOf, call, createModel, createVersion, json, modelStub, sha256Of } from "./helpers";

const NFC = "caf\u00e9";
const NFD = "cafe\u0301";

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");
const filesOf = (model: string, version: number) => `/v1/models/${model}/versions/${version}/files`;
const put = (model: string, version: number, path: string, seed = 1) =>
  call("PUT", `${filesOf(model, version)}/${encodePath(path)}`, { rawBody: bytesOf(16, seed) });
const paths = async (model: string, version: number) =>
  (await json("GET", filesOf(model, version))).body.items.map((f: { path: string }) => f.path).sort();

/** Whether two distinct paths can share a disk: the oracle, pair by pair. */
function clash(a: string, b: string): boolean {
  const [ka, kb] = [pathCollisionKey(a), pathCollisionKey(b)];
  return ka === kb || ka.startsWith(`${kb}/`) || kb.startsWith(`${ka}/`);
}

/** Path segments that collide often: case, NFC and NFD, and short names that nest. */
const segment = fc.constantFrom("a", "A", "b", "B", NFC, NFD, "CAF\u00c9", "x.bin", "X.BIN");
const pathArb = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join("/"));

describe("collidingPaths", () => {
  it("finds a pair exactly when some two distinct paths clash (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(pathArb, { maxLength: 8 }), (list) => {
        const found = collidingPaths(list);
        const anyClash = list.some((a, i) => list.some((b, j) => i < j && clash(a, b)));
        expect(found !== null).toBe(anyClash);
        if (found) expect(clash(found[0], found[1])).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("a version refuses a path that collides with one it holds", () => {
  it("by case, by normalisation, and file against directory, either way round; replacing the same path is fine", async () => {
    await createModel("pc-single");
    const { version } = await createVersion("pc-single");
    for (const path of ["Model.bin", NFC, "a", "dir/sub/w.bin"])
      expect((await put("pc-single", version, path)).status).toBe(201);
    for (const path of ["model.bin", "MODEL.BIN", NFD, "CAF\u00c9", "a/b", "A/b", "dir", "DIR/sub", "Dir/Sub/W.bin"]) {
      const res = await json("PUT", `${filesOf("pc-single", version)}/${encodePath(path)}`, {
        rawBody: bytesOf(16, 2),
      });
      expect([path, res.status, res.body.code]).toEqual([path, 400, "validation_failed"]);
      expect(res.body.errors[0].path).toBe("path");
    }
    // The same path again replaces its file; a path that only shares a prefix is fine.
    expect((await put("pc-single", version, "Model.bin", 3)).status).toBe(201);
    expect((await put("pc-single", version, "ab", 3)).status).toBe(201);
    expect((await put("pc-single", version, "dir/sub2", 3)).status).toBe(201);
    expect(await paths("pc-single", version)).toEqual(
      ["Model.bin", "a", "ab", NFC, "dir/sub/w.bin", "dir/sub2"].sort(),
    );
    // Once the holder is gone, the other spelling is free.
    expect((await call("DELETE", `${filesOf("pc-single", version)}/Model.bin`)).status).toBe(204);
    expect((await put("pc-single", version, "model.bin")).status).toBe(201);
  }, 60_000);

  it("checks the files of a version written before the keys were kept", async () => {
    await createModel("pc-legacy");
    const { version } = await createVersion("pc-legacy");
    expect((await put("pc-legacy", version, "Config.json")).status).toBe(201);
    // As a model object from before the file_keys table holds it: files, and no keys.
    await runInDurableObject(modelStub("pc-legacy"), (_instance, state) => {
      state.storage.sql.exec("DELETE FROM file_keys");
      state.storage.sql.exec("DELETE FROM file_keys_built");
    });
    expect((await put("pc-legacy", version, "config.json")).status).toBe(400);
    expect((await put("pc-legacy", version, "other.json")).status).toBe(201);
    expect(await paths("pc-legacy", version)).toEqual(["Config.json", "other.json"]);
  }, 60_000);

  it("refuses a multipart upload of a colliding path when it opens, and at complete when the other landed first", async () => {
    await createModel("pc-multi");
    const { version } = await createVersion("pc-multi");
    expect((await put("pc-multi", version, "Weights.bin")).status).toBe(201);
    const data = bytesOf(64, 7);
    const open = (path: string) =>
      json("POST", `/v1/models/pc-multi/versions/${version}/uploads`, {
        body: { path, size: data.length, sha256: "a".repeat(63) + "b" },
      });
    const refused = await open("weights.bin");
    expect([refused.status, refused.body.code]).toEqual([400, "validation_failed"]);

    // Two uploads opened before either landed: the first to complete wins.
    const body = { size: data.length, sha256: await sha256Of(data) };
    const first = await json("POST", `/v1/models/pc-multi/versions/${version}/uploads`, {
      body: { path: "Tokenizer.json", ...body },
    });
    const second = await json("POST", `/v1/models/pc-multi/versions/${version}/uploads`, {
      body: { path: "tokenizer.json", ...body, size: data.length },
    });
    for (const upload of [first, second]) {
      expect(upload.status).toBe(201);
      const base = `/v1/models/pc-multi/versions/${version}/uploads/${upload.body.upload_id}`;
      expect((await call("PUT", `${base}/parts/1`, { rawBody: data })).status).toBe(200);
    }
    const done = await json("POST", `/v1/models/pc-multi/versions/${version}/uploads/${first.body.upload_id}/complete`);
    expect(done.status).toBe(200);
    const late = await json(
      "POST",
      `/v1/models/pc-multi/versions/${version}/uploads/${second.body.upload_id}/complete`,
    );
    expect([late.status, late.body.code]).toEqual([400, "validation_failed"]);
    expect(
      (await json("GET", `/v1/models/pc-multi/versions/${version}/uploads/${second.body.upload_id}`)).body.status,
    ).toBe("failed");
    expect(await paths("pc-multi", version)).toEqual(["Tokenizer.json", "Weights.bin"]);
    // The failed upload holds nothing open: the version finalizes.
    expect((await json("POST", `/v1/models/pc-multi/versions/${version}/finalize`)).status).toBe(200);
  }, 60_000);

  it("lets exactly one of two racing uploads of colliding paths land", async () => {
    await createModel("pc-race");
    const pairs: [string, string][] = [
      ["A.bin", "a.bin"],
      [NFC, NFD],
      ["x", "X/y"],
      ["Deep/One", "deep"],
      ["same.bin", "SAME.bin"],
    ];
    for (const [one, other] of pairs) {
      const { version } = await createVersion("pc-race");
      const answers = await Promise.all([put("pc-race", version, one, 1), put("pc-race", version, other, 2)]);
      const statuses = answers.map((a) => a.status).sort();
      expect([one, other, statuses]).toEqual([one, other, [201, 400]]);
      const held = await paths("pc-race", version);
      expect(held).toEqual([answers[0]!.status === 201 ? one : other]);
      // The decision is the attach's own (whatever the early check before the bytes saw).
      const late = held[0] === one ? other : one;
      const attached = await modelStub("pc-race").attachFile({
        model: "pc-race",
        actor: "racer",
        at: new Date().toISOString(),
        version,
        file: { path: late, size: 16, sha256: await sha256Of(bytesOf(16, 9)) },
        deduplicated: false,
      });
      expect(attached).toMatchObject({ ok: false, code: "validation_failed" });
    }
  }, 60_000);

  it("never holds two colliding paths, whatever paths arrive in whatever order (property)", async () => {
    await createModel("pc-prop");
    await fc.assert(
      fc.asyncProperty(fc.array(pathArb, { minLength: 1, maxLength: 6 }), async (arrivals) => {
        const { version } = await createVersion("pc-prop");
        const held: string[] = [];
        for (const path of arrivals) {
          const res = await put("pc-prop", version, path);
          const clashes = held.some((h) => h !== path && clash(h, path));
          expect([path, res.status]).toEqual([path, clashes ? 400 : 201]);
          if (res.status === 201 && !held.includes(path)) held.push(path);
        }
        expect(await paths("pc-prop", version)).toEqual([...held].sort());
        expect(collidingPaths(held)).toBeNull();
      }),
      { numRuns: 15 },
    );
  }, 120_000);
});
