/**
 * Signatures where a version is served and promoted: the `signatures` gate rule, decided in
 * the object with the move (passing, failing, a key deleted, a key deleted while promotions
 * race it), the dry run's words, and the signatures Resolutions and watch messages carry.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createModel, json } from "./helpers";
import { bundleText, signingKeyPem } from "./oms-fixtures";
import { deleteKey, fixtureVersion, registerKey, uploadSignature } from "./signing-helpers";
import { watch } from "./watch";

const folder = "v1.1.0-elliptic-key";

const setGate = (model: string, target: string, policy: unknown) =>
  json("PUT", `/v1/models/${model}/gates/${target}`, { body: policy });
const promote = (model: string, alias: string, version: number) =>
  json("PUT", `/v1/models/${model}/aliases/${alias}`, { body: { version } });
const dryRun = (model: string, target: string, version: number) =>
  json("POST", `/v1/models/${model}/gates/${target}/check`, { body: { version } });

describe("the signatures gate rule", () => {
  it("refuses an unsigned version, passes a trusted one, and refuses it again once its key is deleted", async () => {
    const model = "gate-sig";
    await createModel(model);
    const key = await registerKey({ name: "release-2026", public_key: signingKeyPem });
    const unsigned = await fixtureVersion(model, folder);
    const signed = await fixtureVersion(model, folder);
    expect((await setGate(model, "production", { signatures: { keys: ["release-2026"] } })).status).toBe(200);

    const refused = await promote(model, "production", unsigned);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("gate_failed");
    expect(refused.body.checks).toEqual([
      {
        check: "signatures",
        passed: false,
        expected: ">= 1 by release-2026",
        actual: 0,
        detail: `no signature trusted by release-2026; needs 1 (version ${unsigned} has no signature)`,
      },
    ]);

    const made = await uploadSignature(model, signed, bundleText(folder));
    expect(made.body.trusted_by).toEqual([key.id]);
    const check = await dryRun(model, "production", signed);
    expect(check.body).toEqual({
      passed: true,
      checks: [
        {
          check: "signatures",
          passed: true,
          expected: ">= 1 by release-2026",
          actual: 1,
          detail: "1 trusted signature by release-2026; needs 1",
        },
      ],
    });
    // By id too.
    await setGate(model, "staging", { signatures: { keys: [key.id] } });
    expect((await dryRun(model, "staging", signed)).body.passed).toBe(true);
    expect((await promote(model, "production", signed)).status).toBe(200);
    // The stage move is gated the same way.
    const stage = await json("POST", `/v1/models/${model}/versions/${unsigned}/stage`, {
      body: { stage: "production" },
    });
    expect(stage.status).toBe(409);
    expect(stage.body.checks[0].check).toBe("signatures");

    expect(await deleteKey(key.id)).toBe(204);
    const after = await dryRun(model, "staging", signed);
    expect(after.body.passed).toBe(false);
    expect(after.body.checks[0].detail).toBe(
      `no signature trusted by ${key.id}; needs 1 (version ${signed} has 1 signature: 1 trusted by no registered key)`,
    );
    await json("DELETE", `/v1/models/${model}/aliases/production`);
    expect((await promote(model, "production", signed)).status).toBe(409);
    const denied = await env.DB.prepare(
      "SELECT count(*) AS n FROM audit_events WHERE model = ? AND action = 'promotion_denied'",
    )
      .bind(model)
      .first<{ n: number }>();
    expect(denied!.n).toBe(3);
  });

  it("counts no promotion with a key once its DELETE has answered, whatever raced it", async () => {
    const model = "gate-race";
    await createModel(model);
    const key = await registerKey({ name: "raced-key", public_key: signingKeyPem });
    const versions: number[] = [];
    for (let i = 0; i < 4; i++) {
      const v = await fixtureVersion(model, folder);
      expect((await uploadSignature(model, v, bundleText(folder))).body.trusted_by).toEqual([key.id]);
      versions.push(v);
    }
    await setGate(model, "canary", { signatures: { keys: ["raced-key"] } });
    let deleted = false;
    const deletion = deleteKey(key.id).then((status) => {
      deleted = true;
      return status;
    });
    const attempts: { afterDelete: boolean; status: number }[] = [];
    for (let i = 0; !deleted || attempts.filter((a) => a.afterDelete).length < 3; i++) {
      const afterDelete = deleted;
      const res = await promote(model, "canary", versions[i % versions.length]!);
      attempts.push({ afterDelete, status: res.status });
    }
    expect(await deletion).toBe(204);
    // Every promotion sent once the deletion had answered was refused; those before may have gone either way.
    for (const a of attempts.filter((a) => a.afterDelete)) expect(a.status).toBe(409);
  });

  it("counts distinct signers: min 2 with one key's signature is refused", async () => {
    const model = "gate-min";
    await createModel(model);
    const key = await registerKey({ name: "min-key", public_key: signingKeyPem });
    try {
      const v = await fixtureVersion(model, folder);
      await uploadSignature(model, v, bundleText(folder));
      await uploadSignature(model, v, `${bundleText(folder)}\n`);
      await setGate(model, "production", { signatures: { keys: ["min-key"], min: 2 } });
      const check = await dryRun(model, "production", v);
      expect(check.body.checks[0]).toMatchObject({
        passed: false,
        actual: 1,
        detail: "1 distinct trusted signer (2 signatures) by min-key; needs 2",
      });
    } finally {
      await deleteKey(key.id);
    }
  });
});

describe("Resolutions and watch messages", () => {
  it("list the version's signatures, and watchers hear of each signature and trust change", async () => {
    const model = "res-sig";
    await createModel(model);
    const key = await registerKey({ name: "res-key", public_key: signingKeyPem });
    const v = await fixtureVersion(model, folder);
    expect((await promote(model, "prod", v)).status).toBe(200);
    const socket = await watch(model, "prod");
    const [first] = await socket.next(1);
    expect(first!.message).toMatchObject({ event: "current", version: v, signatures: [] });

    const made = await uploadSignature(model, v, bundleText(folder));
    const ref = { id: made.body.id, signer: made.body.signer, trusted_by: [key.id] };
    const resolved = await json("GET", `/v1/models/${model}/aliases/prod`);
    expect(resolved.body.signatures).toEqual([ref]);
    for (const uri of [`registry://${model}@prod`, `registry://${model}/${v}`, `registry://${model}@latest`]) {
      const r = await json("GET", `/v1/resolve?uri=${encodeURIComponent(uri)}`);
      expect(r.body.signatures, uri).toEqual([ref]);
    }
    const [, signed] = await socket.next(2);
    expect(signed!.message).toMatchObject({ event: "signature", version: v, signatures: [ref] });

    expect(await deleteKey(key.id)).toBe(204);
    const [, , untrusted] = await socket.next(3);
    expect(untrusted!.message).toMatchObject({ event: "signature", signatures: [{ ...ref, trusted_by: [] }] });
    expect((await json("GET", `/v1/models/${model}/aliases/prod`)).body.signatures).toEqual([
      { ...ref, trusted_by: [] },
    ]);

    expect((await call("DELETE", `/v1/models/${model}/versions/${v}/signatures/${made.body.id}`)).status).toBe(204);
    const [, , , gone] = await socket.next(4);
    expect(gone!.message).toMatchObject({ event: "signature", signatures: [] });
    socket.close();
  });

  it("change the ETag when a signature or its trust changes, so a node revalidating is never told 304", async () => {
    const model = "res-etag";
    await createModel(model);
    const key = await registerKey({ name: "etag-key", public_key: signingKeyPem });
    const v = await fixtureVersion(model, folder);
    await promote(model, "prod", v);
    const names = [`/v1/models/${model}/aliases/prod`, `/v1/models/${model}/aliases/v${v}`];
    const revalidate = async (path: string, etag: string) => {
      const res = await call("GET", path, { headers: { "if-none-match": etag } });
      const text = await res.text();
      return { status: res.status, etag: res.headers.get("etag")!, body: text ? JSON.parse(text) : null };
    };
    const etags = await Promise.all(names.map(async (path) => (await json("GET", path)).headers.get("etag")!));
    // Unsigned, an alias's ETag is its generation.
    expect(etags[0]).toBe(`"${(await json("GET", names[0]!)).body.generation}"`);
    for (const [i, path] of names.entries()) expect((await revalidate(path, etags[i]!)).status).toBe(304);

    const made = await uploadSignature(model, v, bundleText(folder));
    const steps: [string, () => Promise<unknown>, string[]][] = [
      ["signed", async () => made, [key.id]],
      ["key deleted", () => deleteKey(key.id), []],
    ];
    for (const [step, act, trusted] of steps) {
      await act();
      for (const [i, path] of names.entries()) {
        const fresh = await revalidate(path, etags[i]!);
        expect(fresh.status, `${step}: ${path}`).toBe(200);
        expect(fresh.body.signatures, `${step}: ${path}`).toEqual([
          { id: made.body.id, signer: made.body.signer, trusted_by: trusted },
        ]);
        expect((await revalidate(path, fresh.etag)).status, `${step}: ${path}`).toBe(304);
        etags[i] = fresh.etag;
      }
    }
    expect((await call("DELETE", `/v1/models/${model}/versions/${v}/signatures/${made.body.id}`)).status).toBe(204);
    for (const [i, path] of names.entries()) {
      const fresh = await revalidate(path, etags[i]!);
      expect(fresh.status, `deleted: ${path}`).toBe(200);
      expect(fresh.body.signatures).toEqual([]);
    }
  });

  it("tell no watcher of another version about a signature", async () => {
    const model = "res-other";
    await createModel(model);
    const served = await fixtureVersion(model, "v1.0.1-elliptic-key");
    const other = await fixtureVersion(model, "v1.0.1-elliptic-key");
    await promote(model, "prod", served);
    const socket = await watch(model, "prod");
    await socket.next(1);
    // `other` is the latest: its `latest` watchers would hear; `prod`'s must not.
    expect((await uploadSignature(model, other, bundleText("v1.0.1-elliptic-key"))).status).toBe(201);
    expect((await uploadSignature(model, served, bundleText("v1.0.1-elliptic-key"))).status).toBe(201);
    const messages = await socket.next(2);
    expect(messages[1]!.message).toMatchObject({ event: "signature", version: served });
    expect(messages[1]!.message.signatures).toHaveLength(1);
    socket.close();
  });
});
