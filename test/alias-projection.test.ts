/**
 * The D1 alias projection has one reader (src/models/alias-projection.ts): every place that
 * shows aliases from D1 gets a split the same way, and its queries stay index searches.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ALIAS_RECORD_SQL, ALIASES_OF_MODELS_SQL } from "../src/models/alias-projection";
import { call, createModel, createVersion, json } from "./helpers";

const SHA = "ab12cd34ef";

/** A ready version with `lineage`, holding one small file. */
async function readyWithLineage(model: string, lineage: Record<string, unknown>) {
  const v = await createVersion(model, { lineage });
  const put = await call("PUT", `/v1/models/${model}/versions/${v.version}/files/w.txt`, {
    rawBody: `${model} v${v.version}`,
  });
  expect(put.status).toBe(201);
  expect((await json("POST", `/v1/models/${model}/versions/${v.version}/finalize`)).status).toBe(200);
  return v.version as number;
}

describe("the alias projection's reader", () => {
  it("shows splits alike everywhere: the heaviest on the model, each member on versions, lineage nodes and lookups, the split itself as set", async () => {
    await createModel("ap-split");
    await readyWithLineage("ap-split", { git_sha: SHA });
    await readyWithLineage("ap-split", { git_sha: SHA, parents: [{ model: "ap-split", version: 1 }] });
    await readyWithLineage("ap-split", { git_sha: SHA });
    for (const [alias, body] of [
      [
        "canary",
        {
          split: [
            { version: 1, weight: 30 },
            { version: 2, weight: 70 },
          ],
        },
      ],
      // A tie shows the first entry.
      [
        "even",
        {
          split: [
            { version: 3, weight: 50 },
            { version: 2, weight: 50 },
          ],
        },
      ],
      ["prod", { version: 1 }],
    ] as const) {
      expect((await json("PUT", `/v1/models/ap-split/aliases/${alias}`, { body })).status).toBe(200);
    }

    const model = await json("GET", "/v1/models/ap-split");
    expect(model.body.aliases).toEqual({ canary: 2, even: 3, prod: 1 });
    const listed = await json("GET", "/v1/models?prefix=ap-split");
    expect(listed.body.items[0].aliases).toEqual({ canary: 2, even: 3, prod: 1 });

    const versions = await json("GET", "/v1/models/ap-split/versions");
    expect(
      Object.fromEntries(
        versions.body.items.map((v: { version: number; aliases: string[] }) => [v.version, v.aliases]),
      ),
    ).toEqual({
      1: ["canary", "prod"],
      2: ["canary", "even"],
      3: ["even"],
    });

    const graph = await json("GET", "/v1/models/ap-split/versions/2/lineage?depth=1");
    expect(graph.status).toBe(200);
    expect(
      Object.fromEntries(graph.body.nodes.map((n: { version: number; aliases: string[] }) => [n.version, n.aliases])),
    ).toEqual({
      1: ["canary", "prod"],
      2: ["canary", "even"],
    });

    const lookup = await json("GET", `/v1/lineage?git_sha=${SHA}`);
    expect(lookup.body.items.map((i: { version: number; aliases: string[] }) => [i.version, i.aliases])).toEqual([
      [3, ["even"]],
      [2, ["canary", "even"]],
      [1, ["canary", "prod"]],
    ]);

    const resolved = await json("GET", "/v1/models/ap-split/aliases/canary?include=lineage&key=k");
    expect(resolved.body.alias_detail).toMatchObject({
      model: "ap-split",
      alias: "canary",
      version: null,
      split: [
        { version: 1, weight: 30 },
        { version: 2, weight: 70 },
      ],
      generation: 1,
      updated_by: "alice",
    });
  });

  it("answers both of its queries by the table's primary key (EXPLAIN QUERY PLAN)", async () => {
    const plans = [
      await env.DB.prepare(`EXPLAIN QUERY PLAN ${ALIASES_OF_MODELS_SQL}`)
        .bind(JSON.stringify(["a", "b"]))
        .all<{ detail: string }>(),
      await env.DB.prepare(`EXPLAIN QUERY PLAN ${ALIAS_RECORD_SQL}`).bind("a", "b").all<{ detail: string }>(),
    ];
    for (const { results } of plans) {
      const plan = results.map((r) => r.detail).join("\n");
      expect(plan, plan).toMatch(/SEARCH aliases USING INDEX sqlite_autoindex_aliases_1 \(model=\?/);
      expect(plan, plan).not.toMatch(/SCAN aliases\b/);
      expect(plan, plan).not.toContain("TEMP B-TREE");
    }
  });
});
