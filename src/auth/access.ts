/**
 * Cloudflare Access in front of the Worker: Access signs in the user and adds
 * `Cf-Access-Jwt-Assertion` (RS256, the team's keys at
 * `<team>/cdn-cgi/access/certs`). We verify it (issuer = the team domain, audience = the
 * application's tag) and map the user to scopes from configuration: `ACCESS_DEFAULT_SCOPES`
 * for everyone Access lets in, plus `ACCESS_GRANTS` by email glob or group. Without
 * `ACCESS_TEAM_DOMAIN` the header is ignored (a forged one can do nothing then).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import type { Principal } from "./principal";
import { globMatch } from "../domain/glob";
import { config, type AccessGrant, type Config, type Env } from "../env";

export const ACCESS_HEADER = "cf-access-jwt-assertion";

const Identity = z.object({
  email: z.string().min(1),
  exp: z.number(),
  /** Present when the identity provider passes groups through (SAML/OIDC group claims). */
  groups: z.array(z.string()).optional(),
});

const keySets = new WeakMap<Config, JWTVerifyGetKey>();

function keys(cfg: Config, team: string): JWTVerifyGetKey {
  let got = keySets.get(cfg);
  if (!got) {
    got = cfg.ACCESS_JWKS
      ? createLocalJWKSet(JSON.parse(cfg.ACCESS_JWKS))
      : createRemoteJWKSet(new URL(`${team}/cdn-cgi/access/certs`));
    keySets.set(cfg, got);
  }
  return got;
}

/** The scopes configuration gives a user: the default, plus every grant that matches. */
export function accessScopes(
  defaults: string,
  grants: readonly AccessGrant[],
  email: string,
  groups: readonly string[],
): Set<string> {
  const scopes = new Set(defaults.split(" ").filter(Boolean));
  for (const grant of grants) {
    const applies =
      "email" in grant ? globMatch(grant.email.toLowerCase(), email.toLowerCase()) : groups.includes(grant.group);
    if (applies) for (const s of grant.scopes.split(" ").filter(Boolean)) scopes.add(s);
  }
  return scopes;
}

/** The Access user as a Principal, or null when Access is off or sent no (valid) assertion. */
export async function accessPrincipal(
  env: Env,
  request: Request,
): Promise<{ principal: Principal; assertion: string } | null> {
  const cfg = config(env);
  const team = cfg.ACCESS_TEAM_DOMAIN;
  const assertion = request.headers.get(ACCESS_HEADER);
  if (!team || !cfg.ACCESS_AUD || !assertion) return null;
  try {
    const { payload } = await jwtVerify(assertion, keys(cfg, team), {
      algorithms: ["RS256"],
      issuer: team,
      audience: cfg.ACCESS_AUD,
      requiredClaims: ["exp"],
      clockTolerance: 30,
    });
    const identity = Identity.safeParse(payload);
    if (!identity.success) return null;
    const { email, groups, exp } = identity.data;
    const scopes = accessScopes(cfg.ACCESS_DEFAULT_SCOPES, cfg.ACCESS_GRANTS, email, groups ?? []);
    return { principal: { sub: email, scopes, expiresAt: exp * 1000 }, assertion };
  } catch (err) {
    // An invalid assertion is treated as none: the page then asks for a token instead.
    if (err instanceof joseErrors.JOSEError) return null;
    throw err;
  }
}
