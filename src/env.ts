/**
 * Bindings and configuration. Vars arrive as strings (wrangler.toml [vars], .dev.vars,
 * secrets); they are parsed once per env object with zod so a bad setting fails loudly.
 */
import { z } from "zod";
import { DEFAULT_PART, MAX_PART, R2_MIN_PART } from "./domain/upload";
import type { QueueMessage, UndeliverableEvent, VerifyMessage } from "./domain/queue-message";

export interface Env {
  DB: D1Database;
  ARTIFACTS: R2Bucket;
  /**
   * ModelState's namespace, untyped here so the bindings import nothing of the object's code
   * (which takes Env): src/state/rpc.ts types its stubs with the class's own signatures.
   */
  MODEL_STATE: DurableObjectNamespace;
  /** WatchRelay's namespace (src/state/watch-relay.ts), untyped for the same reason. */
  WATCH_RELAYS: DurableObjectNamespace;
  DELIVERIES: Queue<QueueMessage>;
  /** Deliveries that failed for good, and events that could not be queued (src/queue/publish.ts); nothing consumes it here. */
  DELIVERIES_DLQ: Queue<QueueMessage | UndeliverableEvent>;
  /** Verification steps of multipart files too large for one invocation (src/artifacts/verify-steps.ts). */
  VERIFY: Queue<VerifyMessage>;
  WEBHOOK_KEY?: string;
  ALLOW_HTTP_WEBHOOKS?: string;
  WEBHOOK_RETRY_BASE_S?: string;
  JWT_SECRET?: string;
  JWT_JWKS?: string;
  JWT_JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  PUBLIC_READ?: string;
  MAX_SINGLE_PUT?: string;
  ZONE_BODY_LIMIT?: string;
  UPLOAD_PART_SIZE?: string;
  UPLOAD_TTL_S?: string;
  BLOB_GC_GRACE_S?: string;
  VERIFY_BYTES_PER_STEP?: string;
  VERIFY_WAIT_S?: string;
  AUDIT_ARCHIVE_DAYS?: string;
  SCRUB_DAYS?: string;
  SCRUB_BYTES_PER_RUN?: string;
  RESOLVE_TTL_S?: string;
  RESOLVE_STALE_IF_ERROR_S?: string;
  SIGNAL_COALESCE_MS?: string;
  WATCH_RELAY_SHARDS?: string;
  SIGNAL_GUARDS_TTL_S?: string;
  NODE_TTL_S?: string;
  FLEET_DRIFT_AFTER_S?: string;
  HF_NAMESPACE?: string;
  HF_DEFAULT_ALIAS?: string;
  UPLOAD_URL_KEY?: string;
  ACCESS_TEAM_DOMAIN?: string;
  ACCESS_AUD?: string;
  ACCESS_JWKS?: string;
  ACCESS_DEFAULT_SCOPES?: string;
  ACCESS_GRANTS?: string;
  SIGSTORE_TRUSTED_ROOT?: string;
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

/** A whole number from a string var, with a default and bounds. */
const intVar = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? fallback : Number(v)))
    .pipe(z.number().int().min(min).max(max));

/** The longest RESOLVE_TTL_S and RESOLVE_STALE_IF_ERROR_S may be: together, the longest a resolution is cached anywhere. */
export const MAX_RESOLVE_TTL_S = 300;
export const MAX_RESOLVE_STALE_IF_ERROR_S = 7 * 24 * 3600;

