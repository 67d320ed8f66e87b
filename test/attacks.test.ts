/**
 * Attack scripts from the outside review: a `write` token that lies about a digest, a token
 * limited to some models fishing for other models' bytes, and a staging-only token moving
 * production. Each must leave every verified byte and every grant intact.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bytesOf, call, createModel, createVersion, hsToken, json, readyVersion, sha256Of } from "./helpers";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // UPLOAD_PART_SIZE in vitest.config.ts

const slice = (data: Uint8Array, n: number) => data.slice((n - 1) * PART, Math.min(n * PART, data.length));

async function uploadAll(base: string, data: Uint8Array, partCount: number, token?: string) {
  for (let n = 1; n <= partCount; n++) {
    const res = await call("PUT", `${base}/parts/${n}`, { rawBody: slice(data, n), token });
    expect(res.status, `part ${n}`).toBe(200);
  }
}

async function downloadSha(path: string, token?: string) {
  const res = await call("GET", path, { token });
  expect(res.status, path).toBe(200);
  return sha256Of(new Uint8Array(await res.arrayBuffer()));
}

describe("a lying multipart upload", () => {
  it("is refused at once when the registry's verified bytes of that sha256 have another size", async () => {
    await createModel("victim");
    const real = bytesOf(PART + 100, 71);
    const sha = await sha256Of(real);
    const held = await readyVersion("victim", { "weights.bin": real });

    await createModel("attacker");
    const { version } = await createVersion("attacker");
    const writer = await hsToken({ scope: "write read", sub: "mallory" });
    for (const size of [real.length + PART, 2 * PART + 1, 1]) {
      const lie = await json("POST", `/v1/models/attacker/versions/${version}/uploads`, {
        token: writer,
        body: { path: "x.bin", size, sha256: sha },
      });
      expect(lie.status, `size ${size}`).toBe(422);
      expect(lie.body.code).toBe("digest_mismatch");
    }
    // A single PUT of the wrong length with that digest: refused too, nothing written.
    const forged = bytesOf(1000, 72);
    const put = await call("PUT", `/v1/models/attacker/versions/${version}/files/x.bin`, {
      token: writer,
      rawBody: forged,
      headers: { "x-mreg-sha256": sha },
    });
    expect(put.status).toBe(422);
    expect(await downloadSha(`/v1/models/victim/versions/${held.version}/files/weights.bin`)).toBe(sha);
    const stored = await env.ARTIFACTS.head(`blobs/sha256/${sha}`);
    expect(stored?.size).toBe(real.length);
  });

  it("opened before the bytes were verified, never completes over them", async () => {
    await createModel("race");
    const real = bytesOf(PART + 7, 73);
    const sha = await sha256Of(real);
    const { version } = await createVersion("race");
    // The liar opens an upload of that sha256 with another size while the registry holds none.
    const liarSize = 2 * PART + 99;
    const lie = await json("POST", `/v1/models/race/versions/${version}/uploads`, {
      body: { path: "lie.bin", size: liarSize, sha256: sha },
    });
    expect(lie.status).toBe(201);
    const liarBase = `/v1/models/race/versions/${version}/uploads/${lie.body.upload_id}`;
    await uploadAll(liarBase, bytesOf(liarSize, 74), lie.body.part_count);
    // Then the real bytes arrive and are verified.
    const honest = await call("PUT", `/v1/models/race/versions/${version}/files/real.bin`, { rawBody: real });
    expect(honest.status).toBe(201);
    // The liar's complete fails without touching them.
    const done = await json("POST", `${liarBase}/complete`);
    expect(done.status).toBe(422);
    expect(done.body.code).toBe("digest_mismatch");
    expect((await json("GET", liarBase)).body.status).toBe("failed");
    expect(await downloadSha(`/v1/models/race/versions/${version}/files/real.bin`)).toBe(sha);
    // Later honest uploads still find the bytes.
    const second = await createVersion("race");
    const dedup = await json("POST", `/v1/models/race/versions/${second.version}/uploads`, {
      body: { path: "again.bin", size: real.length, sha256: sha },
    });
    expect(dedup.status).toBe(200);
    expect(await downloadSha(`/v1/models/race/versions/${second.version}/files/again.bin`)).toBe(sha);
  });

  it("with the right size but forged bytes, fails in staging and leaves the verified blob alone", async () => {
    await createModel("forge-a");
    await createModel("forge-b");
    const real = bytesOf(PART + 3, 75);
    const sha = await sha256Of(real);
    const held = await readyVersion("forge-a", { "w.bin": real });
    // A token limited to forge-b cannot dedup forge-a's bytes: it must upload them.
    const teamB = await hsToken({ scope: "read write", models: ["forge-b"], sub: "bob" });
    const { version } = await createVersion("forge-b");
    const open = await json("POST", `/v1/models/forge-b/versions/${version}/uploads`, {
      token: teamB,
      body: { path: "w.bin", size: real.length, sha256: sha },
    });
    expect(open.status).toBe(201);
    const base = `/v1/models/forge-b/versions/${version}/uploads/${open.body.upload_id}`;
    await uploadAll(base, bytesOf(real.length, 76), open.body.part_count, teamB);
    const done = await json("POST", `${base}/complete`, { token: teamB });
    expect(done.status).toBe(422);
    expect(await downloadSha(`/v1/models/forge-a/versions/${held.version}/files/w.bin`)).toBe(sha);
    expect((await env.ARTIFACTS.list({ prefix: "staging/" })).objects).toEqual([]);
  });
});

describe("bytes-free dedup", () => {
  it("only attaches bytes a model the token may act on already holds", async () => {
    await createModel("team-a-model");
    await createModel("team-b-model");
    const secret = bytesOf(PART + 11, 81);
    const sha = await sha256Of(secret);
    await readyVersion("team-b-model", { "secret.bin": secret });

    const teamA = await hsToken({ scope: "read write", models: ["team-a-*"], sub: "eve" });
    const { version } = await createVersion("team-a-model");
    const fish = await json("POST", `/v1/models/team-a-model/versions/${version}/uploads`, {
      token: teamA,
      body: { path: "stolen.bin", size: secret.length, sha256: sha },
    });
    // An ordinary upload, exactly as for a hash the registry has never seen: no bytes, no file.
    expect(fish.status).toBe(201);
    const unknown = await json("POST", `/v1/models/team-a-model/versions/${version}/uploads`, {
      token: teamA,
      body: { path: "other.bin", size: secret.length, sha256: "e".repeat(64) },
    });
    expect(unknown.status).toBe(201);
    expect(Object.keys(fish.body).sort()).toEqual(Object.keys(unknown.body).sort());
    const files = await json("GET", `/v1/models/team-a-model/versions/${version}/files`, { token: teamA });
    expect(files.body.items).toEqual([]);
    expect(
      (await call("GET", `/v1/models/team-a-model/versions/${version}/files/stolen.bin`, { token: teamA })).status,
    ).toBe(404);

    // Sending the real bytes proves possession: complete then deduplicates in storage, and
    // says nothing of it (team B's holding them is not team A's business).
    await uploadAll(
      `/v1/models/team-a-model/versions/${version}/uploads/${fish.body.upload_id}`,
      secret,
      fish.body.part_count,
      teamA,
    );
    const done = await json(
      "POST",
      `/v1/models/team-a-model/versions/${version}/uploads/${fish.body.upload_id}/complete`,
      { token: teamA },
    );
    expect(done.status).toBe(200);
    expect(done.body.deduplicated).toBeUndefined();

    // A token that may act on a holder dedups without bytes; now team A holds it too.
    const second = await createVersion("team-a-model");
    const free = await json("POST", `/v1/models/team-a-model/versions/${second.version}/uploads`, {
      token: teamA,
      body: { path: "again.bin", size: secret.length, sha256: sha },
    });
    expect(free.status).toBe(200);
    expect(free.body.deduplicated).toBe(true);
  });
});

describe("stage grants", () => {
  it("need the stage left and the stage entered", async () => {
    await createModel("grants");
    for (let i = 1; i <= 3; i++) await readyVersion("grants", { "w.bin": new TextEncoder().encode(`g${i}`) });
    expect((await json("POST", "/v1/models/grants/versions/1/stage", { body: { stage: "production" } })).status).toBe(
      200,
    );
    const ci = await hsToken({ scope: "read promote", aliases: ["staging"], sub: "ci" });
    const stage = (v: number, body: unknown, token = ci) =>
      json("POST", `/v1/models/grants/versions/${v}/stage`, { token, body });

    // The attack: a staging-only token moves the production version to staging.
    const demote = await stage(1, { stage: "staging" });
    expect(demote.status).toBe(403);
    expect(demote.body.code).toBe("forbidden");
    expect((await stage(1, { stage: "none" })).status).toBe(403);
    expect((await json("GET", "/v1/models/grants/aliases/production")).body.version).toBe(1);
    expect((await json("GET", "/v1/models/grants/versions/1")).body.stage).toBe("production");

    // What the token is for still works: into staging from no stage, and back out.
    expect((await stage(2, { stage: "staging" })).status).toBe(200);
    expect((await stage(2, { stage: "none" })).status).toBe(200);
    expect((await stage(2, { stage: "staging" })).status).toBe(200);
    // archive_existing moves other versions into `archived`: that grant is needed too.
    expect((await stage(3, { stage: "staging", archive_existing: true })).status).toBe(403);
    const withArchive = await hsToken({ scope: "read promote", aliases: ["staging", "archived"], sub: "ci" });
    expect((await stage(3, { stage: "staging", archive_existing: true }, withArchive)).status).toBe(200);
    expect((await json("GET", "/v1/models/grants/versions/2")).body.stage).toBe("archived");
    // Nothing moved by the refused attempts was audited.
    const denied = await json("GET", "/v1/audit?model=grants&action=version.stage&limit=200");
    expect(denied.body.items).toHaveLength(6);
  });
});

describe("a team's read token and the audit log", () => {
  it("sees its own models' events only: no other team's, and no registry-level ones (webhooks, tokens, the default retention)", async () => {
    await createModel("team-a-audit");
    await createModel("team-b-audit");
    await json("PUT", "/v1/retention", { body: {} });
    await json("POST", "/v1/webhooks", {
      body: { url: "https://hooks.example.com/a/secret-path", models: ["team-b-*"] },
    });
    await json("POST", "/v1/tokens", { body: { sub: "ci-b", scope: "read", models: ["team-b-*"] } });
    const teamA = await hsToken({ scope: "read", models: ["team-a-*"] });
    const seen = (await json("GET", "/v1/audit?limit=200", { token: teamA })).body.items as {
      model: string;
      action: string;
    }[];
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((e) => e.model.startsWith("team-a-"))).toBe(true);
    // An unrestricted reader does see the registry-level events.
    const all = (await json("GET", "/v1/audit?limit=200")).body.items as { model: string; action: string }[];
    expect(all.map((e) => e.action)).toEqual(
      expect.arrayContaining(["webhook.create", "token.create", "retention.set"]),
    );
  });
});

describe("another team's bytes, through every upload path", () => {
  /**
   * A `write` token for team B sends what it would send to probe team A's bytes: each probe
   * is made once with A's sha256 and once with a sha256 nobody holds (same body), and the
   * two answers must be the same but for the declared digest itself.
   */
  it("tell a token nothing: the same answer as for bytes nobody holds", async () => {
    await createModel("probe-a");
    await createModel("probe-b");
    const held = bytesOf(21, 91);
    const heldSha = await sha256Of(held);
    await readyVersion("probe-a", { "w.bin": held });
    const teamB = await hsToken({ scope: "read write", models: ["probe-b"], sub: "bob" });
    const base = `/v1/models/probe-b/versions/${(await createVersion("probe-b")).version}`;
    const fresh = async (seed: number) => {
      const bytes = bytesOf(21, seed);
      return { bytes, sha: await sha256Of(bytes) };
    };
    const hide = (answer: unknown, sha: string) => JSON.parse(JSON.stringify(answer).replaceAll(sha, "<declared>"));
    const answer = async (res: Response, sha: string) => [
      res.status,
      hide(await res.text().then((t) => (t ? JSON.parse(t) : null)), sha),
    ];
    const lastFileAdd = async (path: string) => {
      const events = (await json("GET", `/v1/audit?model=probe-b&action=file.add&limit=200`, { token: teamB })).body
        .items as { to: { path: string }; detail: unknown }[];
      return events.find((e) => e.to.path === path)?.detail;
    };

    // A single PUT of the wrong length with the declared digest.
    const nobody = await fresh(92);
    const wrongLength = async (sha: string, path: string) =>
      answer(
        await call("PUT", `${base}/files/${path}`, {
          token: teamB,
          rawBody: bytesOf(1, 93),
          headers: { "x-mreg-sha256": sha },
        }),
        sha,
      );
    const probed = await wrongLength(heldSha, "p1.bin");
    expect(probed).toEqual(await wrongLength(nobody.sha, "p2.bin"));
    expect(probed[0]).toBe(422);
    expect(JSON.stringify(probed)).not.toContain("21 bytes");
    // A token of the holder's team is told at once, on either path.
    const teamA = await hsToken({ scope: "read write", models: ["probe-a"], sub: "alice-a" });
    const baseA = `/v1/models/probe-a/versions/${(await createVersion("probe-a")).version}`;
    const told = await json("PUT", `${baseA}/files/p.bin`, {
      token: teamA,
      rawBody: bytesOf(1, 93),
      headers: { "x-mreg-sha256": heldSha },
    });
    const toldMultipart = await json("POST", `${baseA}/uploads`, {
      token: teamA,
      body: { path: "p.bin", size: 1, sha256: heldSha },
    });
    for (const res of [told, toldMultipart])
      expect([res.status, res.body.detail]).toEqual([
        422,
        `The registry holds the bytes of ${heldSha} with 21 bytes, not 1`,
      ]);

    // A multipart upload declaring the wrong size: opened, then failed at complete, alike.
    const multipartWrongSize = async (sha: string, path: string) => {
      const open = await json("POST", `${base}/uploads`, { token: teamB, body: { path, size: 1, sha256: sha } });
      expect(open.status).toBe(201);
      const upload = `${base}/uploads/${open.body.upload_id}`;
      expect((await call("PUT", `${upload}/parts/1`, { token: teamB, rawBody: bytesOf(1, 93) })).status).toBe(200);
      return answer(await call("POST", `${upload}/complete`, { token: teamB, body: {} }), sha);
    };
    expect(await multipartWrongSize(heldSha, "m1.bin")).toEqual(await multipartWrongSize(nobody.sha, "m2.bin"));

    // The right bytes, sent whole (possession proved): stored, and neither the answer nor the
    // model's audit log says they were held already.
    const singleRight = async (bytes: Uint8Array, sha: string, path: string, declare: boolean) => {
      const res = await call("PUT", `${base}/files/${path}`, {
        token: teamB,
        rawBody: bytes,
        headers: declare ? { "x-mreg-sha256": sha } : {},
      });
      return [...(await answer(res, sha)), hide(await lastFileAdd(path), sha)];
    };
    const other = await fresh(94);
    const another = await fresh(95);
    expect(await singleRight(held, heldSha, "s1.bin", true)).toEqual(
      await singleRight(nobody.bytes, nobody.sha, "s1.bin", true),
    );
    expect(await singleRight(held, heldSha, "s2.bin", false)).toEqual(
      await singleRight(other.bytes, other.sha, "s2.bin", false),
    );
    // (Team B holds `held` itself now; a fresh version of a fresh model shows the multipart path.)
    await createModel("probe-c");
    const teamC = await hsToken({ scope: "read write", models: ["probe-c"], sub: "carol" });
    const baseC = `/v1/models/probe-c/versions/${(await createVersion("probe-c")).version}`;
    const multipartRight = async (bytes: Uint8Array, sha: string, path: string) => {
      const open = await json("POST", `${baseC}/uploads`, {
        token: teamC,
        body: { path, size: bytes.length, sha256: sha },
      });
      expect(open.status).toBe(201);
      const upload = `${baseC}/uploads/${open.body.upload_id}`;
      expect((await call("PUT", `${upload}/parts/1`, { token: teamC, rawBody: bytes })).status).toBe(200);
      const done = await answer(await call("POST", `${upload}/complete`, { token: teamC, body: {} }), sha);
      const events = (await json("GET", `/v1/audit?model=probe-c&action=file.add&limit=200`, { token: teamC })).body
        .items as { to: { path: string }; detail: { upload_id?: string } }[];
      const { upload_id: _id, ...detail } = events.find((e) => e.to.path === path)!.detail;
      return [...done, detail];
    };
    expect(await multipartRight(held, heldSha, "c1.bin")).toEqual(
      await multipartRight(another.bytes, another.sha, "c1.bin"),
    );
  }, 60_000);
});
