/**
 * Retention end to end inside workerd: policies through the routes, the preview against what
 * the scheduled cleanup then deletes, the race with alias changes, the audit trail, and the
 * blobs collected afterwards. The cleanup is invoked directly with a chosen "now".
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { cleanup } from "../src/artifacts/cleanup";
import { applyModelRetention } from "../src/retention/apply";
import { RetentionStore } from "../src/retention/store";
import {
  bytesOf,
  call,
  createModel,
  createVersion,
  hsToken,
  json,
  readyVersion,
  sha256Of,
  versionWithFiles,
} from "./helpers";

const DAY = 24 * 3600 * 1000;
/** The smallest grace the config allows, so a second run 301 s later collects. */
const gcEnv = { ...env, BLOB_GC_GRACE_S: "300" };

type AuditItem = {
  id: string;
  actor: string;
  action: string;
  model: string;
  version?: number;
  reason?: string;
  from?: unknown;
  to?: unknown;
  detail?: any; // reason: detail's shape varies by action
};

/** A version with these files (path → bytes) and create body, made ready unless `pending`. */
async function version(
  model: string,
  files: Record<string, Uint8Array>,
  body: Record<string, unknown> = {},
  pending = false,
) {
  return (pending ? await versionWithFiles(model, files, { body }) : await readyVersion(model, files, { body }))
    .version as number;
}

async function versionsOf(model: string): Promise<number[]> {
  const res = await json("GET", `/v1/models/${model}/versions?limit=200`);
  expect(res.status).toBe(200);
  return (res.body.items as { version: number }[]).map((v) => v.version).sort((a, b) => a - b);
}

