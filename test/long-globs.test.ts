/**
 * Tokens whose `models` globs are longer than D1's 50-byte LIKE/GLOB pattern limit: every
 * list and lookup a glob narrows (models, audit, lineage lookups, OCI's catalog, minted
 * tokens, webhooks, bytes-free dedup) answers as for a short glob, because SQL tests a
 * glob's literal ends with substr and only the span between its `*`s with GLOB. A glob whose
 * span D1 cannot test is refused where it enters: at minting (400) and in a token (401).
 */
import { describe, expect, it } from "vitest";
import { bytesOf, call, createModel, createVersion, hsToken, json, readyVersion, sha256Of } from "./helpers";

const TEAM = `long-team-${"x".repeat(60)}`;

describe("a token with globs past D1's pattern limit", () => {
  it("reads every list as a short glob would", async () => {
    await createModel(`${TEAM}-one`);
    await createModel(`${TEAM}-two`);
    await createModel("long-team-other");
    const data = bytesOf(64, 5);
    const v = await readyVersion(`${TEAM}-one`, { "w.bin": data });
    expect(
      (await json("PATCH", `/v1/models/${TEAM}-one/versions/${v.version}`, { body: { tags: { k: "v" } } })).status,
    ).toBe(200);
    const run = await json("POST", `/v1/models/${TEAM}-two/versions`, {
      body: { lineage: { run_id: "long-glob-run" } },
    });
    await json("POST", `/v1/models/long-team-other/versions`, { body: { lineage: { run_id: "long-glob-run" } } });

    // A literal prefix past the limit, and a `*` inside with a long literal suffix.
    for (const [glob, expected] of [
      [`${TEAM}-*`, [`${TEAM}-one`, `${TEAM}-two`]],
      [`long-*${"x".repeat(60)}-two`, [`${TEAM}-two`]],
    ] as const) {
      const token = await hsToken({ scope: "admin", models: [glob] });
      const models = await json("GET", "/v1/models?limit=200", { token });
      expect([glob, models.status, models.body.items?.map((m: { name: string }) => m.name)]).toEqual([
        glob,
        200,
        expected,
      ]);
      const audit = await json("GET", "/v1/audit?limit=200", { token });
      expect(audit.status).toBe(200);
      expect(new Set(audit.body.items.map((e: { model: string }) => e.model))).toEqual(new Set(expected));
      const lineage = await json("GET", "/v1/lineage?run_id=long-glob-run", { token });
      expect([lineage.status, lineage.body.items.map((i: { model: string }) => i.model)]).toEqual([
        200,
        [`${TEAM}-two`],
      ]);
      const catalog = await json("GET", "/v2/_catalog", { token });
      expect([catalog.status, catalog.body.repositories]).toEqual([200, expected]);
      expect((await json("GET", "/v1/tokens", { token })).status).toBe(200);
      expect((await json("GET", "/v1/webhooks", { token })).status).toBe(200);
    }

    // The list's own filters compare without patterns (substr, equality): any length is fine.
    const prefixed = await json("GET", `/v1/models?prefix=${TEAM}-o`);
    expect([prefixed.status, prefixed.body.items.map((m: { name: string }) => m.name)]).toEqual([200, [`${TEAM}-one`]]);
    expect((await json("GET", `/v1/models?tag=${encodeURIComponent(`k:${"v".repeat(200)}`)}`)).status).toBe(200);

    // Bytes-free dedup asks which models the token may act on hold the bytes.
    const writer = await hsToken({ scope: "read write", models: [`${TEAM}-*`] });
    const dedup = await json("POST", `/v1/models/${TEAM}-two/versions/${run.body.version}/uploads`, {
      token: writer,
      body: { path: "w.bin", size: data.length, sha256: await sha256Of(data) },
    });
    expect([dedup.status, dedup.body.deduplicated]).toEqual([200, true]);

    // A limited admin mints within its long glob, and lists and revokes what it minted.
    const admin = await hsToken({ scope: "admin", models: [`${TEAM}-*`] });
    const minted = await json("POST", "/v1/tokens", {
      token: admin,
      body: { sub: "ci", scope: "read", models: [`${TEAM}-one`] },
    });
    expect(minted.status).toBe(201);
    const listed = await json("GET", "/v1/tokens", { token: admin });
    expect(listed.body.items.map((t: { id: string }) => t.id)).toContain(minted.body.id);
    expect((await call("DELETE", `/v1/tokens/${minted.body.id}`, { token: admin })).status).toBe(204);
  }, 60_000);

  it("is refused where a glob D1 cannot test enters: at minting, and in a token", async () => {
    const tooComplex = `a*${"b".repeat(60)}*c`;
    const minted = await json("POST", "/v1/tokens", { body: { sub: "ci", scope: "read", models: [tooComplex] } });
    expect([minted.status, minted.body.code]).toEqual([400, "validation_failed"]);
    expect(JSON.stringify(minted.body.errors)).toContain("from its first * to its last");
    const token = await hsToken({ scope: "read", models: [tooComplex] });
    const res = await json("GET", "/v1/models", { token });
    expect([res.status, res.body.code]).toEqual([401, "unauthenticated"]);
    // Within the limit, the same shape is fine.
    const fine = await hsToken({ scope: "read", models: [`a*${"b".repeat(40)}*c`] });
    expect((await json("GET", "/v1/models", { token: fine })).status).toBe(200);
    expect((await createVersion(`${TEAM}-one`)).status).toBe("pending");
  }, 60_000);
});
