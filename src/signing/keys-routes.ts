/**
 * Routes of docs/signing.md "HTTP reference" for the signing keys: register (a public key, a CA
 * certificate or a Sigstore identity), list, delete. Registry-level like webhooks: each change
 * commits with its audit event (src/events/registry.ts). Registering or deleting needs an
 * administrator limited by neither `models` nor `aliases`: a key vouches for signatures in
 * every model, and a gate names it by name, so a team's administrator could otherwise make
 * another team's gate pass (register a key under the name it names) or fail (delete its key).
 * Listing needs only `read`: public keys and identities are no secret, and teams name them in
 * their gates.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { auditedAs, visibilityOf, type Principal } from "../auth/principal";
import { signingKeys } from "../db/schema";
import { queryDb } from "../db/session";
import { globWithin } from "../domain/glob";
import { sortableId, timestamp } from "../domain/ids";
import { notFound, ProblemError } from "../domain/problem";
import { CreateSigningKeyBody, SIGNING_KEY_ID, SigningKey } from "../domain/signature";
import { dispatchAfter } from "../events/dispatch";
import { commitRegistryChange, commitRegistryChangeIf } from "../events/registry";
import { defineRoute } from "../http/api";
import { decodeCursor, PageQuery, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { signingKeyBody, SigningKeyStore, type SigningKeyRow } from "./keys-store";
import { finishDeletion } from "./revocation";
import { keyMaterial } from "./trust";

const KeyParams = z.object({ id: z.string().regex(SIGNING_KEY_ID, "not a signing key id") });
const IdCursor = z.object({ id: z.string().min(1).max(128) });

/** Registry-wide trust: only an administrator no `models` or `aliases` claim narrows. */
function requireUnrestricted(principal: Principal): void {
  const everyAlias = principal.aliases === undefined || globWithin("*", principal.aliases);
  if (!visibilityOf(principal).all || !everyAlias) {
    throw new ProblemError(
      "forbidden",
      "Signing keys vouch for signatures in every model and gates name them: managing them needs an admin token limited by no `models` or `aliases` claim",
    );
  }
}

/** What an audit event says of a key: its shape, never more (a public key is no secret, but the fingerprint names it). */
const audited = (row: SigningKeyRow) => {
  const { id, name, kind, fingerprint, identity } = signingKeyBody(row);
  return { id, name, kind, fingerprint, identity };
};

function clashProblem(held: SigningKeyRow, row: SigningKeyRow): ProblemError {
  const what =
    held.name === row.name
      ? `the name '${row.name}'`
      : row.kind === "identity"
        ? "this identity"
        : `this ${row.kind === "ca" ? "CA certificate" : "key"} (${row.fingerprint})`;
  return new ProblemError("already_exists", `The signing key '${held.name}' (${held.id}) already has ${what}`, {
    id: held.id,
  });
}

export const signingKeyRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/signing-keys",
    operationId: "createSigningKey",
    summary: "Register a signing key, CA or Sigstore identity",
    description:
      "Exactly one of `public_key` (PEM SubjectPublicKeyInfo), `ca_certificate` (PEM; the root of certificate chains) and `identity` (`{issuer, subject}` of a Fulcio certificate, checked against `SIGSTORE_TRUSTED_ROOT`). A signature uploaded from then on counts as trusted when it vouches for it (see the signatures routes); signatures uploaded before are not re-judged, but uploading the same bundle again adds the keys registered since. Names, keys and identities are unique among the live keys (409). Needs an admin token limited by no `models` or `aliases` claim. Audited as `signing_key.create`.",
    tag: "Signatures",
    scope: "admin",
    body: CreateSigningKeyBody,
    responses: { 201: { description: "The signing key", schema: SigningKey } },
    errors: ["validation_failed", "already_exists", "payload_too_large", "unsupported_media_type"],
    async handler(c, { body, principal }) {
      requireUnrestricted(principal);
      const material = await keyMaterial(body);
      const at = timestamp();
      const row: SigningKeyRow = {
        id: `sk_${sortableId()}`,
        name: body.name,
        kind: material.kind,
        fingerprint: material.fingerprint,
        material: material.material,
        identityIssuer: material.identity?.issuer ?? null,
        identitySubject: material.identity?.subject ?? null,
        createdAt: at,
        createdBy: principal.sub,
        deletedAt: null,
      };
      const db = queryDb(c);
      const store = new SigningKeyStore(db);
      const held = await store.clash(row);
      if (held) throw clashProblem(held, row);
      try {
        await commitRegistryChange(db, [store.db.insert(signingKeys).values(row)], {
          at,
          ...auditedAs(principal),
          action: "signing_key.create",
          to: audited(row),
        });
      } catch (err) {
        // A registration that raced this one to the same name, key or identity: the unique index decided.
        const raced = String(err).includes("UNIQUE constraint failed") ? await store.clash(row) : null;
        if (raced) throw clashProblem(raced, row);
        throw err;
      }
      dispatchAfter(c);
      return c.json(signingKeyBody(row), 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/signing-keys",
    operationId: "listSigningKeys",
    summary: "The registered signing keys, CAs and identities, newest first",
    tag: "Signatures",
    scope: "read",
    query: PageQuery,
    responses: { 200: { description: "A page of signing keys", schema: pageOf(SigningKey) } },
    errors: ["validation_failed"],
    async handler(c, { query }) {
      const before = query.cursor ? decodeCursor(query.cursor, IdCursor).id : undefined;
      const rows = await new SigningKeyStore(queryDb(c)).list(before, query.limit);
      return c.json(toPage(rows, query.limit, (r) => ({ id: r.id }), signingKeyBody));
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/signing-keys/{id}",
    operationId: "deleteSigningKey",
    summary: "Delete a signing key",
    description:
      "From the moment this answers, no gate counts the key: every model where it vouched for a signature is told before the answer (one call per such model). The signatures it verified stay listed, without its id in `trusted_by`. A DELETE that failed part way leaves the key unusable; repeating it (or the scheduled cleanup) finishes it. Needs an admin token limited by no `models` or `aliases` claim. Audited as `signing_key.delete`.",
    tag: "Signatures",
    scope: "admin",
    params: KeyParams,
    responses: { 204: { description: "Deleted" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      requireUnrestricted(principal);
      const db = queryDb(c);
      const store = new SigningKeyStore(db);
      const row = await store.get(params.id);
      if (!row) throw notFound(`Signing key '${params.id}'`);
      const at = timestamp();
      if (row.deletedAt === null) {
        // Conditional on the key being live when the batch runs: of two racing deletions, one audits it.
        const live = and(eq(signingKeys.id, row.id), isNull(signingKeys.deletedAt))!;
        const stillLive = sql`EXISTS (SELECT 1 FROM ${signingKeys} WHERE ${live})`;
        await commitRegistryChangeIf(db, stillLive, [store.db.update(signingKeys).set({ deletedAt: at }).where(live)], {
          at,
          ...auditedAs(principal),
          action: "signing_key.delete",
          from: audited(row),
        });
        dispatchAfter(c);
      }
      await finishDeletion(c.env, store, row.id, at);
      return c.body(null, 204);
    },
  }),
];
