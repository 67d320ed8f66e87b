/**
 * Issue 33, item 1: one tag syntax everywhere. `?tag=` takes `key=value` or `key:value` on the
 * models list and on a model's versions list, and a version's tags filter its list.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { splitTagPair } from "../src/domain/tag-pair";
import { createModel, createVersion, json } from "./helpers";

const names = (body: Record<string, any>) => (body.items as { name: string }[]).map((m) => m.name); // reason: JSON bodies
const numbers = (body: Record<string, any>) => (body.items as { version: number }[]).map((v) => v.version); // reason: JSON bodies
const q = (s: string) => encodeURIComponent(s);

describe("splitTagPair", () => {
  it("ends the key at the first '=' or ':', whichever comes first, and keeps the rest as the value", () => {
    const key = fc.stringMatching(/^[^=:\u0000-\u001f]{1,20}$/);
    fc.assert(
      fc.property(key, fc.string(), fc.constantFrom("=", ":"), (k, v, sep) => {
        expect(splitTagPair(`${k}${sep}${v}`)).toEqual({ key: k, value: v });
      }),
    );
    expect(splitTagPair("source=s3://b/k")).toEqual({ key: "source", value: "s3://b/k" });
    expect(splitTagPair("url:http://h?a=b")).toEqual({ key: "url", value: "http://h?a=b" });
    for (const bad of ["novalue", "=v", ":v", ""]) expect(splitTagPair(bad)).toBeNull();
  });
});

describe("?tag= on the models list", () => {
  it("finds the same models with key=value as with key:value", async () => {
    await createModel("ts-a", { tags: { team: "nlp", url: "http://x?a=b" } });
    await createModel("ts-b", { tags: { team: "vision" } });
    for (const [eq, colon] of [
      ["team=nlp", "team:nlp"],
      ["url=http://x?a=b", "url:http://x?a=b"],
    ] as const) {
      const a = await json("GET", `/v1/models?prefix=ts-&tag=${q(eq)}`);
      const b = await json("GET", `/v1/models?prefix=ts-&tag=${q(colon)}`);
      expect(a.status).toBe(200);
      expect(names(a.body)).toEqual(["ts-a"]);
      expect(names(b.body)).toEqual(["ts-a"]);
    }
    const bad = await json("GET", `/v1/models?tag=novalue`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("validation_failed");
    expect(JSON.stringify(bad.body.errors)).toContain("key=value");
  });
});

describe("?tag= on a model's versions list", () => {
  it("lists only the versions carrying every tag, in either syntax, and pages through them", async () => {
    await createModel("ts-versions");
    for (let i = 1; i <= 5; i++) {
      await createVersion("ts-versions", { tags: i % 2 === 1 ? { team: "nlp", run: String(i) } : { team: "vision" } });
    }
    const all = await json("GET", `/v1/models/ts-versions/versions?tag=${q("team=nlp")}`);
    expect(all.status).toBe(200);
    expect(numbers(all.body)).toEqual([5, 3, 1]);
    expect(numbers((await json("GET", `/v1/models/ts-versions/versions?tag=${q("team:nlp")}`)).body)).toEqual([
      5, 3, 1,
    ]);
    const both = await json("GET", `/v1/models/ts-versions/versions?tag=${q("team=nlp")}&tag=${q("run:3")}`);
    expect(numbers(both.body)).toEqual([3]);
    expect(numbers((await json("GET", `/v1/models/ts-versions/versions?tag=${q("team=none")}`)).body)).toEqual([]);

    const first = await json("GET", `/v1/models/ts-versions/versions?tag=${q("team=nlp")}&limit=2`);
    expect(numbers(first.body)).toEqual([5, 3]);
    const second = await json(
      "GET",
      `/v1/models/ts-versions/versions?tag=${q("team=nlp")}&limit=2&cursor=${first.body.next_cursor}`,
    );
    expect(numbers(second.body)).toEqual([1]);
    expect(second.body.next_cursor).toBeNull();

    for (const bad of ["novalue", "=x", `${"k".repeat(129)}=v`]) {
      const res = await json("GET", `/v1/models/ts-versions/versions?tag=${q(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("is in the served OpenAPI", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    const params = doc.paths["/v1/models/{model}/versions"].get.parameters as { name: string; in: string }[];
    expect(params.some((p) => p.name === "tag" && p.in === "query")).toBe(true);
  });
});
