import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("../src/index");
    }
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      TEST_PRIVATE_JWKS: string;
      TEST_ACCESS_PRIVATE_JWK: string;
      /** test/fuzz.test.ts: the seed and length of the fuzz run (from the environment of `vitest`). */
      FUZZ_SEED: string;
      FUZZ_REQUESTS: string;
      FUZZ_BUDGET_S: string;
      /** test/markdown-pathological.test.ts: print each input's cost against prose when set. */
      CORPUS_RATIOS: string;
    }
  }
}
