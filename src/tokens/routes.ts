/**
 * Tokens a team can manage (API.md "Auth"): mint, list, revoke. Every route needs `admin`.
 *
 * - A minted token never carries more than its minter holds (`grantExcess`, 403 otherwise):
 *   a minter limited by `models`/`aliases` globs gives only globs within its own.
 * - Tenancy: a limited minter sees and revokes exactly the tokens it could have minted
 *   (their globs within its own); any other is a 404, so one team learns nothing of
 *   another's tokens.
 * - Minted tokens are HS256 under `JWT_SECRET`, with `iss`/`aud` when the registry checks
 *   them, and `jti` = the id. The token is in the 201 answer only: D1 and the audit log
 *   keep its claims.
 * - A revocation is known at once in the isolate that made it, and within 10 s everywhere
 *   (src/auth/revocation.ts; open watch sockets: ModelState's alarm).
 */
import { SignJWT } from "jose";
import { z } from "zod";
import { auditedAs, grantExcess, SCOPES, visibilityOf, type Principal, type Scope } from "../auth/principal";
import { noteRevoked } from "../auth/revocation";
import { ClaimGlob } from "../auth/verify";
import { tokens, type TokenRow } from "../db/schema";
import { queryDb } from "../db/session";
import { timestamp } from "../domain/ids";
import { DEFAULT_TOKEN_TTL_S, MAX_TOKEN_TTL_S, newTokenId, TOKEN_ID } from "../domain/token";
import { config, type Env } from "../env";
import { insertIf } from "../db/insert-if";
import { commitRegistryChange, commitRegistryChangeIf } from "../events/registry";
import { dispatchAfter } from "../events/dispatch";
import { defineRoute } from "../http/api";
import { decodeCursor, PageQuery, toPage } from "../http/cursor";
import { pageOf } from "../http/openapi-helpers";
import { notFound, ProblemError } from "../domain/problem";
import { parentNotRevoked, rowGrant, tokenBody, TokenStore, type TokenManager } from "./store";

/**
 * The verifier's bounds on these claims (src/auth/verify.ts), so every minted token verifies.
 * A token travels in a header on every request: 64 globs at most, so it stays within header
 * size limits (~25 KB at worst).
 */
const Globs = z.array(ClaimGlob).min(1).max(64);

/** Space-separated scope names, each one of SCOPES; answered in SCOPES' order, once each. */
const ScopeNames = z
  .string()
  .max(256)
  .describe("Space-separated: read write promote approve report admin")
  .transform((text, ctx) => {
    const names = text.split(" ").filter(Boolean);
    const unknown = names.find((n) => !(SCOPES as readonly string[]).includes(n));
    if (names.length === 0 || unknown !== undefined) {
      ctx.addIssue({
        code: "custom",
        message:
          unknown !== undefined
            ? `unknown scope '${unknown}': one of ${SCOPES.join(", ")}`
            : `at least one of ${SCOPES.join(", ")}`,
      });
      return z.NEVER;
    }
    return SCOPES.filter((s) => names.includes(s));
  });

export const CreateTokenBody = z.strictObject({
  sub: z.string().min(1).max(256).describe("The subject: recorded as the actor of every write made with the token"),
  scope: ScopeNames,
  models: Globs.optional().describe("Globs of the models the token may act on; absent: every model"),
  aliases: Globs.optional().describe("Globs of the aliases and stages it may move; absent: all of them"),
  ttl_s: z
    .number()
    .int()
    .min(1)
    .max(MAX_TOKEN_TTL_S)
    .default(DEFAULT_TOKEN_TTL_S)
    .describe("Lifetime in seconds (at most a year), cut to the minting token's own `exp`"),
  description: z.string().max(1024).nullable().default(null),
});

const TokenParams = z.object({ id: z.string().regex(TOKEN_ID, "not a token id") });
const IdCursor = z.object({ id: z.string().min(1).max(128) });

