/**
 * Signatures on versions (docs/signing.md): the reference
 * implementation's six signed models uploaded to versions holding exactly their files, each
 * trusted with its key, CA or identity and valid but untrusted with another; refused after one
 * byte of `signme-1` changes; the bundle answered byte for byte; the refusals (pending version,
 * size, JSON, media type, scope, another team's model); races; audit events.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createModel, createVersion, hsToken, json, modelStub } from "./helpers";
import {
  bundleText,
  FOLDERS,
  kindOf,
  IDENTITY,
  caCertificatePem,
  signingKeyPem,
  trustedRootJson,
  versionFiles,
  type Folder,
} from "./oms-fixtures";
import { generateP256, keyBundle, statementPayload } from "./oms-make";
import {
  BUNDLE_TYPE,
  deleteKey,
  fixtureVersion,
  freshKey,
  pemOf,
  registerKey,
  uploadSignature,
} from "./signing-helpers";

const KINDS = ["key", "certificate", "sigstore"] as const;
type Kind = (typeof KINDS)[number];

/** The trust that vouches for a kind's fixtures, and another of the same kind that does not. */
async function trustFor(kind: Kind, which: "own" | "other", name: string): Promise<Record<string, unknown>> {
  if (kind === "key") return { name, public_key: which === "own" ? signingKeyPem : (await freshKey()).pem };
  if (kind === "certificate") {
    if (which === "own") return { name, ca_certificate: caCertificatePem };
    // Another CA: the public-good Fulcio root (no chain of the fixtures leads to it).
    const root = trustedRootJson() as {
      certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[];
    };
    const chain = root.certificateAuthorities.at(-1)!.certChain.certificates;
    const der = Uint8Array.from(atob(chain.at(-1)!.rawBytes), (c) => c.charCodeAt(0));
    return { name, ca_certificate: pemOf(der, "CERTIFICATE") };
  }
  return {
    name,
    identity: which === "own" ? IDENTITY : { issuer: IDENTITY.issuer, subject: "someone-else@example.com" },
  };
}

async function auditActions(model: string, action: string) {
  const rows = await env.DB.prepare(
    "SELECT version, to_value, from_value, detail FROM audit_events WHERE model = ? AND action = ? ORDER BY id",
  )
    .bind(model, action)
    .all<{ version: number; to_value: string | null; from_value: string | null; detail: string | null }>();
  return rows.results;
}

describe("each fixture on a version holding exactly its files", () => {
  for (const kind of KINDS) {
    it(`${kind}: valid but untrusted with another ${kind === "key" ? "key" : kind === "certificate" ? "CA" : "identity"}, trusted with its own`, async () => {
      const folders = FOLDERS.filter((f) => kindOf(f) === kind);
      const model = `fx-${kind}`;
      await createModel(model);
      const versions = new Map<Folder, number>();
      for (const folder of folders) versions.set(folder, await fixtureVersion(model, folder));

      const other = await registerKey(await trustFor(kind, "other", `other-${kind}`));
      const untrusted = new Map<Folder, string>();
      for (const folder of folders) {
        const res = await uploadSignature(model, versions.get(folder)!, bundleText(folder));
        if (folder === "v1.1.0-elliptic-key") {
          // A v1.1 key bundle carries only its key's hint: with no registered key of that hint, nothing verifies it.
          expect(res.status).toBe(422);
          expect(res.body).toMatchObject({ code: "signature_invalid", check: "key" });
          continue;
        }
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body).toMatchObject({ signer: { kind }, trusted_by: [] });
        untrusted.set(folder, res.body.id);
      }
      expect(await deleteKey(other.id)).toBe(204);

      const own = await registerKey(await trustFor(kind, "own", `own-${kind}`));
      try {
        for (const folder of folders) {
          const version = versions.get(folder)!;
          const res = await uploadSignature(model, version, bundleText(folder));
          // The bundle stored untrusted is the same signature: the key registered since now vouches for it.
          expect(res.status, JSON.stringify(res.body)).toBe(untrusted.has(folder) ? 200 : 201);
          expect(res.body).toEqual({
            id: untrusted.get(folder) ?? expect.stringMatching(/^sig_[0-9A-Z]{26}$/),
            signer: expect.objectContaining({ kind }),
            trusted_by: [own.id],
            verified_at: expect.any(String),
            created_at: expect.any(String),
            created_by: "alice",
            bundle_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
          });
          if (kind === "sigstore")
            expect(res.body.signer).toMatchObject({ subject: IDENTITY.subject, issuer: IDENTITY.issuer });

          const listed = await json("GET", `/v1/models/${model}/versions/${version}/signatures`);
          expect(listed.body.items).toEqual([res.body]);
          // The bundle, byte for byte as uploaded.
          const bundle = await call("GET", `/v1/models/${model}/versions/${version}/signatures/${res.body.id}`);
          expect(bundle.status).toBe(200);
          expect(bundle.headers.get("content-type")).toBe(BUNDLE_TYPE);
          expect(await bundle.text()).toBe(bundleText(folder));
        }
        // One `signature.add` per signature made, and one per trust it gained.
        expect(await auditActions(model, "signature.add")).toHaveLength(folders.length + untrusted.size);
      } finally {
        expect(await deleteKey(own.id)).toBe(204);
      }
    });
  }

  it("refuses every fixture once one byte of signme-1 differs (422 signature_invalid: files), storing nothing", async () => {
    const model = "fx-changed";
    await createModel(model);
    const keys = await Promise.all(
      KINDS.map(async (kind) => registerKey(await trustFor(kind, "own", `changed-${kind}`))),
    );
    try {
      for (const folder of FOLDERS) {
        const version = await fixtureVersion(model, folder, true);
        const res = await uploadSignature(model, version, bundleText(folder));
        expect(res.status, folder).toBe(422);
        expect(res.body).toMatchObject({ code: "signature_invalid", check: "files" });
        expect(res.body.detail).toContain("signme-1");
        expect((await json("GET", `/v1/models/${model}/versions/${version}/signatures`)).body.items).toEqual([]);
      }
      expect(await auditActions(model, "signature.add")).toEqual([]);
    } finally {
      for (const key of keys) await deleteKey(key.id);
    }
  });
});

