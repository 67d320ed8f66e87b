/**
 * Bindings and configuration. Vars arrive as strings (wrangler.toml [vars], .dev.vars,
 * secrets); they are parsed once per env object with zod so a bad setting fails loudly.
 */
import { z } from "zod";
import type { ModelState } from "./state/model-state";

export interface Env {
  DB: D1Database;
  ARTIFACTS: R2Bucket;
  MODEL_STATE: DurableObjectNamespace<ModelState>;
  JWT_SECRET?: string;
  JWT_JWKS?: string;
  JWT_JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  PUBLIC_READ?: string;
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

const ConfigSchema = z.object({
  JWT_SECRET: optionalString,
  JWT_JWKS: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.url().optional()),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  PUBLIC_READ: z
    .enum(["true", "false", ""])
    .optional()
    .transform((v) => v === "true"),
});

export type Config = z.infer<typeof ConfigSchema>;

const parsed = new WeakMap<object, Config>();

export function config(env: Env): Config {
  let cfg = parsed.get(env);
  if (!cfg) {
    cfg = ConfigSchema.parse(env);
    parsed.set(env, cfg);
  }
  return cfg;
}
