import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Idempotent: applies whatever migrations this test file's (isolated) D1 has not seen.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
