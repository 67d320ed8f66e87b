import { readFileSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { exportJWK, generateKeyPair } from "jose";
import { defineConfig } from "vitest/config";

/**
 * The projects:
 * - `workers`: the suite that runs inside workerd against real local D1, R2 and Durable
 *   Objects, with test keys generated here (RS256, ES256, EdDSA) published as an inline JWKS.
 * - `e2e`: Node tests that start the real `npm start` and talk to it over HTTP.
 * - `hf`: the Hugging Face bridge driven by the official clients (test/e2e/hf-*.test.ts),
 *   against one shared `npm start` (test/e2e/hf-global-setup.ts).
 * - `cli`: Node tests that drive the real `mreg` bundle as a subprocess against one shared
 *   `npm start` (test/cli/global-setup.ts builds the bundle and starts the server).
 * - `node`: plain Node tests of the source tree itself (test/node: the import rules), no server.
 * - `chaos`: the crash-and-load campaign (test/chaos), a short seeded run with three crashes.
 */
async function testKeys() {
  const keys: Record<string, unknown> = {};
  const publicKeys: unknown[] = [];
  for (const [alg, kid] of [
    ["RS256", "test-rs"],
    ["ES256", "test-es"],
    ["EdDSA", "test-ed"],
  ] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    keys[alg] = { ...(await exportJWK(pair.privateKey)), kid, alg };
    publicKeys.push({ ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" });
  }
  return { privateJwks: keys, jwks: { keys: publicKeys } };
}

/** A stand-in for a Cloudflare Access team's signing key (test/ui-access.test.ts). */
async function accessKeys() {
  const pair = await generateKeyPair("RS256", { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(pair.privateKey)), kid: "access-1", alg: "RS256" },
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "access-1", alg: "RS256", use: "sig" }] },
  };
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  const { privateJwks, jwks } = await testKeys();
  const access = await accessKeys();
  return {
    test: {
      // Two files at a time, not vitest's default of one per core less one (one, on the 2-core
      // CI machines): most of the suite waits on servers (npm start, wrangler's restarts in the
      // chaos run, Chromium, skopeo), so a second file halves the wall time (about 11 min to 5).
      maxWorkers: 2,
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  TEST_PRIVATE_JWKS: JSON.stringify(privateJwks),
                  JWT_SECRET: "test-secret-0123456789abcdef0123456789",
                  JWT_JWKS: JSON.stringify(jwks),
                  PUBLIC_READ: "false",
                  // Small enough to keep multipart tests fast; R2 (local too) refuses parts under 5 MiB.
                  UPLOAD_PART_SIZE: String(5 * 1024 * 1024),
                  MAX_SINGLE_PUT: String(6 * 1024 * 1024),
                  // Multipart files over 64 MiB are verified in steps (test/verify-steps.test.ts).
                  VERIFY_BYTES_PER_STEP: String(64 * 1024 * 1024),
                  // Uncached by default so a test sees each change at once; test/resolve.test.ts turns it on.
                  RESOLVE_TTL_S: "0",
                  // Signals reach the object at once; test/guards.test.ts turns coalescing on.
                  SIGNAL_COALESCE_MS: "0",
                  WEBHOOK_KEY: "test-webhook-key-0123456789abcdef0123456789",
                  ALLOW_HTTP_WEBHOOKS: "true",
                  // Retries after 1 s, 2 s, 4 s … so a test sees several attempts.
                  WEBHOOK_RETRY_BASE_S: "1",
                  // Cloudflare Access, as a deployment behind it configures it.
                  ACCESS_TEAM_DOMAIN: "https://acme.cloudflareaccess.com",
                  ACCESS_AUD: "test-access-aud",
                  ACCESS_JWKS: JSON.stringify(access.jwks),
                  ACCESS_DEFAULT_SCOPES: "read",
                  ACCESS_GRANTS: JSON.stringify([
                    { email: "*@oncall.example.com", scopes: "promote" },
                    { group: "ml-approvers", scopes: "approve" },
                  ]),
                  TEST_ACCESS_PRIVATE_JWK: JSON.stringify(access.privateJwk),
                  // Keyless signatures verify against the public-good instance's root (test/signatures.test.ts).
                  SIGSTORE_TRUSTED_ROOT: readFileSync(
                    "test/fixtures/model-signing/sigstore-public-good-trusted-root.json",
                    "utf8",
                  ),
                  // test/fuzz.test.ts: FUZZ_SEED=… FUZZ_REQUESTS=… npx vitest run --project workers test/fuzz.test.ts
                  FUZZ_SEED: process.env.FUZZ_SEED ?? "19",
                  FUZZ_REQUESTS: process.env.FUZZ_REQUESTS ?? "10000",
                  FUZZ_BUDGET_S: process.env.FUZZ_BUDGET_S ?? "25",
                  // test/markdown-pathological.test.ts prints each input's cost against prose when set.
                  CORPUS_RATIOS: process.env.CORPUS_RATIOS ?? "",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/e2e/**", "test/cli/**", "test/node/**", "test/chaos/**"],
            setupFiles: ["./test/setup.ts"],
            // Not vitest's 5 s default, which assumes an idle machine: beside other suites and
            // `stress-ng --cpu 2`, eleven tests here took 6–15 s (100 concurrent alias sets,
            // multipart uploads). A test's time is not what it checks (bench/ measures speed);
            // its timeout only catches a hang, so none is set lower per test.
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            exclude: ["test/e2e/hf-*.test.ts"],
            environment: "node",
            // Installs Debian's Chromium when missing (as root), else stops with the command to run.
            globalSetup: ["./test/e2e/global-setup.ts"],
            testTimeout: 180_000,
            hookTimeout: 180_000,
            // expect.poll gives up after 1 s by default: too soon for a page on a busy machine.
            expect: { poll: { timeout: 60_000 } },
          },
        },
        {
          test: {
            name: "hf",
            include: ["test/e2e/hf-*.test.ts"],
            environment: "node",
            // One `npm start` for every Hugging Face bridge test file.
            globalSetup: ["./test/e2e/hf-global-setup.ts"],
            testTimeout: 120_000,
            hookTimeout: 180_000,
          },
        },
        {
          test: {
            name: "cli",
            include: ["test/cli/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./test/cli/global-setup.ts"],
            testTimeout: 180_000,
            hookTimeout: 180_000,
          },
        },
        {
          test: {
            // The crash-and-load campaign (test/chaos): a real `npm start`, SIGKILLed and restarted.
            name: "chaos",
            include: ["test/chaos/**/*.test.ts"],
            environment: "node",
            testTimeout: 600_000,
            hookTimeout: 180_000,
          },
        },
        {
          test: {
            name: "node",
            include: ["test/node/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
          },
        },
      ],
    },
  };
});