export const Token = z
  .object({
    id: z.string().describe("`tok_…`: also the token's `jti`"),
    sub: z.string(),
    scope: z.string(),
    models: z.array(z.string()).nullable().describe("null: every model"),
    aliases: z.array(z.string()).nullable().describe("null: every alias"),
    expires_at: z.string(),
    description: z.string().nullable(),
    created_at: z.string(),
    created_by: z.string(),
    parent: z
      .string()
      .nullable()
      .describe(
        "The id of the minted token it was minted with: revoking that one revokes this one. null: minted with a token without a registry `jti`",
      ),
  })
  .meta({ id: "Token" });

export const MintedToken = Token.extend({
  token: z.string().describe("The JWT: shown only in this answer"),
  ttl_s: z.number().int().describe("The lifetime granted, in seconds"),
  ttl_capped: z
    .boolean()
    .describe("Whether `ttl_s` was cut to the minting token's own `exp`: a token never outlives its minter"),
}).meta({ id: "MintedToken" });

/** The signing key; without `JWT_SECRET` the registry has none of its own (JWKS keys belong to their issuer). */
function signingSecret(env: Env): Uint8Array {
  const secret = config(env).JWT_SECRET;
  if (!secret) {
    throw new ProblemError(
      "unavailable",
      "Minting tokens needs the JWT_SECRET secret, which this deployment has not set (tokens of a JWKS issuer are minted by that issuer)",
      {},
      { "retry-after": "3600" },
    );
  }
  return new TextEncoder().encode(secret);
}

/** What audit events say of a token: its claims, never the token. */
const audited = (row: TokenRow) => {
  const { id, sub, scope, models, aliases, expires_at, description } = tokenBody(row);
  return { id, sub, scope, models, aliases, expires_at, description };
};

/** The caller as a manager of tokens: the models it sees and the aliases it may move. */
const managerOf = (principal: Principal): TokenManager => ({
  visibility: visibilityOf(principal),
  aliases: principal.aliases,
});

/**
 * A minted token's `exp`: `ttl_s` from now, cut to the minter's own `exp` (a token never
 * outlives its minter; for one without a registry `jti` too). 401 when the minter has no
 * time left to give (verification allows 30 s past `exp`).
 */
function cappedExpiry(iat: number, ttlS: number, minter: Principal): { exp: number; capped: boolean } {
  const wanted = iat + ttlS;
  if (minter.expiresAt === undefined) return { exp: wanted, capped: false };
  const limit = Math.floor(minter.expiresAt / 1000);
  if (limit <= iat)
    throw new ProblemError("unauthenticated", "This token expires now: it has no lifetime left to give a new token");
  return { exp: Math.min(wanted, limit), capped: limit < wanted };
}

function mayGrant(principal: Principal, wanted: { scopes: Scope[]; models?: string[]; aliases?: string[] }): void {
  const excess = grantExcess(principal, wanted);
  if (excess) throw new ProblemError("forbidden", `${excess}: a minted token never carries more than its minter holds`);
}

