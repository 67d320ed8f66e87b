/** Test helpers: minting tokens and calling the Worker through its real fetch handler. */
import { env, exports } from "cloudflare:workers";
import { importJWK, SignJWT, type JWTPayload } from "jose";

export const ALL_SCOPES = "read write promote approve report admin";

export interface TokenOptions extends JWTPayload {
  sub?: string;
  scope?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
}

export async function hsToken(opts: TokenOptions = {}, secret: string = env.JWT_SECRET!): Promise<string> {
  const { expiresIn = 3600, sub = "alice", scope = ALL_SCOPES, ...claims } = opts;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(new TextEncoder().encode(secret));
}

export async function asymToken(alg: "RS256" | "ES256" | "EdDSA", opts: TokenOptions = {}): Promise<string> {
  const jwk = (JSON.parse(env.TEST_PRIVATE_JWKS) as Record<string, { kid: string }>)[alg]!;
  const key = await importJWK(jwk, alg);
  const { expiresIn = 3600, sub = "alice", scope = ALL_SCOPES, ...claims } = opts;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope, ...claims })
    .setProtectedHeader({ alg, kid: jwk.kid })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(key);
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  /** Sent as-is (no JSON encoding, no content type unless given in headers). */
  rawBody?: BodyInit;
  headers?: Record<string, string>;
}

let adminToken: Promise<string> | undefined;

/** Calls the Worker. Without `token`, an all-scopes HS256 token for `alice` is sent; `null` sends none. */
export async function call(method: string, path: string, opts: CallOptions = {}): Promise<Response> {
  const headers = new Headers(opts.headers);
  const token = opts.token === undefined ? await (adminToken ??= hsToken()) : opts.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body: BodyInit | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  return exports.default.fetch(new Request(`http://mreg.test${path}`, { method, headers, body }));
}

/** Calls and parses the JSON answer. */
export async function json<T = Record<string, any>>( // reason: tests read arbitrary response shapes
  method: string,
  path: string,
  opts: CallOptions = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await call(method, path, opts);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

export async function createModel(name: string, extra: Record<string, unknown> = {}) {
  const res = await json("POST", "/v1/models", { body: { name, ...extra } });
  if (res.status !== 201) throw new Error(`createModel ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function createVersion(model: string, body: Record<string, unknown> = {}) {
  const res = await json("POST", `/v1/models/${model}/versions`, { body });
  if (res.status !== 201) throw new Error(`createVersion ${model}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
