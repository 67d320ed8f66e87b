/**
 * What every MLflow bridge route does first: the caller authenticated and authorized through
 * the bridges' one helper (../caller.ts: Bearer, or Basic with the token as password, as
 * MLFLOW_TRACKING_TOKEN and MLFLOW_TRACKING_USERNAME/PASSWORD send it), the request's D1
 * session set to read or write, and the model it names, whose denial is worded as MLflow's
 * "not found" so a model the token may not see never hints it exists. Input comes from the
 * query string for a GET and from the JSON body otherwise (MLflow's client sends DELETE bodies
 * too).
 */
import type { z } from "zod";
import type { Principal, Scope } from "../../auth/principal";
import type { Access } from "../../db/session";
import { ModelName } from "../../domain/names";
import type { AppContext } from "../../http/app-env";
import { parseWith, readJsonBody } from "../../http/validation";
import { allowedModel, caller as bridgeCaller } from "../caller";
import { MLFLOW_WORDING, MlflowError, invalid, modelNotFound } from "./errors";

/** The caller, with `scope`; the model it acts on is checked once its name is read (`namedModel`). */
export function caller(c: AppContext, scope: Scope, access: Access): Promise<Principal> {
  return bridgeCaller(c, MLFLOW_WORDING, { scope, access });
}

/**
 * The model a request names, which `principal` may act on: RESOURCE_DOES_NOT_EXIST for a
 * name that cannot exist in mreg (saying why) and for a model outside the token's `models`.
 */
export function namedModel(principal: Principal, name: string): string {
  if (!ModelName.safeParse(name).success) {
    throw new MlflowError(
      "RESOURCE_DOES_NOT_EXIST",
      `Registered Model with name=${name} not found (mreg model names are lower case: ^[a-z0-9][a-z0-9._-]{0,127}$)`,
    );
  }
  return allowedModel(principal, name, modelNotFound);
}

/** A name for a new model: INVALID_PARAMETER_VALUE when it breaks mreg's rule, PERMISSION_DENIED outside the token's `models`. */
export function newModelName(principal: Principal, name: string): string {
  const parsed = ModelName.safeParse(name);
  if (!parsed.success) {
    const lower = name.toLowerCase();
    const hint = ModelName.safeParse(lower).success ? ` (try '${lower}')` : "";
    throw invalid(
      `Invalid registered model name '${name}': mreg model names match ^[a-z0-9][a-z0-9._-]{0,127}$${hint}`,
    );
  }
  return allowedModel(
    principal,
    name,
    (model) => new MlflowError("PERMISSION_DENIED", `This token may not act on model '${model}'`),
  );
}

/** The request's fields: the query string for GET (repeated names become lists), the JSON body merged over it otherwise. */
export async function fields(c: AppContext): Promise<Record<string, unknown>> {
  const query: Record<string, unknown> = {};
  for (const [key, values] of Object.entries(c.req.queries())) query[key] = values.length === 1 ? values[0] : values;
  if (c.req.method === "GET" || c.req.method === "HEAD") return query;
  const body = await readJsonBody(c.req.raw);
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalid("The request body must be a JSON object");
  return { ...query, ...(body as Record<string, unknown>) };
}

/** `schema` over the request's fields; INVALID_PARAMETER_VALUE (through the validation seam) when they do not fit. */
export const parse = <S extends z.ZodType>(schema: S, input: Record<string, unknown>): z.output<S> =>
  parseWith(schema, input, "request parameters");
