/**
 * Signing keys (docs/signing.md: `POST/GET/DELETE /v1/signing-keys`): registering a public
 * key, a CA certificate or a Sigstore identity, the fingerprints, the refusals (a bad PEM,
 * not exactly one kind, a clash), who may manage them, and the audit events.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hsToken, json } from "./helpers";
import { fingerprintOf, freshKey } from "./signing-helpers";
import { bundleJson, caCertificatePem, IDENTITY, intermediateCertificatePem, signingKeyPem } from "./oms-fixtures";

function pemDer(pem: string, label: string): Uint8Array {
  const body = pem.split(`-----BEGIN ${label}-----`)[1]!.split(`-----END ${label}-----`)[0]!.replace(/\s+/g, "");
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
}

const register = (body: unknown, token?: string) =>
  json("POST", "/v1/signing-keys", { body, ...(token ? { token } : {}) });
const remove = (id: string, token?: string) => json("DELETE", `/v1/signing-keys/${id}`, token ? { token } : {});

async function auditOf(action: string, id: string) {
  const rows = await env.DB.prepare(
    "SELECT actor, model, from_value, to_value FROM audit_events WHERE action = ? ORDER BY id",
  )
    .bind(action)
    .all<{ actor: string; model: string; from_value: string | null; to_value: string | null }>();
  return rows.results.filter((r) => (r.to_value ?? r.from_value ?? "").includes(id));
}

describe("signing keys", () => {
  it("registers a public key with the fingerprint of its SPKI DER, lists it, deletes it, audits both", async () => {
    const created = await register({ name: "reference-key", public_key: signingKeyPem });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^sk_[0-9A-Z]{26}$/),
      name: "reference-key",
      kind: "key",
      fingerprint: await fingerprintOf(pemDer(signingKeyPem, "PUBLIC KEY")),
      identity: null,
      created_at: expect.any(String),
      created_by: "alice",
    });
    const listed = await json("GET", "/v1/signing-keys", { token: await hsToken({ scope: "read" }) });
    expect(listed.status).toBe(200);
    expect(listed.body.items).toContainEqual(created.body);
    expect(await auditOf("signing_key.create", created.body.id)).toEqual([
      expect.objectContaining({ actor: "alice", model: "" }),
    ]);

    expect((await remove(created.body.id)).status).toBe(204);
    const after = await json("GET", "/v1/signing-keys");
    expect(after.body.items.map((k: { id: string }) => k.id)).not.toContain(created.body.id);
    expect(await auditOf("signing_key.delete", created.body.id)).toHaveLength(1);
    expect((await remove(created.body.id)).status).toBe(404);
  });

  it("registers a CA by its certificate (fingerprint: its SPKI) and an identity (no fingerprint)", async () => {
    const ca = await register({ name: "reference-ca", ca_certificate: caCertificatePem });
    expect(ca.status).toBe(201);
    expect(ca.body).toMatchObject({ kind: "ca", identity: null });
    expect(ca.body.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Not the certificate's own hash: the hash of the key inside it.
    expect(ca.body.fingerprint).not.toBe(await fingerprintOf(pemDer(caCertificatePem, "CERTIFICATE")));
    const identity = await register({ name: "ibm-stefanb", identity: IDENTITY });
    expect(identity.status).toBe(201);
    expect(identity.body).toMatchObject({ kind: "identity", fingerprint: null, identity: IDENTITY });
    for (const id of [ca.body.id, identity.body.id]) expect((await remove(id)).status).toBe(204);
  });

  it("refuses anything but exactly one of public_key, ca_certificate and identity", async () => {
    const key = await freshKey();
    for (const body of [
      { name: "none" },
      { name: "two", public_key: key.pem, identity: IDENTITY },
      { name: "three", public_key: key.pem, ca_certificate: caCertificatePem, identity: IDENTITY },
      { name: "bad name!", public_key: key.pem },
      { name: "x", identity: { issuer: "", subject: "a" } },
      { name: "x", public_key: key.pem, extra: 1 },
      // A gate names keys by name or id: a name that is some key's id would be both.
      { name: "sk_01KB0000000000000000000000", public_key: key.pem },
    ]) {
      const res = await register(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
  });

  it("refuses a PEM it could not verify with: 400 validation_failed naming the field", async () => {
    const key = await freshKey();
    const cases = [
      { name: "k1", public_key: "not a pem" },
      { name: "k2", public_key: caCertificatePem },
      { name: "k3", public_key: key.pem + key.pem },
      { name: "k4", public_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" },
      { name: "c1", ca_certificate: signingKeyPem },
      { name: "c2", ca_certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" },
    ];
    for (const body of cases) {
      const res = await register(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ code: "validation_failed" });
      expect(res.body.errors[0].path).toBe("public_key" in body ? "public_key" : "ca_certificate");
    }
  });

  it("never answers anything but 400 to text that is no PEM key (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc
            .uint8Array({ minLength: 0, maxLength: 200 })
            .map((b) => `-----BEGIN PUBLIC KEY-----\n${btoa(String.fromCharCode(...b))}\n-----END PUBLIC KEY-----\n`),
        ),
        async (text) => {
          const res = await register({ name: "prop", public_key: text });
          expect(res.status).toBe(400);
          expect(res.body.code).toBe("validation_failed");
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses a certificate that is no CA, and takes an intermediate one", async () => {
    // The keyless fixture's Fulcio certificate: a signer's, CA:FALSE.
    const material = bundleJson("v1.1.0-sigstore").verificationMaterial as { certificate: { rawBytes: string } };
    const fulcioLeaf = `-----BEGIN CERTIFICATE-----\n${material.certificate.rawBytes.replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE-----\n`;
    const leaf = await register({ name: "not-a-ca", ca_certificate: fulcioLeaf });
    expect(leaf.status).toBe(400);
    expect(leaf.body.errors[0]).toMatchObject({ path: "ca_certificate", message: expect.stringContaining("not a CA") });
    const intermediate = await register({ name: "int-ca", ca_certificate: intermediateCertificatePem });
    expect(intermediate.status).toBe(201);
    expect((await remove(intermediate.body.id)).status).toBe(204);
  });

  it("keeps names, keys and identities unique among live keys (409), and frees them on deletion", async () => {
    const key = await freshKey();
    const first = await register({ name: "release", public_key: key.pem });
    expect(first.status).toBe(201);
    const sameName = await register({ name: "release", identity: IDENTITY });
    expect(sameName.status).toBe(409);
    expect(sameName.body).toMatchObject({ code: "already_exists", id: first.body.id });
    const sameKey = await register({ name: "release-again", public_key: key.pem });
    expect(sameKey.status).toBe(409);
    expect(sameKey.body.detail).toContain(key.fingerprint);
    const id1 = await register({ name: "who", identity: IDENTITY });
    expect((await register({ name: "who-else", identity: IDENTITY })).status).toBe(409);
    expect((await remove(first.body.id)).status).toBe(204);
    const again = await register({ name: "release", public_key: key.pem });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(first.body.id);
    for (const id of [again.body.id, id1.body.id]) await remove(id);
  });

  it("lets two racing registrations of one name through once", async () => {
    const [a, b] = await Promise.all([
      register({ name: "raced", public_key: (await freshKey()).pem }),
      register({ name: "raced", public_key: (await freshKey()).pem }),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    await remove((a.status === 201 ? a : b).body.id);
  });

  it("pages the list newest first", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await register({ name: `page-${i}`, public_key: (await freshKey()).pem })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; next_cursor: string | null } } = await json(
        "GET",
        `/v1/signing-keys?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((k) => k.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
    for (const id of ids) await remove(id);
  });

  it("needs an admin limited by no models or aliases claim to register or delete; any reader may list", async () => {
    const key = await freshKey();
    for (const token of [
      await hsToken({ scope: "read write promote approve report" }),
      await hsToken({ scope: "admin", models: ["team-a-*"] }),
      await hsToken({ scope: "admin", aliases: ["staging"] }),
    ]) {
      const res = await register({ name: "narrow", public_key: key.pem }, token);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("forbidden");
    }
    const wide = await register(
      { name: "wide", public_key: key.pem },
      await hsToken({ scope: "admin", models: ["*"], aliases: ["*"] }),
    );
    expect(wide.status).toBe(201);
    expect((await remove(wide.body.id, await hsToken({ scope: "admin", models: ["team-a-*"] }))).status).toBe(403);
    expect(
      (await json("GET", "/v1/signing-keys", { token: await hsToken({ scope: "read", models: ["team-a-*"] }) })).status,
    ).toBe(200);
    expect((await json("GET", "/v1/signing-keys", { token: null })).status).toBe(401);
    expect((await remove(wide.body.id)).status).toBe(204);
  });
});
