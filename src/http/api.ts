/**
 * One declaration per route: its path, scope, zod schemas and handler. `register` mounts it
 * on Hono with authentication, scope and model-glob checks and input validation; the same
 * declarations produce the OpenAPI document (src/http/openapi.ts), so what is validated and
 * what is documented cannot drift apart.
 */
import type { Hono } from "hono";
import type { z } from "zod";
import { authenticate } from "../auth/middleware";
import { hasScope, mayActOnModel, type Principal, type Scope } from "../auth/principal";
import type { AppContext, AppEnv } from "./app-env";
import { ProblemError, type ErrorCode } from "./problem";
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
 * `{name}` becomes Hono's `:name`; `{path}`, a file path, may span several segments. A
 * literal colon (`aliases:swap`) would read as a parameter, so such a segment becomes a
 * parameter that matches only itself.
 */
function honoPath(path: string): string {
  return path
    .split("/")
    .map((segment, i) => {
      if (segment.includes("{")) return segment.replace(/\{(\w+)\}/g, (_, name: string) => (name === "path" ? ":path{.+}" : `:${name}`));
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

export function register(app: Hono<AppEnv>, spec: AnyRouteSpec): void {
  app.on(spec.method.toUpperCase(), honoPath(spec.path), async (c) => {
    const principal = await authenticate(c.env, c.req.raw, spec.scope, {
      cookie: spec.cookieAuth === true,
      waitUntil: (promise) => c.executionCtx.waitUntil(promise),
    });
    if (spec.scope !== "public" && !hasScope(principal, spec.scope)) {
      throw new ProblemError("forbidden", `This route needs the '${spec.scope}' scope`);
    }
    const params = spec.params ? parseWith(spec.params, c.req.param(), "path parameters") : undefined;
    const model = (params as { model?: unknown } | undefined)?.model;
    if (typeof model === "string" && !mayActOnModel(principal, model)) {
      throw new ProblemError("forbidden", `This token may not act on model '${model}'`);
    }
    const query = spec.query ? parseWith(spec.query, queryObject(c), "query parameters") : undefined;
    const body = spec.body ? parseWith(spec.body, await readJsonBody(c.req.raw), "request body") : undefined;
    return spec.handler(c, { params, query, body, principal });
  });
}
