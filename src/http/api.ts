/**
 * One declaration per route: its path, scope, access, subject, zod schemas and handler.
 * `register` mounts it on Hono with authentication, authorization (src/auth/authorize.ts:
 * scope, model glob, alias grant) and input validation; the same
 * declarations produce the OpenAPI document (src/http/openapi.ts), so what is validated and
 * what is documented cannot drift apart.
 */
import type { Hono } from "hono";
import type { z } from "zod";
import { authenticate } from "../auth/middleware";
import { requireAuthorized } from "../auth/authorize";
import type { Principal, Scope } from "../auth/principal";
import type { Access } from "../db/session";
import type { AppContext, AppEnv } from "./app-env";
import type { ErrorCode } from "../domain/problem";
import { parseWith, readJsonBody } from "./validation";

type Method = "get" | "post" | "put" | "patch" | "delete";
type Maybe<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** Non-JSON responses (bytes, HTML) name their media type. */
  mediaType?: string;
}

export interface RouteSpec<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
> {
  method: Method;
  /** OpenAPI-style path: `/v1/models/{model}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** The scope a caller needs, or `public` for routes that need no token. */
  scope: Scope | "public";
  /**
   * Whether the route only reads or writes: a read's D1 session may take a replica, and with
   * `PUBLIC_READ=true` a read of scope `read` needs no token. Default: `get` reads, every
   * other method writes; a read-only POST says `read`.
   */
  access?: Access;
  /**
   * What the route acts on, checked by `authorize` as soon as the part it comes from is
   * parsed: the model (403 outside the token's `models`), and the aliases or stages it may
   * move (403 outside its `aliases`). A route whose path names `{model}` must declare it.
   */
  subject?: {
    model?: Locator<P, Q, B, string | undefined>;
    aliases?: Locator<P, Q, B, readonly string[]>;
  };
  params?: P;
  query?: Q;
  body?: B;
  /** Also accept the web UI's session cookie (the watch socket: browsers cannot set its headers). */
  cookieAuth?: boolean;
  /** Extra request headers worth documenting (`Idempotency-Key`). */
  headers?: Record<string, string>;
  responses: Record<number, ResponseSpec>;
  /** Error codes this route can answer besides the ones every authenticated route can. */
  errors: ErrorCode[];
  handler: (
    c: AppContext,
    input: { params: Maybe<P>; query: Maybe<Q>; body: Maybe<B>; principal: Principal },
  ) => Promise<Response> | Response;
}

/** Where in the request a subject is: read from the parsed params, query or body. */
export type Locator<P, Q, B, T> =
  | { from: "params"; get: (params: Maybe<P>) => T }
  | { from: "query"; get: (query: Maybe<Q>) => T }
  | { from: "body"; get: (body: Maybe<B>) => T };

/** The usual subjects: the path's `{model}`, and the path's `{alias}` as the alias a route moves. */
export const MODEL_PARAM = { from: "params", get: (params: { model: string }) => params.model } as const;
export const ALIAS_PARAM = { from: "params", get: (params: { alias: string }) => [params.alias] } as const;

/** Type-erased form kept in the registry for the OpenAPI generator. */
export type AnyRouteSpec = RouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

/**
 * Declares a route. The generic parameters infer the handler's input types from the schemas;
 * the result is type-erased so routers can list their routes in one array.
 */
export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): AnyRouteSpec {
  // The handler's input is narrower than AnyRouteSpec's; register() builds it from these same schemas.
  return spec as unknown as AnyRouteSpec;
}

/**
 * A Hono parameter pattern for a parameter that spans segments (a file path). Not `{.+}`: a
 * JavaScript `.` matches no line terminator, and U+2028/U+2029 are allowed in file paths, so
 * such a path matched no route at all (found by the fuzzer).
 */
export const MULTI_SEGMENT = "{[\\s\\S]+}";

/**
 * `{name}` becomes Hono's `:name`; `{path}`, a file path, may span several segments. A
 * literal colon (`aliases:swap`) would read as a parameter, so such a segment becomes a
 * parameter that matches only itself.
 */
function honoPath(path: string): string {
  return path
    .split("/")
    .map((segment, i) => {
      if (segment.includes("{"))
        return segment.replace(/\{(\w+)\}/g, (_, name: string) =>
          name === "path" ? `:path${MULTI_SEGMENT}` : `:${name}`,
        );
      return segment.includes(":") ? `:literal${i}{${segment}}` : segment;
    })
    .join("/");
}

/** Flattens a query string into an object: one value stays a string, repeats become an array. */
function queryObject(c: AppContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(c.req.queries())) {
    out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

type Part = "params" | "query" | "body";
type ErasedLocator<T> = { from: Part; get: (input: unknown) => T };

/**
 * Mounts a route: authenticates, settles the request's access (read or write), authorizes
 * its scope, then parses params, query and body in turn, authorizing each subject as soon as
 * the part it is read from is parsed (a model in the path before the body is read), and
 * hands the handler its typed input.
 */
export function register(app: Hono<AppEnv>, spec: AnyRouteSpec): void {
  requireDeclaredModel(spec);
  const access: Access = spec.access ?? (spec.method === "get" ? "read" : "write");
  const model = spec.subject?.model as ErasedLocator<string | undefined> | undefined;
  const aliases = spec.subject?.aliases as ErasedLocator<readonly string[]> | undefined;
  app.on(spec.method.toUpperCase(), honoPath(spec.path), async (c) => {
    c.var.session.access = access;
    const principal = await authenticate(c.env, c.req.raw, spec.scope, {
      cookie: spec.cookieAuth === true,
      access,
      waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    });
    requireAuthorized(principal, { scope: spec.scope });
    const parsed: Record<Part, unknown> = { params: undefined, query: undefined, body: undefined };
    const check = (part: Part) => {
      if (model?.from === part) requireAuthorized(principal, { model: model.get(parsed[part]) });
      if (aliases?.from === part) requireAuthorized(principal, { aliases: aliases.get(parsed[part]) });
    };
    if (spec.params) parsed.params = parseWith(spec.params, c.req.param(), "path parameters");
    check("params");
    if (spec.query) parsed.query = parseWith(spec.query, queryObject(c), "query parameters");
    check("query");
    if (spec.body) parsed.body = parseWith(spec.body, await readJsonBody(c.req.raw), "request body");
    check("body");
    return spec.handler(c, { params: parsed.params, query: parsed.query, body: parsed.body, principal });
  });
}

/** A route whose path names `{model}` must say so in its subject: a forgotten one would skip the model check. */
function requireDeclaredModel(spec: AnyRouteSpec): void {
  if (spec.path.includes("{model}") && spec.subject?.model === undefined) {
    throw new Error(`${spec.method.toUpperCase()} ${spec.path} names {model} but declares no subject.model`);
  }
}