describe("what an upload must be", () => {
  const folder = "v1.0.1-elliptic-key";

  it("is a bundle of a ready version: 409 version_not_ready while pending, 404 for none", async () => {
    await createModel("sig-pending");
    const v = await createVersion("sig-pending");
    const pending = await uploadSignature("sig-pending", v.version, bundleText(folder));
    expect(pending.status).toBe(409);
    expect(pending.body.code).toBe("version_not_ready");
    expect((await uploadSignature("sig-pending", 99, bundleText(folder))).status).toBe(404);
    expect((await uploadSignature("no-such-model", 1, bundleText(folder))).status).toBe(404);
  });

  it("is at most 4 MiB, however it is sent (413), and JSON (400), of a JSON media type (415)", async () => {
    await createModel("sig-limits");
    const version = await fixtureVersion("sig-limits", folder);
    const past = `${bundleText(folder)}${" ".repeat(4 * 1024 * 1024)}`;
    const declared = await uploadSignature("sig-limits", version, past);
    expect(declared.status).toBe(413);
    expect(declared.body.code).toBe("payload_too_large");
    // No Content-Length: counted as it streams.
    const chunk = new TextEncoder().encode(" ".repeat(1024 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const streamed = await uploadSignature("sig-limits", version, stream);
    expect(streamed.status).toBe(413);

    for (const body of ["{not json", "", "[1,2"]) {
      const res = await uploadSignature("sig-limits", version, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const wrongType = await uploadSignature("sig-limits", version, bundleText(folder), { contentType: "text/plain" });
    expect(wrongType.status).toBe(415);
    // JSON but no bundle: the verifier's refusal, 422 naming the check.
    const notBundle = await uploadSignature("sig-limits", version, '{"mediaType": "nope"}');
    expect(notBundle.status).toBe(422);
    expect(notBundle.body).toMatchObject({ code: "signature_invalid", check: "envelope" });
    // Plain JSON is a bundle's media type too.
    const asJson = await uploadSignature("sig-limits", version, bundleText(folder), {
      contentType: "application/json",
    });
    expect(asJson.status).toBe(201);
    expect((await json("GET", `/v1/models/sig-limits/versions/${version}/signatures`)).body.items).toHaveLength(1);
  });

  it("passes every check the contract lists, or is refused naming the one it fails, storing nothing", async () => {
    const model = "sig-checks";
    await createModel(model);
    const version = await fixtureVersion(model, folder);
    const held = [...(await versionFiles(folder))].map(([name, sha256]) => ({ name, sha256 }));
    const keyPair = await generateP256();
    const other = await generateP256();
    const flip = (hex: string) => `${hex[0] === "0" ? "1" : "0"}${hex.slice(1)}`;
    const bundleOver = async (
      resources: { name: string; sha256: string }[],
      edit?: Parameters<typeof statementPayload>[1],
    ) => keyBundle(await statementPayload(resources, edit), keyPair, { pem: true });
    const cases: [string, () => Promise<string>, string][] = [
      ["a file missing", () => bundleOver(held.slice(0, 1)), "files"],
      ["a file extra", () => bundleOver([...held, { name: "signme-3", sha256: held[0]!.sha256 }]), "files"],
      ["a file's digest", () => bundleOver([held[0]!, { ...held[1]!, sha256: flip(held[1]!.sha256) }]), "files"],
      ["a file renamed", () => bundleOver([held[0]!, { ...held[1]!, name: "signme-2.bin" }]), "files"],
      [
        "the subject digest",
        () => bundleOver(held, (st) => (st.subject[0].digest.sha256 = flip(st.subject[0].digest.sha256))),
        "statement",
      ],
      ["the predicate type", () => bundleOver(held, (st) => (st.predicateType += "x")), "statement"],
      [
        "the serialization",
        () => bundleOver(held, (st) => (st.predicate.serialization.method = "shards")),
        "statement",
      ],
      [
        "the envelope's signature (another key's)",
        async () => {
          const bundle = JSON.parse(await bundleOver(held));
          const wrong = JSON.parse(await keyBundle(await statementPayload(held), other, { pem: true }));
          bundle.dsseEnvelope.signatures = wrong.dsseEnvelope.signatures;
          return JSON.stringify(bundle);
        },
        "signature",
      ],
      [
        "the payload type",
        async () => {
          const bundle = JSON.parse(await bundleOver(held));
          bundle.dsseEnvelope.payloadType = "application/json";
          return JSON.stringify(bundle);
        },
        "envelope",
      ],
    ];
    for (const [what, make, check] of cases) {
      const res = await uploadSignature(model, version, await make());
      expect(res.status, what).toBe(422);
      expect(res.body, what).toMatchObject({ code: "signature_invalid", check });
      expect(res.body.detail, what).toMatch(new RegExp(`^${check}: .+`));
    }
    expect((await json("GET", `/v1/models/${model}/versions/${version}/signatures`)).body.items).toEqual([]);
    expect(await auditActions(model, "signature.add")).toEqual([]);
    // The same key over exactly the version's files: valid (untrusted: its key is registered nowhere).
    const good = await uploadSignature(model, version, await bundleOver(held));
    expect(good.status).toBe(201);
    expect(good.body.trusted_by).toEqual([]);
  });

  it("is stored byte for byte: the same statement sent with other whitespace is another bundle", async () => {
    await createModel("sig-bytes");
    const version = await fixtureVersion("sig-bytes", folder);
    const pretty = `${JSON.stringify(JSON.parse(bundleText(folder)), null, 3)}\r\n`;
    const res = await uploadSignature("sig-bytes", version, pretty);
    expect(res.status).toBe(201);
    const plain = await uploadSignature("sig-bytes", version, bundleText(folder));
    expect(plain.status).toBe(201);
    expect(plain.body.bundle_sha256).not.toBe(res.body.bundle_sha256);
    const bytes = await call("GET", `/v1/models/sig-bytes/versions/${version}/signatures/${res.body.id}`);
    expect(await bytes.text()).toBe(pretty);
  });

  it("needs write to upload and admin to delete; a token of another team's models is refused", async () => {
    await createModel("team-b-model");
    const version = await fixtureVersion("team-b-model", folder);
    const reader = await hsToken({ scope: "read" });
    expect((await uploadSignature("team-b-model", version, bundleText(folder), { token: reader })).status).toBe(403);
    const otherTeam = await hsToken({ scope: "read write admin", models: ["team-a-*"] });
    const hidden = await uploadSignature("team-b-model", version, bundleText(folder), { token: otherTeam });
    expect(hidden.status).toBe(403);
    expect(hidden.body.code).toBe("forbidden");
    const writer = await hsToken({ scope: "read write" });
    const made = await uploadSignature("team-b-model", version, bundleText(folder), { token: writer });
    expect(made.status).toBe(201);
    expect(
      (await json("GET", `/v1/models/team-b-model/versions/${version}/signatures`, { token: otherTeam })).status,
    ).toBe(403);
    const path = `/v1/models/team-b-model/versions/${version}/signatures/${made.body.id}`;
    expect((await call("GET", path, { token: otherTeam })).status).toBe(403);
    expect((await call("DELETE", path, { token: writer })).status).toBe(403);
    expect((await call("DELETE", path, { token: otherTeam })).status).toBe(403);
    expect((await call("DELETE", path)).status).toBe(204);
    expect((await call("GET", path)).status).toBe(404);
    expect((await call("DELETE", path)).status).toBe(404);
    const audit = await auditActions("team-b-model", "signature.delete");
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.from_value!)).toMatchObject({
      id: made.body.id,
      bundle_sha256: made.body.bundle_sha256,
    });
  });

  it("makes one signature of two racing uploads of the same bundle", async () => {
    await createModel("sig-race");
    const version = await fixtureVersion("sig-race", folder);
    const answers = await Promise.all([1, 2, 3].map(() => uploadSignature("sig-race", version, bundleText(folder))));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect((await json("GET", `/v1/models/sig-race/versions/${version}/signatures`)).body.items).toHaveLength(1);
    expect(await auditActions("sig-race", "signature.add")).toHaveLength(1);
  });

  it("goes with its version", async () => {
    await createModel("sig-gone");
    const version = await fixtureVersion("sig-gone", folder);
    expect((await uploadSignature("sig-gone", version, bundleText(folder))).status).toBe(201);
    expect((await call("DELETE", `/v1/models/sig-gone/versions/${version}`)).status).toBe(204);
    expect((await json("GET", `/v1/models/sig-gone/versions/${version}/signatures`)).status).toBe(404);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM signatures WHERE model = 'sig-gone'").first<{
      n: number;
    }>();
    expect(rows!.n).toBe(0);
  });
});

describe("a signing key's deletion", () => {
  const folder = "v1.0.1-elliptic-key";

  it("leaves the signatures it vouched for listed, without its id", async () => {
    await createModel("del-key");
    const version = await fixtureVersion("del-key", folder);
    const key = await registerKey({ name: "del-key", public_key: signingKeyPem });
    const made = await uploadSignature("del-key", version, bundleText(folder));
    expect(made.body.trusted_by).toEqual([key.id]);
    expect(await deleteKey(key.id)).toBe(204);
    const listed = await json("GET", `/v1/models/del-key/versions/${version}/signatures`);
    expect(listed.body.items).toEqual([{ ...made.body, trusted_by: [] }]);
    // Every model it vouched in was told: the record of its uses went with it.
    const uses = await env.DB.prepare("SELECT count(*) AS n FROM signing_key_uses WHERE key_id = ?")
      .bind(key.id)
      .first<{ n: number }>();
    expect(uses!.n).toBe(0);
  });

  it("is not undone by an upload that read the key before it went and records after", async () => {
    await createModel("del-late");
    const first = await fixtureVersion("del-late", folder);
    const second = await fixtureVersion("del-late", folder);
    const key = await registerKey({ name: "del-late", public_key: signingKeyPem });
    expect((await uploadSignature("del-late", first, bundleText(folder))).body.trusted_by).toEqual([key.id]);
    expect(await deleteKey(key.id)).toBe(204);
    // What an upload that verified with the key a moment before would record now: the object strikes it.
    const late = await modelStub("del-late").addSignature({
      model: "del-late",
      actor: "late-uploader",
      at: new Date().toISOString(),
      version: second,
      id: "sig_01JLATE0000000000000000000",
      bundleSha256: "0".repeat(64),
      signer: { kind: "key", fingerprint: "sha256:00" },
      vouchers: [{ id: key.id, name: key.name }],
      verifiedAt: new Date().toISOString(),
    });
    expect(late).toMatchObject({ ok: true, value: { created: true, signature: { trusted_by: [] } } });
  });

  it("finished by the scheduled cleanup when the DELETE died after marking it", async () => {
    await createModel("del-crash");
    const version = await fixtureVersion("del-crash", folder);
    const key = await registerKey({ name: "del-crash", public_key: signingKeyPem });
    expect((await uploadSignature("del-crash", version, bundleText(folder))).body.trusted_by).toEqual([key.id]);
    // The DELETE's first step, and then the process died.
    await env.DB.prepare("UPDATE signing_keys SET deleted_at = ? WHERE id = ?")
      .bind(new Date().toISOString(), key.id)
      .run();
    // An upload now: the key no longer vouches, though no model was told yet.
    const second = await fixtureVersion("del-crash", folder);
    expect((await uploadSignature("del-crash", second, bundleText(folder))).body.trusted_by).toEqual([]);
    // Nor is it listed.
    expect((await json("GET", "/v1/signing-keys")).body.items.map((k: { id: string }) => k.id)).not.toContain(key.id);
    const { finishDeletions } = await import("../src/signing/revocation");
    expect(await finishDeletions(env, new Date())).toBeGreaterThanOrEqual(1);
    expect((await json("GET", `/v1/models/del-crash/versions/${version}/signatures`)).body.items[0].trusted_by).toEqual(
      [],
    );
    expect(await env.DB.prepare("SELECT count(*) AS n FROM signing_keys WHERE id = ?").bind(key.id).first("n")).toBe(0);
  });
});