export const tokenRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/tokens",
    operationId: "createToken",
    summary: "Mint a token",
    description:
      "A token never carries more than its minter holds: scopes, and for a minter limited by `models`/`aliases` globs, only globs within its own (so it must give some). The answer is the only place the token is ever shown; its `jti` is `id`. HS256 under `JWT_SECRET` (503 without it), with `iss`/`aud` when `JWT_ISSUER`/`JWT_AUDIENCE` are set.",
    tag: "Tokens",
    scope: "admin",
    body: CreateTokenBody,
    responses: { 201: { description: "The token and its claims", schema: MintedToken } },
    errors: ["validation_failed", "unavailable", "payload_too_large", "unsupported_media_type"],
    async handler(c, { body, principal }) {
      mayGrant(principal, {
        scopes: body.scope,
        ...(body.models ? { models: body.models } : {}),
        ...(body.aliases ? { aliases: body.aliases } : {}),
      });
      const key = signingSecret(c.env);
      const cfg = config(c.env);
      const nowMs = Date.now();
      const iat = Math.floor(nowMs / 1000);
      const { exp, capped } = cappedExpiry(iat, body.ttl_s, principal);
      const id = newTokenId(nowMs);
      const scope = body.scope.join(" ");
      let jwt = new SignJWT({
        scope,
        ...(body.models ? { models: body.models } : {}),
        ...(body.aliases ? { aliases: body.aliases } : {}),
      })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(body.sub)
        .setJti(id)
        .setIssuedAt(iat)
        .setExpirationTime(exp);
      if (cfg.JWT_ISSUER) jwt = jwt.setIssuer(cfg.JWT_ISSUER);
      if (cfg.JWT_AUDIENCE) jwt = jwt.setAudience(cfg.JWT_AUDIENCE);
      const token = await jwt.sign(key);
      const row: TokenRow = {
        id,
        sub: body.sub,
        scope,
        models: body.models ? JSON.stringify(body.models) : null,
        aliases: body.aliases ? JSON.stringify(body.aliases) : null,
        description: body.description,
        createdAt: timestamp(nowMs),
        createdBy: principal.sub,
        expiresAt: timestamp(exp * 1000),
        revokedAt: null,
        revokedBy: null,
        parentId: principal.tokenId ?? null,
      };
      const db = queryDb(c);
      const store = new TokenStore(db);
      const event = { at: row.createdAt, ...auditedAs(principal), action: "token.create" as const, to: audited(row) };
      if (row.parentId === null) await commitRegistryChange(db, [store.db.insert(tokens).values(row)], event);
      else {
        // The minter may have been revoked since this isolate's view of revocations: stored only
        // if it still is not when the batch runs, so no child escapes its parent's revocation.
        const onlyIf = parentNotRevoked(row.parentId);
        if (!(await commitRegistryChangeIf(db, onlyIf, [insertIf(store.db, tokens, row, onlyIf)], event))) {
          throw new ProblemError("unauthenticated", "token has been revoked");
        }
      }
      dispatchAfter(c);
      return c.json({ ...tokenBody(row), token, ttl_s: exp - iat, ttl_capped: capped }, 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/tokens",
    operationId: "listTokens",
    summary: "The live tokens, newest first",
    description:
      "Tokens neither revoked nor expired, without the token itself. A caller limited by `models`/`aliases` globs sees only the tokens whose globs lie within its own (those it could have minted).",
    tag: "Tokens",
    scope: "admin",
    query: PageQuery,
    responses: { 200: { description: "A page of tokens", schema: pageOf(Token) } },
    errors: ["validation_failed"],
    async handler(c, { query, principal }) {
      const before = query.cursor ? decodeCursor(query.cursor, IdCursor).id : undefined;
      const rows = await new TokenStore(queryDb(c)).list(managerOf(principal), timestamp(), before, query.limit);
      return c.json(toPage(rows, query.limit, (r) => ({ id: r.id }), tokenBody));
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/tokens/{id}",
    operationId: "revokeToken",
    summary: "Revoke a token",
    description:
      "The token is refused from then on: at once by this isolate, within 10 s everywhere, HTTP and watch sockets alike (an open socket is closed with 4001). A token already revoked, or outside the caller's globs, is a 404. Tokens without a registry `jti` (development tokens, an identity provider's) cannot be revoked here.",
    tag: "Tokens",
    scope: "admin",
    params: TokenParams,
    responses: { 204: { description: "Revoked" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      const db = queryDb(c);
      const store = new TokenStore(db);
      const row = await store.manageable(params.id, managerOf(principal));
      // The SQL tenancy filter and the minting rule are one rule; checked here again in code.
      if (!row || grantExcess(principal, rowGrant(row)) !== null) throw notFound(`Token '${params.id}'`);
      const at = timestamp();
      // Every token minted with it goes too, and theirs in turn (docs/security.md): one statement
      // over `parent_id`, so a descendant minted after this look is revoked all the same.
      const cascade = await store.descendants(row.id);
      await commitRegistryChange(db, [store.revokeTree(row.id, at, principal.sub)], {
        at,
        ...auditedAs(principal),
        action: "token.revoke",
        from: audited(row),
        ...(cascade.length > 0 ? { detail: { cascade } } : {}),
      });
      for (const id of [row.id, ...cascade]) noteRevoked(id);
      dispatchAfter(c);
      return c.body(null, 204);
    },
  }),
];
