/**
 * What every MLflow bridge route does first: the caller authenticated through the same seam
 * as `/v1` (Bearer, or Basic with the token as password: MLFLOW_TRACKING_TOKEN and
 * MLFLOW_TRACKING_USERNAME/PASSWORD), the request's D1 session set to read or write, and
 * `authorize` asked about the model, whose denial is worded as MLflow's "not found" so a
 * model the token may not see never hints it exists. Input comes from the query string for a
 * GET and from the JSON body otherwise (MLflow's client sends DELETE bodies too).
 */
import type { z } from "zod";
import { authorize } from "../../auth/authorize";
import { authenticate } from "../../auth/middleware";
import type { Principal, Scope } from "../../auth/principal";
import type { Access } from "../../db/session";
import { ModelName } from "../../domain/names";
import type { AppContext } from "../../http/app-env";
import { parseWith, readJsonBody } from "../../http/validation";
import { MlflowError, invalid, modelNotFound } from "./errors";

export async function caller(c: AppContext, scope: Scope, access: Access): Promise<Principal> {
  c.var.session.access = access;
  const principal = await authenticate(c.env, c.req.raw, scope, { access, waitUntil: (p) => c.executionCtx.waitUntil(p) });
  const denial = authorize(principal, { scope });
  if (denial) throw new MlflowError("PERMISSION_DENIED", `This token may not do this: it needs the '${scope}' scope`);
  return principal;
}

/**
 * The model a request names, which `principal` may act on: RESOURCE_DOES_NOT_EXIST for a
 * name that cannot exist in mreg (saying why) and for a model outside the token's `models`.
 */
export function namedModel(principal: Principal, name: string): string {
  if (!ModelName.safeParse(name).success) {
    throw new MlflowError("RESOURCE_DOES_NOT_EXIST", `Registered Model with name=${name} not found (mreg model names are lower case: ^[a-z0-9][a-z0-9._-]{0,127}$)`);
  }
  if (authorize(principal, { model: name })) throw modelNotFound(name);
  return name;
}

/** A name for a new model: INVALID_PARAMETER_VALUE when it breaks mreg's rule, PERMISSION_DENIED outside the token's `models`. */
export function newModelName(principal: Principal, name: string): string {
  const parsed = ModelName.safeParse(name);
  if (!parsed.success) {
    const lower = name.toLowerCase();
    const hint = ModelName.safeParse(lower).success ? ` (try '${lower}')` : "";
    throw invalid(`Invalid registered model name '${name}': mreg model names match ^[a-z0-9][a-z0-9._-]{0,127}$${hint}`);
  }
  if (authorize(principal, { model: name })) throw new MlflowError("PERMISSION_DENIED", `This token may not act on model '${name}'`);
  return name;
}

/** The request's fields: the query string for GET (repeated names become lists), the JSON body merged over it otherwise. */
export async function fields(c: AppContext): Promise<Record<string, unknown>> {
  const query: Record<string, unknown> = {};
  for (const [key, values] of Object.entries(c.req.queries())) query[key] = values.length === 1 ? values[0] : values;
  if (c.req.method === "GET" || c.req.method === "HEAD") return query;
  const body = await readJsonBody(c.req.raw);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("The request body must be a JSON object");
  return { ...query, ...(body as Record<string, unknown>) };
}

/** `schema` over the request's fields; INVALID_PARAMETER_VALUE (through the validation seam) when they do not fit. */
export const parse = <S extends z.ZodType>(schema: S, input: Record<string, unknown>): z.output<S> => parseWith(schema, input, "request parameters");