/** `ACCESS_GRANTS`: everyone whose email matches the glob, or who is in the group, gets the scopes (src/auth/access.ts). */
const AccessGrants = z.array(
  z.union([
    z.object({ email: z.string().min(1), scopes: z.string().min(1) }).strict(),
    z.object({ group: z.string().min(1), scopes: z.string().min(1) }).strict(),
  ]),
);
export type AccessGrant = z.infer<typeof AccessGrants>[number];

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
  /** Largest single-request file upload; bigger files go multipart. */
  MAX_SINGLE_PUT: intVar(MAX_PART, 0, MAX_PART),
  /**
   * The largest request body the zone takes (src/http/body-limit.ts): 100 MB on Free and Pro
   * zones, 200 MB on Business, up to 5 GB on Enterprise. Cloudflare answers its own 413 past it,
   * before the Worker runs; the upload doors offer and take nothing larger, and say so.
   */
  ZONE_BODY_LIMIT: intVar(100_000_000, R2_MIN_PART, 5_000_000_000),
  /** The part size the server picks for multipart uploads (R2: 5 MiB..; Workers bodies: ..95 MiB). */
  UPLOAD_PART_SIZE: intVar(DEFAULT_PART, R2_MIN_PART, MAX_PART),
  /** How long a multipart upload stays open before the scheduled cleanup aborts it. */
  UPLOAD_TTL_S: intVar(24 * 3600, 1, 7 * 24 * 3600),
  /**
   * How long a blob stays unreferenced before the scheduled cleanup deletes its bytes. At
   * least 5 minutes: 0 would delete bytes the moment their last version goes, under a client
   * that is about to reference them again (a retried upload, a dedup it was just offered).
   */
  BLOB_GC_GRACE_S: intVar(3600, 300, 30 * 24 * 3600),
  /**
   * The most bytes one invocation hashes when it verifies a multipart file (src/artifacts/verify-steps.ts).
   * A file up to this size is verified inside `complete` (natively, ranges in flight); a larger one
   * is verified over several invocations of the `mreg-verify` queue's consumer, this many bytes
   * each, its SHA-256 state saved between them. The default, 1 GiB, is about 10 s of CPU through
   * the resumable hash (docs/operations.md "8. Scrubbing: stored bytes checked again": 7.4 s per GiB for the hash alone, measured)
   * and 64 ranged reads, inside a Worker's default 30 s and its subrequest limit.
   */
  VERIFY_BYTES_PER_STEP: intVar(1024 * 1024 * 1024, 16 * 1024 * 1024, 64 * 1024 * 1024 * 1024),
  /**
   * How long a completion whose client needs the object verified in its answer waits for the
   * steps (src/artifacts/verify-wait.ts): the Hub's LFS multipart completion, and the end of an
   * OCI blob session (its client expects 201). Past it the door answers 503 with Retry-After, and
   * the steps go on without it: the object appears when they end. Waiting costs no CPU to speak
   * of. The default, 240 s (about 24 GiB at the default step), stays under the 300 s Node's fetch
   * waits for an answer's headers (undici's `headersTimeout`), which `@huggingface/hub` runs on.
   */
  VERIFY_WAIT_S: intVar(240, 0, 3600),
  /**
   * Audit events older than this many days are moved from D1 to R2 by the scheduled job
   * (src/audit/archive.ts), and GET /v1/audit reads both: D1's 10 GB is then spent on the
   * projections, not on a log that only grows. 0: never (the default).
   */
  AUDIT_ARCHIVE_DAYS: intVar(0, 0, 36500),
  /**
   * How often every stored blob is re-read and re-hashed at least (src/artifacts/scrub.ts): each
   * scheduled run takes its share of the stored bytes so that the scrub goes round them in 0.8 of
   * this. 0: no pacing, every run takes its whole budget.
   */
  SCRUB_DAYS: intVar(30, 0, 365),
  /**
   * The most bytes one scheduled run re-hashes. The default, 1 GiB, keeps a run within the 30 s
   * of CPU a Worker invocation gets by default even when all of it goes through the plain
   * TypeScript SHA-256 (a blob larger than what is left of a run's budget: about 7 s at the
   * ~150 MB/s bench/README.md measured) and at 64 ranged reads of 16 MiB, well inside the
   * subrequest limit; with the cron every 15 minutes it reads 2.8 TiB in 30 days
   * (docs/operations.md "8. Scrubbing: stored bytes checked again"). Raise it with `limits.cpu_ms` for larger stores.
   */
  SCRUB_BYTES_PER_RUN: intVar(1024 * 1024 * 1024, 1024 * 1024, 256 * 1024 * 1024 * 1024),
  /** How long a resolution may be served from cache (in-isolate and Cache API); 0 disables both. */
  RESOLVE_TTL_S: intVar(5, 0, MAX_RESOLVE_TTL_S),
  /**
   * How long past its TTL the last resolution seen may stand in when the model's Durable
   * Object cannot answer (served with `x-mreg-stale`); 0 fails at once (503 `unavailable`).
   */
  RESOLVE_STALE_IF_ERROR_S: intVar(86400, 0, MAX_RESOLVE_STALE_IF_ERROR_S),
  /**
   * How many watch relays an alias's sockets are spread over (each relay one Durable Object
   * holding its share). A relay holds some thousands of sockets comfortably: 16 carry 100,000.
   */
  WATCH_RELAY_SHARDS: intVar(16, 1, 256),
  /** How long one isolate gathers an alias's production signals into one RPC (0: each signal is sent at once). */
  SIGNAL_COALESCE_MS: intVar(1000, 0, 10_000),
  /**
   * How long an isolate trusts what it last heard of a model's guards (which aliases have one,
   * the versions they serve, the metric) when it drops signals no guard would count. A guard
   * set, or a version promoted, through another isolate is missed here for up to this long.
   */
  SIGNAL_GUARDS_TTL_S: intVar(5, 0, 60),
  /** A node that has not reported for this long is `stale`: not counted as reporting (docs/fleet.md). */
  NODE_TTL_S: intVar(90, 5, 86_400),
  /** How long after an alias's change a fleet not converged yet raises `fleet.drift`. */
  FLEET_DRIFT_AFTER_S: intVar(300, 1, 7 * 86_400),
  /** Encrypts webhook secrets at rest (any string of 32+ characters; a Worker secret). Webhooks need it. */
  WEBHOOK_KEY: optionalString.pipe(z.string().min(32, "WEBHOOK_KEY must be at least 32 characters").optional()),
  /** `true` lets webhooks use http:// to loopback hosts (local development and tests). */
  ALLOW_HTTP_WEBHOOKS: z
    .enum(["true", "false", ""])
    .optional()
    .transform((v) => v === "true"),
  /** The first retry's delay; each next one doubles, up to 12 h, for 24 h in all. */
  WEBHOOK_RETRY_BASE_S: intVar(30, 1, 3600),
  /** The Hugging Face bridge's namespace: a repo id `<HF_NAMESPACE>/<model>` names the model (KServe's `hf://` needs two parts). */
  HF_NAMESPACE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? "mreg" : v.trim()))
    .pipe(z.string().regex(/^[\w.-]{1,96}$/, "HF_NAMESPACE must be a Hub namespace ([A-Za-z0-9_.-], at most 96)")),
  /** What the Hugging Face revisions `main` and `HEAD` mean: this alias (or stage name). */
  HF_DEFAULT_ALIAS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? "production" : v.trim().toLowerCase()))
    .pipe(z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, "HF_DEFAULT_ALIAS must be an alias name")),
  /**
   * Signs the upload URLs the Hugging Face bridge hands out (src/auth/capability.ts), which
   * carry their own short-lived credential: any string of 32+ characters, a Worker secret.
   * Unset, a key derived from JWT_SECRET signs them; with neither, Hub uploads answer 503.
   */
  UPLOAD_URL_KEY: optionalString.pipe(z.string().min(32, "UPLOAD_URL_KEY must be at least 32 characters").optional()),
  /**
   * The Sigstore trusted root keyless signatures are verified against (JSON, as
   * `sigstore-public-good-trusted-root.json`); unset: keyless bundles are refused. Read once per
   * isolate by src/signing/trust.ts; a value that is not a trusted root fails those uploads (503).
   */
  SIGSTORE_TRUSTED_ROOT: optionalString,
  /** Cloudflare Access: the team domain (`https://<team>.cloudflareaccess.com`), the tokens' issuer. Unset: Access is off. */
  ACCESS_TEAM_DOMAIN: optionalString.pipe(z.url().optional()).transform((v) => v?.replace(/\/+$/, "")),
  /** Cloudflare Access: the application's audience tag. */
  ACCESS_AUD: optionalString,
  /** Cloudflare Access keys as inline JWKS JSON instead of fetching `<team>/cdn-cgi/access/certs` (tests). */
  ACCESS_JWKS: optionalString,
  /** Scopes every Access user gets (space-separated). */
  ACCESS_DEFAULT_SCOPES: z
    .string()
    .optional()
    .transform((v) => v ?? "read"),
  /** JSON: `[{"email": "*@example.com", "scopes": "promote"}, {"group": "ml-oncall", "scopes": "promote approve"}]`. */
  ACCESS_GRANTS: optionalString.transform((v, ctx) => {
    if (v === undefined) return [];
    try {
      return AccessGrants.parse(JSON.parse(v));
    } catch {
      ctx.addIssue({ code: "custom", message: "ACCESS_GRANTS must be a JSON array of {email|group, scopes}" });
      return z.NEVER;
    }
  }),
});

/** Single PUTs and parts are one request each: neither may be set past the zone's body limit. */
const CheckedConfig = ConfigSchema.superRefine((cfg, ctx) => {
  for (const name of ["MAX_SINGLE_PUT", "UPLOAD_PART_SIZE"] as const) {
    if (cfg[name] > cfg.ZONE_BODY_LIMIT)
      ctx.addIssue({
        code: "custom",
        path: [name],
        message: `${name} (${cfg[name]}) is over ZONE_BODY_LIMIT (${cfg.ZONE_BODY_LIMIT}): such a request would be refused by the zone`,
      });
  }
});

export type Config = z.infer<typeof ConfigSchema>;

const parsed = new WeakMap<object, Config>();

export function config(env: Env): Config {
  let cfg = parsed.get(env);
  if (!cfg) {
    cfg = CheckedConfig.parse(env);
    parsed.set(env, cfg);
  }
  return cfg;
}
