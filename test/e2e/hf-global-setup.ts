/**
 * One registry for every Hugging Face bridge test file (test/e2e/hf-*.test.ts): the real
 * `npm start` on a free port with its own state directory. The alias cache is off
 * (RESOLVE_TTL_S=0) so that a promotion shows in the very next request, as the tests of
 * "after a promotion the next snapshot has the new commit" need. Each test file creates its
 * own models, so files running side by side never see each other's promotions.
 */
import type { TestProject } from "vitest/node";
import { startServer, token } from "./server";

export default async function setup(project: TestProject) {
  // Small single PUTs and parts, so the Hub's multipart LFS transfer runs on files of some MiB
  // (test/e2e/hf-write.test.ts); R2 takes no part under 5 MiB.
  const server = await startServer([
    "--var",
    "RESOLVE_TTL_S:0",
    "--var",
    `MAX_SINGLE_PUT:${6 * 1024 * 1024}`,
    "--var",
    `UPLOAD_PART_SIZE:${5 * 1024 * 1024}`,
    // Objects over 16 MiB (the least it takes) are verified in steps on the queue while the
    // completion waits (test/e2e/hf-write.test.ts); smaller ones in the completion itself.
    "--var",
    `VERIFY_BYTES_PER_STEP:${16 * 1024 * 1024}`,
  ]);
  project.provide("hfUrl", server.base);
  project.provide("hfAdminToken", token("hf-admin", "admin"));
  return () => server.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    hfUrl: string;
    hfAdminToken: string;
  }
}