async function auditOf(model: string, action: string): Promise<AuditItem[]> {
  const res = await json("GET", `/v1/audit?model=${model}&action=${action}&limit=200`);
  expect(res.status).toBe(200);
  return res.body.items as AuditItem[];
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("retention routes", () => {
  beforeAll(async () => {
    await createModel("ret-routes");
  });

  it("answers the registry default ({} until set), and lets only an all-models admin set it", async () => {
    expect((await json("GET", "/v1/retention")).body).toEqual({});
    const reader = await hsToken({ scope: "read" });
    expect((await json("GET", "/v1/retention", { token: reader })).status).toBe(200);
    expect((await json("GET", "/v1/retention", { token: null })).status).toBe(401);

    const policy = { keep_last: 50, keep_stages: ["production"] };
    expect(
      (await json("PUT", "/v1/retention", { body: policy, token: await hsToken({ scope: "read write promote" }) }))
        .status,
    ).toBe(403);
    const limited = await hsToken({ scope: "admin", models: ["ret-*"] });
    const refused = await json("PUT", "/v1/retention", { body: policy, token: limited });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("forbidden");
    expect((await json("PUT", "/v1/retention", { body: policy, token: null })).status).toBe(401);

    const set = await json("PUT", "/v1/retention", { body: policy });
    expect(set.status).toBe(200);
    expect(set.body).toEqual(policy);
    expect((await json("GET", "/v1/retention")).body).toEqual(policy);
    expect((await json("PUT", "/v1/retention", { body: {} })).status).toBe(200);

    const events = (await json("GET", "/v1/audit?action=retention.set&limit=200")).body.items as AuditItem[];
    const registry = events.filter((e) => e.model === "");
    expect(registry.map((e) => [e.actor, e.from, e.to])).toEqual([
      ["alice", policy, {}],
      ["alice", undefined, policy],
    ]);
  });

  it("refuses policies outside the contract with 400 validation_failed", async () => {
    for (const [body, path] of [
      [{ keep_last: -1 }, "keep_last"],
      [{ keep_last: 2.5 }, "keep_last"],
      [{ max_age_days: "90" }, "max_age_days"],
      [{ keep_stages: ["qa"] }, "keep_stages.0"],
      [{ keep_tags: { keep: 1 } }, "keep_tags.keep"],
      [{ pending_max_age_days: 1e9 }, "pending_max_age_days"],
      [{ keep: "everything" }, ""],
    ] as const) {
      for (const route of ["/v1/retention", "/v1/models/ret-routes/retention"]) {
        const res = await json("PUT", route, { body });
        expect(res.status, `${route} ${JSON.stringify(body)}`).toBe(400);
        expect(res.headers.get("content-type")).toContain("application/problem+json");
        expect(res.body.code).toBe("validation_failed");
        expect((res.body.errors as { path: string }[]).map((e) => e.path)).toContain(path);
      }
    }
    const malformed = await call("PUT", "/v1/models/ret-routes/retention", {
      rawBody: "{",
      headers: { "content-type": "application/json" },
    });
    expect(malformed.status).toBe(400);
    const preview = await json("POST", "/v1/models/ret-routes/retention/preview", {
      body: { policy: { keep_last: -1 }, at: "yesterday" },
    });
    expect(preview.status).toBe(400);
    expect((preview.body.errors as { path: string }[]).map((e) => e.path).sort()).toEqual(["at", "policy.keep_last"]);
  });

  it("sets, shows and deletes a model's own policy (admin), audited once each", async () => {
    // The previous test left the default at {} (set by alice).
    expect((await json("GET", "/v1/models/ret-routes/retention")).body).toMatchObject({
      policy: {},
      inherited: true,
      updated_by: "alice",
    });
    const promoter = await hsToken({ scope: "read write promote approve report" });
    expect(
      (await json("PUT", "/v1/models/ret-routes/retention", { body: { keep_last: 3 }, token: promoter })).status,
    ).toBe(403);
    expect((await json("DELETE", "/v1/models/ret-routes/retention", { token: promoter })).status).toBe(403);
    const elsewhere = await hsToken({ scope: "admin", models: ["other-*"] });
    expect(
      (await json("PUT", "/v1/models/ret-routes/retention", { body: { keep_last: 3 }, token: elsewhere })).status,
    ).toBe(403);
    expect((await json("GET", "/v1/models/ret-routes/retention", { token: elsewhere })).status).toBe(403);

    const set = await json("PUT", "/v1/models/ret-routes/retention", {
      body: { keep_last: 3, keep_tags: { pinned: "yes" } },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      policy: { keep_last: 3, keep_tags: { pinned: "yes" } },
      inherited: false,
      updated_by: "alice",
    });
    expect((await json("PUT", "/v1/models/ret-routes/retention", { body: { keep_last: 4 } })).status).toBe(200);
    expect(
      (await json("GET", "/v1/models/ret-routes/retention", { token: await hsToken({ scope: "read" }) })).body,
    ).toMatchObject({
      policy: { keep_last: 4 },
      inherited: false,
    });
    // D1 knows the model has a policy of its own (the cleanup finds it there).
    expect(await new RetentionStore(env.DB).ownPolicies()).toContainEqual({
      model: "ret-routes",
      policy: { keep_last: 4 },
    });

    expect((await call("DELETE", "/v1/models/ret-routes/retention")).status).toBe(204);
    expect((await json("GET", "/v1/models/ret-routes/retention")).body).toMatchObject({ policy: {}, inherited: true });
    expect((await new RetentionStore(env.DB).ownPolicies()).map((o) => o.model)).not.toContain("ret-routes");
    // Nothing to delete: still 204, and no event.
    expect((await call("DELETE", "/v1/models/ret-routes/retention")).status).toBe(204);

    expect((await auditOf("ret-routes", "retention.set")).map((e) => [e.from, e.to])).toEqual([
      [{ keep_last: 3, keep_tags: { pinned: "yes" } }, { keep_last: 4 }],
      [undefined, { keep_last: 3, keep_tags: { pinned: "yes" } }],
    ]);
    expect((await auditOf("ret-routes", "retention.delete")).map((e) => [e.actor, e.from])).toEqual([
      ["alice", { keep_last: 4 }],
    ]);
  });

  it("answers 404 for a model that does not exist, on every route", async () => {
    for (const [method, path, body] of [
      ["GET", "/v1/models/ret-nope/retention", undefined],
      ["PUT", "/v1/models/ret-nope/retention", { keep_last: 1 }],
      ["DELETE", "/v1/models/ret-nope/retention", undefined],
      ["POST", "/v1/models/ret-nope/retention/preview", {}],
    ] as const) {
      const res = await json(method, path, body === undefined ? {} : { body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe("not_found");
    }
  });

  it("lists the routes in the OpenAPI document", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    expect(doc.paths["/v1/retention"]).toHaveProperty("put");
    expect(doc.paths["/v1/models/{model}/retention"]).toHaveProperty("delete");
    expect(doc.paths["/v1/models/{model}/retention/preview"]).toHaveProperty("post");
  });
});

describe("a model of 60 versions under a policy", () => {
  const SHARED = bytesOf(3000, 9999);
  const own = (v: number) => bytesOf(200 + v, v);
  const policy = { keep_last: 10, max_age_days: 30, keep_tags: { keep: "true" }, pending_max_age_days: 7 };
  /** 31 days on: every version is older than max_age_days and pending_max_age_days. */
  const T = new Date(Date.now() + 31 * DAY);
  let uploadId = "";

  // Kept: the 10 newest ready (48..57), the aliases' (50; the split's 40 and 20), the stages'
  // (30 production, 35 staging), the tagged keeper (5), the fine-tune's parent (3), and the
  // in-model chain 57 → 9 → 7. Deleted: every other ready version, and the pending 58..60.
  const KEPT = [3, 5, 7, 9, 20, 30, 35, 40, ...range(48, 57)];
  const DELETED = range(1, 60).filter((v) => !KEPT.includes(v));

  beforeAll(async () => {
    await createModel("ret-base");
    await createModel("ret-ft");
    for (let v = 1; v <= 60; v++) {
      const files: Record<string, Uint8Array> = { "w.bin": own(v) };
      // Version 1 (deleted) shares a blob with version 52 (kept).
      if (v === 1 || v === 52) files["shared.bin"] = SHARED;
      const body: Record<string, unknown> = {};
      if (v === 5) body.tags = { keep: "true", owner: "risk" };
      if (v === 9) body.lineage = { parents: [{ model: "ret-base", version: 7 }] };
      if (v === 57) body.lineage = { parents: [{ model: "ret-base", version: 9 }] };
      // 58..60 stay pending: 58 without files, 59 with one, 60 with an open multipart upload.
      const created = await version("ret-base", v === 58 || v === 60 ? {} : files, body, v >= 58);
      expect(created).toBe(v);
    }
    const up = await json("POST", "/v1/models/ret-base/versions/60/uploads", {
      body: { path: "big.bin", size: 6 * 1024 * 1024, sha256: "ab".repeat(32) },
    });
    expect(up.status).toBe(201);
    uploadId = up.body.upload_id;
    expect(
      await version(
        "ret-ft",
        { "ft.bin": bytesOf(100, 777) },
        { lineage: { parents: [{ model: "ret-base", version: 3 }] } },
      ),
    ).toBe(1);

    expect((await json("PUT", "/v1/models/ret-base/aliases/production", { body: { version: 50 } })).status).toBe(200);
    expect(
      (
        await json("PUT", "/v1/models/ret-base/aliases/canary", {
          body: {
            split: [
              { version: 40, weight: 90 },
              { version: 20, weight: 10 },
            ],
          },
        })
      ).status,
    ).toBe(200);
    expect(
      (await json("POST", "/v1/models/ret-base/versions/30/stage", { body: { stage: "production" } })).status,
    ).toBe(200);
    expect((await json("POST", "/v1/models/ret-base/versions/35/stage", { body: { stage: "staging" } })).status).toBe(
      200,
    );
    expect((await json("PUT", "/v1/models/ret-base/retention", { body: policy })).status).toBe(200);
  });

  it("previews: nothing is old enough today; at T, exactly the unprotected versions, each with its reason", async () => {
    const today = await json("POST", "/v1/models/ret-base/retention/preview", { body: {} });
    expect(today.status).toBe(200);
    expect(today.body).toMatchObject({ delete: [], policy, source: "model" });
    expect(today.body.keep).toHaveLength(60);

    const atT = await json("POST", "/v1/models/ret-base/retention/preview", { body: { at: T.toISOString() } });
    expect(atT.status).toBe(200);
    expect(atT.body.at).toBe(T.toISOString());
    expect(atT.body.delete.map((d: { version: number }) => d.version)).toEqual(DELETED);
    expect(atT.body.delete.find((d: { version: number }) => d.version === 1).rule).toBe("keep_last+max_age_days");
    expect(atT.body.delete.find((d: { version: number }) => d.version === 58).rule).toBe("pending_max_age_days");
    const reasons = Object.fromEntries(
      atT.body.keep.map((k: { version: number; reason: string; detail?: string }) => [k.version, [k.reason, k.detail]]),
    );
    expect(reasons).toMatchObject({
      3: ["lineage_parent", "ret-ft/1"],
      5: ["keep_tags", undefined],
      7: ["lineage_parent", "ret-base/9"],
      9: ["lineage_parent", "ret-base/57"],
      20: ["alias", "canary"],
      30: ["stage", "production"],
      35: ["stage", "staging"],
      40: ["alias", "canary"],
      50: ["alias", "production"],
      48: ["keep_last", undefined],
    });

    // A token that may not read the fine-tune's model is not told its name.
    const limited = await hsToken({ scope: "read", models: ["ret-base"] });
    const redacted = await json("POST", "/v1/models/ret-base/retention/preview", {
      body: { at: T.toISOString() },
      token: limited,
    });
    expect(redacted.body.keep.find((k: { version: number }) => k.version === 3)).toEqual({
      version: 3,
      reason: "lineage_parent",
    });

    // Another policy, tried without being set: nothing changes.
    const tried = await json("POST", "/v1/models/ret-base/retention/preview", {
      body: { policy: {}, at: T.toISOString() },
    });
    expect(tried.body).toMatchObject({ delete: [], source: "request" });
    expect(await versionsOf("ret-base")).toEqual(range(1, 60));
  });

  it("applies exactly the preview, one version.delete by actor retention per deletion, then collects the bytes", async () => {
    const preview = await json("POST", "/v1/models/ret-base/retention/preview", { body: { at: T.toISOString() } });
    const planned = preview.body.delete as { version: number; rule: string }[];

    const report = await cleanup(gcEnv, T);
    expect(report.retention.failedModels).toBe(0);
    expect(report.retention.deletedVersions).toBe(DELETED.length);
    expect(await versionsOf("ret-base")).toEqual(KEPT);

    const deletions = await auditOf("ret-base", "version.delete");
    expect(deletions).toHaveLength(planned.length);
    expect(deletions.map((e) => [e.version, e.reason]).sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual(
      planned.map((d) => [d.version, d.rule]),
    );
    expect(new Set(deletions.map((e) => e.actor))).toEqual(new Set(["retention"]));
    expect(deletions[0]!.detail).toEqual({ retention: { source: "model", policy } });

    // Every alias still resolves; the open upload of version 60 ended with it.
    for (const alias of ["production", "canary"])
      expect((await json("GET", `/v1/models/ret-base/aliases/${alias}`)).status).toBe(200);
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM open_uploads WHERE upload_id = ?").bind(uploadId).first("n"),
    ).toBe(0);
    // The fine-tune still names a parent that exists.
    expect((await json("GET", "/v1/models/ret-base/versions/3")).status).toBe(200);

    // A second run at the same moment finds nothing more to delete.
    expect((await cleanup(gcEnv, T)).retention.deletedVersions).toBe(0);

    // Past the grace: the bytes only deleted versions held are gone; shared and kept ones stay.
    const later = await cleanup(gcEnv, new Date(T.getTime() + 301_000));
    expect(later.retention.deletedVersions).toBe(0);
    for (const v of DELETED.filter((v) => v <= 57 || v === 59)) {
      expect(await env.ARTIFACTS.head(`blobs/sha256/${await sha256Of(own(v))}`), `version ${v}'s bytes`).toBeNull();
    }
    for (const v of KEPT)
      expect(await env.ARTIFACTS.head(`blobs/sha256/${await sha256Of(own(v))}`), `version ${v}'s bytes`).not.toBeNull();
    expect(await env.ARTIFACTS.head(`blobs/sha256/${await sha256Of(SHARED)}`)).not.toBeNull();
    const shared = await call("GET", "/v1/models/ret-base/versions/52/files/shared.bin");
    expect(new Uint8Array(await shared.arrayBuffer())).toEqual(SHARED);
  });
});

describe("retention racing alias changes", () => {
  it("never leaves an alias pointing at a deleted version", async () => {
    await createModel("ret-race");
    expect((await json("PUT", "/v1/models/ret-race/retention", { body: { keep_last: 1 } })).status).toBe(200);
    const store = new RetentionStore(env.DB);
    const T = new Date(Date.now() + DAY);
    let seed = 5000;
    for (let round = 0; round < 6; round++) {
      const fresh: number[] = [];
      for (let i = 0; i < 4; i++) fresh.push(await version("ret-race", { "w.bin": bytesOf(50, seed++) }));
      // Aim three aliases at versions the policy would delete, fired around the moment the
      // cleanup decides: staggered a few milliseconds apart, the cleanup among them.
      const after = <R>(ms: number, f: () => Promise<R>) => new Promise((resolve) => setTimeout(resolve, ms)).then(f);
      const puts = ["canary", "shadow", "stable"].map((alias, i) =>
        after(i * round, async () => ({
          alias,
          version: fresh[i]!,
          res: await json("PUT", `/v1/models/ret-race/aliases/${alias}`, { body: { version: fresh[i] } }),
        })),
      );
      const [deleted, ...set] = await Promise.all([
        after(round, () => applyModelRetention(env, store, "ret-race", T)),
        ...puts,
      ]);
      const gone = new Set(deleted.map((d) => d.version));
      for (const { version: v, res } of set) {
        // Either the alias landed first and protected its version, or the version was gone.
        if (res.status === 200) expect(gone.has(v)).toBe(false);
        else expect(res.status).toBe(404);
      }
      const aliases = (await json("GET", "/v1/models/ret-race/aliases")).body.items as {
        alias: string;
        version: number;
      }[];
      for (const a of aliases) {
        expect(
          (await json("GET", `/v1/models/ret-race/versions/${a.version}`)).status,
          `${a.alias} → ${a.version}`,
        ).toBe(200);
      }
    }
  });
});

describe("the registry default", () => {
  it("applies to models without a policy of their own; {} of its own opts a model out", async () => {
    await createModel("ret-default");
    await createModel("ret-optout");
    for (const model of ["ret-default", "ret-optout"]) {
      for (let i = 0; i < 4; i++) await version(model, { "w.bin": bytesOf(40, 9000 + i + model.length * 10) });
    }
    expect((await json("PUT", "/v1/models/ret-optout/retention", { body: {} })).status).toBe(200);
    expect((await json("PUT", "/v1/retention", { body: { keep_last: 2 } })).status).toBe(200);
    expect((await json("GET", "/v1/models/ret-default/retention")).body).toMatchObject({
      policy: { keep_last: 2 },
      inherited: true,
      updated_by: "alice",
    });

    const T = new Date(Date.now() + DAY);
    const visited = await new RetentionStore(env.DB).modelsUnderDefault({ keep_last: 2 }, T);
    expect(visited).toContain("ret-default");
    // Opted out, or nothing beyond the two newest: not visited.
    expect(visited).not.toContain("ret-optout");
    expect(visited).not.toContain("ret-ft");

    const preview = await json("POST", "/v1/models/ret-default/retention/preview", { body: { at: T.toISOString() } });
    expect(preview.body).toMatchObject({
      source: "default",
      delete: [
        { version: 1, rule: "keep_last" },
        { version: 2, rule: "keep_last" },
      ],
    });
    await cleanup(gcEnv, T);
    expect(await versionsOf("ret-default")).toEqual([3, 4]);
    expect(await versionsOf("ret-optout")).toEqual([1, 2, 3, 4]);
    const events = await auditOf("ret-default", "version.delete");
    expect(events.map((e) => [e.version, e.actor, e.detail?.retention?.source]).sort()).toEqual([
      [1, "retention", "default"],
      [2, "retention", "default"],
    ]);
    expect((await json("PUT", "/v1/retention", { body: {} })).status).toBe(200);
  });

  it("visits, under the default, the models holding a version its rules could let go, by age as well as count", async () => {
    await createModel("ret-stale");
    await createVersion("ret-stale");
    await version("ret-stale", { "w.bin": bytesOf(30, 31337) });
    const store = new RetentionStore(env.DB);
    const at = (days: number) => new Date(Date.now() + days * DAY);
    expect(await store.modelsUnderDefault({ pending_max_age_days: 7 }, at(6))).not.toContain("ret-stale");
    expect(await store.modelsUnderDefault({ pending_max_age_days: 7 }, at(8))).toContain("ret-stale");
    expect(await store.modelsUnderDefault({ max_age_days: 30 }, at(29))).not.toContain("ret-stale");
    expect(await store.modelsUnderDefault({ max_age_days: 30 }, at(31))).toContain("ret-stale");
    expect(await store.modelsUnderDefault({ keep_last: 1, max_age_days: 30 }, at(31))).not.toContain("ret-stale");
    expect(await store.modelsUnderDefault({ failed_max_age_days: 0, keep_tags: { a: "b" } }, at(100))).not.toContain(
      "ret-stale",
    );
  });

  it("forgets a model's own policy with the model", async () => {
    await createModel("ret-gone");
    expect((await json("PUT", "/v1/models/ret-gone/retention", { body: { keep_last: 1 } })).status).toBe(200);
    expect((await call("DELETE", "/v1/models/ret-gone")).status).toBe(204);
    expect((await new RetentionStore(env.DB).ownPolicies()).map((o) => o.model)).not.toContain("ret-gone");
    await createModel("ret-gone");
    expect((await json("GET", "/v1/models/ret-gone/retention")).body).toMatchObject({ policy: {}, inherited: true });
  });
});

describe("a child of another model, however new", () => {
  it("protects its parent though D1 does not show it yet: the parent's own object holds it from before the child is acknowledged", async () => {
    await createModel("ret-hold-p");
    await createModel("ret-hold-c");
    await version("ret-hold-p", { "w.bin": bytesOf(40, 4242) });
    await version("ret-hold-p", { "w.bin": bytesOf(40, 4243) });
    expect((await json("PUT", "/v1/models/ret-hold-p/retention", { body: { keep_last: 1 } })).status).toBe(200);
    const child = await json("POST", "/v1/models/ret-hold-c/versions", {
      body: { lineage: { parents: [{ model: "ret-hold-p", version: 1 }] } },
    });
    expect(child.status).toBe(201);
    // As if the child's projection were still in its model's outbox: D1 has no edge.
    await env.DB.prepare("DELETE FROM version_parents WHERE model = 'ret-hold-c'").run();

    const T = new Date(Date.now() + DAY);
    const preview = await json("POST", "/v1/models/ret-hold-p/retention/preview", { body: { at: T.toISOString() } });
    expect(preview.body.keep).toContainEqual({ version: 1, reason: "lineage_parent", detail: "ret-hold-c" });
    const store = new RetentionStore(env.DB);
    expect(await applyModelRetention(env, store, "ret-hold-p", T)).toEqual([]);
    expect(await versionsOf("ret-hold-p")).toEqual([1, 2]);

    // Once the child is gone (and the hold older than the grace), its own object says so: the hold goes, then the parent.
    expect((await call("DELETE", `/v1/models/ret-hold-c/versions/${child.body.version}`)).status).toBe(204);
    const later = new Date(Date.now() + 2 * DAY);
    expect((await applyModelRetention(env, store, "ret-hold-p", later)).map((d) => d.version)).toEqual([1]);
    expect(await versionsOf("ret-hold-p")).toEqual([2]);
  });

  it("keeps holds younger than the grace, and holds a live child still needs", async () => {
    await createModel("ret-hold-q");
    await createModel("ret-hold-d");
    for (let i = 0; i < 3; i++) await version("ret-hold-q", { "w.bin": bytesOf(40, 5000 + i) });
    expect((await json("PUT", "/v1/models/ret-hold-q/retention", { body: { keep_last: 1 } })).status).toBe(200);
    // A hold whose child was never written (the create failed after the hold: no such model): kept within the grace.
    const held = await json("POST", "/v1/models/ret-hold-nowhere/versions", {
      body: { lineage: { parents: [{ model: "ret-hold-q", version: 1 }] } },
    });
    expect(held.status).toBe(404);
    const live = await json("POST", "/v1/models/ret-hold-d/versions", {
      body: { lineage: { parents: [{ model: "ret-hold-q", version: 2 }] } },
    });
    expect(live.status).toBe(201);
    await env.DB.prepare("DELETE FROM version_parents WHERE model = 'ret-hold-d'").run();
    const store = new RetentionStore(env.DB);
    // Within the hour every hold stands; after it, the one no version names goes.
    expect(await applyModelRetention(env, store, "ret-hold-q", new Date(Date.now() + 60_000))).toEqual([]);
    expect(
      (await applyModelRetention(env, store, "ret-hold-q", new Date(Date.now() + 2 * 3600_000))).map((d) => d.version),
    ).toEqual([1]);
    // Version 2 is still named by a live child, which D1 does not show.
    expect(await versionsOf("ret-hold-q")).toEqual([2, 3]);
  });
});
