/**
 * JWT verification with jose, exactly as docs/reference.md "Auth" says: HS256 with JWT_SECRET;
 * RS256/ES256/EdDSA from an inline JWKS or a JWKS URL; `exp` required; 30 s tolerance;
 * `iss`/`aud` when configured. The algorithm allowlist, and choosing the key by the
 * algorithm's family, are what stop `alg: none` and RS256-as-HS256 confusion.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import { z } from "zod";
import { globTooComplex } from "../domain/glob";
import { isTokenId } from "../domain/token";
import type { Config } from "../env";
import type { Principal } from "./principal";

const ASYMMETRIC_ALGS = ["RS256", "ES256", "EdDSA"] as const;
const CLOCK_TOLERANCE_S = 30;

export class InvalidToken extends Error {}

interface Verifier {
  algorithms: string[];
  getKey: JWTVerifyGetKey;
  issuer?: string;
  audience?: string;
}

const verifiers = new WeakMap<Config, Verifier>();

function buildVerifier(cfg: Config): Verifier {
  const secret = cfg.JWT_SECRET ? new TextEncoder().encode(cfg.JWT_SECRET) : undefined;
  let jwks: JWTVerifyGetKey | undefined;
  if (cfg.JWT_JWKS) {
    jwks = createLocalJWKSet(JSON.parse(cfg.JWT_JWKS));
  } else if (cfg.JWT_JWKS_URL) {
    jwks = createRemoteJWKSet(new URL(cfg.JWT_JWKS_URL));
  }
  const algorithms = [...(secret ? ["HS256"] : []), ...(jwks ? ASYMMETRIC_ALGS : [])];
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg === "HS256") {
      if (!secret) throw new InvalidToken("HS256 tokens are not accepted");
      return secret;
    }
    if (!jwks) throw new InvalidToken("asymmetric tokens are not accepted");
    return jwks(header, token);
  };
  return { algorithms, getKey, issuer: cfg.JWT_ISSUER, audience: cfg.JWT_AUDIENCE };
}

/**
 * A glob of the `models` or `aliases` claims: bounded, and one that D1 can test (the span
 * between its first `*` and its last within D1's pattern limit, src/domain/glob.ts), or
 * every list the token reads would fail. Minting puts the same bounds (src/tokens/routes.ts).
 */
export const ClaimGlob = z
  .string()
  .min(1)
  .max(256)
  .superRefine((glob, ctx) => {
    const why = globTooComplex(glob);
    if (why !== null) ctx.addIssue({ code: "custom", message: why });
  });

const Claims = z.object({
  sub: z.string().min(1).max(256),
  scope: z.string().optional(),
  scp: z.array(z.string()).optional(),
  models: z.array(ClaimGlob).optional(),
  aliases: z.array(ClaimGlob).optional(),
});

export function principalFromClaims(payload: JWTPayload): Principal {
  const claims = Claims.safeParse(payload);
  if (!claims.success) {
    throw new InvalidToken(
      `token claims are malformed (need a string \`sub\`; \`scope\` a string, \`scp\`, \`models\`, \`aliases\` arrays of globs): ${claims.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const { sub, scope, scp, models, aliases } = claims.data;
  const scopes = new Set([...(scope ? scope.split(" ").filter(Boolean) : []), ...(scp ?? [])]);
  // Only a `jti` shaped like the ids this registry mints can name a revocable token; any
  // other (an identity provider's) is ignored, never refused.
  const jti = typeof payload.jti === "string" && isTokenId(payload.jti) ? payload.jti : undefined;
  return {
    sub,
    scopes,
    models,
    aliases,
    ...(typeof payload.exp === "number" ? { expiresAt: payload.exp * 1000 } : {}),
    ...(jti ? { tokenId: jti } : {}),
  };
}

/**
 * Tokens already verified, kept until their `exp` so the resolve hot path does not check a
 * signature per request. Bounded; per configuration, so a changed issuer or key set starts
 * afresh. Whether a token has been revoked is not remembered here: callers check that on
 * every request (src/auth/revocation.ts).
 */
const MAX_REMEMBERED_TOKENS = 10_000;
const remembered = new WeakMap<Config, Map<string, { principal: Principal; exp: number }>>();

export async function verifyToken(token: string, cfg: Config): Promise<{ principal: Principal; exp: number }> {
  let known = remembered.get(cfg);
  if (!known) {
    known = new Map();
    remembered.set(cfg, known);
  }
  const hit = known.get(token);
  if (hit && hit.exp * 1000 > Date.now()) return hit;
  const verified = await verifyUncached(token, cfg);
  known.set(token, verified);
  if (known.size > MAX_REMEMBERED_TOKENS) known.delete(known.keys().next().value!);
  return verified;
}

async function verifyUncached(token: string, cfg: Config): Promise<{ principal: Principal; exp: number }> {
  let verifier = verifiers.get(cfg);
  if (!verifier) {
    verifier = buildVerifier(cfg);
    verifiers.set(cfg, verifier);
  }
  if (verifier.algorithms.length === 0) throw new InvalidToken("no token keys are configured");
  try {
    const { payload } = await jwtVerify(token, verifier.getKey, {
      algorithms: verifier.algorithms,
      clockTolerance: CLOCK_TOLERANCE_S,
      issuer: verifier.issuer,
      audience: verifier.audience,
      requiredClaims: ["exp"],
    });
    return { principal: principalFromClaims(payload), exp: payload.exp! };
  } catch (err) {
    if (err instanceof InvalidToken) throw err;
    if (err instanceof joseErrors.JOSEError) throw new InvalidToken(describeJoseError(err));
    throw err;
  }
}

function describeJoseError(err: InstanceType<typeof joseErrors.JOSEError>): string {
  switch (err.code) {
    case "ERR_JWT_EXPIRED":
      return "token has expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return `token claim check failed: ${err.message}`;
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "token algorithm is not allowed";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "token signature is invalid";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "no key matches the token";
    default:
      return "token is invalid";
  }
}
