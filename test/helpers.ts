/** Test helpers: minting tokens and calling the Worker through its real fetch handler. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { importJWK, SignJWT, type JWTPayload } from "jose";
import type { Env } from "../src/env";
import worker from "../src/index";
import type { ModelState } from "../src/state/model-state";

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
  /** Settings changed for this call only: the Worker runs with them, as a deployment set so would. */
  settings?: Partial<Env>;
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
  const url = `http://mreg.test${path}`;
  if (!opts.settings) return exports.default.fetch(new Request(url, { method, headers, body }));
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(url, { method, headers, body }), { ...env, ...opts.settings }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
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

export async function createVersion(model: string, body: Record<string, unknown> = {}, token?: string) {
  const res = await json("POST", `/v1/models/${model}/versions`, { body, ...(token ? { token } : {}) });
  if (res.status !== 201) throw new Error(`createVersion ${model}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Deterministic pseudo-random bytes (xorshift), so tests can send and compare megabytes. */
export function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function sha256Of(data: Uint8Array | ArrayBuffer | string): Promise<string> {
  const input = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", input);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A version's files: path → bytes or text; or, where they depend on it, made from the version's number. */
export type VersionFiles =
  Record<string, Uint8Array | string> | ((version: number) => Record<string, Uint8Array | string>);

export interface VersionOptions {
  /** The create body: description, tags, metrics, lineage. */
  body?: Record<string, unknown>;
  /** Who creates, uploads and finalizes (default: the all-scopes token of `call`). */
  token?: string;
}

/** A pending version holding `files`, each uploaded in one PUT: the Version as created. */
export async function versionWithFiles(model: string, files: VersionFiles, opts: VersionOptions = {}) {
  const v = await createVersion(model, opts.body ?? {}, opts.token);
  const auth = opts.token ? { token: opts.token } : {};
  for (const [path, data] of Object.entries(typeof files === "function" ? files(v.version) : files)) {
    const put = await call("PUT", `/v1/models/${model}/versions/${v.version}/files/${path}`, {
      rawBody: data,
      ...auth,
    });
    if (put.status !== 201) throw new Error(`put ${path}: ${put.status} ${await put.text()}`);
  }
  return v;
}

/** A ready version holding `files`: the Version as finalized. */
export async function readyVersion(model: string, files: VersionFiles, opts: VersionOptions = {}) {
  const v = await versionWithFiles(model, files, opts);
  const fin = await json(
    "POST",
    `/v1/models/${model}/versions/${v.version}/finalize`,
    opts.token ? { token: opts.token } : {},
  );
  if (fin.status !== 200) throw new Error(`finalize: ${fin.status} ${JSON.stringify(fin.body)}`);
  return fin.body;
}

/**
 * A new model with `n` ready versions, each one file `w.bin` of its own (`<name> v<i>`); with
 * `alias`, that alias set to version 1.
 */
export async function modelWithReady(name: string, n: number, opts: { alias?: string } = {}) {
  await createModel(name);
  for (let i = 1; i <= n; i++) await readyVersion(name, { "w.bin": `${name} v${i}` });
  if (opts.alias) {
    const set = await json("PUT", `/v1/models/${name}/aliases/${opts.alias}`, { body: { version: 1 } });
    if (set.status !== 200) throw new Error(`set ${opts.alias}: ${set.status} ${JSON.stringify(set.body)}`);
  }
}

/**
 * A model's ModelState stub, typed by the class (the Worker's bindings leave the namespace
 * untyped so src/env.ts imports nothing of the object): for runInDurableObject and RPC in tests.
 */
export function modelStub(model: string): DurableObjectStub<ModelState> {
  return env.MODEL_STATE.getByName(model) as DurableObjectStub<ModelState>;
}
